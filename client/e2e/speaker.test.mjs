// The active speaker in an SFU call of three Chromium pages: the microphone is a recording of
// speech-like sound (syllables and pauses between words). The first to talk takes the floor,
// and an equal talker cannot take it from them; then the first two mute theirs, and the floor
// passes to the last, as the server and the other pages show.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serverAndBrowser, openPage, waitForRemoteVideos } from './helpers.mjs';

// 10 s of 48 kHz mono 16-bit PCM: syllables of 160 ms (a 180 Hz voice with harmonics), 60 ms
// dips between them, and a 200 ms pause every 1.1 s. Chromium loops it.
function speechWav() {
  const rate = 48000;
  const n = rate * 10;
  const pcm = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) {
    const ms = (i * 1000) / rate;
    const amp = ms % 1100 >= 900 ? 0.001 : ms % 220 >= 160 ? 0.02 : 0.4;
    const t = i / rate;
    const v = amp * (0.6 * Math.sin(2 * Math.PI * 180 * t) + 0.3 * Math.sin(2 * Math.PI * 360 * t) + 0.1 * Math.sin(2 * Math.PI * 540 * t));
    pcm.writeInt16LE(Math.round(v * 32767), i * 2);
  }
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + pcm.length, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(pcm.length, 40);
  const path = join(tmpdir(), `sfu-speech-${process.pid}.wav`);
  writeFileSync(path, Buffer.concat([header, pcm]));
  return path;
}

const ctx = serverAndBrowser(['--p2p', 'off'], {
  browserArgs: [`--use-file-for-fake-audio-capture=${speechWav()}`],
});

const myId = (page) => page.evaluate(() => window.app.me);
const highlighted = (page) =>
  page.evaluate(() => [...document.querySelectorAll('.tile.active-speaker')].map((t) => t.dataset.peerId ?? 'me'));

test('the server names who talks as the active speaker, and the pages show it', async () => {
  const pages = [];
  for (const name of ['Ada', 'Bob', 'Cat']) pages.push(await openPage(ctx.browser, ctx.server.url, 'speaker', name));
  for (const p of pages) await waitForRemoteVideos(p, 2);
  const [a, b, c] = pages;
  const [ada, cat] = [await myId(a), await myId(c)];
  let room = await ctx.server.room('speaker');
  assert.notEqual(room.active_speaker, cat, 'Cat joined last, while someone already had the floor');

  // Ada and Bob mute their microphones: only Cat's speech reaches the server.
  await a.click('#mic');
  await b.click('#mic');
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    room = await ctx.server.room('speaker');
    if (room.active_speaker === cat) break;
    await a.waitForTimeout(250);
  }
  assert.equal(room.active_speaker, cat, `active speaker ${room.active_speaker}, Cat is ${cat}, Ada ${ada}`);

  // The other pages highlight Cat's tile, and Cat's page her own.
  await a.waitForTimeout(500);
  for (const p of [a, b]) assert.deepEqual(await highlighted(p), [cat]);
  assert.deepEqual(await highlighted(c), ['me']);
});

test('past six tiles, the active speaker is shown large and first', async () => {
  const page = await openPage(ctx.browser, ctx.server.url, 'big-speaker', 'Dan');
  await page.waitForSelector('.tile.local');
  await page.setViewportSize({ width: 1280, height: 720 });
  // Tiles of six members who are not really there, the third of them speaking, laid out by
  // the page's own layout, at its next frame.
  const sizes = async (n) => {
    await page.evaluate((n) => {
      const grid = document.getElementById('grid');
      for (const t of grid.querySelectorAll('.tile.fake')) t.remove();
      for (let i = 0; i < n; i++) {
        const t = document.createElement('div');
        t.className = i === 2 ? 'tile remote fake active-speaker' : 'tile remote fake';
        grid.append(t);
      }
    }, n);
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    return page.evaluate(() => {
      const grid = document.getElementById('grid');
      const box = (t) => t.getBoundingClientRect();
      const tiles = [...grid.querySelectorAll('.tile')];
      const speaker = grid.querySelector('.tile.active-speaker');
      const others = tiles.filter((t) => t !== speaker);
      const top = Math.min(...tiles.map((t) => box(t).top));
      return {
        speaker: box(speaker).width,
        other: Math.max(...others.map((t) => box(t).width)),
        first: box(speaker).top === top && others.every((t) => box(t).top >= box(speaker).bottom),
      };
    });
  };
  // Six tiles in all (five fakes and the page's own): the speaker is one among equals.
  const six = await sizes(5);
  assert.ok(Math.abs(six.speaker - six.other) < 2, JSON.stringify(six));
  // Seven: the speaker's tile is the large one, above the others.
  const seven = await sizes(6);
  assert.ok(seven.speaker > seven.other * 1.8, JSON.stringify(seven));
  assert.ok(seven.first, JSON.stringify(seven));
});
