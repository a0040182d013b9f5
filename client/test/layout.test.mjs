// The tile arithmetic alone: largest 16:9 tiles, centred rows, the speaker view's stage and
// strip, and when the speaker view is chosen by itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitGrid, gridRects, speakerRects, chooseView } from '../web/layout.js';

const inside = (r, w, h) => r.x >= 0 && r.y >= 0 && r.x + r.width <= w && r.y + r.height <= h;
const apart = (a, b) => a.x + a.width <= b.x || b.x + b.width <= a.x || a.y + a.height <= b.y || b.y + b.height <= a.y;

test('one tile takes the whole width of a wide area, or its whole height', () => {
  assert.deepEqual(fitGrid(1600, 900, 1, 8), { cols: 1, rows: 1, width: 1600, height: 900 });
  assert.equal(fitGrid(1600, 450, 1, 8).height, 450);
  assert.equal(fitGrid(344, 600, 1, 8).width, 344);
});

test('the column count is the one that gives the largest tiles', () => {
  // Wide and short: side by side. Tall and narrow: one above the other.
  assert.equal(fitGrid(1200, 300, 2, 8).cols, 2);
  assert.equal(fitGrid(344, 600, 2, 8).cols, 1);
  // Every other count of columns gives tiles no larger.
  for (const [w, h] of [[964, 600], [344, 560], [1900, 1000]]) {
    for (let n = 1; n <= 16; n++) {
      const best = fitGrid(w, h, n, 8);
      for (let cols = 1; cols <= n; cols++) {
        const rows = Math.ceil(n / cols);
        const tile = Math.min((w - 8 * (cols - 1)) / cols, ((h - 8 * (rows - 1)) / rows) * (16 / 9));
        assert.ok(Math.floor(tile) <= best.width, `${n} in ${w}x${h}: ${cols} columns give ${tile}, best ${best.width}`);
      }
    }
  }
});

test('grid tiles fit, do not overlap, and the last row is centred', () => {
  for (const [w, h] of [[964, 600], [344, 560]]) {
    for (let n = 1; n <= 12; n++) {
      const rects = gridRects(w, h, n, 8);
      assert.equal(rects.length, n);
      rects.forEach((r, i) => {
        assert.ok(inside(r, w, h), `${n} in ${w}x${h}: ${JSON.stringify(r)}`);
        for (const s of rects.slice(i + 1)) assert.ok(apart(r, s));
      });
    }
  }
  // Three in two columns: the third alone in its row, in the middle.
  const [a, b, c] = gridRects(1000, 600, 3, 8);
  assert.equal(a.y, b.y);
  assert.ok(Math.abs(c.x + c.width / 2 - 500) <= 1, JSON.stringify(c));
});

test('the speaker view puts the first tile large above a strip of the others', () => {
  for (const [w, h] of [[964, 600], [344, 560]]) {
    for (let n = 2; n <= 16; n++) {
      const [stage, ...strip] = speakerRects(w, h, n, 8);
      assert.ok(inside(stage, w, h));
      for (const r of strip) {
        assert.ok(inside(r, w, h), `${n} in ${w}x${h}: ${JSON.stringify(r)}`);
        assert.ok(r.y >= stage.y + stage.height, 'below the stage');
        assert.ok(r.width < stage.width);
      }
    }
  }
});

test('the speaker view comes by itself past six tiles or with a shared screen, unless chosen', () => {
  assert.equal(chooseView('auto', 6, false), 'grid');
  assert.equal(chooseView('auto', 7, false), 'speaker');
  assert.equal(chooseView('auto', 2, true), 'speaker');
  assert.equal(chooseView('grid', 9, true), 'grid');
  assert.equal(chooseView('speaker', 2, false), 'speaker');
});
