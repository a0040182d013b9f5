// Shared set-up for the end-to-end tests: the real sfu-server, and one headless Debian
// Chromium with fake camera and microphone, a browser context per participant.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, after } from 'node:test';
import { chromium } from 'playwright-core';
import puppeteer from 'puppeteer-core';

const BIN = process.env.SFU_SERVER_BIN ?? `${process.env.CARGO_TARGET_DIR ?? '../target'}/debug/sfu-server`;

// `sfu-server token create` with these arguments: the token and the join link it prints.
export function createToken(args) {
  const out = execFileSync(BIN, ['token', 'create', ...args]).toString().trim().split('\n');
  return { token: out[0], link: out[1] };
}

export async function startServer(args = [], { http = '127.0.0.1:0', udp = '127.0.0.1:0' } = {}) {
  const proc = spawn(BIN, ['--http', http, '--udp', udp, '--admin-http', '127.0.0.1:0', ...args], {
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn,signaling=info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const [url, admin] = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 15000);
    proc.stdout.on('data', (d) => {
      if (process.env.SERVER_LOG) process.stderr.write(d);
      out += d;
      const m = out.match(/Open (http:\/\/[^/\s]+)\/[\s\S]*Admin API: (http:\/\/[^/\s]+)\//);
      if (m) {
        clearTimeout(timer);
        resolve([m[1], m[2]]);
      }
    });
    proc.on('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)));
  });
  // The admin API (loopback, no token): what the server itself counts, and what an
  // operator may do.
  const adminApi = async (path, init) => {
    const res = await fetch(`${admin}/api/rooms/${path}`, init);
    if (!res.ok) throw new Error(`admin API: ${res.status} ${await res.text()}`);
    return res;
  };
  return {
    url,
    // Any admin API document, by path (`/api/turn`).
    async admin(path) {
      const res = await fetch(`${admin}${path}`);
      if (!res.ok) throw new Error(`admin API: ${res.status} ${await res.text()}`);
      return res.json();
    },
    async room(name) {
      return (await adminApi(encodeURIComponent(name))).json();
    },
    // Removes a participant, as an operator would.
    async remove(room, id) {
      await adminApi(`${encodeURIComponent(room)}/participants/${id}`, { method: 'DELETE' });
    },
    // Kills the server outright (SIGKILL): no goodbye to anyone.
    async kill() {
      proc.kill('SIGKILL');
      await once(proc, 'exit');
    },
    // Everything the server printed so far (its log).
    output: () => out,
    async stop() {
      proc.kill('SIGINT');
      await Promise.race([once(proc, 'exit'), new Promise((r) => setTimeout(r, 3000))]);
      proc.kill('SIGKILL');
    },
  };
}

// One server (started with `args` and `opts`, as `startServer`) and one browser for a test
// file (with `opts.browserArgs` added to its flags), started before its tests and stopped
// after them. Their handles are on the returned
// object once started; a test that restarts the server puts the new one there.
export function serverAndBrowser(args = [], opts = {}) {
  const ctx = { server: null, browser: null };
  before(async () => {
    ctx.server = await startServer(args, opts);
    ctx.browser = await launch(opts.browserArgs);
  });
  after(async () => {
    await ctx.browser?.close();
    await ctx.server?.stop();
  });
  return ctx;
}

// Debian's Firefox ESR, driven by puppeteer-core over WebDriver BiDi, with fake camera and
// microphone, allowed to use them on `url`'s origin. The permission matters beyond the
// devices: without a camera or microphone permission Firefox gathers only its default-route
// address, and a loopback-only namespace has no default route, so it would gather no ICE
// candidate at all. Fake devices do not count, and BiDi will not grant "camera", but a
// permissions file does. Pages must stay in the default context, which carries it.
// `grant: false` leaves the permission out: a person who refused the camera.
export async function launchFirefox(url, { grant = true } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'sfu-firefox-'));
  const origin = new URL(url).origin;
  const permissions = join(dir, 'permissions');
  const granted = grant ? ['camera', 'microphone'] : [];
  await writeFile(permissions, granted.map((p) => `origin\t${p}\t1\t${origin}\n`).join(''));
  return puppeteer.launch({
    browser: 'firefox',
    executablePath: '/usr/bin/firefox-esr',
    headless: true,
    extraPrefsFirefox: {
      'permissions.manager.defaultsUrl': `file://${permissions}`,
      'media.navigator.streams.fake': true,
      'media.navigator.permission.disabled': true,
      'media.peerconnection.ice.loopback': true,
      'media.peerconnection.ice.obfuscate_host_addresses': false,
      'media.autoplay.default': 0,
      'media.autoplay.blocking_policy': 0,
    },
  });
}

// One server (started with `args`), one Chromium and one Firefox (allowed the camera on the
// server's origin) for a test file, as `serverAndBrowser`.
export function serverAndBrowsers(args = []) {
  const ctx = { server: null, chromium: null, firefox: null };
  before(async () => {
    ctx.server = await startServer(args);
    ctx.chromium = await launch();
    ctx.firefox = await launchFirefox(ctx.server.url);
  });
  after(async () => {
    await ctx.firefox?.close();
    await ctx.chromium?.close();
    await ctx.server?.stop();
  });
  return ctx;
}

// A participant's page in Firefox, joined to `room`: low quality, as in `joinFrom`, unless
// `full` (the camera at full size, simulcast in the SFU mode).
// `refuseMedia`: getUserMedia is refused, as when a person clicks "Block".
// `hash`: the link's fragment (`e2ee=…`), which the browser keeps to itself.
export async function openFirefoxPage(browser, url, room, name, { full = false, refuseMedia = false, hash = '' } = {}) {
  const page = await browser.newPage();
  if (refuseMedia) {
    await page.evaluateOnNewDocument(() => {
      navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
    });
  }
  page.on('pageerror', (e) => console.error(`[${name}] page error:`, e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warn') console.error(`[${name}] ${m.type()}: ${m.text()}`);
  });
  await page.goto(`${url}/?room=${room}&name=${name}${full ? '' : '&quality=low'}${hash ? `#${hash}` : ''}`);
  return page;
}

// Debian's Chromium; `executablePath` may name a wrapper that runs it elsewhere (in another
// network namespace).
export async function launch(extraArgs = [], { executablePath = '/usr/bin/chromium' } = {}) {
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      '--allow-loopback-in-peer-connection',
      '--disable-features=WebRtcHideLocalIpsWithMdns',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
      ...extraArgs,
    ],
  });
}

// Opens a participant's page in a context of its own.
export async function openPage(browser, url, room, name, opts = {}) {
  const page = await newPage(browser, name, opts);
  await joinFrom(page, url, room, name, opts);
  return page;
}

// A participant's page, not yet on the app: a new renderer process starts here, so a test
// can pay that cost before it starts measuring (a real participant has a machine of its own).
export async function newPage(browser, name, { refuseMedia = false } = {}) {
  const context = await browser.newContext({ permissions: ['camera', 'microphone'] });
  const page = await context.newPage();
  if (refuseMedia) {
    // What a person clicking "Block" produces.
    await page.addInitScript(() => {
      // (about:blank, an insecure context, has no mediaDevices.)
      if (navigator.mediaDevices) {
        navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
      }
    });
  }
  page.on('pageerror', (e) => console.error(`[${name}] page error:`, e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') console.error(`[${name}] ${m.type()}: ${m.text()}`);
  });
  page.on('requestfailed', (r) => console.error(`[${name}] request failed: ${r.url()} ${r.failure()?.errorText}`));
  await page.goto('about:blank');
  return page;
}

// Opens the app's join link on a page from `newPage`.
// `hash`: the link's fragment (`e2ee=…`).
export async function joinFrom(page, url, room, name, { hash = '' } = {}) {
  // Low quality (320x240 at 10 fps): three pages share two cores in CI.
  await page.goto(`${url}/?room=${room}&name=${name}&quality=low${hash ? `#${hash}` : ''}`);
}

// Opens the app's join link at full quality (the camera at 1280x720, simulcast in the SFU
// mode), with only the frame rate lowered to 10, so that pages encoding three layers each
// share two cores.
export async function joinFullQuality(page, url, room, name, { hash = '' } = {}) {
  await page.addInitScript(() => {
    const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
    navigator.mediaDevices.getUserMedia = (c) =>
      gum(c?.video ? { ...c, video: { ...c.video, frameRate: { ideal: 10 } } } : c);
  });
  await page.goto(`${url}/?room=${room}&name=${name}${hash ? `#${hash}` : ''}`);
}

// Decoded-frame counters of every remote tile, by peer id.
export function frames(page) {
  return page.evaluate(() =>
    Object.fromEntries(
      [...document.querySelectorAll('.tile.remote')].map((t) => [t.dataset.peerId, Number(t.dataset.frames)]),
    ),
  );
}

// Waits until the page shows `n` remote videos, each with frames advancing.
export async function waitForRemoteVideos(page, n, timeout = 20000) {
  const deadline = Date.now() + timeout;
  let before = await frames(page);
  for (;;) {
    await sleep(500);
    const now = await frames(page);
    const ids = Object.keys(now);
    if (ids.length === n && ids.every((id) => now[id] > (before[id] ?? 0) + 2)) return now;
    if (Date.now() > deadline) {
      const why = await page.evaluate(() => ({
        status: document.querySelector('#status').textContent,
        error: document.querySelector('#landing-error').textContent,
        notice: document.querySelector('#notice').textContent,
        joined: window.app.joined,
        me: window.app.me,
        peers: [...window.app.peers.keys()],
      }));
      throw new Error(`expected ${n} playing remote videos, got ${JSON.stringify(now)}; page: ${JSON.stringify(why)}`);
    }
    before = now;
  }
}

// Starts measuring, inside the page, the longest time any remote tile shown now goes without
// a new frame; the returned function reports it in milliseconds. Tiles that appear later (a
// joiner's) are logged when they stall but not counted: their start is not the switch.
export async function watchStalls(page) {
  await page.evaluate(() => {
    for (const t of document.querySelectorAll('.tile.remote')) t.dataset.maxGap = '0';
  });
  return async () => {
    const tiles = await page.evaluate(() =>
      [...document.querySelectorAll('.tile.remote')].map((t) => ({
        peer: t.querySelector('.name')?.textContent || t.dataset.peerId,
        watched: t.dataset.maxGap !== undefined,
        // Tiles that existed when the watch began: the longest gap between two frames.
        gap: Math.round(Number(t.dataset.maxGap || 0)),
        // A tile that stopped altogether counts up to now.
        since: Math.round(performance.now() - Number(t.dataset.lastFrameAt || performance.now())),
        frames: Number(t.dataset.frames || 0),
      })),
    );
    const stall = (t) => Math.max(t.gap, t.since);
    // A stall names the tile, so that a failure tells an old stream from a new joiner's.
    if (tiles.some((t) => stall(t) > 1000)) console.log(`stalled tiles: ${JSON.stringify(tiles)}`);
    return Math.max(0, ...tiles.filter((t) => t.watched).map(stall));
  };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The room's mode as the page shows it (Playwright and Puppeteer pages alike).
export const mode = (page) => page.evaluate(() => document.querySelector('#mode').dataset.mode);

// Which of each remote tile's two videos plays: `p2p` or `sfu`, by peer id.
export const paths = (page) =>
  page.evaluate(() =>
    Object.fromEntries([...window.app.peers.values()].map((p) => [p.id, p.videos.p2p.classList.contains('active') ? 'p2p' : 'sfu'])),
  );

// Polls `cond` every 250 ms until it returns true; after `timeout` ms, fails with `what`
// and the last thing `cond` returned instead.
export async function waitFor(what, cond, timeout = 30000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const got = await cond();
    if (got === true) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(got)}`);
    await sleep(250);
  }
}
