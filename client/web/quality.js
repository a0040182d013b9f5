// Call quality as a person can see it: a good / fair / poor mark on each remote tile, from
// the receive statistics the browser already keeps (loss, jitter, round-trip time and the
// frame rate received), and the details behind it (resolution, frame rate, bitrate, codec,
// path) for the details panel. `judge` is pure, so that its thresholds can be tested alone.

const POLL_MS = 2000;
// Fewer packets than this in a period say nothing about loss.
const MIN_PACKETS = 20;

// The mark for one period's figures. Loss is a fraction, times in seconds; a figure that is
// unknown (null) does not count.
export function judge({ loss = null, jitter = null, rtt = null, fps = null }) {
  const over = (v, limit) => v !== null && v !== undefined && v >= limit;
  if (over(loss, 0.1) || over(jitter, 0.1) || over(rtt, 0.5)) return 'poor';
  const slow = fps !== null && fps !== undefined && fps > 0 && fps < 5;
  if (over(loss, 0.03) || over(jitter, 0.03) || over(rtt, 0.25) || slow) return 'fair';
  return 'good';
}

// The figures of one receiver's stats since the previous period (`prev`, by stats id).
export function summarize(reports, prev, now) {
  const out = { loss: null, jitter: null, rtt: null, fps: null, width: null, height: null, bitrate: null, codec: null, relay: false };
  const byId = new Map();
  for (const r of reports) byId.set(r.id, r);
  let lost = 0;
  let total = 0;
  for (const r of reports) {
    if (r.type === 'inbound-rtp') {
      const p = prev.get(r.id);
      if (p) {
        const dLost = Math.max(0, (r.packetsLost ?? 0) - (p.packetsLost ?? 0));
        const dRecv = Math.max(0, (r.packetsReceived ?? 0) - (p.packetsReceived ?? 0));
        // The worst stream tells: audio has no retransmissions to hide its loss.
        if (dLost + dRecv >= MIN_PACKETS) out.loss = Math.max(out.loss ?? 0, dLost / (dLost + dRecv));
        lost += dLost;
        total += dLost + dRecv;
        if (r.kind === 'video') {
          const seconds = (now - p.at) / 1000;
          // (Counters that went back, a new session's, give no rate this period.)
          const bytes = (r.bytesReceived ?? 0) - (p.bytesReceived ?? 0);
          if (seconds > 0 && bytes >= 0) out.bitrate = Math.round((8 * bytes) / seconds);
        }
      }
      if (typeof r.jitter === 'number') out.jitter = Math.max(out.jitter ?? 0, r.jitter);
      if (r.kind === 'video') {
        out.fps = r.framesPerSecond ?? null;
        out.width = r.frameWidth ?? null;
        out.height = r.frameHeight ?? null;
        out.codec = byId.get(r.codecId)?.mimeType?.replace(/^video\//, '') ?? null;
      }
      prev.set(r.id, { ...r, at: now });
    }
  }
  // The pair the transport uses: its round trip, and whether it goes through TURN.
  const transport = reports.find((r) => r.type === 'transport' && r.selectedCandidatePairId);
  const pair = byId.get(transport?.selectedCandidatePairId) ?? reports.find((r) => r.type === 'candidate-pair' && r.nominated);
  if (pair) {
    if (typeof pair.currentRoundTripTime === 'number') out.rtt = pair.currentRoundTripTime;
    const types = [byId.get(pair.localCandidateId), byId.get(pair.remoteCandidateId)].map((c) => c?.candidateType);
    out.relay = types.includes('relay');
  }
  out.totals = { lost, total };
  return out;
}

// Polls every remote member's receivers, while started (in a call), and marks their tiles.
// `peers()` returns
// `{id, name, tile, path, receivers}` for each, with `receivers` the RTCRtpReceivers of the
// path the tile shows.
export class QualityMonitor {
  constructor({ peers, onUpdate = () => {} }) {
    this.peers = peers;
    this.onUpdate = onUpdate;
    this.prev = new Map(); // peer id -> Map(stats id -> previous report)
    this.latest = new Map(); // peer id -> the last figures, for the details panel
    this.timer = null;
    this.busy = false;
  }

  start() {
    this.timer ??= setInterval(() => this.tick(), POLL_MS);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.prev.clear();
    this.latest.clear();
  }

  // One reading at a time: on a loaded machine getStats may take longer than the period.
  async tick() {
    if (this.busy) return;
    this.busy = true;
    try {
      await this.poll();
    } finally {
      this.busy = false;
    }
  }

  async poll() {
    const now = performance.now();
    const seen = new Set();
    for (const p of this.peers()) {
      seen.add(p.id);
      const reports = [];
      for (const r of p.receivers) {
        try {
          for (const s of (await r.getStats()).values()) reports.push(s);
        } catch {
          // A receiver closed meanwhile: the next period has the new one.
        }
      }
      if (!this.prev.has(p.id)) this.prev.set(p.id, new Map());
      const figures = summarize(reports, this.prev.get(p.id), now);
      figures.path = p.path + (figures.relay ? ' via TURN' : '');
      figures.name = p.name;
      figures.level = reports.length ? judge(figures) : 'unknown';
      this.latest.set(p.id, figures);
      mark(p.tile, p.name, figures.level);
    }
    for (const id of [...this.latest.keys()]) {
      if (!seen.has(id)) {
        this.latest.delete(id);
        this.prev.delete(id);
      }
    }
    this.onUpdate(this.latest);
  }
}

const WORDS = { good: 'good', fair: 'fair', poor: 'poor', unknown: 'not measured yet' };

function mark(tile, name, level) {
  const el = tile.querySelector('.quality');
  if (!el) return;
  el.dataset.quality = level;
  el.title = `Connection ${WORDS[level]}`;
  el.setAttribute('aria-label', `${name}: connection ${WORDS[level]}`);
}
