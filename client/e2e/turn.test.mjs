// A TURN-only call: two Chromium pages allowed nothing but relayed candidates
// (`iceTransportPolicy: 'relay'`, the client's `relay=1` test option) make their P2P call
// through the embedded TURN server, with the credentials their join minted; the admin API
// shows the allocations and the bytes they relay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, startServer, newPage, waitForRemoteVideos, sleep } from './helpers.mjs';

// Loopback peers are private addresses, which the relay refuses unless told otherwise.
const ctx = serverAndBrowser(['--turn-listen', '127.0.0.1:0', '--turn-allow-private-peers']);

// The local candidate type of each P2P link's selected pair, by peer id.
const relayTypes = (page) =>
  page.evaluate(async () => {
    const out = {};
    for (const p of window.app.peers.values()) {
      const stats = await p.link?.pc.getStats();
      if (!stats) continue;
      for (const s of stats.values()) {
        if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') {
          out[p.id] = stats.get(s.localCandidateId)?.candidateType;
        }
      }
    }
    return out;
  });

test('two pages allowed only relayed candidates talk P2P through the embedded TURN server', async () => {
  const { server, browser } = ctx;
  const turn = await server.admin('/api/turn');
  assert.equal(turn.enabled, true);
  assert.equal(turn.allocations, 0);
  const pages = [];
  for (const name of ['Ann', 'Bob']) {
    const page = await newPage(browser, name);
    await page.goto(`${server.url}/?room=relayed&name=${name}&quality=low&relay=1`);
    pages.push(page);
  }
  for (const p of pages) await waitForRemoteVideos(p, 1, 30000);
  const [a, b] = pages;
  assert.equal((await server.room('relayed')).mode, 'p2p');
  // Each page's join ack carried the embedded server, with credentials of its own.
  const servers = await a.evaluate(() => window.app.iceServers);
  const embedded = servers.find((s) => s.urls.some((u) => u === turn.urls[0]));
  assert.ok(embedded && /^\d+:/.test(embedded.username), JSON.stringify(servers));
  for (const p of pages) {
    const types = Object.values(await relayTypes(p));
    assert.deepEqual(types, ['relay'], 'the P2P pair is relayed');
  }
  // The media goes through the relay: its byte count climbs.
  let usage = await server.admin('/api/turn');
  for (let i = 0; i < 50 && usage.relayed_bytes < 50_000; i++) {
    await sleep(200);
    usage = await server.admin('/api/turn');
  }
  assert.ok(usage.allocations >= 2, JSON.stringify(usage));
  assert.ok(usage.relayed_bytes >= 50_000, JSON.stringify(usage));
  for (const p of [a, b]) await p.context().close();
});

test('the relay refuses private peers by default: the relayed P2P call cannot form and the room uses the SFU', async () => {
  const { browser } = ctx;
  // Loopback is a private range: without --turn-allow-private-peers every permission to
  // the other page (127.0.0.1) is refused (403), as a permission to the server's LAN would
  // be. The SFU's own address is always allowed, so it gets one of its own, 127.0.0.2.
  const server = await startServer(['--turn-listen', '127.0.0.1:0'], { udp: '127.0.0.2:0' });
  try {
    const pages = [];
    for (const name of ['Cy', 'Di']) {
      const page = await newPage(browser, name);
      await page.goto(`${server.url}/?room=refused&name=${name}&quality=low&relay=1`);
      pages.push(page);
    }
    // While the P2P links try, the pages hold allocations (so they did reach the TURN
    // server), and nothing goes through them.
    let most = { allocations: 0, relayed_bytes: 0 };
    while ((await server.room('refused')).mode !== 'sfu') {
      const usage = await server.admin('/api/turn');
      if (usage.allocations > most.allocations) most = usage;
      await sleep(200);
    }
    assert.ok(most.allocations >= 2, `the pages did allocate: ${JSON.stringify(most)}`);
    assert.ok(most.relayed_bytes < 10_000, `nothing was relayed: ${JSON.stringify(most)}`);
    for (const p of pages) await waitForRemoteVideos(p, 1, 30000);
    assert.equal((await server.room('refused')).mode, 'sfu', 'P2P failed over to the SFU');
    for (const p of pages) await p.context().close();
  } finally {
    await server.stop();
  }
});
