// ICE over TCP to the SFU: Chromium told never to send UDP outside a proxy
// (`--webrtc-ip-handling-policy=disable_non_proxied_udp`, what a network that blocks
// UDP leaves a browser with) still reaches the SFU, through the worker's passive TCP
// candidate, and the pages see each other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, newPage, waitForRemoteVideos, sleep } from './helpers.mjs';

const ctx = serverAndBrowser(['--ice-tcp', '127.0.0.1:0', '--p2p', 'off'], {
  browserArgs: ['--webrtc-ip-handling-policy=disable_non_proxied_udp'],
});

test('pages that cannot send UDP meet through the SFU over ICE-TCP', async () => {
  const { server, browser } = ctx;
  const pages = [];
  for (const name of ['Tam', 'Tod']) {
    const page = await newPage(browser, name);
    page.on('console', (m) => console.log(`[${name}]`, m.text()));
    await page.goto(`${server.url}/?room=tcp&name=${name}&quality=low`);
    pages.push(page);
  }
  for (const p of pages) await waitForRemoteVideos(p, 1, 30000);
  console.log(await pages[0].evaluate(async () => {
    const stats = await window.app.sfu.pc.getStats();
    console.log(window.app.sfu.pc.remoteDescription.sdp.split('\r\n').filter((l) => l.includes('candidate')).join('\n'));
    return [...stats.values()].filter((s) => s.type.endsWith('candidate') || s.type === 'candidate-pair').map((s) => JSON.stringify(s)).join('\n');
  }));
  const workers = await server.admin('/api/workers');
  const connections = workers.workers.reduce((n, w) => n + w.ice_tcp_connections, 0);
  assert.ok(connections >= 2, JSON.stringify(workers));
  const room = await server.room('tcp');
  assert.equal(room.mode, 'sfu');
  for (const p of pages) await p.context().close();
});
