// The quality mark's thresholds, and the figures taken from two periods of receive stats.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judge, summarize } from '../web/quality.js';

test('loss, jitter and round-trip time each can make a call fair or poor', () => {
  assert.equal(judge({ loss: 0, jitter: 0.005, rtt: 0.02, fps: 24 }), 'good');
  assert.equal(judge({}), 'good');
  assert.equal(judge({ loss: 0.05 }), 'fair');
  assert.equal(judge({ loss: 0.2 }), 'poor');
  assert.equal(judge({ jitter: 0.05 }), 'fair');
  assert.equal(judge({ jitter: 0.2 }), 'poor');
  assert.equal(judge({ rtt: 0.3 }), 'fair');
  assert.equal(judge({ rtt: 0.8 }), 'poor');
  assert.equal(judge({ fps: 3 }), 'fair');
  // No frames at all is a paused or hidden video, not a bad connection.
  assert.equal(judge({ fps: 0 }), 'good');
});

const audio = (lost, received) => ({ id: 'A', type: 'inbound-rtp', kind: 'audio', packetsLost: lost, packetsReceived: received, jitter: 0.004 });
const video = (lost, received, bytes) => ({
  id: 'V', type: 'inbound-rtp', kind: 'video', packetsLost: lost, packetsReceived: received, bytesReceived: bytes,
  jitter: 0.01, framesPerSecond: 10, frameWidth: 320, frameHeight: 240, codecId: 'C',
});
const codec = { id: 'C', type: 'codec', mimeType: 'video/VP8' };
const pair = { id: 'P', type: 'candidate-pair', nominated: true, currentRoundTripTime: 0.03, localCandidateId: 'L', remoteCandidateId: 'R' };
const transport = { id: 'T', type: 'transport', selectedCandidatePairId: 'P' };

test('loss is the worst stream of the period; bitrate and video come from the video stream', () => {
  const prev = new Map();
  summarize([audio(0, 0), video(0, 0, 0), codec], prev, 0);
  const f = summarize(
    [audio(20, 80), video(1, 99, 250_000), codec, pair, transport, { id: 'L', type: 'local-candidate', candidateType: 'host' }, { id: 'R', type: 'remote-candidate', candidateType: 'host' }],
    prev,
    2000,
  );
  assert.equal(f.loss, 0.2);
  assert.equal(f.bitrate, 1_000_000);
  assert.deepEqual([f.width, f.height, f.fps, f.codec, f.rtt, f.relay], [320, 240, 10, 'VP8', 0.03, false]);
  assert.equal(judge(f), 'poor');
});

test('a period with too few packets says nothing of loss; a relayed pair is TURN', () => {
  const prev = new Map();
  summarize([audio(0, 0)], prev, 0);
  const f = summarize(
    [audio(5, 5), pair, { id: 'L', type: 'local-candidate', candidateType: 'relay' }, { id: 'R', type: 'remote-candidate', candidateType: 'host' }],
    prev,
    2000,
  );
  assert.equal(f.loss, null);
  assert.equal(f.relay, true);
});
