// The member's session with the SFU: one RTCPeerConnection that publishes the local tracks
// and receives everyone else's, renegotiated by the server when tracks come and go.
// Negotiations are serialized: a server offer waits for our own offer's answer.

export class SfuSession {
  constructor({ call, onTrack, onFailed }) {
    this.call = call;
    this.onTrack = onTrack;
    this.onFailed = onFailed;
    this.pc = null;
    this.senders = [];
    this.tracks = [];
    this.sending = false;
    this.chain = Promise.resolve();
  }

  // Connects and publishes `tracks`; they carry media only while `sending`.
  start(tracks, stream, sending) {
    this.pc = new RTCPeerConnection({ iceServers: [] });
    this.pc.ontrack = (e) => {
      const stream = e.streams[0] ?? new MediaStream([e.track]);
      this.onTrack(stream.id, e.track, stream);
    };
    this.pc.onconnectionstatechange = () => {
      if (this.pc?.connectionState === 'failed') this.onFailed();
    };
    this.tracks = tracks;
    this.sending = sending;
    for (const t of tracks) {
      this.senders.push(this.pc.addTrack(t, stream));
    }
    if (!tracks.some((t) => t.kind === 'audio')) this.pc.addTransceiver('audio', { direction: 'recvonly' });
    if (!tracks.some((t) => t.kind === 'video')) this.pc.addTransceiver('video', { direction: 'recvonly' });
    return this.queue(async () => {
      await this.applySending();
      await this.pc.setLocalDescription(await this.pc.createOffer());
      const { sdp } = await this.call('sfu-offer', { sdp: this.pc.localDescription.sdp });
      await this.pc.setRemoteDescription({ type: 'answer', sdp });
      await this.applySending();
    });
  }

  queue(task) {
    this.chain = this.chain.then(task).catch((e) => console.warn('SFU negotiation failed', e));
    return this.chain;
  }

  // A server-made offer (tracks appeared or disappeared in the room).
  handleOffer(sdp) {
    return this.queue(async () => {
      if (!this.pc) return;
      await this.pc.setRemoteDescription({ type: 'offer', sdp });
      await this.pc.setLocalDescription(await this.pc.createAnswer());
      await this.call('sfu-answer', { sdp: this.pc.localDescription.sdp });
    });
  }

  // Starts or stops sending media; the session stays connected either way. Like Jitsi, it
  // toggles the encodings' `active` flag rather than detaching the track: the camera keeps
  // the same consumers, so the P2P encoder sharing it never sees its source reconfigured
  // (which froze P2P video for a second at every switch).
  async setSending(sending) {
    if (sending === this.sending) return;
    this.sending = sending;
    await this.applySending();
  }

  async applySending() {
    for (const sender of this.senders) {
      const params = sender.getParameters();
      if (!params.encodings || params.encodings.length === 0) continue;
      for (const e of params.encodings) e.active = this.sending;
      try {
        await sender.setParameters(params);
      } catch (e) {
        // Before negotiation some browsers refuse; the call after the answer applies it.
        console.debug('setParameters deferred', e.message);
      }
    }
  }

  // Replaces a published track (a screen in place of the camera, and back).
  async replace(kind, track) {
    const i = this.tracks.findIndex((t) => t.kind === kind);
    if (i < 0) return;
    this.tracks[i] = track;
    await this.senders[i].replaceTrack(track);
  }

  receiverFor(track) {
    return this.pc?.getReceivers().find((r) => r.track === track);
  }

  close() {
    this.pc?.close();
    this.pc = null;
    this.senders = [];
  }
}
