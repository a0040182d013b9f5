#!/usr/bin/env python3
"""Writes the small seed corpora of the fuzz targets (fuzz/corpus/<target>/): one valid
example of each input kind, in the shapes browsers and the test peers send. Run from fuzz/."""
import hashlib, hmac, json, os, struct, base64, time

def put(target, name, data):
    d = os.path.join("corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def stun_binding(username, password):
    tid = b"fuzz-seed-tx"
    attrs = b""
    u = username.encode()
    attrs += struct.pack("!HH", 0x0006, len(u)) + u + b"\0" * ((4 - len(u) % 4) % 4)
    attrs += struct.pack("!HHI", 0x0024, 4, 0x6E7F1EFF)  # PRIORITY
    # MESSAGE-INTEGRITY over the message with its length covering the attribute.
    length = len(attrs) + 24
    head = struct.pack("!HHI", 0x0001, length, 0x2112A442) + tid
    mi = hmac.new(password.encode(), head + attrs, hashlib.sha1).digest()
    return head + attrs + struct.pack("!HH", 0x0008, 20) + mi

put("demux", "binding", stun_binding("serverufrag:clientufrag", "fuzz-password-fuzz-password"))
put("demux", "dtls", bytes([22, 0xFE, 0xFD]) + b"\0" * 10)
put("demux", "rtcp", bytes([0x81, 201, 0, 1, 0, 0, 0, 1]))

# RTP: version 2, one-byte header extension (audio level id 1, abs-send-time id 2), VP8.
ext = bytes([0x10, 0x85, 0x22, 1, 2, 3, 0, 0])  # id1 len1: level 5; id2 len3
rtp_head = struct.pack("!BBHII", 0x90, 96, 1000, 90000, 0x1234) + struct.pack("!HH", 0xBEDE, 2) + ext
vp8_key = bytes([0x90, 0x80, 0x81, 0x23]) + bytes([0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A, 0x40, 0x01, 0xF0, 0x00])
put("rtp", "vp8-keyframe", rtp_head + vp8_key)
put("rtp", "opus", struct.pack("!BBHII", 0x80, 111, 7, 960, 0x99) + b"\xfc\xff\xfe")

rr = struct.pack("!BBHI", 0x81, 201, 7, 1) + struct.pack("!IIIIII", 0x1234, 0x01000002, 100, 10, 0, 0)
pli = struct.pack("!BBHII", 0x81, 206, 2, 1, 0x1234)
nack = struct.pack("!BBHIIHH", 0x81, 205, 3, 1, 0x1234, 100, 0x0005)
put("rtcp", "rr-pli-nack", rr + pli + nack)

put("keyframe", "vp8", bytes([1]) + vp8_key)
put("keyframe", "h264-idr", bytes([3]) + bytes([0x78, 0, 2, 0x67, 0x42, 0, 4, 0x68, 0xCE, 0x65, 0x88]))
put("keyframe", "vp9", bytes([2]) + bytes([0x8A, 0x80, 0x01, 0x82, 0x49, 0x83, 0x42, 0x00]))
put("keyframe", "av1", bytes([4]) + bytes([0x18, 0x0A, 0x0B, 0x00, 0x00, 0x00, 0x24]))

events = [
    {"room": "standup", "name": "Ada"},
    {"to": "abc", "description": {"type": "offer", "sdp": "v=0\r\n"}, "order": {"link": "l1", "seq": 1}},
    {"sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"},
    {"candidate": "candidate:1 1 udp 2122260223 192.0.2.7 5000 typ host", "sdpMid": "0", "sdpMLineIndex": 0},
    {"text": "hello"},
    {"typing": True},
    {"audio": True, "video": False, "screen": False},
    {"id": "abc"},
    {"peer": "abc", "width": 640, "height": 360, "visible": True},
]
for i, e in enumerate(events):
    put("signaling", f"event-{i}", bytes([i]) + json.dumps(e).encode())

def b64(v):
    return base64.urlsafe_b64encode(v).rstrip(b"=")
body = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + b"." + b64(json.dumps(
    {"room": "room", "name": "Ada", "exp": 4102444800, "grants": {"publish": ["audio"]}}).encode())
sig = b64(hmac.new(b"fuzz-secret-fuzz-secret-fuzz", body, hashlib.sha256).digest())
put("token", "valid", body + b"." + sig)

put("sdp", "offer", "\r\n".join([
    "v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0",
    "a=group:BUNDLE 0 1", "a=msid-semantic: WMS",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111", "c=IN IP4 0.0.0.0", "a=rtcp:9 IN IP4 0.0.0.0",
    "a=ice-ufrag:abcd", "a=ice-pwd:abcdefghijklmnopqrstuvwx", "a=ice-options:trickle",
    "a=fingerprint:sha-256 " + ":".join(["AB"] * 32), "a=setup:actpass", "a=mid:0",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level", "a=sendrecv",
    "a=msid:- a1", "a=rtcp-mux", "a=rtpmap:111 opus/48000/2", "a=fmtp:111 minptime=10;useinbandfec=1",
    "a=ssrc:1001 cname:x",
    "m=video 9 UDP/TLS/RTP/SAVPF 96", "c=IN IP4 0.0.0.0", "a=mid:1", "a=sendrecv",
    "a=rtpmap:96 VP8/90000", "a=rtcp-fb:96 nack pli", "a=rid:q send", "a=rid:h send",
    "a=simulcast:send q;h", "a=rtcp-mux", "",
]).encode())
