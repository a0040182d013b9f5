// The camera and microphone: which ones (pickers filled from `enumerateDevices`), whether to
// join muted or with the camera off, a live microphone level, and the choice remembered in
// `localStorage` for the next visit.

const PREFS_KEY = 'sfu.prefs';

export function loadPrefs() {
  try {
    return JSON.parse(localStorage.getItem(PREFS_KEY)) ?? {};
  } catch {
    return {};
  }
}

export function savePrefs(update) {
  try {
    localStorage.setItem(PREFS_KEY, JSON.stringify({ ...loadPrefs(), ...update }));
  } catch {
    // Storage refused (private mode, quota): the choice lasts for this visit only.
  }
}

// getUserMedia constraints for the remembered (or picked) devices. `low`: 320x240 at 10 fps.
export function constraints({ cameraId, micId } = {}, low = false) {
  const video = low ? { width: 320, height: 240, frameRate: 10 } : { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 24 } };
  if (cameraId) video.deviceId = { ideal: cameraId };
  const audio = micId ? { deviceId: { ideal: micId } } : true;
  return { audio, video };
}

// Fills the two pickers with the devices there are, the ones in use selected.
export async function fillPickers(cameraSelect, micSelect, stream) {
  let devices = [];
  try {
    devices = await navigator.mediaDevices.enumerateDevices();
  } catch {
    // No device list (an old or locked-down browser): the pickers stay empty.
  }
  const inUse = (kind) => stream?.getTracks().find((t) => t.kind === kind)?.getSettings().deviceId;
  for (const [select, kind, word] of [
    [cameraSelect, 'videoinput', 'Camera'],
    [micSelect, 'audioinput', 'Microphone'],
  ]) {
    const list = devices.filter((d) => d.kind === kind && d.deviceId);
    select.replaceChildren(
      ...list.map((d, i) => {
        const o = document.createElement('option');
        o.value = d.deviceId;
        o.textContent = d.label || `${word} ${i + 1}`;
        return o;
      }),
    );
    const current = inUse(kind === 'videoinput' ? 'video' : 'audio');
    if (current) select.value = current;
    select.disabled = list.length === 0;
  }
}

// A live level of one audio track, drawn as the width of `bar` (and its `data-level`, 0 to
// 100). One AudioContext for the page's life.
export class LevelMeter {
  constructor(bar) {
    this.bar = bar;
    this.ctx = null;
    this.source = null;
    this.timer = null;
    // Browsers start an AudioContext suspended until a user gesture.
    for (const gesture of ['pointerdown', 'keydown']) document.addEventListener(gesture, () => this.ctx?.resume(), { capture: true });
  }

  follow(track) {
    this.source?.disconnect();
    this.source = null;
    clearInterval(this.timer);
    this.show(0);
    if (!track) return;
    try {
      this.ctx ??= new AudioContext();
      this.ctx.resume().catch(() => {});
      this.source = this.ctx.createMediaStreamSource(new MediaStream([track]));
      const analyser = this.ctx.createAnalyser();
      analyser.fftSize = 512;
      this.source.connect(analyser);
      const buf = new Float32Array(analyser.fftSize);
      this.timer = setInterval(() => {
        analyser.getFloatTimeDomainData(buf);
        let sum = 0;
        for (const x of buf) sum += x * x;
        // Speech sits around 0.01 to 0.1 RMS: a square root spreads it over the bar.
        this.show(track.enabled ? Math.min(100, Math.round(Math.sqrt(Math.sqrt(sum / buf.length)) * 180)) : 0);
      }, 100);
    } catch (e) {
      console.warn('microphone level unavailable', e);
    }
  }

  show(level) {
    this.bar.style.width = `${level}%`;
    this.bar.dataset.level = String(level);
    this.bar.parentElement.setAttribute('aria-valuenow', String(level));
  }

  stop() {
    this.follow(null);
  }
}
