// Tells the server how this page shows each member's video (`view`): the tile's size in
// device pixels, and whether it is on screen in a visible tab. The SFU sends no video for a
// hidden tile, which saves the bandwidth of a scrolled-away or minimised call.

const SETTLE_MS = 200; // one report per burst of scrolling or resizing
const SIZE_STEP = 1.25; // a size change smaller than this is not worth a message

export class ViewReporter {
  // `send(payload)` delivers one `view` event.
  constructor(send) {
    this.send = send;
    this.tiles = new Map(); // peer id -> { tile, onScreen, sent }
    this.timer = null;
    this.io = new IntersectionObserver((entries) => {
      for (const e of entries) {
        const v = this.tiles.get(e.target.dataset.peerId);
        if (v) v.onScreen = e.isIntersecting;
      }
      this.schedule();
    });
    this.ro = new ResizeObserver(() => this.schedule());
    document.addEventListener('visibilitychange', () => this.schedule());
  }

  // Follows `tile`, which carries the member's id as `data-peer-id`.
  watch(id, tile) {
    this.tiles.set(id, { tile, onScreen: true, sent: null });
    this.io.observe(tile);
    this.ro.observe(tile);
  }

  unwatch(id) {
    const v = this.tiles.get(id);
    if (!v) return;
    this.io.unobserve(v.tile);
    this.ro.unobserve(v.tile);
    this.tiles.delete(id);
  }

  // A new SFU session knows nothing of what this page showed: say it all again.
  resend() {
    for (const v of this.tiles.values()) v.sent = null;
    this.schedule();
  }

  schedule() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.flush(), SETTLE_MS);
  }

  flush() {
    const dpr = window.devicePixelRatio || 1;
    for (const [peer, v] of this.tiles) {
      const box = v.tile.getBoundingClientRect();
      const width = Math.min(16384, Math.round(box.width * dpr));
      const height = Math.min(16384, Math.round(box.height * dpr));
      const visible = v.onScreen && !document.hidden && width > 0 && height > 0;
      const s = v.sent;
      const resized = s && (Math.max(width, s.width) > SIZE_STEP * Math.max(1, Math.min(width, s.width)));
      if (s && s.visible === visible && !resized) continue;
      v.sent = { width, height, visible };
      this.send({ peer, width, height, visible });
    }
  }
}
