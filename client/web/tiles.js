// The elements of a tile: a member's name, video, placeholder, muted-microphone mark and
// quality mark. What they show is decided in app.js; where they go, in layout.js.

const MIC_OFF = 'M12 3a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3zM5 11a7 7 0 0 0 14 0M12 18v3M4 4l16 16';

// A remote member's tile. One video element per path, stacked: the SFU's starts playing
// behind the P2P one (or the other way round) and is shown only once it presents frames, so
// a move between paths never blanks the tile. `onQuality()`: the quality mark was clicked.
export function remoteTile(id, name, { onQuality }) {
  const tile = document.createElement('div');
  tile.className = 'tile remote';
  tile.dataset.peerId = id;
  tile.dataset.frames = '0';
  const videos = { p2p: makeVideo(tile), sfu: makeVideo(tile) };
  const placeholder = initial(name);
  const micOff = icon(MIC_OFF);
  micOff.classList.add('mic-off');
  micOff.setAttribute('aria-hidden', 'false');
  micOff.setAttribute('role', 'img');
  micOff.setAttribute('aria-label', `${name}'s microphone is off`);
  // Three bars, coloured by quality.js.
  const quality = document.createElement('button');
  quality.className = 'quality';
  quality.dataset.quality = 'unknown';
  quality.setAttribute('aria-label', `${name}: connection not measured yet`);
  quality.setAttribute('aria-controls', 'stats-panel');
  quality.append(...[0, 1, 2].map(() => document.createElement('i')));
  quality.addEventListener('click', onQuality);
  // Shown while this member's frames cannot be decrypted (another passphrase, or none).
  const locked = document.createElement('p');
  locked.className = 'undecryptable';
  locked.hidden = true;
  locked.textContent = `Cannot decrypt ${name}'s media: a different passphrase?`;
  tile.append(videos.p2p, videos.sfu, placeholder, locked, label(name), micOff, quality);
  return { tile, videos, placeholder, micOff, locked };
}

// The page's own tile: its camera (or shared screen), muted, under `name (you)`.
export function localTile(name) {
  const tile = document.createElement('div');
  tile.className = 'tile local';
  const video = document.createElement('video');
  video.autoplay = true;
  video.muted = true;
  video.playsInline = true;
  tile.append(video, initial(name), label(`${name} (you)`));
  return tile;
}

function label(text) {
  const span = document.createElement('span');
  span.className = 'name';
  span.textContent = text;
  return span;
}

// What a tile shows without video: the name's initial.
function initial(name) {
  const div = document.createElement('div');
  div.className = 'placeholder';
  div.textContent = name.slice(0, 1).toUpperCase();
  return div;
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

// A line drawn with the icons' style (see style.css `.icon`).
function icon(d) {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', 'icon');
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS('http://www.w3.org/2000/svg', 'path');
  path.setAttribute('d', d);
  svg.append(path);
  return svg;
}
