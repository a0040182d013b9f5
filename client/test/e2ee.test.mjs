import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clearBytes, deriveKey, newSender, open, seal } from '../web/e2ee/frame.js';

const frame = (n) => Uint8Array.from({ length: n }, (_, i) => i % 251).buffer;

test('a sealed frame opens with the same passphrase and room, and keeps its clear header', async () => {
  const k = await deriveKey('correct horse', 'standup');
  const sender = newSender();
  const data = frame(500);
  const sealed = await seal(data, clearBytes('video', 'key'), k, sender);
  const bytes = new Uint8Array(sealed);
  assert.deepEqual(bytes.subarray(0, 10), new Uint8Array(data).subarray(0, 10));
  assert.notDeepEqual(bytes.subarray(10, 500), new Uint8Array(data).subarray(10, 500));
  assert.equal(bytes[bytes.length - 1], k.id);
  const opened = await open(sealed, 10, new Map([[k.id, k.key]]));
  assert.deepEqual(new Uint8Array(opened), new Uint8Array(data));
  // The counter moves: the next frame's IV differs.
  const again = new Uint8Array(await seal(data, 10, k, sender));
  assert.notDeepEqual(again.subarray(-14, -2), bytes.subarray(-14, -2));
});

test('a wrong passphrase, another room, a changed header or a plain frame does not open', async () => {
  const k = await deriveKey('correct horse', 'standup');
  const sealed = await seal(frame(300), 3, k, newSender());
  const wrong = await deriveKey('battery staple', 'standup');
  const elsewhere = await deriveKey('correct horse', 'retro');
  for (const other of [wrong, elsewhere]) {
    // Under the id of the right key, so that only the key itself is wrong.
    assert.equal(await open(sealed, 3, new Map([[k.id, other.key]])), null);
  }
  const changed = new Uint8Array(sealed.slice(0));
  changed[0] ^= 1;
  assert.equal(await open(changed.buffer, 3, new Map([[k.id, k.key]])), null);
  assert.equal(await open(frame(300), 3, new Map([[k.id, k.key]])), null);
  assert.equal(await open(new ArrayBuffer(5), 3, new Map([[k.id, k.key]])), null);
});

test('what stays in the clear: VP8 frame tag, key frame size, Opus TOC', () => {
  assert.equal(clearBytes('video', 'key'), 10);
  assert.equal(clearBytes('video', 'delta'), 3);
  assert.equal(clearBytes('audio', undefined), 1);
  assert.equal(clearBytes('video', 'empty'), 0);
});
