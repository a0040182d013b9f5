// End-to-end encryption of encoded media frames, in the spirit of SFrame (RFC 9605): each
// frame is sealed with AES-GCM under the call's key, except for the few bytes at its start
// that the SFU reads (see `clearBytes`), which stay in the clear and are authenticated as
// the cipher's additional data. Pure functions over WebCrypto, so that node tests them.
//
// A sealed frame: clear header | ciphertext and its 16-byte tag | IV (12 bytes) | 12 | key id.
// The IV is 8 random bytes chosen per sending stream, then a 32-bit frame counter: unique
// for every frame under one key, which AES-GCM requires.

export const IV_BYTES = 12;
const TRAILER = IV_BYTES + 2;
const TAG_BYTES = 16;

// How many bytes at the start of a frame stay readable, and why:
// - VP8 (RFC 6386, 9.1): the 3-byte frame tag (its first bit says key frame or not, which
//   the SFU needs to answer keyframe requests and to switch simulcast layers at a key
//   frame) and, in a key frame, the 7 bytes after it (start code, width and height);
// - audio (Opus): the TOC byte (RFC 6716, 3.1), which says the frame's configuration;
// - anything else: nothing is needed; the client only sends VP8 with E2EE on.
// The VP8 payload descriptor before these bytes is made by the RTP packetizer, after this
// transform, so it is never encrypted.
export function clearBytes(kind, type) {
  if (kind === 'audio') return 1;
  if (type === 'key') return 10;
  if (type === 'delta') return 3;
  return 0;
}

// Key id 0..255 and AES-GCM key from `passphrase`, with the room's name as salt: the same
// passphrase in another room gives another key.
export async function deriveKey(passphrase, room, subtle = globalThis.crypto.subtle) {
  const enc = new TextEncoder();
  const base = await subtle.importKey('raw', enc.encode(passphrase), 'PBKDF2', false, ['deriveBits']);
  const bits = new Uint8Array(
    await subtle.deriveBits({ name: 'PBKDF2', salt: enc.encode(`sfu-e2ee:${room}`), iterations: 100_000, hash: 'SHA-256' }, base, 264),
  );
  const key = await subtle.importKey('raw', bits.slice(0, 32), 'AES-GCM', false, ['encrypt', 'decrypt']);
  return { id: bits[32], key };
}

// A sender's sealing state: its random IV prefix and its frame counter.
export function newSender(random = (n) => globalThis.crypto.getRandomValues(new Uint8Array(n))) {
  return { prefix: random(8), counter: 0 };
}

// Seals `data` (an ArrayBuffer) under `{id, key}`, keeping `clear` bytes readable.
export async function seal(data, clear, { id, key }, sender, subtle = globalThis.crypto.subtle) {
  const bytes = new Uint8Array(data);
  const head = bytes.subarray(0, Math.min(clear, bytes.length));
  const iv = new Uint8Array(IV_BYTES);
  iv.set(sender.prefix, 0);
  new DataView(iv.buffer).setUint32(8, sender.counter >>> 0);
  sender.counter = (sender.counter + 1) >>> 0;
  const sealed = new Uint8Array(
    await subtle.encrypt({ name: 'AES-GCM', iv, additionalData: head }, key, bytes.subarray(head.length)),
  );
  const out = new Uint8Array(head.length + sealed.length + TRAILER);
  out.set(head, 0);
  out.set(sealed, head.length);
  out.set(iv, head.length + sealed.length);
  out[out.length - 2] = IV_BYTES;
  out[out.length - 1] = id;
  return out.buffer;
}

// The key id a sealed frame's trailer names, or null if it has no trailer.
export function sealedKeyId(data) {
  const bytes = new Uint8Array(data);
  return bytes.length > TRAILER + TAG_BYTES && bytes[bytes.length - 2] === IV_BYTES ? bytes[bytes.length - 1] : null;
}

// Opens a sealed frame with the key its trailer names, from `keys` (Map id → CryptoKey).
// Returns the frame's original bytes, or null if it cannot be opened: no such key, a wrong
// one, a frame that was changed, or one that was never sealed.
export async function open(data, clear, keys, subtle = globalThis.crypto.subtle) {
  const bytes = new Uint8Array(data);
  if (bytes.length < clear + TAG_BYTES + TRAILER || bytes[bytes.length - 2] !== IV_BYTES) return null;
  const key = keys.get(bytes[bytes.length - 1]);
  if (!key) return null;
  const head = bytes.subarray(0, clear);
  const iv = bytes.subarray(bytes.length - TRAILER, bytes.length - 2);
  try {
    const plain = new Uint8Array(
      await subtle.decrypt({ name: 'AES-GCM', iv, additionalData: head }, key, bytes.subarray(clear, bytes.length - TRAILER)),
    );
    const out = new Uint8Array(clear + plain.length);
    out.set(head, 0);
    out.set(plain, clear);
    return out.buffer;
  } catch {
    return null;
  }
}
