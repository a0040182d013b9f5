// Before and during a call: the device picker lists the (fake) cameras and microphones,
// and a camera switched mid-call reaches the others with `replaceTrack`, peer to peer and
// through the SFU, while their pages keep decoding. The keys `m` and `v` mute and unmute,
// which the other page shows; joins and leaves are announced; the invite link opens the
// device check with the room filled in, and the choices made there are remembered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, openPage, newPage, waitForRemoteVideos, mode } from './helpers.mjs';

// Three fake cameras (Chromium's fake capture takes its options as the flag's value). The
// second is a depth camera (16-bit grey), whose frames no encoder takes; the third is an
// ordinary one, in MJPEG.
const ctx = serverAndBrowser([], { browserArgs: ['--use-fake-device-for-media-stream=device-count=3'] });

// The video track that a page sends, as each of its senders has it.
const sentCameras = (page) =>
  page.evaluate(() => {
    const video = (senders) => senders.find((s) => s.track?.kind === 'video')?.track?.getSettings().deviceId ?? null;
    const app = window.app;
    return {
      stream: app.stream.getVideoTracks()[0].getSettings().deviceId,
      sfu: app.sfu?.pc ? video(app.sfu.pc.getSenders()) : null,
      p2p: [...app.peers.values()].filter((p) => p.link).map((p) => video(p.link.pc.getSenders())),
    };
  });

async function pickCamera(page, deviceId) {
  await page.click('#devices-toggle');
  await page.selectOption('#camera-select', deviceId);
  await page.waitForFunction((id) => window.app.stream.getVideoTracks()[0].getSettings().deviceId === id, deviceId);
  await page.click('#devices-close');
}

test('the picker lists the devices, and a camera switched mid-call keeps the others decoding, P2P and SFU', async () => {
  const room = 'devices';
  const a = await openPage(ctx.browser, ctx.server.url, room, 'Ada');
  const b = await openPage(ctx.browser, ctx.server.url, room, 'Bob');
  await waitForRemoteVideos(b, 1);
  const listed = await a.evaluate(async () => {
    const devices = await navigator.mediaDevices.enumerateDevices();
    const options = (id) => [...document.querySelectorAll(`#${id} option`)].map((o) => o.value);
    return {
      cameras: devices.filter((d) => d.kind === 'videoinput').map((d) => d.deviceId),
      mics: devices.filter((d) => d.kind === 'audioinput').map((d) => d.deviceId),
      cameraOptions: options('camera-select'),
      micOptions: options('mic-select'),
    };
  });
  assert.equal(listed.cameras.length, 3, JSON.stringify(listed));
  assert.deepEqual(listed.cameraOptions, listed.cameras);
  assert.deepEqual(listed.micOptions, listed.mics);
  assert.ok(listed.mics.length >= 1);

  // P2P: the link's sender takes the other camera, and Bob keeps decoding Ada.
  const [first, , second] = listed.cameras;
  assert.equal((await sentCameras(a)).stream, first);
  await pickCamera(a, second);
  const p2p = await sentCameras(a);
  assert.deepEqual(p2p.p2p, [second], JSON.stringify(p2p));
  await waitForRemoteVideos(b, 1);

  // A third member (watching only) moves the room to the SFU; switching back reaches it.
  const c = await newPage(ctx.browser, 'Cat', { refuseMedia: true });
  await c.goto(`${ctx.server.url}/?room=${room}&name=Cat&quality=low`);
  await b.waitForFunction(() => document.querySelector('#mode').dataset.mode === 'sfu');
  await b.waitForFunction(() => [...window.app.peers.values()].every((p) => !p.link));
  assert.equal(await mode(a), 'sfu');
  await pickCamera(a, first);
  const sfu = await sentCameras(a);
  assert.equal(sfu.sfu, first, JSON.stringify(sfu));
  const before = await b.evaluate(() => Number(document.querySelector('.tile.remote').dataset.frames));
  await waitForRemoteVideos(b, 2).catch(() => {}); // Cat's tile has no video: only Ada's counts
  await b.waitForFunction((n) => Number([...document.querySelectorAll('.tile.remote')].find((t) => t.querySelector('.name').textContent === 'Ada').dataset.frames) > n + 10, before);
  for (const p of [a, b, c]) await p.context().close();
});

// The tile of `name` at `page`: whether its placeholder and its muted-microphone mark show.
const tileOf = (page, name) =>
  page.evaluate((name) => {
    const t = [...document.querySelectorAll('.tile.remote')].find((t) => t.querySelector('.name').textContent === name);
    const shown = (e) => !!e && e.checkVisibility();
    return t && { placeholder: shown(t.querySelector('.placeholder')), micOff: shown(t.querySelector('.mic-off')) };
  }, name);

test('m and v toggle the published tracks, and the other page shows it; joins and leaves are announced', async () => {
  const room = 'keys';
  const a = await openPage(ctx.browser, ctx.server.url, room, 'Ada');
  const b = await openPage(ctx.browser, ctx.server.url, room, 'Bob');
  await waitForRemoteVideos(b, 1);
  await a.waitForFunction(() => document.querySelector('#announcer').textContent === 'Bob joined');
  assert.deepEqual(await tileOf(b, 'Ada'), { placeholder: false, micOff: false });
  const tracks = () => a.evaluate(() => window.app.stream.getTracks().map((t) => `${t.kind}:${t.enabled}`).sort());
  const until = (want) => b.waitForFunction((want) => {
    const t = [...document.querySelectorAll('.tile.remote')].find((t) => t.querySelector('.name').textContent === 'Ada');
    const shown = (e) => !!e && e.checkVisibility();
    return shown(t.querySelector('.placeholder')) === want.placeholder && shown(t.querySelector('.mic-off')) === want.micOff;
  }, want);

  await a.click('#grid');
  await a.keyboard.press('v');
  assert.deepEqual(await tracks(), ['audio:true', 'video:false']);
  assert.equal(await a.getAttribute('#cam', 'aria-pressed'), 'false');
  await until({ placeholder: true, micOff: false });
  await a.keyboard.press('m');
  assert.deepEqual(await tracks(), ['audio:false', 'video:false']);
  assert.equal(await a.getAttribute('#mic', 'aria-pressed'), 'false');
  await until({ placeholder: true, micOff: true });
  // Typed into the chat, the letters are text, not commands.
  await a.locator('#chat-input').pressSequentially('mv');
  assert.deepEqual(await tracks(), ['audio:false', 'video:false']);
  await a.click('#grid');
  await a.keyboard.press('m');
  await a.keyboard.press('v');
  assert.deepEqual(await tracks(), ['audio:true', 'video:true']);
  await until({ placeholder: false, micOff: false });

  // Every control has an accessible name.
  const unnamed = await a.evaluate(() =>
    [...document.querySelectorAll('button, input, select')]
      .filter((e) => e.checkVisibility())
      .filter((e) => !(e.getAttribute('aria-label') || e.labels?.[0]?.textContent.trim() || e.textContent.trim()))
      .map((e) => e.id || e.outerHTML.slice(0, 60)),
  );
  assert.deepEqual(unnamed, []);
  // And a focus ring that shows when it is reached with the keyboard.
  await a.click('#grid');
  await a.keyboard.press('Tab');
  const ring = await a.evaluate(() => {
    const s = getComputedStyle(document.activeElement);
    return { on: document.activeElement.id || document.activeElement.tagName, style: s.outlineStyle, width: parseFloat(s.outlineWidth) };
  });
  assert.ok(ring.style !== 'none' && ring.width >= 2, JSON.stringify(ring));

  await b.click('#leave');
  await a.waitForFunction(() => document.querySelector('#announcer').textContent === 'Bob left');
  for (const p of [a, b]) await p.context().close();
});

test('the invite link opens the device check with the room filled in, and the choices there are remembered', async () => {
  const room = 'invite';
  const a = await openPage(ctx.browser, ctx.server.url, room, 'Ada');
  await a.waitForSelector('.tile.local');
  await a.click('#invite');
  const link = await a.getAttribute('#invite', 'data-link');
  assert.equal(link, `${ctx.server.url}/?room=${room}`);

  // Someone opens it: the room is there, the devices are listed, nothing is joined yet.
  const b = await newPage(ctx.browser, 'Bob');
  await b.goto(link);
  await b.waitForFunction(() => document.querySelectorAll('#camera-select option').length === 3);
  assert.equal(await b.inputValue('#room'), room);
  assert.equal(await b.isVisible('#landing'), true);
  assert.equal(await b.isVisible('#call'), false);
  await b.waitForFunction(() => Number(document.querySelector('#mic-level').dataset.level) > 0, null, { timeout: 10000 });
  await b.fill('#name', 'Bob');
  await b.check('#join-cam-off');
  await b.click('#join');
  await a.waitForFunction(() => document.querySelectorAll('.tile.remote').length === 1);
  // He joined with his camera off: Ada sees his placeholder.
  await a.waitForFunction(() => document.querySelector('.tile.remote .placeholder').checkVisibility());
  assert.equal(await b.getAttribute('#cam', 'aria-pressed'), 'false');

  // Next time, his name and his choice are there already.
  await b.click('#leave');
  await b.goto(link);
  await b.waitForSelector('#join-form');
  assert.equal(await b.inputValue('#name'), 'Bob');
  assert.equal(await b.isChecked('#join-cam-off'), true);
  assert.equal(await b.isChecked('#join-muted'), false);
  for (const p of [a, b]) await p.context().close();
});
