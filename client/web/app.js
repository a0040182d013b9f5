// The web client: join a room, see and hear everyone, chat. Two members talk peer to peer;
// from three on, media goes through the SFU. Moves between the two are make-before-break:
// the new path must show frames before the old one is closed.

import { io } from 'socket.io-client';
import { SfuSession } from './sfu.js';
import { P2pLink } from './p2p.js';
import { Chat } from './chat.js';
import { SpeakingMeter } from './speaking.js';
import { ViewReporter } from './view.js';
import { Layout } from './layout.js';
import { QualityMonitor } from './quality.js';
import { LevelMeter, constraints, fillPickers, loadPrefs, savePrefs } from './devices.js';
import { Panels } from './panels.js';
import { localTile, remoteTile } from './tiles.js';
import { E2ee, e2eeSupported } from './e2ee.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const SWITCH_TIMEOUT_MS = 5000;
const RECONNECTING = 'Connection to the server lost. Reconnecting…';
const prefs = loadPrefs();

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
  micOn: !prefs.micOff,
  camOn: !prefs.camOff,
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
    // Rejoin the same room after a drop.
    if (state.joined)
      join()
        .then(() => $('notice').textContent.startsWith(RECONNECTING) && notice(''))
        .catch(showJoinError);
  });
  socket.on('disconnect', (reason) => {
    teardownMedia();
    if (state.removed) {
      setStatus('removed');
      return;
    }
    setStatus('reconnecting');
    if (state.joined) notice(RECONNECTING);
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
  socket.io.on('reconnect_attempt', (n) => {
    setStatus('reconnecting');
    if (state.joined) notice(`${RECONNECTING} (attempt ${n})`);
  });
  socket.on('server-shutdown', () => notice('The server is restarting; reconnecting…'));
  socket.on('peer-joined', (p) => {
    addPeer(p, { announce: true });
    sendMediaState();
  });
  socket.on('peer-left', ({ id }) => removePeer(id, { announce: true }));
  socket.on('p2p-signal', (msg) => linkFor(msg.from)?.handle(msg));
  socket.on('mode', ({ mode }) => switchMode(mode));
  socket.on('sfu-offer', ({ sdp }) => state.sfu?.handleOffer(sdp));
  socket.on('sfu-failed', sfuLost);
  socket.on('active-speaker', ({ speaker }) => showActiveSpeaker(speaker));
  socket.on('media-state', ({ id, audio, video, screen }) => {
    const p = state.peers.get(id);
    if (p) {
      p.videoOn = video;
      p.audioOn = audio;
      p.publishes = audio || video;
      p.tile.classList.toggle('screen', !!screen);
      layout.update();
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

// A media connection that drops for a moment (ICE "disconnected") usually comes back by
// itself; say so while it does.
const MEDIA_INTERRUPTED = 'Media connection interrupted. Reconnecting…';
function mediaConnection(s) {
  if (s === 'disconnected' && state.joined) notice(MEDIA_INTERRUPTED);
  else if (s === 'connected' && $('notice').textContent === MEDIA_INTERRUPTED) notice('');
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
  $('devices-panel').append($('devices'));
  levels.stop();
  document.title = `${state.room} · Video call`;
  $('room-label').textContent = `Room ${state.room}`;
  const link = new URLSearchParams({ room: state.room, name: state.name });
  if (state.token) link.set('token', state.token);
  if (params.get('quality')) link.set('quality', params.get('quality'));
  // The fragment (`#e2ee=…`) stays: browsers never send it, and a reload needs it.
  history.replaceState(null, '', `?${link}${location.hash}`);
  chat.reset(ack.chatHistory ?? []);
  setMode(ack.mode);
  for (const p of ack.peers) addPeer(p);
  // A rejoin while sharing (after a reconnect) publishes the screen, not the camera.
  const tracks = (state.stream?.getTracks() ?? []).map((t) => (t.kind === 'video' && state.screen ? state.screen : t));
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
    onConnectionState: mediaConnection,
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
    // The SFU names each remote stream after its member.
    protect: state.e2ee ? (pc) => state.e2ee.protect(pc, (e) => e?.streams[0]?.id ?? '') : null,
  });
  state.sfu.screen = !!state.screen;
  await state.sfu.start(tracks, state.stream ?? new MediaStream(), ack.mode === 'sfu');
  quality.start();
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
  // A second Join (a double click, or one racing the invitation's own) changes nothing.
  if (e.code === 'already-joined') return;
  state.joined = false;
  teardownMedia();
  showLanding();
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

// `announce`: someone who joins while we are in the room, said through the live region.
function addPeer({ id, name }, { announce = false } = {}) {
  if (id === state.me || state.peers.has(id)) return;
  if (announce) say(`${name} joined`);
  const { tile, videos, placeholder, micOff, locked } = remoteTile(id, name, {
    onQuality: () => panels.open('stats', true),
  });
  $('grid').append(tile);
  const p = { id, name, tile, videos, placeholder, micOff, locked, p2p: null, sfu: null, link: null, videoOn: true, audioOn: true, publishes: true, decrypted: 0, undecryptable: 0 };
  state.peers.set(id, p);
  views.watch(id, tile);
  render(p);
}

// Tells screen reader users, through the live region, what changed in the room.
// Each message is a node of its own, so that two in a row are both read; they go after a while.
function say(text) {
  const line = document.createElement('p');
  line.textContent = text;
  $('announcer').append(line);
  setTimeout(() => line.remove(), 5000);
}

// `announce`: the member left while we stay (not our own leaving or reconnecting).
function removePeer(id, { announce = false } = {}) {
  const p = state.peers.get(id);
  if (!p) return;
  if (announce) say(`${p.name} left`);
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
  p.micOff.toggleAttribute('hidden', p.audioOn);
  speaking.watch(p.tile, stream);
}

function showLocalTile() {
  let tile = document.querySelector('.tile.local');
  if (!tile) {
    tile = localTile(state.name);
    $('grid').prepend(tile);
  }
  tile.querySelector('video').srcObject = state.screen ? new MediaStream([state.screen]) : state.stream;
  tile.querySelector('.placeholder').hidden = !!state.screen || (!!state.stream && state.camOn);
  tile.classList.toggle('screen', !!state.screen);
  tile.classList.toggle('sharing', !!state.screen);
  layout.update();
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
      watchP2p(p, stream);
      render(p);
    },
    onFailed: () => call('p2p-failed', {}).catch(() => {}),
    protect: state.e2ee ? (pc) => state.e2ee.protect(pc, () => peerId) : null,
  });
  return p.link;
}

// Marks the P2P stream live once its video decodes. Frames that come later than the switch
// timeout (a busy machine, a slow encoder) still count: the watch goes on for as long as the
// stream is the link's, so the tile is never left on a path that has no media.
async function watchP2p(p, stream) {
  const link = p.link;
  for (;;) {
    const ok = await waitForFrames(link, stream);
    if (p.p2p !== stream || p.link !== link || link.pc.signalingState === 'closed') return;
    if (ok) break;
  }
  p.p2pLive = true;
  render(p);
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
        const stats = await receiver.getStats().catch(() => new Map());
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
  layout.update();
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
  quality.stop();
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
  if (kind === 'audio') state.micOn = !state.micOn;
  else state.camOn = !state.camOn;
  showToggles();
  showLocalTile();
  sendMediaState();
}

// The microphone and camera buttons, and the tracks' `enabled`, as `micOn` and `camOn` say.
function showToggles() {
  // The names stay; `aria-pressed` (and the struck-through icon) says on or off.
  for (const [kind, id, on, what, key] of [
    ['audio', 'mic', state.micOn, 'microphone', 'm'],
    ['video', 'cam', state.camOn, 'camera', 'v'],
  ]) {
    for (const t of state.stream?.getTracks() ?? []) if (t.kind === kind) t.enabled = on;
    $(id).setAttribute('aria-pressed', String(on));
    $(id).title = `Turn the ${what} ${on ? 'off' : 'on'} (${key})`;
  }
  $('preview-off').hidden = state.camOn || !state.stream;
}

// `m` toggles the microphone and `v` the camera, unless the person is typing.
function onKey(e) {
  if (!state.joined || e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
  if (e.target.closest?.('input, textarea, select, [contenteditable]')) return;
  const kind = { m: 'audio', v: 'video' }[e.key.toLowerCase()];
  // Nothing to toggle: no such device, or a join token that does not let us publish it.
  if (!kind || !state.stream?.getTracks().some((t) => t.kind === kind) || $(kind === 'audio' ? 'mic' : 'cam').hidden) return;
  e.preventDefault();
  toggle(kind);
  say(kind === 'audio' ? (state.micOn ? 'Microphone on' : 'Microphone off') : state.camOn ? 'Camera on' : 'Camera off');
}

async function toggleScreen() {
  if (state.screen) return stopScreen();
  try {
    const display = await navigator.mediaDevices.getDisplayMedia({ video: true });
    state.screen = display.getVideoTracks()[0];
    state.screen.onended = stopScreen;
    await replaceVideo(state.screen);
    $('screen').setAttribute('aria-pressed', 'true');
    $('screen').querySelector('.label').textContent = 'Stop sharing';
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
  $('screen').querySelector('.label').textContent = 'Share screen';
}

async function replaceVideo(track) {
  await state.sfu?.replace('video', track, { screen: !!state.screen });
  for (const p of state.peers.values()) await p.link?.replace('video', track);
  showLocalTile();
  sendMediaState();
}

async function leave() {
  state.joined = false;
  await stopScreen();
  await call('leave', {}).catch(() => {});
  teardownMedia();
  state.e2ee?.close();
  state.e2ee = null;
  showE2ee();
  showLanding();
}

// ---- End-to-end encryption --------------------------------------------------------------

// The passphrase: the landing page's field, else the link's fragment (`#e2ee=…`), which
// browsers never send to a server.
function passphrase() {
  const typed = $('passphrase').value;
  if (typed) return typed;
  return new URLSearchParams(location.hash.slice(1)).get('e2ee') ?? '';
}

async function startE2ee(room) {
  const secret = passphrase();
  if (!secret || state.e2ee) return;
  if (!e2eeSupported()) throw new Error('This browser cannot encrypt media end to end (no RTCRtpScriptTransform); join without a passphrase, or use another browser');
  state.e2ee = new E2ee({ onCounts: showDecryption });
  await state.e2ee.setPassphrase(secret, room);
  showE2ee();
}

function showE2ee() {
  $('e2ee').hidden = !state.e2ee;
}

// A new passphrase for the call, from now on; frames under the old one still open for a
// while, as the others enter the new one too.
async function changePassphrase() {
  const next = prompt('New passphrase for this call. Everyone in it must enter the same one.');
  if (!next || !state.e2ee) return;
  await state.e2ee.setPassphrase(next, state.room);
  say('The passphrase changed');
}

// The worker's counts: a member none of whose frames opened lately is shown as such.
function showDecryption(counts) {
  for (const [who, { opened, failed, keyIds }] of Object.entries(counts)) {
    const p = state.peers.get(who);
    if (!p) continue;
    p.decrypted += opened;
    p.undecryptable += failed;
    // The key ids its unreadable frames named (for the tests: sealed, under another key).
    p.foreignKeys = [...new Set([...(p.foreignKeys ?? []), ...keyIds])];
    const locked = failed > 0 && opened === 0;
    if (p.locked.hidden === locked) {
      p.locked.hidden = !locked;
      p.tile.classList.toggle('undecryptable', locked);
      if (locked) say(`Cannot decrypt ${p.name}'s media`);
    }
  }
}

// Back to the device check, ready to join again: after leaving, or a join refused.
function showLanding() {
  $('call').hidden = true;
  $('landing').hidden = false;
  document.title = 'Video call';
  document.querySelector('.tile.local')?.remove();
  notice('');
  panels.closeAll();
  $('join-muted').closest('label').before($('devices'));
  $('join-muted').checked = !state.micOn;
  $('join-cam-off').checked = !state.camOn;
  $('join').disabled = false;
  levels.follow(state.stream?.getAudioTracks()[0]);
}

// ---- Devices --------------------------------------------------------------------------

// Opens the picked camera or microphone and puts it in place of the one in use: in the
// preview, in every P2P link and in the SFU session (`replaceTrack`, no renegotiation).
// A shared screen stays on air; the new camera is what returns when sharing stops.
// Switches run one after another (arrowing through a picker asks for several in a row).
let deviceSwitch = Promise.resolve();
function useDevice(kind, deviceId) {
  deviceSwitch = deviceSwitch.then(() => switchDevice(kind, deviceId)).catch((e) => notice(`Device switch failed: ${e.message}`));
  return deviceSwitch;
}

async function switchDevice(kind, deviceId) {
  const old = state.stream?.getTracks().find((t) => t.kind === kind);
  if (!state.stream || !old || old.getSettings().deviceId === deviceId) return;
  const c = constraints({}, params.get('quality') === 'low')[kind];
  let track;
  try {
    const s = await navigator.mediaDevices.getUserMedia({ [kind]: { ...(c === true ? {} : c), deviceId: { exact: deviceId } } });
    track = s.getTracks()[0];
  } catch (e) {
    notice(`That ${kind === 'audio' ? 'microphone' : 'camera'} cannot be used: ${e.message}`);
    return fillPickers($('camera-select'), $('mic-select'), state.stream);
  }
  track.enabled = kind === 'audio' ? state.micOn : state.camOn;
  state.stream.removeTrack(old);
  state.stream.addTrack(track);
  savePrefs(kind === 'audio' ? { micId: deviceId } : { cameraId: deviceId });
  try {
    if (!(kind === 'video' && state.screen)) {
      await state.sfu?.replace(kind, track);
      for (const p of state.peers.values()) await p.link?.replace(kind, track);
    }
  } finally {
    old.stop();
  }
  if (kind === 'audio') levels.follow(state.joined ? null : track);
  if (state.joined) showLocalTile();
  else $('preview').srcObject = state.stream;
}

// Exposed for tests and debugging in the console.
window.app = state;

// ---- Start ----------------------------------------------------------------------------

async function getMedia() {
  try {
    // ?quality=low for weak machines and links (and the browser tests on two cores).
    state.stream = await navigator.mediaDevices.getUserMedia(constraints(prefs, params.get('quality') === 'low'));
    $('preview').srcObject = state.stream;
    levels.follow(state.stream.getAudioTracks()[0]);
  } catch (e) {
    state.stream = null;
    notice('Camera or microphone refused: you can watch and listen.');
    $('landing-error').textContent = 'Camera or microphone refused: you will join to watch and listen.';
    $('landing-error').hidden = false;
  }
  showToggles();
  await fillPickers($('camera-select'), $('mic-select'), state.stream);
}

const chat = new Chat({
  messages: $('messages'),
  typing: $('typing'),
  form: $('chat-form'),
  input: $('chat-input'),
  onMessage: () => panels.unread(),
});
const speaking = new SpeakingMeter();
const levels = new LevelMeter($('mic-level'));
const views = new ViewReporter((payload) => {
  if (state.joined) call('view', payload).catch(() => {});
});
// The speaker view's large tile: a shared screen, else whoever has the floor, else the
// first person who is not us.
const layout = new Layout($('grid'), {
  focus: (tiles) =>
    tiles.find((t) => t.classList.contains('screen') && t.classList.contains('remote')) ??
    tiles.find((t) => t.classList.contains('active-speaker') && t.classList.contains('remote')) ??
    tiles.find((t) => t.classList.contains('remote')),
});
const panels = new Panels({ layout, prefs, savePrefs, say, notice, room: () => state.room, quality: () => quality.latest });
const quality = new QualityMonitor({
  peers: () =>
    [...state.peers.values()].map((p) => {
      const path = p.videos.sfu.classList.contains('active') ? 'sfu' : 'p2p';
      const source = path === 'sfu' ? state.sfu : p.link;
      const tracks = p[path]?.getTracks() ?? [];
      const receivers = tracks.map((t) => source?.receiverFor(t)).filter(Boolean);
      return { id: p.id, name: p.name, tile: p.tile, path: path.toUpperCase(), receivers };
    }),
  onUpdate: (latest) => panels.showStats(latest),
});
window.app.quality = quality;

async function start(room, name) {
  state.room = room;
  state.name = name;
  $('landing-error').hidden = true;
  await startE2ee(room);
  savePrefs({ name, micOff: !state.micOn, camOff: !state.camOn });
  if (!state.socket) connect();
  await join();
  showLocalTile();
  panels.joined();
}

$('join-form').addEventListener('submit', (e) => {
  e.preventDefault();
  if ($('join').disabled) return;
  $('join').disabled = true;
  start($('room').value.trim(), $('name').value.trim())
    .catch(showJoinError)
    .finally(() => ($('join').disabled = false));
});
$('mic').addEventListener('click', () => toggle('audio'));
$('cam').addEventListener('click', () => toggle('video'));
$('screen').addEventListener('click', toggleScreen);
$('leave').addEventListener('click', leave);
$('e2ee').addEventListener('click', () => changePassphrase().catch((e) => notice(e.message)));
$('camera-select').addEventListener('change', (e) => useDevice('video', e.target.value));
$('mic-select').addEventListener('change', (e) => useDevice('audio', e.target.value));
for (const [box, on] of [
  ['join-muted', 'micOn'],
  ['join-cam-off', 'camOn'],
]) {
  $(box).checked = !state[on];
  $(box).addEventListener('change', (e) => {
    state[on] = !e.target.checked;
    showToggles();
  });
}
document.addEventListener('keydown', onKey);
navigator.mediaDevices?.addEventListener?.('devicechange', () => fillPickers($('camera-select'), $('mic-select'), state.stream));

// An invitation link names the room; a link with a name too (the one this page keeps in
// its address bar while in a call) joins at once.
$('room').value = params.get('room') ?? '';
$('name').value = params.get('name') ?? prefs.name ?? '';
// An invitation link with a join token names the member.
state.token = params.get('token');
// Join waits for the camera and microphone (or their refusal), so as not to join without them.
$('join').disabled = true;
getMedia().then(() => {
  $('join').disabled = false;
  if (params.get('room') && (params.get('name') || state.token)) {
    start(params.get('room'), params.get('name') ?? '').catch(showJoinError);
  } else {
    $(params.get('room') ? 'name' : 'room').focus();
  }
});
