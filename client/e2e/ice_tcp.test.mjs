// ICE over TCP to the SFU. Chromium told never to send UDP outside a proxy
// (`--webrtc-ip-handling-policy=disable_non_proxied_udp`, which is what a network that blocks
// UDP leaves a browser with) still reaches the SFU through the worker's passive TCP
// candidate, and the pages see each other. Both ends say the media runs over TCP: each
// page's selected pair, and the admin API's view of each participant.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, newPage, waitForRemoteVideos, sleep } from './helpers.mjs';

const ctx = serverAndBrowser(['--ice-tcp', '127.0.0.1:0', '--p2p', 'off'], {
  browserArgs: ['--webrtc-ip-handling-policy=disable_non_proxied_udp'],
});

// The protocol and type of the local candidate of the page's selected SFU pair.
const selected = (page) =>
  page.evaluate(async () => {
    const stats = await window.app.sfu.pc.getStats();
    for (const s of stats.values()) {
      if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') {
        const local = stats.get(s.localCandidateId);
        return { protocol: local?.protocol, tcpType: local?.tcpType };
      }
    }
    return null;
  });

test('pages that cannot send UDP meet through the SFU over ICE-TCP', async () => {
  const { server, browser } = ctx;
  const pages = [];
  for (const name of ['Tam', 'Tod']) {
    const page = await newPage(browser, name);
    await page.goto(`${server.url}/?room=tcp&name=${name}&quality=low`);
    pages.push(page);
  }
  for (const p of pages) await waitForRemoteVideos(p, 1, 30000);
  for (const p of pages) {
    assert.deepEqual(await selected(p), { protocol: 'tcp', tcpType: 'active' });
  }
  const workers = await server.admin('/api/workers');
  const connections = workers.workers.reduce((n, w) => n + w.ice_tcp_connections, 0);
  assert.ok(connections >= 2, JSON.stringify(workers));
  assert.ok(workers.workers.every((w) => /^127\.0\.0\.1:\d+$/.test(w.ice_tcp_addr)));
  const room = await server.room('tcp');
  assert.equal(room.mode, 'sfu');
  for (const p of room.participants) {
    const c = p.transport.selected_candidate;
    assert.equal(c?.protocol, 'tcp', JSON.stringify(p.transport));
  }
  for (const p of pages) await p.context().close();
  // The connections close with the pages.
  let open = connections;
  for (let i = 0; i < 50 && open > 0; i++) {
    await sleep(100);
    const w = await server.admin('/api/workers');
    open = w.workers.reduce((n, x) => n + x.ice_tcp_connections, 0);
  }
  assert.equal(open, 0, 'closed pages leave no ICE-TCP connection behind');
});
