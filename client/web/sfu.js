// The member's session with the SFU: one RTCPeerConnection that publishes the local tracks
// and receives everyone else's, renegotiated by the server when tracks come and go.
// Negotiations are serialized: a server offer waits for our own offer's answer.
//
// It heals itself. A negotiation that fails (an offer we cannot apply, a request that times
// out) is followed by an offer of our own, which brings both sides back to one view of the
// session; so is a peer whose media never arrives. An answer the server refuses needs none:
// the server makes a fresh offer itself. After MAX_FAILURES failures in a row the session is
// replaced by a new one (`sfu-restart`), waiting longer after each replacement that did not
// help.

const RETRY_MS = 1000;
const MAX_FAILURES = 3;
const MAX_RESTART_WAIT_MS = 30000;
// How long a peer that publishes may go without media from the SFU before we renegotiate.
const MISSING_MS = 4000;
const WATCH_MS = 1000;

// The camera as three simulcast layers, lowest first, so that the SFU can send each member
// what its link and its tile take. The rids are the ones the server knows (q, h and f).
const CAMERA_LAYERS = [
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_500_000 },
];
// A shared screen in the same three layers: more bits, since text must stay sharp, and a
// higher priority than cameras on the sender's own uplink.
const SCREEN_LAYERS = [
  { scaleResolutionDownBy: 4, maxBitrate: 300_000 },
  { scaleResolutionDownBy: 2, maxBitrate: 1_000_000 },
  { scaleResolutionDownBy: 1, maxBitrate: 2_500_000 },
];

export class SfuSession {
  // `missing()` returns the peers whose SFU media should be here by now and is not;
  // `onRestart()` is told when the session is replaced, and with it every remote track.
  // `simulcast`: publish the camera as three layers (else one small encoding, `quality=low`).
  // `onConnectionState(state)` follows the connection's state, for what the page shows.
  // `protect(pc)`: end-to-end encryption's transforms, set on each new connection before
  // it negotiates.
  constructor({ call, onTrack, onFailed, onConnectionState = () => {}, onRestart = () => {}, missing = () => [], simulcast = true, protect = null }) {
    this.call = call;
    this.protect = protect;
    this.onConnectionState = onConnectionState;
    this.simulcast = simulcast;
    this.screen = false;
    this.onTrack = onTrack;
    this.onFailed = onFailed;
    this.onRestart = onRestart;
    this.missing = missing;
    this.pc = null;
    this.senders = [];
    this.tracks = [];
    this.stream = null;
    this.sending = false;
    this.chain = Promise.resolve();
    this.failures = 0;
    this.restarts = 0;
    this.restartWait = RETRY_MS;
    this.renegotiations = 0;
    this.retryTimer = null;
    // The peers missing now, since when, and how long to wait before renegotiating.
    this.missingKey = '';
    this.missingAt = 0;
    this.missingWait = MISSING_MS;
    // Test hooks: drop the next server offers, or spoil our next outgoing descriptions.
    this.test = { dropOffers: 0, spoilSdp: 0 };
    this.watch = setInterval(() => this.checkMissing(), WATCH_MS);
  }

  // Connects and publishes `tracks`; they carry media only while `sending`.
  start(tracks, stream, sending) {
    this.tracks = tracks;
    this.stream = stream;
    this.sending = sending;
    this.open();
    return this.queue(() => this.offer());
  }

  open() {
    const pc = new RTCPeerConnection({ iceServers: [] });
    this.pc = pc;
    // Our candidates, sent once the server has answered (before that its session has no
    // remote description to add them to). The SFU is ICE-lite and learns our addresses from
    // our checks, so they are not needed to connect; they tell it each address's type
    // (host, srflx, relay), which the admin API reports.
    this.pendingCandidates = [];
    pc.onicecandidate = (e) => {
      if (this.pc !== pc || !e.candidate?.candidate) return;
      const c = e.candidate.toJSON();
      if (pc.remoteDescription) this.sendCandidate(c);
      else this.pendingCandidates.push(c);
    };
    pc.ontrack = (e) => {
      const stream = e.streams[0] ?? new MediaStream([e.track]);
      this.onTrack(stream.id, e.track, stream);
    };
    pc.onconnectionstatechange = () => {
      if (this.pc !== pc) return;
      this.onConnectionState(pc.connectionState);
      if (pc.connectionState === 'failed') this.onFailed();
    };
    // Created already paused when the room is P2P (see `applySending`), so that not one
    // packet reaches the server before the first negotiation has been applied.
    this.senders = this.tracks.map((t) => {
      const audio = t.kind === 'audio';
      const init = { direction: 'sendrecv', streams: [this.stream] };
      if (!audio) init.sendEncodings = this.encodings();
      return pc.addTransceiver(audio && !this.sending ? 'audio' : t, init).sender;
    });
    if (!this.tracks.some((t) => t.kind === 'audio')) pc.addTransceiver('audio', { direction: 'recvonly' });
    if (!this.tracks.some((t) => t.kind === 'video')) pc.addTransceiver('video', { direction: 'recvonly' });
    this.protect?.(pc);
  }

  // The video sender's encodings: one, or a layer each, paused while the room is P2P.
  encodings() {
    if (!this.simulcast) return [{ active: this.sending }];
    const layers = this.screen ? SCREEN_LAYERS : CAMERA_LAYERS;
    return CAMERA_LAYERS.map((l, i) => ({
      ...l,
      ...layers[i],
      priority: this.screen ? 'high' : 'low',
      networkPriority: this.screen ? 'high' : 'low',
      active: this.sending,
    }));
  }

  // An offer of ours and the server's answer: the first one, and every recovery.
  async offer() {
    const pc = this.pc;
    if (!pc) return;
    await this.applySending();
    if (pc.signalingState !== 'stable') await pc.setLocalDescription({ type: 'rollback' });
    await pc.setLocalDescription(await pc.createOffer());
    const { sdp } = await this.call('sfu-offer', { sdp: this.spoil(pc.localDescription.sdp) });
    await pc.setRemoteDescription({ type: 'answer', sdp });
    for (const c of this.pendingCandidates.splice(0)) this.sendCandidate(c);
    await this.applySending();
  }

  // Only informative (see `open`): a candidate the server refuses changes nothing.
  sendCandidate(c) {
    const { candidate, sdpMid, sdpMLineIndex } = c;
    this.call('sfu-candidate', { candidate, sdpMid, sdpMLineIndex }).catch(() => {});
  }

  // Runs one negotiation after the others (a session closed meanwhile skips it, unless the
  // task replaces the session). A failure schedules a recovery; a success ends a run of
  // failures.
  queue(task, { replaces = false } = {}) {
    this.chain = this.chain.then(async () => {
      if (!this.pc && !(replaces && !this.closed)) return;
      try {
        await task();
        this.failures = 0;
      } catch (e) {
        this.failed(e, { serverOffersAgain: !!e?.serverOffersAgain });
      }
    });
    return this.chain;
  }

  // A failed negotiation. The server answers a refused answer with a fresh offer of its own:
  // then only the count goes up. Otherwise we offer, or after repeated failures restart.
  failed(e, { serverOffersAgain = false } = {}) {
    this.failures += 1;
    console.warn(`SFU negotiation failed (${this.failures} in a row)`, e?.message ?? e);
    clearTimeout(this.retryTimer);
    if (this.failures >= MAX_FAILURES) {
      this.retryTimer = setTimeout(() => this.restart(), this.restartWait);
    } else if (!serverOffersAgain) {
      this.retryTimer = setTimeout(() => this.renegotiate(), RETRY_MS);
    }
  }

  // An offer of ours, to bring both sides back to one view of the session.
  renegotiate() {
    if (!this.pc) return this.chain;
    this.renegotiations += 1;
    return this.queue(() => this.offer());
  }

  // The server lost this session (`sfu-failed`: the media worker that held it failed, or
  // its transport did): replace it at once, not after negotiations fail.
  recover() {
    clearTimeout(this.retryTimer);
    return this.restart('the server lost it');
  }

  // Replaces the session: the server drops the old one and makes a new one for us, and we
  // connect and publish again on a new RTCPeerConnection.
  restart(why = 'repeated failures') {
    return this.queue(
      async () => {
        this.restarts += 1;
        this.restartWait = Math.min(this.restartWait * 2, MAX_RESTART_WAIT_MS);
        console.warn(`SFU session: restarting after ${why}`);
        if (this.restarts === MAX_FAILURES) this.onFailed();
        this.pc?.close();
        this.pc = null;
        this.onRestart();
        await this.call('sfu-restart', {});
        this.open();
        await this.offer();
        this.restartWait = RETRY_MS;
      },
      { replaces: true },
    );
  }

  // Peers whose media has been missing for a while mean a negotiation went astray (an
  // offer lost, or refused without us knowing): renegotiate, waiting longer each time the
  // same peers stay missing, since they may simply have nothing to send yet.
  checkMissing() {
    if (!this.pc || !this.sending) return;
    const now = performance.now();
    const key = this.missing().sort().join(',');
    if (key !== this.missingKey) {
      this.missingKey = key;
      this.missingAt = now;
      if (!key) this.missingWait = MISSING_MS;
    }
    if (!key || now - this.missingAt < this.missingWait) return;
    console.warn(`SFU session: no media from ${key}; renegotiating`);
    this.missingAt = now;
    this.missingWait = Math.min(this.missingWait * 2, 30000);
    this.renegotiate();
  }

  // A server-made offer (tracks appeared or disappeared in the room).
  handleOffer(sdp) {
    if (this.test.dropOffers > 0) {
      this.test.dropOffers -= 1;
      return this.chain;
    }
    return this.queue(async () => {
      const pc = this.pc;
      await pc.setRemoteDescription({ type: 'offer', sdp });
      await pc.setLocalDescription(await pc.createAnswer());
      try {
        await this.call('sfu-answer', { sdp: this.spoil(pc.localDescription.sdp) });
      } catch (e) {
        // Refused (an error ack, not a timeout): the server offers again by itself.
        e.serverOffersAgain = !!e.code;
        throw e;
      }
      await this.keepLayersInStep();
    });
  }

  spoil(sdp) {
    if (this.test.spoilSdp <= 0) return sdp;
    this.test.spoilSdp -= 1;
    return 'v=0\r\nspoiled by a test\r\n';
  }

  // Starts or stops sending media; the session stays connected either way.
  async setSending(sending) {
    if (sending === this.sending) return;
    this.sending = sending;
    this.missingKey = '';
    await this.applySending();
  }

  // Simulcast layers are paused and resumed in the SDP too (`a=simulcast:recv ~q;~h;~f`),
  // and the browser takes the pause state of every description it applies as whether to
  // send each layer. The server's descriptions follow the room's mode; after each
  // negotiation the encodings are set again as we want them all the same, in case one was
  // made just before the mode changed.
  async keepLayersInStep() {
    await this.applySending();
  }

  // Video is paused with the encodings' `active` flag, as Jitsi does, rather than by
  // detaching the track: the camera keeps the same consumers, so the P2P encoder sharing it
  // never sees its source reconfigured (which froze P2P video for a second at every switch).
  // Audio is detached instead: Firefox ignores `active` for audio and would keep sending the
  // microphone to the server during a peer-to-peer call. Either way, re-attaching is local
  // and instant, so the move to the SFU stays make-before-break.
  async applySending() {
    const pc = this.pc;
    for (const [i, sender] of this.senders.entries()) {
      const track = this.tracks[i];
      if (track?.kind === 'audio') {
        const want = this.sending ? track : null;
        if (sender.track !== want) await sender.replaceTrack(want);
        continue;
      }
      const params = sender.getParameters();
      if (!params.encodings || params.encodings.length === 0) continue;
      const want = this.encodings();
      for (const [j, e] of params.encodings.entries()) {
        const { rid, ...settings } = want[j] ?? want[want.length - 1];
        Object.assign(e, settings);
      }
      try {
        await sender.setParameters(params);
      } catch (e) {
        // Before negotiation some browsers refuse; the call after the answer applies it.
        if (this.pc === pc) console.debug('setParameters deferred', e.message);
      }
    }
  }

  // Replaces a published track (a screen in place of the camera, and back); `screen` says
  // which, for the video layers' bitrates and priority.
  async replace(kind, track, { screen = false } = {}) {
    const i = this.tracks.findIndex((t) => t.kind === kind);
    if (i < 0) return;
    this.tracks[i] = track;
    if (kind === 'video') this.screen = screen;
    if (kind === 'audio' && !this.sending) return;
    await this.senders[i].replaceTrack(track);
    if (kind === 'video') await this.applySending();
  }

  receiverFor(track) {
    return this.pc?.getReceivers().find((r) => r.track === track);
  }

  close() {
    this.closed = true;
    clearInterval(this.watch);
    clearTimeout(this.retryTimer);
    this.pc?.close();
    this.pc = null;
    this.senders = [];
  }
}
