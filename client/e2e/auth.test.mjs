// Join tokens in the browser (`--auth token`): invitation links made by `sfu-server token
// create` bring two people into their room under the tokens' names; a watcher's token
// hides the controls it does not grant and publishes nothing; bad links say why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { serverAndBrowser, newPage, waitForRemoteVideos, createToken, frames, sleep } from './helpers.mjs';

const SECRET = 'browser-test-join-secret-0123456789';
const ctx = serverAndBrowser(['--auth', 'token', '--join-secret', SECRET]);

// An HS256 token signed here, as an application's backend would, for claims the command
// will not make (an expiry in the past).
function jwt(claims) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${body}.${createHmac('sha256', SECRET).update(body).digest('base64url')}`;
}

// Waits until the page's tile of member `id` shows video frames advancing.
async function playing(page, id, timeout = 30000) {
  const deadline = Date.now() + timeout;
  let before = (await frames(page))[id] ?? 0;
  for (;;) {
    await sleep(500);
    const now = (await frames(page))[id] ?? 0;
    if (now > before + 2) return;
    if (Date.now() > deadline) throw new Error(`no video from ${id}: ${JSON.stringify(await frames(page))}`);
    before = now;
  }
}

const invite = (room, name, extra = []) =>
  createToken(['--room', room, '--name', name, '--secret', SECRET, '--url', ctx.server.url, ...extra]).link;

test('invitation links join under the tokens names; a watcher publishes nothing', async () => {
  const { browser } = ctx;
  const pages = [];
  for (const [name, extra] of [
    ['Ada', []],
    ['Bob', []],
    ['Viewer', ['--grants', 'subscribe,chat']],
  ]) {
    const page = await newPage(browser, name);
    await page.goto(`${invite('tokens', name, extra)}&quality=low`);
    await page.waitForFunction(() => window.app?.joined === true, null, { timeout: 20000 });
    pages.push(page);
  }
  const [ada, bob, viewer] = pages;
  assert.equal(await ada.evaluate(() => window.app.name), 'Ada');
  // Ada and Bob publish and see each other; the viewer sees both and sends nothing.
  const [adaId, bobId, viewerId] = await Promise.all(pages.map((p) => p.evaluate(() => window.app.me)));
  await waitForRemoteVideos(viewer, 2, 30000);
  await playing(ada, bobId);
  await playing(bob, adaId);
  // The viewer's tile at the others stays without video.
  const seen = await frames(ada);
  assert.equal(seen[viewerId], 0, JSON.stringify(seen));
  assert.deepEqual(
    await viewer.evaluate(() => ['mic', 'cam', 'screen'].map((id) => document.getElementById(id).hidden)),
    [true, true, true],
  );
  const room = await ctx.server.room('tokens');
  assert.equal(room.mode, 'sfu');
  assert.deepEqual(room.participants.map((p) => p.name).sort(), ['Ada', 'Bob', 'Viewer']);
  const v = room.participants.find((p) => p.name === 'Viewer');
  assert.deepEqual(v.published, []);
  for (const p of pages) await p.context().close();
});

test('a link without a token, an expired one and one for another room each say why', async () => {
  const { server, browser } = ctx;
  const cases = [
    [`${server.url}/?room=tokens&name=Eve`, 'auth-required'],
    [`${server.url}/?room=tokens&token=${jwt({ room: 'tokens', name: 'Eve', exp: Math.floor(Date.now() / 1000) - 3600 })}`, 'token-expired'],
    [`${invite('other', 'Eve')}`.replace('room=other', 'room=tokens'), 'not-allowed'],
    [`${server.url}/?room=tokens&token=not.a.token`, 'bad-token'],
  ];
  for (const [url, code] of cases) {
    const page = await newPage(browser, 'Eve');
    await page.goto(url);
    await page.waitForFunction(() => !document.getElementById('landing-error').hidden && document.getElementById('landing-error').dataset.code, null, {
      timeout: 15000,
    });
    const shown = await page.evaluate(() => {
      const e = document.getElementById('landing-error');
      return { code: e.dataset.code, text: e.textContent };
    });
    assert.equal(shown.code, code, JSON.stringify(shown));
    assert.ok(!/^[a-z-]+$/.test(shown.text), `a sentence for people: ${shown.text}`);
    await page.context().close();
  }
});
