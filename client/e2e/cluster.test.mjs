// Cluster mode in browsers: two sfu-server nodes and one Redis (Debian's redis-server, on a
// loopback port). Pages connected to different nodes share one room, and a room whose node
// dies moves to the node that holds its members' sockets.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { startServer, launch, openPage, waitForRemoteVideos, mode, frames, sleep, paths, waitFor } from './helpers.mjs';

const ctx = { redis: null, url: null, browser: null };

async function freePort() {
  const srv = createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  return port;
}

before(async () => {
  const port = await freePort();
  ctx.redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  ctx.url = `redis://127.0.0.1:${port}/`;
  // Listening once a client can connect.
  for (let i = 0; ; i++) {
    const ok = await new Promise((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(true)); // taken: redis has it
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(false)));
    });
    if (ok) break;
    assert.ok(i < 100, 'redis-server listens');
    await sleep(50);
  }
  ctx.browser = await launch();
});

after(async () => {
  await ctx.browser?.close();
  ctx.redis?.kill('SIGKILL');
});

const node = (id) => startServer(['--redis', ctx.url, '--node-id', id, '--hold-down-secs', '1']);

test('three pages on two nodes share one room: each decodes the other two', async () => {
  const [a, b] = [await node('node-a'), await node('node-b')];
  const room = 'across';
  // The first join places the room on node-a; Cat's socket is on node-b.
  const ada = await openPage(ctx.browser, a.url, room, 'Ada');
  const bob = await openPage(ctx.browser, a.url, room, 'Bob');
  const cat = await openPage(ctx.browser, b.url, room, 'Cat');
  for (const p of [ada, bob, cat]) await waitForRemoteVideos(p, 2, 45000);
  assert.equal(await mode(cat), 'sfu');
  for (const p of [ada, bob, cat]) assert.ok(Object.values(await paths(p)).every((v) => v === 'sfu'));
  // Either node's admin API lists the room once, on node-a, with three members.
  for (const n of [a, b]) {
    const rooms = (await n.admin('/api/rooms')).filter((r) => r.name === room);
    assert.deepEqual(
      rooms.map((r) => [r.node, r.participants]),
      [['node-a', 3]],
    );
  }
  // Cat's media goes to node-a itself: its SFU session is there.
  const catId = await cat.evaluate(() => window.app.me);
  const there = await a.room(room);
  assert.ok(there.participants.some((p) => p.id === catId && p.transport.state === 'connected'));
  for (const p of [ada, bob, cat]) await p.context().close();
  await a.stop();
  await b.stop();
});

test('a P2P pair on node-b keeps its media when its room node-a dies, and the room moves', async () => {
  const [a, b] = [await node('node-a'), await node('node-b')];
  const room = 'pair';
  const ada = await openPage(ctx.browser, a.url, room, 'Ada');
  const bob = await openPage(ctx.browser, b.url, room, 'Bob');
  const cat = await openPage(ctx.browser, b.url, room, 'Cat');
  for (const p of [bob, cat]) await waitForRemoteVideos(p, 2, 45000);
  // Ada leaves: back to two, Bob and Cat, both on node-b, go P2P; the room stays on node-a.
  await ada.context().close();
  await waitFor('P2P video on both pages', async () => {
    const all = [await mode(bob), await mode(cat), ...Object.values(await paths(bob)), ...Object.values(await paths(cat))];
    return all.every((v) => v === 'p2p') || all;
  });
  assert.deepEqual(
    (await b.admin('/api/rooms')).filter((r) => r.name === room).map((r) => r.node),
    ['node-a'],
  );

  // node-a dies. The pair's P2P media never passes through a server: it goes on.
  const before = [await frames(bob), await frames(cat)];
  await a.kill();
  const killed = Date.now();
  await sleep(3000);
  const after = [await frames(bob), await frames(cat)];
  for (const [i, page] of [bob, cat].entries()) {
    const [id] = Object.keys(after[i]);
    assert.ok(after[i][id] > before[i][id] + 10, `frames kept coming: ${JSON.stringify([before[i], after[i]])}`);
    assert.deepEqual(Object.values(await paths(page)), ['p2p']);
  }
  // And the room moved to node-b, with both members, still P2P.
  await waitFor('the room on node-b', async () => {
    const rooms = (await b.admin('/api/rooms')).filter((r) => r.name === room);
    return (rooms.length === 1 && rooms[0].node === 'node-b' && rooms[0].participants === 2) || rooms;
  });
  console.log(`room listed on node-b ${Date.now() - killed} ms after node-a's death (looked for after 3 s)`);
  for (const p of [bob, cat]) assert.equal(await mode(p), 'p2p');
  // A third member then brings everyone to the SFU of node-b.
  const dan = await openPage(ctx.browser, b.url, room, 'Dan');
  for (const p of [bob, cat, dan]) await waitForRemoteVideos(p, 2, 45000);
  assert.equal(await mode(dan), 'sfu');
  for (const p of [bob, cat, dan]) await p.context().close();
  await b.stop();
});
