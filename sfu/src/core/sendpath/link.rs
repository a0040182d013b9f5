//! Link: the SFU's sending side of one subscriber's transport, once its DTLS-SRTP is up.

use super::bwe::Estimator;
use super::rtp::{OutHeader, header_len, write_header};
use super::sender_report::SenderClock;
use super::srtp::{MAX_TAG_LEN, SrtpError, SrtpSender};
use super::twcc::{FeedbackCounters, TransportSeq};
use crate::core::api::Remote;
use crate::core::vp8::Vp8Rewrite;
use bytes::BytesMut;
use rtc::rtcp::sender_report::SenderReport;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How often each stream of a subscriber gets a sender report: browsers send theirs about
/// once a second for video.
pub const REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// A stream that sent nothing for this long is no longer a sender (RFC 3550 §6.3.8 drops a
/// sender after two report intervals): it gets no more reports.
const SENDER_TIMEOUT: Duration = Duration::from_secs(5);

/// One subscriber's transport, as the send path sees it.
pub struct Link {
    to: Remote,
    srtp: SrtpSender,
    twcc: TransportSeq,
    /// The subscriber's downlink, as its feedback shows it.
    estimator: Estimator,
    /// What each outgoing stream sent, by SSRC, for its sender reports.
    streams: HashMap<u32, Stream>,
}

struct Stream {
    clock: SenderClock,
    last_sent: Instant,
}

/// A forwarded packet, as one subscriber gets it.
#[derive(Debug, Clone, Copy)]
pub struct OutPacket<'a> {
    /// Its header.
    pub header: OutHeader,
    /// The subscriber's id for the transport-wide sequence number extension, if it
    /// negotiated one.
    pub twcc_ext: Option<u8>,
    /// The RTP clock rate of the stream, for its sender reports.
    pub clock_rate: u32,
    /// The payload, shared by every subscriber.
    pub payload: &'a [u8],
    /// The VP8 picture numbers this subscriber's copy carries, if they differ per
    /// subscriber (simulcast).
    pub vp8: Option<Vp8Rewrite>,
}

impl Link {
    /// A link to `to`, protecting with `srtp`, its transport-wide clock starting at `now`.
    pub fn new(to: Remote, srtp: SrtpSender, now: Instant) -> Link {
        Link {
            to,
            srtp,
            twcc: TransportSeq::new(now),
            estimator: Estimator::default(),
            streams: HashMap::new(),
        }
    }

    /// Where the subscriber's packets go.
    pub fn destination(&self) -> Remote {
        self.to
    }

    /// The selected ICE pair moved.
    pub fn set_destination(&mut self, to: Remote) {
        self.to = to;
    }

    /// Writes `p` into `buf` (empty, with room for a packet): header, payload, and the SRTP
    /// tag. Returns the datagram's length.
    pub fn protect(
        &mut self,
        buf: &mut BytesMut,
        p: &OutPacket<'_>,
        now: Instant,
    ) -> Result<usize, SrtpError> {
        let twcc_len = header_len(p.twcc_ext.map(|id| (id, 0)));
        let wire_len = twcc_len + p.payload.len() + self.srtp.tag_len();
        if wire_len > buf.capacity() {
            // A jumbo payload: the buffer grows, once, rather than the packet being lost.
            buf.reserve(wire_len + MAX_TAG_LEN);
        }
        let twcc = p.twcc_ext.map(|id| (id, self.twcc.stamp(now, wire_len)));
        let header_len = write_header(buf, &p.header, twcc);
        buf.extend_from_slice(p.payload);
        if let Some(rw) = &p.vp8 {
            rw.apply(&mut buf[header_len..]);
        }
        self.srtp.protect(buf, header_len)?;
        let stream = self.streams.entry(p.header.ssrc).or_insert_with(|| Stream {
            clock: SenderClock::new(p.clock_rate),
            last_sent: now,
        });
        stream
            .clock
            .on_sent(p.header.timestamp, p.payload.len(), now);
        stream.last_sent = now;
        Ok(buf.len())
    }

    /// The sender reports of every stream that is still sending, for the wall-clock instant
    /// `ntp` (NTP format) of `now`. A stream silent for long gets none, but keeps its counts
    /// for when it sends again (an m-section keeps its SSRC when its track changes, so the
    /// streams are as many as the m-sections).
    pub fn sender_reports(&self, now: Instant, ntp: u64) -> Vec<SenderReport> {
        self.streams
            .iter()
            .filter(|(_, s)| now.saturating_duration_since(s.last_sent) < SENDER_TIMEOUT)
            .filter_map(|(&ssrc, s)| s.clock.report(ssrc, now, ntp))
            .collect()
    }

    /// Protects an RTCP compound of the SFU's about this subscriber's streams, in place.
    pub fn protect_rtcp(&mut self, buf: &mut BytesMut) -> Result<(), SrtpError> {
        self.srtp.protect_rtcp(buf)
    }

    /// Reads a transport-wide feedback from the subscriber, received at `now`.
    pub fn handle_feedback(
        &mut self,
        fb: &rtc::rtcp::transport_feedbacks::transport_layer_cc::TransportLayerCc,
        now: Instant,
    ) {
        let reports = self.twcc.handle_feedback(fb);
        self.estimator.handle_reports(now, reports);
    }

    /// The subscriber's downlink estimate.
    pub fn estimator(&self) -> &Estimator {
        &self.estimator
    }

    /// What the subscriber's feedback reported.
    pub fn feedback(&self) -> FeedbackCounters {
        self.twcc.counters()
    }
}
