// Memory after connection churn: opens N idle Socket.IO connections to URL, holds them,
// closes them, ROUNDS times, printing the server's RSS (from /proc) after each step.
//   node benches/conn-churn.mjs http://127.0.0.1:8080 "$(pidof sfu-server)" 2000 3
// The server needs `--max-conns-per-ip 0`: every connection comes from one address. Run it
// from the checkout (it takes socket.io-client from client/node_modules).
import { io } from '../client/node_modules/socket.io-client/build/esm/index.js';
import { readFileSync } from 'node:fs';
const [url, pid, n = 2000, rounds = 3] = process.argv.slice(2);
const rss = () => Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]) / 1024;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
console.log(`start: ${rss().toFixed(1)} MB`);
for (let r = 1; r <= rounds; r++) {
  const sockets = [];
  for (let i = 0; i < n; i++) {
    sockets.push(io(url, { transports: ['websocket'], reconnection: false, forceNew: true }));
    if (i % 200 === 199) await sleep(50);
  }
  await Promise.all(sockets.map((s) => (s.connected ? null : new Promise((res) => s.once('connect', res)))));
  await sleep(1000);
  const held = rss();
  for (const s of sockets) s.disconnect();
  await sleep(3000);
  console.log(`round ${r}: ${held.toFixed(1)} MB with ${n} open, ${rss().toFixed(1)} MB after closing`);
}
process.exit(0);
