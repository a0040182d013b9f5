//! The codecs, header extensions and RTCP features every session negotiates.

use crate::core::api::{Protocol, Remote};
use rtc::interceptor::{
    Attribute, Interceptor, NackGeneratorBuilder, Packet, ReceiverReportBuilder, Registry, Slot,
    StreamInfo, TaggedPacket,
};
use rtc::peer_connection::configuration::interceptor_registry::configure_twcc_receiver_only;
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_AV1, MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_VP8, MIME_TYPE_VP9, MediaEngine,
};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::transport_feedbacks::transport_layer_cc::TransportLayerCc;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpHeaderExtensionCapability,
    RTCRtpParameters, RtpCodecKind,
};
use std::collections::VecDeque;
use std::time::Instant;

fn video_feedback() -> Vec<RTCPFeedback> {
    [
        ("nack", ""),
        ("nack", "pli"),
        ("ccm", "fir"),
        ("transport-cc", ""),
    ]
    .into_iter()
    .map(|(typ, parameter)| RTCPFeedback {
        typ: typ.to_owned(),
        parameter: parameter.to_owned(),
    })
    .collect()
}

fn codec(mime: &str, clock_rate: u32, channels: u16, fmtp: &str, pt: u8) -> RTCRtpCodecParameters {
    let video = !mime.starts_with("audio/");
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: mime.to_owned(),
            clock_rate,
            channels,
            sdp_fmtp_line: fmtp.to_owned(),
            rtcp_feedback: if video {
                video_feedback()
            } else {
                vec![RTCPFeedback {
                    typ: "transport-cc".to_owned(),
                    parameter: String::new(),
                }]
            },
        },
        payload_type: pt,
    }
}

/// Opus, the one audio codec.
pub fn audio_codecs() -> Vec<RTCRtpCodecParameters> {
    vec![codec(
        MIME_TYPE_OPUS,
        48_000,
        2,
        "minptime=10;useinbandfec=1",
        111,
    )]
}

/// VP8, VP9, H.264 (constrained baseline and baseline) and AV1, in order of preference.
pub fn video_codecs() -> Vec<RTCRtpCodecParameters> {
    vec![
        codec(MIME_TYPE_VP8, 90_000, 0, "", 96),
        codec(MIME_TYPE_VP9, 90_000, 0, "profile-id=0", 98),
        codec(
            MIME_TYPE_H264,
            90_000,
            0,
            "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
            102,
        ),
        codec(
            MIME_TYPE_H264,
            90_000,
            0,
            "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
            127,
        ),
        codec(MIME_TYPE_AV1, 90_000, 0, "", 45),
    ]
}

/// Opus with its audio level; VP8, VP9, H.264 and AV1, with NACK, PLI, FIR and transport-wide
/// CC, and the mid and rid extensions of simulcast. No RTX: the SFU
/// answers NACKs itself by re-sending on the original SSRC, which every browser accepts.
pub fn media_engine() -> Result<MediaEngine, rtc::shared::error::Error> {
    let mut m = MediaEngine::default();
    for c in audio_codecs() {
        m.register_codec(c, RtpCodecKind::Audio)?;
    }
    for c in video_codecs() {
        m.register_codec(c, RtpCodecKind::Video)?;
    }
    // The audio level on each packet, for the active speaker (RFC 6464).
    m.register_header_extension(
        RTCRtpHeaderExtensionCapability {
            uri: rtc::sdp::extmap::AUDIO_LEVEL_URI.to_owned(),
        },
        RtpCodecKind::Audio,
        None,
    )?;
    // Simulcast: each layer's packets name their m-section and RTP stream id (RFC 8852),
    // which is how a layer's SSRC is learnt. No repaired stream id: there is no RTX.
    for uri in [
        rtc::sdp::extmap::SDES_MID_URI,
        rtc::sdp::extmap::SDES_RTP_STREAM_ID_URI,
    ] {
        m.register_header_extension(
            RTCRtpHeaderExtensionCapability {
                uri: uri.to_owned(),
            },
            RtpCodecKind::Video,
            None,
        )?;
    }
    Ok(m)
}

/// A UDP datagram from `from`, received on `local` at `now`, as rtc's peer connection reads it.
pub fn udp_datagram(
    now: Instant,
    local: std::net::SocketAddr,
    from: std::net::SocketAddr,
    data: &[u8],
) -> rtc::shared::TaggedBytesMut {
    datagram(now, local, Remote::udp(from), data)
}

/// A datagram from `from` (UDP, or one ICE-TCP frame), received on `local` at `now`.
pub fn datagram(
    now: Instant,
    local: std::net::SocketAddr,
    from: Remote,
    data: &[u8],
) -> rtc::shared::TaggedBytesMut {
    rtc::shared::TaggedBytesMut {
        now,
        transport: rtc::shared::TransportContext {
            local_addr: local,
            peer_addr: from.addr,
            ecn: None,
            transport_protocol: match from.protocol {
                Protocol::Udp => rtc::shared::TransportProtocol::UDP,
                Protocol::Tcp => rtc::shared::TransportProtocol::TCP,
            },
        },
        message: bytes::BytesMut::from(data),
    }
}

/// The id that `parameters` give the header extension `uri`, if it was negotiated.
pub fn extension_id(parameters: &RTCRtpParameters, uri: &str) -> Option<u8> {
    parameters
        .header_extensions
        .iter()
        .find(|h| h.uri == uri)
        .and_then(|h| u8::try_from(h.id).ok())
}

/// Gives `pc` a host candidate at `addr`: the SFU's one announced address, or a test
/// peer's own socket.
pub fn add_host_candidate(
    pc: &mut rtc::peer_connection::RTCPeerConnection,
    addr: std::net::SocketAddr,
) -> Result<(), rtc::shared::error::Error> {
    add_candidate(pc, Remote::udp(addr))
}

/// Gives `pc` a passive ICE-TCP host candidate at `addr` (RFC 6544): the client connects to
/// it, and the SFU never connects out.
pub fn add_tcp_candidate(
    pc: &mut rtc::peer_connection::RTCPeerConnection,
    addr: std::net::SocketAddr,
) -> Result<(), rtc::shared::error::Error> {
    add_candidate(
        pc,
        Remote {
            protocol: Protocol::Tcp,
            addr,
        },
    )
}

fn add_candidate(
    pc: &mut rtc::peer_connection::RTCPeerConnection,
    at: Remote,
) -> Result<(), rtc::shared::error::Error> {
    use rtc::ice::tcp_type::TcpType;
    use rtc::peer_connection::transport::{CandidateConfig, CandidateHostConfig, RTCIceCandidate};
    let (network, tcp_type) = match at.protocol {
        Protocol::Udp => ("udp", TcpType::Unspecified),
        Protocol::Tcp => ("tcp", TcpType::Passive),
    };
    let candidate = CandidateHostConfig {
        base_config: CandidateConfig {
            network: network.to_owned(),
            address: at.addr.ip().to_string(),
            port: at.addr.port(),
            component: 1,
            ..Default::default()
        },
        tcp_type,
    }
    .new_candidate_host()?;
    pc.add_local_candidate(RTCIceCandidate::from(&candidate).to_json()?)
}

/// The interceptor chain of a server session: receiver reports and TWCC feedback for the
/// publisher's send-rate control, and NACKs towards the publisher for upstream loss. What
/// goes to subscribers is the SFU's own send path's: it answers their NACKs from its cache,
/// and makes their sender reports, since the forwarded packets never pass this chain.
pub fn registry(media_engine: &mut MediaEngine) -> Result<Registry, rtc::shared::error::Error> {
    let registry = Registry::new()
        .with(Slot::NackGenerator, NackGeneratorBuilder::new().build())
        .with(Slot::ReceiverReport, ReceiverReportBuilder::new().build())
        .with(FEEDBACK_TAP_SLOT, FeedbackTap::default());
    configure_twcc_receiver_only(registry, media_engine)
}

/// The chain's position for [`FeedbackTap`]: application-most, just before the terminus.
pub const FEEDBACK_TAP_SLOT: Slot = Slot::Custom(14_000);

/// Lets keyframe requests (PLI, FIR), NACKs and receiver reports through to the application.
///
/// The `rtc` interceptor chain ends inbound RTCP at its terminus unless an interceptor marks a
/// packet for delivery. An SFU relays keyframe requests upstream and answers NACKs from its own
/// cache, so it marks exactly those, and leaves the reports the chain acts on alone.
pub struct FeedbackTap {
    deliver: fn(&dyn rtc::rtcp::Packet) -> bool,
    reads: VecDeque<TaggedPacket>,
    writes: VecDeque<TaggedPacket>,
}

impl Default for FeedbackTap {
    /// Delivers keyframe requests and NACKs.
    fn default() -> Self {
        FeedbackTap::new(is_feedback)
    }
}

impl FeedbackTap {
    /// Delivers the RTCP compounds that contain a packet `deliver` accepts.
    pub fn new(deliver: fn(&dyn rtc::rtcp::Packet) -> bool) -> Self {
        FeedbackTap {
            deliver,
            reads: VecDeque::new(),
            writes: VecDeque::new(),
        }
    }
}

/// PLI, FIR and NACK, which an SFU acts on itself, transport-wide feedback, which its send
/// path reads, and reception reports, which give it the round-trip time to the peer.
pub fn is_feedback(p: &dyn rtc::rtcp::Packet) -> bool {
    let any = p.as_any();
    any.is::<PictureLossIndication>()
        || any.is::<FullIntraRequest>()
        || any.is::<TransportLayerNack>()
        || any.is::<TransportLayerCc>()
        || any
            .downcast_ref::<ReceiverReport>()
            .is_some_and(|rr| !rr.reports.is_empty())
}

impl rtc::sansio::Protocol<TaggedPacket, TaggedPacket, ()> for FeedbackTap {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet
            && packets.iter().any(|p| (self.deliver)(p.as_ref()))
        {
            msg.message.attributes.push(Attribute::DeliverToApplication);
        }
        self.reads.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.reads.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.writes.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.writes.pop_front()
    }
}

impl Interceptor for FeedbackTap {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}
