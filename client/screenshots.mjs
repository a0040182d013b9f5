// Takes the screenshots in docs/ with the real server and headless Chromium: a call of four
// at a desktop's size (1280x720) and at a phone's (360x740), and the device check before
// joining. Run it in a loopback-only namespace, after building the server:
//   unshare -n bash -c 'ip link set lo up; SFU_SERVER_BIN=… node screenshots.mjs'
import { startServer, launch, openPage, newPage, waitForRemoteVideos, sleep } from './e2e/helpers.mjs';

const out = process.env.OUT ?? '../docs';
const server = await startServer();
const browser = await launch();
try {
  const room = 'standup';
  const pages = [];
  for (const name of ['Ada', 'Bob', 'Cat', 'Dan']) pages.push(await openPage(browser, server.url, room, name));
  const [a, b, c] = pages;
  await waitForRemoteVideos(a, 3, 30000);
  await c.keyboard.press('m');
  await b.locator('#chat-input').fill('Morning! Can everyone see my screen in a minute?');
  await b.locator('#chat-input').press('Enter');
  await a.locator('#chat-input').fill('Yes, go ahead');
  await a.locator('#chat-input').press('Enter');
  await a.setViewportSize({ width: 1280, height: 720 });
  await sleep(4000); // a quality reading or two
  await a.screenshot({ path: `${out}/screenshot.png` });
  await a.setViewportSize({ width: 360, height: 740 });
  await sleep(1500);
  await a.screenshot({ path: `${out}/screenshot-phone.png` });
  await a.setViewportSize({ width: 1280, height: 720 });
  await a.click('#stats-toggle');
  await sleep(2500);
  await a.screenshot({ path: `${out}/screenshot-quality.png` });
  const guest = await newPage(browser, 'Eve');
  await guest.setViewportSize({ width: 1280, height: 720 });
  await guest.goto(`${server.url}/?room=${room}&quality=low`);
  await guest.fill('#name', 'Eve');
  await sleep(1500);
  await guest.screenshot({ path: `${out}/screenshot-prejoin.png` });
  console.log(`screenshots written to ${out}`);
} finally {
  await browser.close();
  await server.stop();
}
