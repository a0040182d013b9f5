// Where each tile goes. Tile view: every tile at the largest 16:9 size at which all of them
// fit, as Jitsi's tile view does. Speaker view: one large tile (the shared screen or the
// active speaker) above a strip of the others. The arithmetic is pure, so that it can be
// tested without a browser; `Layout` applies it to the page and follows its size.

export const ASPECT = 16 / 9;
export const GAP = 8;
// The speaker view's strip takes at most this share of the height.
const STRIP_SHARE = 0.25;

// The largest `aspect` boxes that fit `n` in `width` x `height` with `gap` between them:
// `{cols, rows, width, height}`, in whole pixels.
export function fitGrid(width, height, n, gap = GAP, aspect = ASPECT) {
  let best = { cols: 1, rows: Math.max(1, n), width: 0, height: 0 };
  for (let cols = 1; cols <= Math.max(1, n); cols++) {
    const rows = Math.ceil(n / cols);
    const w = Math.min((width - gap * (cols - 1)) / cols, ((height - gap * (rows - 1)) / rows) * aspect);
    const tileW = Math.floor(Math.max(0, w));
    if (tileW > best.width) best = { cols, rows, width: tileW, height: Math.floor(tileW / aspect) };
  }
  return best;
}

// Rectangles `{x, y, width, height}` for `n` tiles filling `width` x `height` in a grid,
// centred, the last row centred too.
export function gridRects(width, height, n, gap = GAP) {
  if (n === 0) return [];
  const g = fitGrid(width, height, n, gap);
  const blockH = g.rows * g.height + (g.rows - 1) * gap;
  const y0 = Math.floor((height - blockH) / 2);
  const rects = [];
  for (let i = 0; i < n; i++) {
    const row = Math.floor(i / g.cols);
    const inRow = Math.min(g.cols, n - row * g.cols);
    const rowW = inRow * g.width + (inRow - 1) * gap;
    const x0 = Math.floor((width - rowW) / 2);
    const col = i - row * g.cols;
    rects.push({ x: x0 + col * (g.width + gap), y: y0 + row * (g.height + gap), width: g.width, height: g.height });
  }
  return rects;
}

// Speaker view: the first tile large on top, the others in a strip below. Returns the
// rectangles in the tiles' order.
export function speakerRects(width, height, n, gap = GAP) {
  if (n <= 1) return gridRects(width, height, n, gap);
  const stripH = Math.floor(height * STRIP_SHARE);
  const strip = gridRects(width, stripH, n - 1, gap);
  // The strip's tiles sit at its top edge of their own area: lift the stage's share by the
  // strip's actual height, so the stage gets whatever the strip does not use.
  const used = Math.max(...strip.map((r) => r.y + r.height)) - Math.min(...strip.map((r) => r.y));
  const stageH = height - used - gap;
  const [stage] = gridRects(width, stageH, 1, gap);
  const top = Math.min(...strip.map((r) => r.y));
  return [stage, ...strip.map((r) => ({ ...r, y: r.y - top + stageH + gap }))];
}

// Which view the page shows: the person's choice, or by itself the speaker view past six
// tiles or while someone shares a screen.
export function chooseView(choice, tiles, screenShared) {
  if (choice === 'grid' || choice === 'speaker') return choice;
  return tiles > 6 || screenShared ? 'speaker' : 'grid';
}

// Lays out the children of `grid` (absolutely placed) and does it again whenever the grid
// is resized or its tiles change. `focus()` names the tile the speaker view puts first.
export class Layout {
  constructor(grid, { focus }) {
    this.grid = grid;
    this.focus = focus;
    this.choice = 'auto';
    this.view = 'grid';
    this.pending = false;
    new ResizeObserver(() => this.update()).observe(grid);
    new MutationObserver(() => this.update()).observe(grid, { childList: true });
  }

  setChoice(choice) {
    this.choice = choice;
    this.update();
  }

  // Lays out at the next frame, once per burst of changes.
  update() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.apply();
    });
  }

  apply() {
    const tiles = [...this.grid.children].filter((t) => t.classList.contains('tile'));
    const shared = tiles.some((t) => t.classList.contains('screen'));
    this.view = chooseView(this.choice, tiles.length, shared);
    this.grid.dataset.view = this.view;
    const style = getComputedStyle(this.grid);
    const padX = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
    const padY = parseFloat(style.paddingTop) + parseFloat(style.paddingBottom);
    const width = this.grid.clientWidth - padX;
    const height = this.grid.clientHeight - padY;
    let order = tiles;
    if (this.view === 'speaker') {
      const first = this.focus(tiles) ?? tiles[0];
      order = [first, ...tiles.filter((t) => t !== first)];
    }
    const rects = this.view === 'speaker' ? speakerRects(width, height, order.length) : gridRects(width, height, order.length);
    order.forEach((t, i) => {
      const r = rects[i];
      t.classList.toggle('stage', this.view === 'speaker' && i === 0);
      Object.assign(t.style, {
        left: `${r.x + parseFloat(style.paddingLeft)}px`,
        top: `${r.y + parseFloat(style.paddingTop)}px`,
        width: `${r.width}px`,
        height: `${r.height}px`,
      });
    });
  }
}
