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

// The device of each track of `kind` that a page sends, as each of its senders has it (an
// SFU sender detached while the room is P2P has none).
const sent = (page, kind) =>
  page.evaluate((kind) => {
    const device = (senders) => senders.find((s) => s.track?.kind === kind)?.track?.getSettings().deviceId ?? null;
    const app = window.app;
    return {
      stream: app.stream.getTracks().find((t) => t.kind === kind).getSettings().deviceId,
      sfu: app.sfu?.pc ? device(app.sfu.pc.getSenders()) : null,
      p2p: [...app.peers.values()].filter((p) => p.link).map((p) => device(p.link.pc.getSenders())),
    };
  }, kind);

// Picks a device in the call's device panel, and waits until the page has it in its stream.
async function pick(page, select, deviceId) {
  const kind = select === '#camera-select' ? 'video' : 'audio';
  await page.click('#devices-toggle');
  await page.selectOption(select, deviceId);
  await page.waitForFunction(
    ([kind, id]) => window.app.stream.getTracks().find((t) => t.kind === kind).getSettings().deviceId === id,
    [kind, deviceId],
  );
  await page.click('#devices-close');
}

// Until the senders have it too (replaceTrack is applied after the stream changes).
async function sending(page, kind, want) {
  const deadline = Date.now() + 5000;
  let got;
  while (Date.now() < deadline) {
    got = await sent(page, kind);
    if (want(got)) return got;
    await page.waitForTimeout(100);
  }
  throw new Error(`senders of ${kind}: ${JSON.stringify(got)}`);
}

// Until `page` has shown `n` more frames of `name`'s video.
const moreFrames = async (page, name, n) => {
  const frames = () =>
    page.evaluate((name) => Number([...document.querySelectorAll('.tile.remote')].find((t) => t.querySelector('.name').textContent === name).dataset.frames), name);
  const before = await frames();
  await page.waitForFunction(
    ([name, target]) => Number([...document.querySelectorAll('.tile.remote')].find((t) => t.querySelector('.name').textContent === name).dataset.frames) >= target,
    [name, before + n],
  );
};

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
  assert.equal((await sent(a, 'video')).stream, first);
  await pick(a, '#camera-select', second);
  await sending(a, 'video', (s) => s.p2p.length === 1 && s.p2p[0] === second);
  await moreFrames(b, 'Ada', 10);
  // And another microphone, which the SFU session (its audio detached in P2P) takes too.
  const mic = listed.mics[listed.mics.length - 1];
  await pick(a, '#mic-select', mic);
  await sending(a, 'audio', (s) => s.p2p[0] === mic && s.sfu === null);

  // A third member (watching only) moves the room to the SFU; switching back reaches it.
  const c = await newPage(ctx.browser, 'Cat', { refuseMedia: true });
  await c.goto(`${ctx.server.url}/?room=${room}&name=Cat&quality=low`);
  await b.waitForFunction(() => document.querySelector('#mode').dataset.mode === 'sfu');
  await b.waitForFunction(() => [...window.app.peers.values()].every((p) => !p.link));
  assert.equal(await mode(a), 'sfu');
  await sending(a, 'audio', (s) => s.sfu === mic);
  await pick(a, '#camera-select', first);
  await sending(a, 'video', (s) => s.sfu === first);
  await moreFrames(b, 'Ada', 10);
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
  await a.waitForFunction(() => document.querySelector('#announcer').textContent.includes('Bob joined'));
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
  await a.waitForFunction(() => document.querySelector('#announcer').textContent.includes('Bob left'));
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
