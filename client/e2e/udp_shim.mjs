// A UDP relay between the browser pages and the SFU's media socket, to lose a share of one
// page's uplink. The server binds 127.0.0.1:P and announces 127.0.0.2 (`--announce-ip`), where
// the shim listens on the same port: pages send their media to the shim without knowing it.
// The shim gives each page (each source address) a socket of its own towards the server, so
// that the server still sees one address per page, and sends the server's replies back from
// the address the page wrote to.
import dgram from 'node:dgram';

function bind(address, port = 0) {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', (e) => {
      s.close();
      reject(e);
    });
    s.bind(port, address, () => resolve(s));
  });
}

// A UDP port free on both 127.0.0.1 (for the server) and 127.0.0.2 (for the shim), for a
// server that announces the shim itself. Both sockets close before it returns.
export async function freeShimPort() {
  for (let i = 0; i < 20; i++) {
    const a = await bind('127.0.0.1');
    const { port } = a.address();
    const b = await bind('127.0.0.2', port).catch(() => null);
    a.close();
    b?.close();
    if (b) return port;
  }
  throw new Error('no UDP port free on both 127.0.0.1 and 127.0.0.2');
}

// A seeded generator (mulberry32), one per client: a run's drops follow the same sequence of
// decisions each time, not Math.random. (Which packets meet them still depends on timing.)
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// SRTP and SRTCP, by their first byte (RFC 7983): all that `drop` loses unless told `all`, so
// that STUN (ICE consent) and DTLS keep the connection up while the media suffers.
const isMedia = (msg) => msg[0] >= 128 && msg[0] <= 191;

// Starts the relay on `listen` ({ address, port }, port 0 or left out for any) towards the
// server's media socket `upstream`. `address`: where it listens. `clients()`: the source
// addresses seen so far, as 'ip:port'. `drop(client, fraction, { all })`: from now on lose
// that share of the client's packets to the server (its uplink; the downlink is never
// touched); 0 stops. `stats(client?)`: packets relayed and dropped, of one client or of all.
export async function udpShim({ listen, upstream, seed = 1 }) {
  const front = await bind(listen.address, listen.port ?? 0);
  const peers = new Map(); // 'ip:port' -> { socket, fraction, all, random, relayed, dropped }
  const totals = { relayed: 0, dropped: 0 };
  let closed = false;
  front.on('error', () => {});
  front.on('message', (msg, from) => {
    const k = `${from.address}:${from.port}`;
    let p = peers.get(k);
    if (!p) {
      // Sends made while it binds wait for the bind (dgram queues them).
      const socket = dgram.createSocket('udp4');
      socket.bind(0, upstream.address);
      socket.on('error', () => {});
      socket.on('message', (m) => closed || front.send(m, from.port, from.address));
      p = { socket, fraction: 0, all: false, random: rng(seed), relayed: 0, dropped: 0 };
      peers.set(k, p);
    }
    const lose = p.fraction > 0 && (p.all || isMedia(msg)) && p.random() < p.fraction;
    const counter = lose ? 'dropped' : 'relayed';
    p[counter]++;
    totals[counter]++;
    if (!lose) p.socket.send(msg, upstream.port, upstream.address);
  });

  return {
    address: front.address(),
    clients: () => [...peers.keys()],
    drop(client, fraction, { all = false } = {}) {
      const p = peers.get(client);
      if (!p) throw new Error(`no client ${client}; the shim has seen ${[...peers.keys()].join(', ') || 'none'}`);
      Object.assign(p, { fraction, all });
    },
    stats(client) {
      const p = client === undefined ? totals : peers.get(client);
      return { relayed: p?.relayed ?? 0, dropped: p?.dropped ?? 0 };
    },
    close() {
      closed = true;
      front.close();
      for (const p of peers.values()) p.socket.close();
    },
  };
}

// The page's SFU connection as the shim sees it ('ip:port'). The selected pair's local
// candidate is peer reflexive, the address the server saw (the shim's socket for the page);
// the host candidate it came from, its related address, is what writes to the shim.
export function pageSfuAddress(page) {
  return page.evaluate(async () => {
    const stats = await window.app.sfu.pc.getStats();
    const pairId = [...stats.values()].find((s) => s.type === 'transport')?.selectedCandidatePairId;
    const local = stats.get(stats.get(pairId)?.localCandidateId);
    if (!local) throw new Error('the SFU connection has no selected candidate pair');
    const [ip, port] = local.relatedAddress ? [local.relatedAddress, local.relatedPort] : [local.address, local.port];
    return `${ip}:${port}`;
  });
}
