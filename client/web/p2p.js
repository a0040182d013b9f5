// A direct connection to one peer, with the "perfect negotiation" pattern: both sides may
// offer, and the polite one yields on a collision.

// A link that has not connected by then has failed, for what the call needs: ICE would
// take half a minute to say so between two peers that cannot reach each other, and the
// room does better on the SFU meanwhile.
const CONNECT_TIMEOUT_MS = 5000;

export class P2pLink {
  // `protect(pc)`: end-to-end encryption's transforms, set before anything is negotiated.
  constructor({ peerId, polite, iceServers, iceTransportPolicy = 'all', tracks, stream, send, onStream, onFailed, protect }) {
    this.peerId = peerId;
    this.polite = polite;
    // Every signal this side sends is numbered within this link.
    this.linkId = Math.random().toString(36).slice(2);
    this.sent = 0;
    this.send = (msg) => send({ ...msg, order: { link: this.linkId, seq: this.sent++ } });
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.pending = [];
    this.pc = new RTCPeerConnection({ iceServers, iceTransportPolicy });
    this.senders = tracks.map((t) => this.pc.addTrack(t, stream));
    if (!tracks.some((t) => t.kind === 'audio')) this.pc.addTransceiver('audio', { direction: 'recvonly' });
    if (!tracks.some((t) => t.kind === 'video')) this.pc.addTransceiver('video', { direction: 'recvonly' });
    protect?.(this.pc);
    this.pc.onnegotiationneeded = async () => {
      // The peer has started this negotiation (we have its signals but not yet its
      // description, e.g. a candidate that overtook its offer in the relay): answer it rather
      // than cross it with an offer of ours. That collision made the polite side roll back
      // its own offer, after which Chromium never gathered candidates for the answer (ICE
      // stuck at "new"). Once stable, the browser fires this again if still needed.
      if (this.remoteLink !== undefined && !this.pc.remoteDescription) return;
      try {
        this.makingOffer = true;
        await this.pc.setLocalDescription();
        this.send({ description: this.pc.localDescription });
      } catch (e) {
        console.warn('P2P offer failed', e);
      } finally {
        this.makingOffer = false;
      }
    };
    this.pc.onicecandidate = ({ candidate }) => {
      if (candidate) this.send({ candidate });
    };
    this.pc.ontrack = (e) => onStream(e.streams[0] ?? new MediaStream([e.track]));
    let reported = false;
    const fail = (why) => {
      if (reported || this.pc.signalingState === 'closed') return;
      reported = true;
      console.warn(`P2P link to ${peerId} failed: ${why}`);
      onFailed();
    };
    const connected = () => ['connected', 'completed'].includes(this.pc.iceConnectionState);
    this.connectTimer = setTimeout(() => {
      if (!connected()) fail(`not connected within ${CONNECT_TIMEOUT_MS / 1000} s`);
    }, CONNECT_TIMEOUT_MS);
    this.pc.oniceconnectionstatechange = () => {
      if (connected()) clearTimeout(this.connectTimer);
      if (this.pc.iceConnectionState === 'failed') fail('ICE failed');
    };
  }

  // Signals are applied one at a time, in the order they were sent. The server relays each
  // event in a task of its own, so they may arrive out of order: each carries
  // `order: {link, seq}`, and a gap waits for the missing one.
  handle(msg) {
    const { link, seq } = msg.order ?? {};
    if (link === undefined) return this.enqueue(msg);
    if (link !== this.remoteLink) {
      this.remoteLink = link;
      this.nextSeq = 0;
      this.early = new Map();
    }
    this.early.set(seq, msg);
    while (this.early.has(this.nextSeq)) {
      this.enqueue(this.early.get(this.nextSeq));
      this.early.delete(this.nextSeq);
      this.nextSeq += 1;
    }
    return this.chain;
  }

  enqueue(msg) {
    this.chain = (this.chain ?? Promise.resolve()).then(() => this.apply(msg));
    return this.chain;
  }

  async apply({ description, candidate }) {
    try {
      if (description) {
        const collision = description.type === 'offer' && (this.makingOffer || this.pc.signalingState !== 'stable');
        this.ignoreOffer = !this.polite && collision;
        if (this.ignoreOffer) return;
        await this.pc.setRemoteDescription(description);
        if (description.type === 'offer') {
          await this.pc.setLocalDescription();
          this.send({ description: this.pc.localDescription });
        }
        for (const c of this.pending.splice(0)) await this.pc.addIceCandidate(c).catch(() => {});
      } else if (candidate && !this.pc.remoteDescription) {
        // The relay may deliver a candidate before its description: keep it until then.
        this.pending.push(candidate);
      } else if (candidate) {
        try {
          await this.pc.addIceCandidate(candidate);
        } catch (e) {
          if (!this.ignoreOffer) throw e;
        }
      }
    } catch (e) {
      console.warn('P2P signal failed', e);
    }
  }

  async replace(kind, track) {
    const s = this.senders.find((s) => s.track?.kind === kind || (!s.track && kind === 'video'));
    if (s) await s.replaceTrack(track);
  }

  receiverFor(track) {
    return this.pc.getReceivers().find((r) => r.track === track);
  }

  close() {
    clearTimeout(this.connectTimer);
    this.pc.close();
  }
}
