// The web client: join a room, see and hear everyone, chat. Two members talk peer to peer;
// from three on, media goes through the SFU. Moves between the two are make-before-break:
// the new path must show frames before the old one is closed.

import { io } from 'socket.io-client';
import { SfuSession } from './sfu.js';
import { P2pLink } from './p2p.js';
import { Chat } from './chat.js';
import { SpeakingMeter } from './speaking.js';
import { ViewReporter } from './view.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const SWITCH_TIMEOUT_MS = 5000;

const state = {
  socket: null,
  me: null,
  room: null,
  name: null,
  mode: null,
  joined: false,
  removed: false, // by an administrator: no automatic rejoin
  iceServers: [],
  stream: null, // local camera and microphone, or null when refused
  screen: null,
  micOn: true,
  camOn: true,
  peers: new Map(), // id -> { id, name, tile, videos: {p2p, sfu}, placeholder, p2p, sfu, p2pLive, sfuLive, link, videoOn, publishes }
  sfu: null,
};

// ---- Socket.IO ------------------------------------------------------------------------

function call(event, payload) {
  return new Promise((resolve, reject) => {
    state.socket.timeout(10000).emit(event, payload, (err, res) => {
      if (err) reject(new Error(`no answer to ${event}`));
      else if (res && res.error) reject(Object.assign(new Error(res.error.message), { code: res.error.code }));
      else resolve(res);
    });
  });
}

function connect() {
  const socket = io({ reconnectionDelay: 500, reconnectionDelayMax: 5000 });
  state.socket = socket;
  socket.on('connect', () => {
    setStatus('connected');
    if (state.joined) join().catch(showJoinError); // rejoin the same room after a drop
  });
  socket.on('disconnect', (reason) => {
    teardownMedia();
    if (state.removed) {
      setStatus('removed');
      return;
    }
    setStatus('reconnecting');
    // socket.io-client retries by itself except when the server closed the connection (as
    // it does when shutting down): then try again after a pause, with backoff from there.
    if (reason === 'io server disconnect') setTimeout(() => socket.connect(), 1000);
  });
  // An administrator removed us: say why, and do not rejoin.
  socket.on('removed', ({ reason }) => {
    state.removed = true;
    state.joined = false;
    notice(`You were removed from the room: ${reason}.`);
  });
  socket.io.on('reconnect_attempt', () => setStatus('reconnecting'));
  socket.on('server-shutdown', () => notice('The server is restarting; reconnecting…'));
  socket.on('peer-joined', (p) => {
    addPeer(p);
    sendMediaState();
  });
  socket.on('peer-left', ({ id }) => removePeer(id));
  socket.on('p2p-signal', (msg) => linkFor(msg.from)?.handle(msg));
  socket.on('mode', ({ mode }) => switchMode(mode));
  socket.on('sfu-offer', ({ sdp }) => state.sfu?.handleOffer(sdp));
  socket.on('sfu-failed', sfuLost);
  socket.on('active-speaker', ({ speaker }) => showActiveSpeaker(speaker));
  socket.on('media-state', ({ id, audio, video }) => {
    const p = state.peers.get(id);
    if (p) {
      p.videoOn = video;
      p.publishes = audio || video;
      render(p);
    }
  });
  chat.attach(socket, call);
}

function setStatus(s) {
  $('status').dataset.status = s;
  $('status').textContent = { connected: 'connected', reconnecting: 'reconnecting…', removed: 'removed' }[s] ?? s;
}

// The SFU session failed; after leaving (or removal) that is expected and not news.
function mediaFailed() {
  if (state.joined) notice('Media connection to the server failed.');
}

// The server lost our SFU session (`sfu-failed`): a new one is made at once.
async function sfuLost() {
  if (!state.joined || !state.sfu) return;
  const text = 'Media connection to the server lost; reconnecting…';
  notice(text);
  await state.sfu.recover();
  if ($('notice').textContent === text) notice('');
}

function notice(text) {
  $('notice').textContent = text;
  $('notice').hidden = !text;
}

// ---- Joining --------------------------------------------------------------------------

async function join() {
  const request = { room: state.room, name: state.name };
  if (state.token) request.token = state.token;
  const ack = await call('join', request);
  state.me = ack.id;
  // With a join token, the name and the rights are the token's.
  state.name = ack.name ?? state.name;
  applyGrants(ack.grants);
  state.iceServers = ack.iceServers ?? [];
  state.joined = true;
  $('landing').hidden = true;
  $('call').hidden = false;
  $('room-label').textContent = `Room ${state.room}`;
  const link = new URLSearchParams({ room: state.room, name: state.name });
  if (state.token) link.set('token', state.token);
  if (params.get('quality')) link.set('quality', params.get('quality'));
  history.replaceState(null, '', `?${link}`);
  chat.reset(ack.chatHistory ?? []);
  setMode(ack.mode);
  for (const p of ack.peers) addPeer(p);
  const tracks = state.stream ? state.stream.getTracks() : [];
  state.sfu = new SfuSession({
    call,
    onTrack: (peerId, track, stream) => {
      const p = state.peers.get(peerId);
      if (p) {
        p.sfu = stream;
        render(p);
      }
    },
    onFailed: mediaFailed,
    // Simulcast in the SFU, unless asked to keep to one small encoding.
    simulcast: params.get('quality') !== 'low',
    // A new session brings every track anew.
    onRestart: () => {
      views.resend();
      sendMediaState();
      for (const p of state.peers.values()) {
        p.sfu = null;
        p.sfuLive = false;
        render(p);
      }
    },
    // Peers that say they publish, and whose media the SFU has not brought.
    missing: () => [...state.peers.values()].filter((p) => p.publishes && !p.sfu).map((p) => p.id),
  });
  await state.sfu.start(tracks, state.stream ?? new MediaStream(), ack.mode === 'sfu');
  if (ack.mode === 'p2p') for (const p of ack.peers) ensureLink(p.id);
  sendMediaState();
}

// What a member's join token allows: sources it may not publish are stopped before the
// SFU session starts (the server would not forward them anyway), and the controls for them go.
function applyGrants(grants) {
  state.grants = grants ?? null;
  if (!grants) return;
  for (const [kind, source] of [['audio', 'audio'], ['video', 'video']]) {
    if (grants.publish.includes(source) || !state.stream) continue;
    for (const t of state.stream.getTracks().filter((t) => t.kind === kind)) {
      t.stop();
      state.stream.removeTrack(t);
    }
  }
  $('mic').hidden = !grants.publish.includes('audio');
  $('cam').hidden = !grants.publish.includes('video');
  $('screen').hidden = !grants.publish.includes('screen');
  $('chat-input').disabled = !grants.chat;
  if (!grants.chat) $('chat-input').placeholder = 'Chat is not allowed for you here';
}

// Why the server refused the join, in words for the person at the page.
const JOIN_REFUSALS = {
  'auth-required': 'This server needs an invitation link (a join token). Ask the organiser for one.',
  'bad-token': 'This invitation link is not valid.',
  'token-expired': 'This invitation link has expired, or is not valid yet.',
  'not-allowed': 'This invitation link is for another room.',
};

function showJoinError(e) {
  state.joined = false;
  $('landing').hidden = false;
  $('call').hidden = true;
  $('landing-error').textContent = JOIN_REFUSALS[e.code] ?? (e.message || String(e));
  $('landing-error').dataset.code = e.code ?? '';
  $('landing-error').hidden = false;
}

function sendMediaState() {
  if (!state.joined) return;
  // Only sources the member has: a join token may have taken some away (`applyGrants`).
  const has = (kind) => !!state.stream && state.stream.getTracks().some((t) => t.kind === kind);
  const video = (has('video') && state.camOn) || !!state.screen;
  call('media-state', { audio: has('audio') && state.micOn, video, screen: !!state.screen }).catch(() => {});
}

// ---- Peers and tiles ------------------------------------------------------------------

function addPeer({ id, name }) {
  if (id === state.me || state.peers.has(id)) return;
  const tile = document.createElement('div');
  tile.className = 'tile remote';
  tile.dataset.peerId = id;
  tile.dataset.frames = '0';
  // One video element per path, stacked: the SFU's starts playing behind the P2P one (or
  // the other way round) and is shown only once it presents frames, so a move between
  // paths never blanks the tile.
  const videos = { p2p: makeVideo(tile), sfu: makeVideo(tile) };
  const label = document.createElement('span');
  label.className = 'name';
  label.textContent = name;
  const placeholder = document.createElement('div');
  placeholder.className = 'placeholder';
  placeholder.textContent = name.slice(0, 1).toUpperCase();
  tile.append(videos.p2p, videos.sfu, placeholder, label);
  $('grid').append(tile);
  const p = { id, name, tile, videos, placeholder, p2p: null, sfu: null, link: null, videoOn: true, publishes: true };
  state.peers.set(id, p);
  views.watch(id, tile);
  render(p);
}

function makeVideo(tile) {
  const video = document.createElement('video');
  video.autoplay = true;
  video.playsInline = true;
  video.dataset.frames = '0';
  if (video.requestVideoFrameCallback) {
    const tick = (now) => {
      video.dataset.frames = String(Number(video.dataset.frames) + 1);
      if (video.classList.contains('active')) tileFrame(tile, now);
      video.requestVideoFrameCallback(tick);
    };
    video.requestVideoFrameCallback(tick);
  }
  return video;
}

// Frames shown on a tile, and the longest gap between two of them since `maxGap` was reset:
// what a person sees, for the tile's status and for tests.
function tileFrame(tile, now) {
  const last = Number(tile.dataset.lastFrameAt || 0);
  if (last && tile.dataset.maxGap !== undefined) tile.dataset.maxGap = String(Math.max(Number(tile.dataset.maxGap), now - last));
  tile.dataset.lastFrameAt = String(now);
  tile.dataset.frames = String(Number(tile.dataset.frames) + 1);
}

function removePeer(id) {
  const p = state.peers.get(id);
  if (!p) return;
  p.link?.close();
  views.unwatch(id);
  p.tile.remove();
  state.peers.delete(id);
}

// Shows the path in use: P2P in p2p mode once it has media, else the SFU's.
function render(p) {
  const usable = (path) => !!p[path] && Number(p.videos[path].dataset.frames) > 0;
  let path;
  if (state.mode === 'p2p') path = p.p2pLive && usable('p2p') ? 'p2p' : p.sfu ? 'sfu' : 'p2p';
  else path = (p.sfuLive && usable('sfu')) || !p.p2p ? 'sfu' : 'p2p';
  for (const k of ['p2p', 'sfu']) {
    const video = p.videos[k];
    if (video.srcObject !== (p[k] ?? null)) video.srcObject = p[k] ?? null;
    video.classList.toggle('active', k === path);
    // Both paths play while the call moves between them; only the shown one is heard.
    video.muted = k !== path;
  }
  const stream = p[path];
  p.placeholder.hidden = p.videoOn && !!stream && stream.getVideoTracks().length > 0;
  speaking.watch(p.tile, stream);
}

function localTile() {
  let tile = document.querySelector('.tile.local');
  if (!tile) {
    tile = document.createElement('div');
    tile.className = 'tile local';
    const video = document.createElement('video');
    video.autoplay = true;
    video.muted = true;
    video.playsInline = true;
    const label = document.createElement('span');
    label.className = 'name';
    label.textContent = `${state.name} (you)`;
    const placeholder = document.createElement('div');
    placeholder.className = 'placeholder';
    placeholder.textContent = state.name.slice(0, 1).toUpperCase();
    tile.append(video, placeholder, label);
    $('grid').prepend(tile);
  }
  tile.querySelector('video').srcObject = state.screen ? new MediaStream([state.screen]) : state.stream;
  tile.querySelector('.placeholder').hidden = !!state.screen || (!!state.stream && state.camOn);
  speaking.watch(tile, state.stream);
}

// ---- Media paths ----------------------------------------------------------------------

function ensureLink(peerId) {
  const p = state.peers.get(peerId);
  if (!p || p.link) return p?.link;
  const tracks = state.stream ? state.stream.getTracks().map((t) => (t.kind === 'video' && state.screen ? state.screen : t)) : [];
  p.link = new P2pLink({
    peerId,
    polite: state.me > peerId,
    iceServers: state.iceServers,
    // `relay=1`: P2P through TURN only, as a network that allows nothing else would force
    // (a test option).
    iceTransportPolicy: params.get('relay') === '1' ? 'relay' : 'all',
    tracks,
    stream: state.stream ?? new MediaStream(),
    send: (msg) => call('p2p-signal', { to: peerId, ...msg }).catch(() => {}),
    onStream: (stream) => {
      p.p2p = stream;
      waitForFrames(p.link, stream).then((ok) => {
        p.p2pLive = ok;
        render(p);
      });
      render(p);
    },
    onFailed: () => call('p2p-failed', {}).catch(() => {}),
  });
  return p.link;
}

function linkFor(peerId) {
  if (!state.peers.has(peerId)) return null;
  return ensureLink(peerId);
}

// Resolves true once the stream's video shows frames (or it has no video), false on timeout.
function waitForFrames(source, stream) {
  const track = stream.getVideoTracks()[0];
  if (!track) return Promise.resolve(true);
  const deadline = performance.now() + SWITCH_TIMEOUT_MS;
  return new Promise((resolve) => {
    let first = null;
    const check = async () => {
      const receiver = source?.receiverFor(track);
      if (receiver) {
        const stats = await receiver.getStats();
        for (const s of stats.values()) {
          if (s.type === 'inbound-rtp' && s.kind === 'video') {
            if (first === null) first = s.framesDecoded ?? 0;
            else if ((s.framesDecoded ?? 0) >= first + 2) return resolve(true);
          }
        }
      }
      if (performance.now() > deadline) return resolve(false);
      setTimeout(check, 100);
    };
    check();
  });
}

function setMode(mode) {
  state.mode = mode;
  $('mode').dataset.mode = mode;
  $('mode').textContent = mode === 'p2p' ? 'P2P' : 'SFU';
}

// The server's choice of who has the floor (SFU mode): their name tag is highlighted.
function showActiveSpeaker(id) {
  for (const t of document.querySelectorAll('.tile.active-speaker')) t.classList.remove('active-speaker');
  const tile = id === state.me ? document.querySelector('.tile.local') : state.peers.get(id)?.tile;
  tile?.classList.add('active-speaker');
}

async function switchMode(mode) {
  if (mode === state.mode) return;
  setMode(mode);
  // In P2P the server hears nobody, so its last choice would go stale.
  if (mode !== 'sfu') showActiveSpeaker(null);
  if (mode === 'sfu') {
    // Make: publish to the SFU and wait for its media. Break: then close the P2P links.
    await state.sfu?.setSending(true);
    await Promise.all(
      [...state.peers.values()].map(async (p) => {
        const started = performance.now();
        while (!p.sfu && performance.now() - started < SWITCH_TIMEOUT_MS) await sleep(100);
        p.sfuLive = p.sfu ? await waitForFrames(state.sfu, p.sfu) : false;
        await presented(p.videos.sfu);
        render(p);
        // Whether the SFU's video was on screen before the P2P link closed (for tests).
        p.tile.dataset.madeBeforeBreak = String(p.videos.sfu.classList.contains('active') && Number(p.videos.sfu.dataset.frames) > 0);
        p.link?.close();
        p.link = null;
        p.p2p = null;
        p.p2pLive = false;
        render(p);
      }),
    );
  } else {
    for (const p of state.peers.values()) if (state.me < p.id) ensureLink(p.id);
    await Promise.all(
      [...state.peers.values()].map(async (p) => {
        const started = performance.now();
        while (!p.p2pLive && performance.now() - started < SWITCH_TIMEOUT_MS) await sleep(100);
        await presented(p.videos.p2p);
        render(p);
      }),
    );
    if (state.mode === 'p2p') {
      await state.sfu?.setSending(false);
      call('p2p-ready', {}).catch(() => {});
    }
  }
}

function teardownMedia() {
  for (const id of [...state.peers.keys()]) removePeer(id);
  state.sfu?.close();
  state.sfu = null;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Resolves once the element has presented a few frames, or after the switch timeout.
async function presented(video) {
  const start = Number(video.dataset.frames);
  const until = performance.now() + SWITCH_TIMEOUT_MS;
  while (Number(video.dataset.frames) < start + 3 && performance.now() < until) await sleep(50);
}

// ---- Controls -------------------------------------------------------------------------

function toggle(kind) {
  if (!state.stream) return;
  const on = kind === 'audio' ? (state.micOn = !state.micOn) : (state.camOn = !state.camOn);
  for (const t of state.stream.getTracks()) if (t.kind === kind) t.enabled = on;
  const button = $(kind === 'audio' ? 'mic' : 'cam');
  button.setAttribute('aria-pressed', String(on));
  button.textContent = kind === 'audio' ? (on ? 'Mic on' : 'Mic off') : on ? 'Camera on' : 'Camera off';
  localTile();
  sendMediaState();
}

async function toggleScreen() {
  if (state.screen) return stopScreen();
  try {
    const display = await navigator.mediaDevices.getDisplayMedia({ video: true });
    state.screen = display.getVideoTracks()[0];
    state.screen.onended = stopScreen;
    await replaceVideo(state.screen);
    $('screen').setAttribute('aria-pressed', 'true');
    $('screen').textContent = 'Stop sharing';
  } catch (e) {
    notice(`Screen sharing is not available: ${e.message}`);
  }
}

async function stopScreen() {
  if (!state.screen) return;
  state.screen.stop();
  state.screen = null;
  await replaceVideo(state.stream?.getVideoTracks()[0] ?? null);
  $('screen').setAttribute('aria-pressed', 'false');
  $('screen').textContent = 'Share screen';
}

async function replaceVideo(track) {
  await state.sfu?.replace('video', track, { screen: !!state.screen });
  for (const p of state.peers.values()) await p.link?.replace('video', track);
  localTile();
  sendMediaState();
}

async function leave() {
  state.joined = false;
  await call('leave', {}).catch(() => {});
  teardownMedia();
  $('call').hidden = true;
  $('landing').hidden = false;
  document.querySelector('.tile.local')?.remove();
}

// Exposed for tests and debugging in the console.
window.app = state;

// ---- Start ----------------------------------------------------------------------------

async function getMedia() {
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({
      audio: true,
      // ?quality=low for weak machines and links (and the browser tests on two cores).
      video:
        params.get('quality') === 'low'
          ? { width: 320, height: 240, frameRate: 10 }
          : { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 24 } },
    });
    $('preview').srcObject = state.stream;
  } catch (e) {
    state.stream = null;
    notice('Camera or microphone refused: you can watch and listen.');
    $('landing-error').textContent = 'Camera or microphone refused: you will join to watch and listen.';
    $('landing-error').hidden = false;
  }
}

const chat = new Chat({ messages: $('messages'), typing: $('typing'), form: $('chat-form'), input: $('chat-input') });
const speaking = new SpeakingMeter();
const views = new ViewReporter((payload) => {
  if (state.joined) call('view', payload).catch(() => {});
});

async function start(room, name) {
  state.room = room;
  state.name = name;
  $('landing-error').hidden = true;
  if (!state.socket) connect();
  await join();
  localTile();
}

$('join-form').addEventListener('submit', (e) => {
  e.preventDefault();
  start($('room').value.trim(), $('name').value.trim()).catch(showJoinError);
});
$('mic').addEventListener('click', () => toggle('audio'));
$('cam').addEventListener('click', () => toggle('video'));
$('screen').addEventListener('click', toggleScreen);
$('leave').addEventListener('click', leave);

$('room').value = params.get('room') ?? '';
$('name').value = params.get('name') ?? '';
// An invitation link carries a join token, which names the member.
state.token = params.get('token');
getMedia().then(() => {
  if (params.get('room') && (params.get('name') || state.token)) {
    start(params.get('room'), params.get('name') ?? '').catch(showJoinError);
  }
});
