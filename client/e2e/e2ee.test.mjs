// End-to-end encryption (`#e2ee=passphrase`): pages with the same passphrase see and hear
// each other through the SFU, which forwards frames it cannot read; a page with another
// passphrase decodes nothing of theirs, and says so. The passphrase never reaches the server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowsers, openPage, openFirefoxPage, waitForRemoteVideos, mode, frames, sleep } from './helpers.mjs';
import { deriveKey } from '../web/e2ee/frame.js';

const ctx = serverAndBrowsers([]);
const SECRET = 'correct horse battery staple';
const hash = (secret) => `e2ee=${encodeURIComponent(secret)}`;

// Everything a Chromium page sends the server: its HTTP requests (with their bodies) and its
// WebSocket frames (Socket.IO).
function recordSent(page, into) {
  page.on('request', (r) => into.push(`${r.url()} ${r.postData() ?? ''}`));
  page.on('websocket', (ws) => ws.on('framesent', (f) => into.push(String(f.payload))));
}

// The page's view of each remote member's decryption: frames opened and not, and whether
// its tile says it cannot decrypt.
const decryption = (page) =>
  page.evaluate(() =>
    Object.fromEntries(
      [...window.app.peers.values()].map((p) => [
        p.name,
        { opened: p.decrypted, failed: p.undecryptable, shown: !p.locked.hidden, keys: p.foreignKeys ?? [] },
      ]),
    ),
  );

test('three pages with one passphrase decode each other through the SFU; a fourth with another decodes nothing', async () => {
  const { server, chromium, firefox } = ctx;
  const room = 'sealed';
  const sent = [];
  const open = async (name, secret) => {
    const page = await chromium.newContext({ permissions: ['camera', 'microphone'] }).then((c) => c.newPage());
    recordSent(page, sent);
    page.on('pageerror', (e) => console.error(`[${name}] page error:`, e.message));
    await page.goto(`${server.url}/?room=${room}&name=${name}&quality=low#${hash(secret)}`);
    return page;
  };
  const ada = await open('Ada', SECRET);
  const bob = await open('Bob', SECRET);
  // Two: P2P, encrypted the same way.
  for (const p of [ada, bob]) await waitForRemoteVideos(p, 1, 30000);
  assert.equal(await mode(ada), 'p2p');
  for (const p of [ada, bob]) {
    const [d] = Object.values(await decryption(p));
    assert.ok(d.opened > 0 && d.failed === 0, `P2P frames opened: ${JSON.stringify(d)}`);
  }
  // Firefox too, from the landing page's passphrase field rather than the link.
  const fox = await firefox.newPage();
  // (Over WebDriver BiDi, request bodies cannot be read: the URLs are recorded.)
  fox.on('request', (r) => sent.push(r.url()));
  await fox.goto(`${server.url}/?room=${room}`);
  await fox.waitForSelector('#join:not([disabled])');
  await fox.type('#name', 'Fox');
  await fox.type('#passphrase', SECRET);
  await fox.click('#join');

  for (const p of [ada, bob]) await waitForRemoteVideos(p, 2, 45000);
  assert.equal(await mode(ada), 'sfu');
  for (const p of [ada, bob]) {
    assert.equal(await p.evaluate(() => !document.querySelector('#e2ee').hidden), true, 'the lock shows');
    for (const [name, d] of Object.entries(await decryption(p))) {
      assert.ok(d.opened > 0 && !d.shown, `${name} decrypts: ${JSON.stringify(d)}`);
    }
  }
  // Firefox decodes both Chromium pages' video.
  await fox.waitForFunction(
    () => [...document.querySelectorAll('.tile.remote')].filter((t) => Number(t.dataset.frames) > 10).length === 2,
    { timeout: 45000 },
  );

  // Eve has another passphrase: the frames she gets are the others' sealed ones, and she
  // cannot open any of them.
  const eve = await open('Eve', 'battery staple horse correct');
  await eve.waitForFunction(() => window.app.peers.size === 3 && [...window.app.peers.values()].every((p) => p.undecryptable > 20), null, {
    timeout: 30000,
  });
  const before = [await frames(ada), await frames(bob)];
  await sleep(3000);
  const eveSees = await decryption(eve);
  // The frames that reached her were sealed, under the call's key (its id in their trailer):
  // encrypted in the browsers, through the SFU.
  const { id: callKey } = await deriveKey(SECRET, room);
  for (const [name, d] of Object.entries(eveSees)) {
    assert.equal(d.opened, 0, `Eve opened none of ${name}'s frames`);
    assert.ok(d.shown, `Eve's page says it cannot decrypt ${name}`);
    assert.deepEqual(d.keys, [callKey], `${name}'s frames were sealed under the call's key`);
  }
  const eveFrames = await frames(eve);
  assert.ok(Object.values(eveFrames).every((n) => n === 0), `Eve decoded no frame: ${JSON.stringify(eveFrames)}`);
  console.log(`Eve: ${JSON.stringify(eveSees)}`);
  // The three keep decoding each other, and show Eve as one they cannot decrypt.
  const after = [await frames(ada), await frames(bob)];
  const eveId = await eve.evaluate(() => window.app.me);
  for (const [i, page] of [ada, bob].entries()) {
    for (const [id, n] of Object.entries(after[i])) {
      if (id !== eveId) assert.ok(n > (before[i][id] ?? 0) + 10, `still decoding ${id}: ${before[i][id]} → ${n}`);
    }
    assert.ok((await decryption(page)).Eve.shown, 'Eve is shown as undecryptable');
  }

  // The passphrase never left a page: not in a request, not in a Socket.IO frame, and not
  // in anything the server logged.
  assert.ok(sent.length > 20, `recorded ${sent.length} messages`);
  for (const secret of [SECRET, encodeURIComponent(SECRET), 'battery staple horse correct']) {
    assert.ok(!sent.some((m) => m.includes(secret)), 'the passphrase was sent');
    assert.ok(!server.output().includes(secret), 'the server logged the passphrase');
  }
  for (const p of [ada, bob, eve]) await p.context().close();
  await fox.close();
});

test('with E2EE a late joiner decodes every stream within 2 s of its SFU connection, and the passphrase can change', async () => {
  const { server, chromium } = ctx;
  const room = 'late';
  const pages = [];
  for (const name of ['Ada', 'Bob', 'Cat']) pages.push(await openPage(chromium, server.url, room, name, { hash: hash(SECRET) }));
  for (const p of pages) await waitForRemoteVideos(p, 2, 45000);
  const dan = await openPage(chromium, server.url, room, 'Dan', { hash: hash(SECRET) });
  // In the page: when its SFU connection came up, and each video stream's first decoded
  // frame, which needs a key frame that the SFU asked its publisher for.
  const waits = await dan.evaluate(async () => {
    const seen = {};
    let connected = null;
    const deadline = performance.now() + 30000;
    while (performance.now() < deadline) {
      const pc = window.app.sfu?.pc;
      if (pc) {
        if (connected === null && pc.connectionState === 'connected') connected = performance.now();
        for (const s of (await pc.getStats()).values()) {
          if (s.type !== 'inbound-rtp' || s.kind !== 'video') continue;
          if (s.framesDecoded > 0) seen[s.ssrc] ??= performance.now();
        }
      }
      const done = Object.values(seen);
      if (connected !== null && done.length >= 3) return done.map((t) => Math.round(t - connected));
      await new Promise((r) => setTimeout(r, 20));
    }
    return { connected, seen };
  });
  console.log(`late joiner: SFU connection to first decoded frame, per stream: ${JSON.stringify(waits)} ms`);
  assert.ok(Array.isArray(waits), `Dan decoded every stream: ${JSON.stringify(waits)}`);
  for (const ms of waits) assert.ok(ms < 2000, `a key frame within 2 s: ${ms} ms`);

  // A new passphrase, entered on one page first. That page seals with the new key at once,
  // and still opens the others' frames under the old one.
  const all = [...pages, dan];
  const change = (page) => page.evaluate((s) => window.app.e2ee.setPassphrase(s, 'late'), 'a brand new secret');
  await change(all[0]);
  const opened = async () => Object.values(await decryption(all[0])).map((d) => d.opened);
  const before = await opened();
  await sleep(2000);
  const during = await opened();
  assert.ok(during.every((n, i) => n > before[i] + 10), `Ada opened the old key's frames: ${before} → ${during}`);
  // Everyone changes: all decode all again, under the new key.
  for (const p of all.slice(1)) await change(p);
  for (const p of all) await waitForRemoteVideos(p, 3, 20000);
  // Once the old key is dropped (10 s), frames still open: they are sealed under the new one.
  await sleep(11000);
  for (const p of all) await waitForRemoteVideos(p, 3, 20000);
  for (const p of all) {
    for (const [name, d] of Object.entries(await decryption(p))) assert.ok(!d.shown, `${name} readable after the change`);
  }
  for (const p of all) await p.context().close();
});

test('Firefox and Chromium talk P2P with E2EE', async () => {
  const { server, chromium, firefox } = ctx;
  const room = 'pair-sealed';
  const chr = await openPage(chromium, server.url, room, 'Chr', { hash: hash(SECRET) });
  const fox = await openFirefoxPage(firefox, server.url, room, 'Fox', { hash: hash(SECRET) });
  await waitForRemoteVideos(chr, 1, 30000);
  assert.equal(await mode(chr), 'p2p');
  await fox.waitForFunction(() => [...document.querySelectorAll('.tile.remote')].some((t) => Number(t.dataset.frames) > 10), {
    timeout: 30000,
  });
  for (const page of [chr, fox]) {
    const [d] = Object.values(await decryption(page));
    assert.ok(d.opened > 0 && d.failed === 0, `P2P frames opened: ${JSON.stringify(d)}`);
  }
  // VP8, whose header layout the encryption knows, whichever browser offered.
  const codec = await chr.evaluate(async () => {
    const stats = await [...window.app.peers.values()][0].link.pc.getStats();
    const inbound = [...stats.values()].find((s) => s.type === 'inbound-rtp' && s.kind === 'video');
    return stats.get(inbound?.codecId)?.mimeType;
  });
  assert.equal(codec, 'video/VP8');
  await chr.context().close();
  await fox.close();
});
