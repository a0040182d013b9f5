// The E2EE worker: every sender's frames are sealed here, and every receiver's opened
// (`RTCRtpScriptTransform`), so that the page's thread never handles them. The page sends
// the keys; the worker reports, per remote member, how many frames opened and how many did
// not, so that the page can show a member whose media it cannot read.
import { clearBytes, newSender, open, seal, sealedKeyId } from './frame.js';

// Keys by id; frames are sealed under `current`. An old key stays usable for opening
// during a change, until the page drops it.
const keys = new Map();
let current = null;
// Per remote member: frames opened and not since the last report, and the key ids named
// by the frames that did not open (what tells a wrong key from a frame never sealed).
const counts = new Map();

self.onmessage = ({ data }) => {
  if (data.type === 'key') {
    keys.set(data.id, data.key);
    current = { id: data.id, key: data.key };
  } else if (data.type === 'drop') {
    if (current?.id !== data.id) keys.delete(data.id);
  }
};

setInterval(() => {
  if (counts.size === 0) return;
  self.postMessage({ type: 'counts', counts: Object.fromEntries(counts) });
  counts.clear();
}, 500);

function count(who, ok, data) {
  const c = counts.get(who) ?? { opened: 0, failed: 0, keyIds: [] };
  if (ok) c.opened++;
  else {
    c.failed++;
    const id = sealedKeyId(data);
    if (id !== null && !c.keyIds.includes(id)) c.keyIds.push(id);
  }
  counts.set(who, c);
}

self.onrtctransform = ({ transformer }) => {
  const { op, kind, who } = transformer.options;
  const sender = newSender();
  const stream = new TransformStream({
    async transform(frame, out) {
      const type = kind === 'video' ? frame.type : undefined;
      if (frame.data.byteLength === 0 || type === 'empty') return out.enqueue(frame);
      const clear = clearBytes(kind, type);
      if (op === 'encrypt') {
        // No key yet: nothing leaves in the clear.
        if (!current) return;
        frame.data = await seal(frame.data, clear, current, sender);
        return out.enqueue(frame);
      }
      const plain = await open(frame.data, clear, keys);
      count(who, plain !== null, frame.data);
      if (plain === null) return; // dropped: the decoder never sees what it cannot read
      frame.data = plain;
      out.enqueue(frame);
    },
  });
  transformer.readable.pipeThrough(stream).pipeTo(transformer.writable);
};
