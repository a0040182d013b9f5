// End-to-end encryption for a call (`#e2ee=passphrase`, or the landing page's field): every
// frame this page sends is sealed in a worker under a key derived from the passphrase, and
// every frame it receives is opened there, on P2P links and on the SFU session alike, so a
// move between the two needs no new key. The server forwards what it cannot read. The
// passphrase and the key never leave the page.
import { deriveKey } from './e2ee/frame.js';

// How long the previous key still opens frames after a change: the others may take a
// moment to enter the new passphrase.
const OVERLAP_MS = 10000;

// Whether this browser can transform encoded frames in a worker.
export const e2eeSupported = () => typeof RTCRtpScriptTransform !== 'undefined';

export class E2ee {
  // `onCounts({who: {opened, failed}})`: frames opened and not, per remote member, about
  // every half second.
  constructor({ onCounts }) {
    this.worker = new Worker('/e2ee-worker.js');
    this.worker.onmessage = ({ data }) => {
      if (data.type === 'counts') onCounts(data.counts);
    };
    this.id = null;
  }

  // Seals from now on with the key of `passphrase` in `room`; the previous key still opens
  // frames for a while.
  async setPassphrase(passphrase, room) {
    const { id, key } = await deriveKey(passphrase, room);
    const old = this.id;
    this.worker.postMessage({ type: 'key', id, key });
    this.id = id;
    if (old !== null && old !== id) setTimeout(() => this.worker.postMessage({ type: 'drop', id: old }), OVERLAP_MS);
  }

  // Seals what `pc` sends and opens what it receives; `who(trackEvent)` names the member a
  // received track comes from (`who(null)`: the member of the transceivers made before
  // negotiation, if one is known). Called before the connection negotiates: Chromium runs
  // a receiver's transform only if it was set before the receiver's first packet, so the
  // receivers of this side's own transceivers get theirs now, not at their `track` event.
  protect(pc, who) {
    for (const t of pc.getTransceivers()) {
      const kind = t.receiver.track.kind;
      t.sender.transform = new RTCRtpScriptTransform(this.worker, { op: 'encrypt', kind });
      t.receiver.transform = new RTCRtpScriptTransform(this.worker, { op: 'decrypt', kind, who: who(null) });
      if (kind === 'video') preferVp8(t);
    }
    pc.addEventListener('track', (e) => {
      if (e.receiver.transform) return;
      e.receiver.transform = new RTCRtpScriptTransform(this.worker, { op: 'decrypt', kind: e.track.kind, who: who(e) });
    });
  }

  close() {
    this.worker.terminate();
  }
}

// VP8 first, whose frame header the encryption knows to leave readable for the SFU: both
// ends put it first, so it is the codec they use. The other codecs stay in the list, after
// it: removing them (and the retransmission entries that refer to them) made Firefox offer
// a description that Chromium could not parse.
function preferVp8(transceiver) {
  const codecs = RTCRtpReceiver.getCapabilities?.('video')?.codecs ?? [];
  const isVp8 = (c) => /\/vp8$/i.test(c.mimeType);
  if (!codecs.some(isVp8)) return;
  try {
    transceiver.setCodecPreferences([...codecs.filter(isVp8), ...codecs.filter((c) => !isVp8(c))]);
  } catch (e) {
    console.warn('cannot put VP8 first', e);
  }
}
