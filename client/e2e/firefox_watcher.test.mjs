// A Firefox user who refused the camera and microphone, on a normal network. Without a
// capture permission Firefox gathers only its default-route address (no loopback, no other
// interface), so this page's every ICE candidate is that one address. It must still reach
// a Chromium peer in P2P and the SFU once a third member joins.
//
// The test's namespace gets a "normal network" for the file: a veth link, 10.77.3.1, with
// the default route through it (to a namespace that answers nothing). The server listens on
// 10.77.3.1 too, as a server on the LAN or the internet would be reached.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startServer, launch, launchFirefox, openPage, openFirefoxPage, waitForRemoteVideos, mode } from './helpers.mjs';

const NS = 'sfu-e2e-gw';
const LINK = 'veth-e2e-gw';
const ADDR = '10.77.3.1';
const ip = (...args) => execFileSync('ip', args, { stdio: 'pipe' });

function network() {
  ip('netns', 'add', NS);
  ip('link', 'add', LINK, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS);
  ip('addr', 'add', `${ADDR}/24`, 'dev', LINK);
  ip('link', 'set', LINK, 'up');
  ip('-n', NS, 'addr', 'add', '10.77.3.2/24', 'dev', 'eth0');
  ip('-n', NS, 'link', 'set', 'eth0', 'up');
  ip('route', 'add', 'default', 'via', '10.77.3.2');
}

function teardown() {
  try {
    ip('link', 'del', LINK); // the default route goes with it
  } catch {}
  try {
    ip('netns', 'del', NS);
  } catch {}
}

let server, chromium, firefox;
before(async () => {
  teardown();
  network();
  server = await startServer(['--hold-down-secs', '2'], { http: '127.0.0.1:0', udp: `${ADDR}:0` });
  chromium = await launch();
  firefox = await launchFirefox(server.url, { grant: false });
});
after(async () => {
  await firefox?.close();
  await chromium?.close();
  await server?.stop();
  teardown();
});

// The addresses of the page's local ICE candidates, on every connection it holds.
const localAddresses = (page) =>
  page.evaluate(async () => {
    const pcs = [window.app.sfu?.pc, ...[...window.app.peers.values()].map((p) => p.link?.pc)].filter(Boolean);
    const out = new Set();
    for (const pc of pcs) {
      for (const s of (await pc.getStats()).values()) if (s.type === 'local-candidate') out.add(s.address);
    }
    return [...out];
  });

test('a Firefox page that refused the camera reaches a P2P peer and the SFU through its default-route address', async () => {
  const watcher = await openFirefoxPage(firefox, server.url, 'watch', 'Wes', { refuseMedia: true });
  await watcher.waitForFunction(() => window.app?.joined === true, { timeout: 20000 });
  const a = await openPage(chromium, server.url, 'watch', 'Ann');
  await waitForRemoteVideos(watcher, 1, 30000);
  assert.equal(await mode(watcher), 'p2p');
  assert.deepEqual(await localAddresses(watcher), [ADDR], 'Firefox gathered its default-route address only');

  const b = await openPage(chromium, server.url, 'watch', 'Bob');
  await watcher.waitForFunction(() => document.querySelector('#mode').dataset.mode === 'sfu', { timeout: 20000 });
  await waitForRemoteVideos(watcher, 2, 45000);
  assert.deepEqual(await localAddresses(watcher), [ADDR]);
  const room = await server.room('watch');
  assert.equal(room.mode, 'sfu');
  const wes = room.participants.find((p) => p.name === 'Wes');
  assert.equal(wes.transport.state, 'connected');
  assert.equal(wes.transport.selected_candidate?.address.split(':')[0], ADDR);
  assert.equal(wes.published.length, 0, 'it publishes nothing');
  for (const p of [a, b]) await p.context().close();
  await watcher.close();
});
