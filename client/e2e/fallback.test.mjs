// The P2P fallback on a real network split: two browsers in network namespaces of their own
// reach the server, but not each other. Their P2P connection cannot form, the clients say
// `p2p-failed`, and the room moves to the SFU: each sees the other within 10 s of joining.
//
// The test's own namespace (loopback only, as every media test's) holds the server on two
// veth links, 10.77.1.1 and 10.77.2.1. Namespace A (10.77.1.2) and B (10.77.2.2) route
// everything through their link; this namespace does not forward between the links, so A
// and B can each reach the server's addresses, and never each other.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, launch, openPage, waitForRemoteVideos } from './helpers.mjs';

const NETS = [
  { ns: 'sfu-e2e-a', host: 'veth-e2e-a', subnet: '10.77.1' },
  { ns: 'sfu-e2e-b', host: 'veth-e2e-b', subnet: '10.77.2' },
];
const ip = (...args) => execFileSync('ip', args, { stdio: 'pipe' });

function split() {
  for (const { ns, host, subnet } of NETS) {
    ip('netns', 'add', ns);
    ip('link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    ip('addr', 'add', `${subnet}.1/24`, 'dev', host);
    ip('link', 'set', host, 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'addr', 'add', `${subnet}.2/24`, 'dev', 'eth0');
    ip('-n', ns, 'link', 'set', 'eth0', 'up');
    ip('-n', ns, 'route', 'add', 'default', 'via', `${subnet}.1`);
  }
}

function unsplit() {
  for (const { ns, host } of NETS) {
    try {
      ip('link', 'del', host);
    } catch {}
    try {
      ip('netns', 'del', ns);
    } catch {}
  }
}

// Whether a TCP connection from namespace `ns` to host:port opens, is refused, or gets no
// answer in a second.
function probe(ns, host, port) {
  const script = `const s = require('net').connect(${port}, '${host}');
    s.setTimeout(1000, () => { console.log('timeout'); process.exit(0); });
    s.on('connect', () => { console.log('open'); process.exit(0); });
    s.on('error', (e) => { console.log(e.code === 'ECONNREFUSED' ? 'refused' : e.code); process.exit(0); });`;
  return execFileSync('ip', ['netns', 'exec', ns, process.execPath, '-e', script]).toString().trim();
}

let server;
const browsers = [];
before(async () => {
  unsplit();
  split();
  // Forwarding between the links stays off, whatever this namespace was given.
  assert.equal(execFileSync('cat', ['/proc/sys/net/ipv4/ip_forward']).toString().trim(), '0');
  server = await startServer([], { http: '10.77.1.1:0', udp: '10.77.1.1:0' });
  const dir = await mkdtemp(join(tmpdir(), 'sfu-netns-'));
  for (const { ns } of NETS) {
    // Debian's Chromium, started inside the namespace; Playwright drives it over a pipe.
    const wrapper = join(dir, `chromium-${ns}`);
    await writeFile(wrapper, `#!/bin/sh\nexec ip netns exec ${ns} /usr/bin/chromium "$@"\n`);
    await chmod(wrapper, 0o755);
    // The camera needs a secure context, which an http:// origin other than localhost is
    // not: this one is declared secure, as HTTPS would make it (docs/deploy.md).
    const secure = `--unsafely-treat-insecure-origin-as-secure=${server.url}`;
    browsers.push(await launch([secure], { executablePath: wrapper }));
  }
});
after(async () => {
  for (const b of browsers) await b.close();
  await server?.stop();
  unsplit();
});

test('two browsers that cannot reach each other meet through the SFU within 10 s', async () => {
  // The namespaces really are split: from A, the server's B-side address answers (with a
  // refusal: nothing listens there), B's address does not answer at all.
  const port = new URL(server.url).port;
  assert.equal(probe(NETS[0].ns, '10.77.1.1', port), 'open');
  assert.equal(probe(NETS[0].ns, '10.77.2.1', port), 'refused');
  assert.equal(probe(NETS[0].ns, '10.77.2.2', port), 'timeout');

  const start = Date.now();
  const [a, b] = await Promise.all([
    openPage(browsers[0], server.url, 'split', 'Ann'),
    openPage(browsers[1], server.url, 'split', 'Bob'),
  ]);
  await Promise.all([waitForRemoteVideos(a, 1, 20000), waitForRemoteVideos(b, 1, 20000)]);
  const took = (Date.now() - start) / 1000;
  console.log(`# join to media on both pages: ${took.toFixed(1)} s`);
  const room = await server.room('split');
  assert.equal(room.mode, 'sfu', 'the room moved to the SFU');
  for (const p of [a, b]) {
    const playing = await p.evaluate(() =>
      [...window.app.peers.values()].map((peer) => (peer.videos.sfu.classList.contains('active') ? 'sfu' : 'p2p')),
    );
    assert.deepEqual(playing, ['sfu']);
  }
  assert.ok(took < 10, `join to media took ${took.toFixed(1)} s`);
  await a.context().close();
  await b.context().close();
});
