// The speaking indicator: a tile is outlined while the audio it plays is loud enough.
// One AudioContext and one timer serve every tile; analysers only read levels.

const THRESHOLD = 0.02; // RMS of the samples, full scale 1.0
const HOLD_MS = 600; // stays lit this long after the level drops, so speech does not flicker
const TICK_MS = 150;

export class SpeakingMeter {
  constructor() {
    this.ctx = null;
    this.watched = new Map(); // tile -> { track, source, analyser, buf, lastLoud }
    this.timer = null;
    // Browsers start an AudioContext suspended until a user gesture.
    document.addEventListener('click', () => this.ctx?.resume(), { capture: true });
  }

  // Follows the audio of `stream` on `tile`; no audio (or a changed track) resets it.
  watch(tile, stream) {
    const track = stream?.getAudioTracks()[0] ?? null;
    const cur = this.watched.get(tile);
    if (cur?.track === track) return;
    this.unwatch(tile);
    if (!track) return;
    try {
      this.ctx ??= new AudioContext();
      const source = this.ctx.createMediaStreamSource(new MediaStream([track]));
      const analyser = this.ctx.createAnalyser();
      analyser.fftSize = 512;
      source.connect(analyser);
      this.watched.set(tile, { track, source, analyser, buf: new Float32Array(analyser.fftSize), lastLoud: 0 });
      this.timer ??= setInterval(() => this.tick(), TICK_MS);
    } catch (e) {
      console.warn('speaking indicator unavailable', e);
    }
  }

  unwatch(tile) {
    const w = this.watched.get(tile);
    if (!w) return;
    w.source.disconnect();
    this.watched.delete(tile);
    tile.classList.remove('speaking');
    if (this.watched.size === 0) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  tick() {
    const now = performance.now();
    for (const [tile, w] of this.watched) {
      if (!tile.isConnected) {
        this.unwatch(tile);
        continue;
      }
      w.analyser.getFloatTimeDomainData(w.buf);
      let sum = 0;
      for (const x of w.buf) sum += x * x;
      if (Math.sqrt(sum / w.buf.length) > THRESHOLD && w.track.enabled) w.lastLoud = now;
      tile.classList.toggle('speaking', now - w.lastLoud < HOLD_MS);
    }
  }
}
