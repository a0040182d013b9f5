//! The send path of forwarded RTP: the SFU's own, not its WebRTC stack's.
//!
//! For each forwarded packet and each subscriber it writes the subscriber's header (the
//! Forwarder's SSRC, sequence number and timestamp, the negotiated payload type, and the
//! subscriber's transport-wide sequence number) into a reused buffer, copies the shared
//! payload after it, SRTP-protects the packet in place with the subscriber's keys, and queues
//! the datagram for the IO layer, which sends it in `sendmmsg` batches and hands the buffer
//! back. It keeps, per subscriber, what the subscriber's transport-wide feedback needs and
//! what its sender reports say.
//!
//! It also sends each stream's RTCP sender reports, protected with the same keys (SRTCP),
//! since only it knows what was sent. WebRTC's stack keeps ICE, DTLS, negotiation and the
//! RTCP towards publishers. This module never names the peer connection: it is given the
//! keys and the destination when a session's transport comes up.

pub mod bwe;
mod link;
pub mod pool;
pub mod rtp;
pub mod sender_report;
pub mod srtp;
mod trendline;
pub mod twcc;

pub use link::{Link, OutPacket, REPORT_INTERVAL};
pub use rtp::OutHeader;
pub use srtp::{SrtpError, SrtpKeys};
pub use twcc::FeedbackCounters;

use crate::core::api::Remote;
use crate::core::api::Transmit;
use crate::core::ids::SessionId;
use pool::BufferPool;
use rtc::shared::marshal::{Marshal, MarshalSize};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;
use tracing::debug;

/// Every subscriber's link, the buffers they share, and the datagrams waiting to be sent.
pub struct SendPath {
    links: HashMap<SessionId, Link>,
    pool: BufferPool,
    queue: VecDeque<Transmit>,
    crypto: Arc<dyn rtc::crypto::RTCCryptoProvider>,
    /// Packets that could not be protected (never expected: counted, not logged per packet).
    failures: u64,
}

impl SendPath {
    /// A send path with no links, using rtc's built-in crypto provider.
    pub fn new() -> Result<SendPath, SrtpError> {
        let crypto =
            rtc::crypto::default_provider().map_err(|e| SrtpError::Crypto(e.to_string()))?;
        Ok(SendPath {
            links: HashMap::new(),
            pool: BufferPool::default(),
            queue: VecDeque::new(),
            crypto,
            failures: 0,
        })
    }

    /// A session's transport came up: its packets go to `to`, protected with `keys`.
    pub fn handle_connected(
        &mut self,
        session: SessionId,
        keys: &SrtpKeys,
        to: Remote,
        now: Instant,
    ) -> Result<(), SrtpError> {
        let srtp = srtp::SrtpSender::new(keys, self.crypto.crypto())?;
        self.links.insert(session, Link::new(to, srtp, now));
        Ok(())
    }

    /// The session's selected ICE pair may have moved: its packets go to `to` from now on.
    pub fn handle_destination(&mut self, session: SessionId, to: Remote) {
        if let Some(link) = self.links.get_mut(&session)
            && link.destination() != to
        {
            debug!(session = session.0, %to, "media destination moved");
            link.set_destination(to);
        }
    }

    /// Forgets a session's link: its transport is gone.
    pub fn remove(&mut self, session: SessionId) {
        self.links.remove(&session);
    }

    /// Whether the session can be sent to.
    pub fn is_ready(&self, session: SessionId) -> bool {
        self.links.contains_key(&session)
    }

    /// Queues `p` for `session`. Returns the datagram's length, or `None` when the session
    /// has no link or the packet could not be protected.
    pub fn send(&mut self, now: Instant, session: SessionId, p: &OutPacket<'_>) -> Option<usize> {
        let link = self.links.get_mut(&session)?;
        let mut buf = self.pool.take();
        match link.protect(&mut buf, p, now) {
            Ok(n) => {
                let to = link.destination();
                self.queue.push_back(Transmit {
                    to: to.addr,
                    protocol: to.protocol,
                    data: buf,
                });
                Some(n)
            }
            Err(e) => {
                self.failures += 1;
                if self.failures.is_power_of_two() {
                    debug!(
                        session = session.0,
                        failures = self.failures,
                        "cannot protect: {e}"
                    );
                }
                self.pool.put(buf);
                None
            }
        }
    }

    /// Queues the sender reports of `session`'s streams at `now`, whose wall-clock time in
    /// NTP format is `ntp`: one SRTCP datagram per stream, as browsers send theirs. Returns
    /// how many were queued.
    pub fn send_reports(&mut self, session: SessionId, now: Instant, ntp: u64) -> usize {
        let Some(link) = self.links.get_mut(&session) else {
            return 0;
        };
        let mut queued = 0;
        for report in link.sender_reports(now, ntp) {
            let mut buf = self.pool.take();
            buf.resize(report.marshal_size(), 0);
            let protected = report
                .marshal_to(&mut buf[..])
                .map_err(|e| SrtpError::Crypto(e.to_string()))
                .and_then(|_| link.protect_rtcp(&mut buf));
            match protected {
                Ok(()) => {
                    let to = link.destination();
                    self.queue.push_back(Transmit {
                        to: to.addr,
                        protocol: to.protocol,
                        data: buf,
                    });
                    queued += 1;
                }
                Err(e) => {
                    self.failures += 1;
                    debug!(session = session.0, "cannot protect a sender report: {e}");
                    self.pool.put(buf);
                }
            }
        }
        queued
    }

    /// Reads a transport-wide feedback from `session`, received at `now`.
    pub fn handle_feedback(
        &mut self,
        session: SessionId,
        fb: &rtc::rtcp::transport_feedbacks::transport_layer_cc::TransportLayerCc,
        now: Instant,
    ) {
        if let Some(link) = self.links.get_mut(&session) {
            link.handle_feedback(fb, now);
        }
    }

    /// `session`'s downlink estimate, once its transport is up.
    pub fn estimator(&self, session: SessionId) -> Option<&bwe::Estimator> {
        self.links.get(&session).map(Link::estimator)
    }

    /// What `session`'s transport-wide feedback reported.
    pub fn feedback(&self, session: SessionId) -> Option<FeedbackCounters> {
        self.links.get(&session).map(Link::feedback)
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.queue.pop_front()
    }

    /// A sent datagram's buffer, back for reuse.
    pub fn recycle(&mut self, buf: bytes::BytesMut) {
        self.pool.put(buf);
    }

    /// Links, for the table sizes.
    pub fn len(&self) -> usize {
        self.links.len()
    }

    /// Whether there is no link.
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }
}
