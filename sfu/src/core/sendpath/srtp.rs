//! SRTP for forwarded RTP, in place: the packet is encrypted where it lies and the
//! authentication tag appended, so that protecting a packet allocates nothing.
//!
//! The profiles are those the SFU's DTLS offers: AEAD_AES_128_GCM and AEAD_AES_256_GCM
//! (RFC 7714), which browsers pick, and AES128_CM_HMAC_SHA1_80/_32 (RFC 3711). The keys are
//! the ones the session's DTLS-SRTP handshake derived (RFC 5764); the primitives are rtc's own
//! crypto provider's, so that the SFU and its WebRTC stack share one implementation of AES.
//! The stack keeps its own SRTP context for what it sends itself (RTCP, and nothing else on
//! the SSRCs of forwarded streams), so the two never share a rollover counter.

use rtc::crypto::{
    AeadAlgorithm, AeadCipher, BlockCipherAlgorithm, HmacAlgorithm, Mac, RTCCrypto, StreamCipher,
    StreamCipherAlgorithm,
};
use rtc::srtp::protection_profile::ProtectionProfile;
use std::collections::HashMap;

/// What protecting a packet can fail on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SrtpError {
    /// The handshake chose a profile the SFU does not implement on its own path.
    #[error("SRTP profile {0:?} is not supported on the forwarding path")]
    UnsupportedProfile(ProtectionProfile),
    /// The master key or salt has the wrong length for the profile.
    #[error("SRTP master key or salt of the wrong length")]
    BadKeyLength,
    /// The crypto provider refused.
    #[error("SRTP crypto: {0}")]
    Crypto(String),
    /// The buffer is shorter than the RTP header it is said to hold.
    #[error("not an RTP packet")]
    Malformed,
}

fn crypto_err(e: rtc::crypto::CryptoError) -> SrtpError {
    SrtpError::Crypto(e.to_string())
}

/// The keys of one direction of a DTLS-SRTP association.
#[derive(Clone)]
pub struct SrtpKeys {
    /// The negotiated protection profile.
    pub profile: ProtectionProfile,
    /// The master key.
    pub master_key: Vec<u8>,
    /// The master salt.
    pub master_salt: Vec<u8>,
}

impl std::fmt::Debug for SrtpKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets never reach a log.
        f.debug_struct("SrtpKeys")
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

/// One cipher of a profile (for RTP, or for RTCP), keyed with its session keys.
enum Keyed {
    Gcm {
        aead: Box<dyn AeadCipher>,
        salt: [u8; 12],
    },
    CmHmacSha1 {
        ctr: Box<dyn StreamCipher>,
        mac: Box<dyn Mac>,
        salt: [u8; 14],
    },
}

/// The key derivation labels of one direction's cipher (RFC 3711 §4.3.1).
struct Labels {
    encryption: u8,
    auth: u8,
    salt: u8,
}

const RTP_LABELS: Labels = Labels {
    encryption: 0x00,
    auth: 0x01,
    salt: 0x02,
};
const RTCP_LABELS: Labels = Labels {
    encryption: 0x03,
    auth: 0x04,
    salt: 0x05,
};

impl Keyed {
    fn new(profile: ProtectionProfile, kdf: &Kdf<'_>, labels: &Labels) -> Result<Keyed, SrtpError> {
        let crypto = kdf.crypto;
        match profile {
            ProtectionProfile::AeadAes128Gcm | ProtectionProfile::AeadAes256Gcm => {
                let algorithm = if matches!(profile, ProtectionProfile::AeadAes128Gcm) {
                    AeadAlgorithm::Aes128Gcm
                } else {
                    AeadAlgorithm::Aes256Gcm
                };
                let mut session_key = vec![0; kdf.key.len()];
                kdf.derive(labels.encryption, &mut session_key)?;
                let mut salt = [0; 12];
                kdf.derive(labels.salt, &mut salt)?;
                let aead = crypto
                    .new_aead(algorithm, &session_key)
                    .map_err(crypto_err)?;
                session_key.fill(0);
                Ok(Keyed::Gcm { aead, salt })
            }
            ProtectionProfile::Aes128CmHmacSha1_80 | ProtectionProfile::Aes128CmHmacSha1_32 => {
                let mut session_key = [0; 16];
                kdf.derive(labels.encryption, &mut session_key)?;
                let mut auth_key = [0; 20];
                kdf.derive(labels.auth, &mut auth_key)?;
                let mut salt = [0; 14];
                kdf.derive(labels.salt, &mut salt)?;
                let ctr = crypto
                    .new_stream_cipher(StreamCipherAlgorithm::Aes128Ctr, &session_key)
                    .map_err(crypto_err)?;
                let mac = crypto
                    .new_hmac(HmacAlgorithm::Sha1, &auth_key)
                    .map_err(crypto_err)?;
                session_key.fill(0);
                auth_key.fill(0);
                Ok(Keyed::CmHmacSha1 { ctr, mac, salt })
            }
            other => Err(SrtpError::UnsupportedProfile(other)),
        }
    }
}

/// The largest tag any profile appends: what a buffer must leave room for.
pub const MAX_TAG_LEN: usize = 16;

/// What SRTCP appends besides the tag: the E flag and the 31-bit SRTCP index.
pub const SRTCP_INDEX_LEN: usize = 4;

/// The sending side of one SRTP session: the ciphers, and per SSRC the rollover counter of
/// its RTP and the index of its RTCP.
pub struct SrtpSender {
    rtp: Keyed,
    rtcp: Keyed,
    rtp_tag_len: usize,
    rtcp_tag_len: usize,
    rocs: HashMap<u32, Rollover>,
    rtcp_indexes: HashMap<u32, u32>,
}

impl SrtpSender {
    /// Keys the ciphers of `keys.profile` with the session keys derived from the master key
    /// and salt (RFC 3711 §4.3, with a key derivation rate of zero as RFC 5764 requires).
    pub fn new(keys: &SrtpKeys, crypto: &dyn RTCCrypto) -> Result<SrtpSender, SrtpError> {
        let profile = keys.profile;
        if keys.master_key.len() != profile.key_len()
            || keys.master_salt.len() != profile.salt_len()
        {
            return Err(SrtpError::BadKeyLength);
        }
        let kdf = Kdf {
            crypto,
            key: &keys.master_key,
            salt: &keys.master_salt,
        };
        let rtp = Keyed::new(profile, &kdf, &RTP_LABELS)?;
        let rtcp = Keyed::new(profile, &kdf, &RTCP_LABELS)?;
        let (rtp_tag_len, rtcp_tag_len) = match rtp {
            Keyed::Gcm { .. } => (16, 16),
            Keyed::CmHmacSha1 { .. } => (profile.rtp_auth_tag_len(), profile.rtcp_auth_tag_len()),
        };
        Ok(SrtpSender {
            rtp,
            rtcp,
            rtp_tag_len,
            rtcp_tag_len,
            rocs: HashMap::new(),
            rtcp_indexes: HashMap::new(),
        })
    }

    /// Bytes the tag adds to each RTP packet.
    pub fn tag_len(&self) -> usize {
        self.rtp_tag_len
    }

    /// Protects the RTP packet in `packet` in place: its first `header_len` bytes are the
    /// header (authenticated, not encrypted), the rest the payload. The tag is appended, so
    /// `packet` must have [`MAX_TAG_LEN`] bytes of spare capacity to stay allocation-free.
    pub fn protect(
        &mut self,
        packet: &mut bytes::BytesMut,
        header_len: usize,
    ) -> Result<(), SrtpError> {
        if packet.len() < header_len || header_len < 12 {
            return Err(SrtpError::Malformed);
        }
        let seq = u16::from_be_bytes([packet[2], packet[3]]);
        let ssrc = u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]);
        let roc = self.rocs.entry(ssrc).or_default().index_of(seq);
        match &mut self.rtp {
            Keyed::Gcm { aead, salt } => {
                // RFC 7714 §8.1: 00 00 | SSRC | ROC | SEQ, XORed with the salt.
                let mut nonce = [0u8; 12];
                nonce[2..6].copy_from_slice(&ssrc.to_be_bytes());
                nonce[6..10].copy_from_slice(&roc.to_be_bytes());
                nonce[10..12].copy_from_slice(&seq.to_be_bytes());
                xor(&mut nonce, salt);
                let mut tag = [0u8; 16];
                let (aad, payload) = packet.split_at_mut(header_len);
                aead.seal_in_place(&nonce, aad, payload, &mut tag)
                    .map_err(crypto_err)?;
                packet.extend_from_slice(&tag);
            }
            Keyed::CmHmacSha1 { ctr, mac, salt } => {
                // RFC 3711 §4.1.1: the salt, the SSRC and the packet index, as a counter.
                let mut iv = [0u8; 16];
                iv[4..8].copy_from_slice(&ssrc.to_be_bytes());
                iv[8..12].copy_from_slice(&roc.to_be_bytes());
                iv[12..14].copy_from_slice(&seq.to_be_bytes());
                xor(&mut iv, salt);
                ctr.apply_keystream(&iv, &mut packet[header_len..])
                    .map_err(crypto_err)?;
                let mut tag = [0u8; 20];
                mac.sign(&[&packet[..], &roc.to_be_bytes()], &mut tag)
                    .map_err(crypto_err)?;
                packet.extend_from_slice(&tag[..self.rtp_tag_len]);
            }
        }
        Ok(())
    }

    /// Protects the RTCP compound in `packet` in place (RFC 3711 §3.4, RFC 7714 §9): all but
    /// its first 8 octets encrypted, the E flag and the sender's next SRTCP index appended,
    /// then the tag.
    pub fn protect_rtcp(&mut self, packet: &mut bytes::BytesMut) -> Result<(), SrtpError> {
        if packet.len() < 8 {
            return Err(SrtpError::Malformed);
        }
        let ssrc = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
        let index = self.rtcp_indexes.entry(ssrc).or_insert(0);
        // The first index is 1, as rtc numbers them; 2^31 - 1 wraps to 0.
        *index = (*index + 1) & 0x7fff_ffff;
        let e_index = (1u32 << 31 | *index).to_be_bytes();
        match &mut self.rtcp {
            Keyed::Gcm { aead, salt } => {
                // RFC 7714 §9.1: 00 00 | SSRC | 00 00 | 0 | index, XORed with the salt; the
                // first 8 octets and the E flag with the index are the AAD.
                let mut nonce = [0u8; 12];
                nonce[2..6].copy_from_slice(&ssrc.to_be_bytes());
                nonce[8..12].copy_from_slice(&index.to_be_bytes());
                xor(&mut nonce, salt);
                let mut aad = [0u8; 12];
                aad[..8].copy_from_slice(&packet[..8]);
                aad[8..].copy_from_slice(&e_index);
                let mut tag = [0u8; 16];
                aead.seal_in_place(&nonce, &aad, &mut packet[8..], &mut tag)
                    .map_err(crypto_err)?;
                packet.extend_from_slice(&tag);
                packet.extend_from_slice(&e_index);
            }
            Keyed::CmHmacSha1 { ctr, mac, salt } => {
                let mut iv = [0u8; 16];
                iv[4..8].copy_from_slice(&ssrc.to_be_bytes());
                iv[10..14].copy_from_slice(&index.to_be_bytes());
                xor(&mut iv, salt);
                ctr.apply_keystream(&iv, &mut packet[8..])
                    .map_err(crypto_err)?;
                packet.extend_from_slice(&e_index);
                let mut tag = [0u8; 20];
                mac.sign(&[&packet[..]], &mut tag).map_err(crypto_err)?;
                packet.extend_from_slice(&tag[..self.rtcp_tag_len]);
            }
        }
        Ok(())
    }
}

fn xor(out: &mut [u8], salt: &[u8]) {
    for (o, s) in out.iter_mut().zip(salt) {
        *o ^= s;
    }
}

/// The rollover counter of one SSRC, as its sender keeps it (RFC 3711 §3.3.1): the highest
/// sequence number sent, and how often the numbering wrapped before it. A retransmission of
/// a packet from before the latest wrap gets the counter it was first sent with.
#[derive(Default)]
struct Rollover {
    started: bool,
    roc: u32,
    highest: u16,
}

impl Rollover {
    /// The rollover counter of a packet numbered `seq`, noting it as sent.
    fn index_of(&mut self, seq: u16) -> u32 {
        if !self.started {
            self.started = true;
            self.highest = seq;
            return self.roc;
        }
        let ahead = seq.wrapping_sub(self.highest);
        if ahead == 0 {
            self.roc
        } else if ahead < 0x8000 {
            // Newer: the numbering wrapped if it went round past zero.
            if seq < self.highest {
                self.roc = self.roc.wrapping_add(1);
            }
            self.highest = seq;
            self.roc
        } else if seq > self.highest {
            // Older, and from before the latest wrap.
            self.roc.saturating_sub(1)
        } else {
            self.roc
        }
    }
}

/// The AES-CM key derivation function of RFC 3711 §4.3.3, with a key derivation rate of zero.
struct Kdf<'a> {
    crypto: &'a dyn RTCCrypto,
    key: &'a [u8],
    salt: &'a [u8],
}

impl Kdf<'_> {
    fn derive(&self, label: u8, out: &mut [u8]) -> Result<(), SrtpError> {
        let algorithm = match self.key.len() {
            16 => BlockCipherAlgorithm::Aes128,
            32 => BlockCipherAlgorithm::Aes256,
            _ => return Err(SrtpError::BadKeyLength),
        };
        if self.salt.len() > 14 {
            return Err(SrtpError::BadKeyLength);
        }
        let mut x = [0u8; 16];
        x[..self.salt.len()].copy_from_slice(self.salt);
        x[7] ^= label;
        for (i, chunk) in out.chunks_mut(16).enumerate() {
            let mut block = x;
            // The block counter fills the two octets the 112-bit salt leaves free.
            block[14..16].copy_from_slice(&(i as u16).to_be_bytes());
            self.crypto
                .block_encrypt(algorithm, self.key, &mut block)
                .map_err(crypto_err)?;
            chunk.copy_from_slice(&block[..chunk.len()]);
            block.fill(0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use rtc::shared::marshal::Marshal;

    fn crypto() -> std::sync::Arc<dyn rtc::crypto::RTCCryptoProvider> {
        rtc::crypto::default_provider().expect("a crypto provider is built in")
    }

    #[test]
    fn session_keys_match_rfc_3711_appendix_b3() {
        let key = hex("E1F97A0D3E018BE0D64FA32C06DE4139");
        let salt = hex("0EC675AD498AFEEBB6960B3AABE6");
        let provider = crypto();
        let kdf = Kdf {
            crypto: provider.crypto(),
            key: &key,
            salt: &salt,
        };
        let mut cipher_key = [0; 16];
        kdf.derive(RTP_LABELS.encryption, &mut cipher_key).unwrap();
        assert_eq!(cipher_key.to_vec(), hex("C61E7A93744F39EE10734AFE3FF7A087"));
        let mut cipher_salt = [0; 14];
        kdf.derive(RTP_LABELS.salt, &mut cipher_salt).unwrap();
        assert_eq!(cipher_salt.to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));
        let mut auth_key = [0; 20];
        kdf.derive(RTP_LABELS.auth, &mut auth_key).unwrap();
        assert_eq!(
            auth_key.to_vec(),
            hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4")
        );
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Every profile the sender supports.
    const PROFILES: [ProtectionProfile; 4] = [
        ProtectionProfile::AeadAes128Gcm,
        ProtectionProfile::AeadAes256Gcm,
        ProtectionProfile::Aes128CmHmacSha1_80,
        ProtectionProfile::Aes128CmHmacSha1_32,
    ];

    /// This module's sender and rtc's context, on the same keys.
    fn ours_and_rtcs(profile: ProtectionProfile) -> (SrtpSender, rtc::srtp::context::Context) {
        let k = keys(profile);
        let provider = crypto();
        let ours = SrtpSender::new(&k, provider.crypto()).unwrap();
        let theirs = rtc::srtp::context::Context::new(
            &k.master_key,
            &k.master_salt,
            profile,
            None,
            None,
            provider.crypto(),
        )
        .unwrap();
        (ours, theirs)
    }

    fn keys(profile: ProtectionProfile) -> SrtpKeys {
        SrtpKeys {
            profile,
            master_key: (0..profile.key_len() as u8).collect(),
            master_salt: (100..100 + profile.salt_len() as u8).collect(),
        }
    }

    fn packet(ssrc: u32, seq: u16, payload_len: usize) -> BytesMut {
        let pkt = rtc::rtp::Packet {
            header: rtc::rtp::header::Header {
                version: 2,
                payload_type: 96,
                sequence_number: seq,
                timestamp: 1234 + u32::from(seq),
                ssrc,
                ..Default::default()
            },
            payload: bytes::Bytes::from((0..payload_len).map(|i| i as u8).collect::<Vec<_>>()),
        };
        let mut buf = BytesMut::with_capacity(1500);
        buf.extend_from_slice(&pkt.marshal().unwrap());
        buf
    }

    /// What this module protects, rtc's own SRTP context opens: the same keys, the same
    /// packet, for every profile, across a wrap of the sequence numbers.
    #[test]
    fn rtc_decrypts_what_it_protects() {
        for profile in PROFILES {
            let (mut ours, mut theirs) = ours_and_rtcs(profile);
            for seq in (65_500..=u16::MAX).chain(0..40) {
                let plain = packet(0xCAFE, seq, 300);
                let mut buf = plain.clone();
                ours.protect(&mut buf, 12).unwrap();
                assert_eq!(buf.len(), plain.len() + ours.tag_len());
                let opened = theirs
                    .decrypt_rtp(&buf)
                    .unwrap_or_else(|e| panic!("{profile:?} seq {seq}: {e}"));
                assert_eq!(&opened[..], &plain[..], "{profile:?} seq {seq}");
            }
        }
    }

    /// The same for RTCP: a sender report, protected here, opened by rtc, many times over.
    #[test]
    fn rtc_decrypts_the_rtcp_it_protects() {
        for profile in PROFILES {
            let (mut ours, mut theirs) = ours_and_rtcs(profile);
            for i in 0..300u32 {
                let sr = rtc::rtcp::sender_report::SenderReport {
                    ssrc: 0xCAFE + i % 3,
                    ntp_time: u64::from(i) << 32,
                    rtp_time: i * 960,
                    packet_count: i,
                    octet_count: i * 100,
                    ..Default::default()
                };
                let plain = sr.marshal().unwrap();
                let mut buf = BytesMut::with_capacity(256);
                buf.extend_from_slice(&plain);
                ours.protect_rtcp(&mut buf).unwrap();
                let opened = theirs
                    .decrypt_rtcp(&buf)
                    .unwrap_or_else(|e| panic!("{profile:?} report {i}: {e}"));
                assert_eq!(&opened[..], &plain[..], "{profile:?} report {i}");
            }
        }
    }

    #[test]
    fn a_retransmission_from_before_a_wrap_keeps_its_rollover_counter() {
        let mut r = Rollover::default();
        assert_eq!(r.index_of(65_534), 0);
        assert_eq!(r.index_of(65_535), 0);
        assert_eq!(r.index_of(2), 1);
        assert_eq!(r.index_of(65_535), 0, "re-sent from before the wrap");
        assert_eq!(r.index_of(1), 1, "re-sent from after it");
        assert_eq!(r.index_of(3), 1);
        // Round again, to the second wrap.
        for seq in (4..=u16::MAX).step_by(1000).chain([u16::MAX, 0]) {
            r.index_of(seq);
        }
        assert_eq!(r.index_of(5), 2);
    }

    #[test]
    fn a_short_buffer_is_refused_not_a_panic() {
        let provider = crypto();
        let mut s =
            SrtpSender::new(&keys(ProtectionProfile::AeadAes128Gcm), provider.crypto()).unwrap();
        let mut buf = BytesMut::from(&[0x80u8, 96, 0, 1][..]);
        assert!(matches!(s.protect(&mut buf, 12), Err(SrtpError::Malformed)));
    }

    #[test]
    fn unsupported_profiles_and_bad_keys_are_errors() {
        let provider = crypto();
        let k = keys(ProtectionProfile::Aes256CmHmacSha1_80);
        assert!(matches!(
            SrtpSender::new(&k, provider.crypto()),
            Err(SrtpError::UnsupportedProfile(_))
        ));
        let mut k = keys(ProtectionProfile::AeadAes128Gcm);
        k.master_key.pop();
        assert!(matches!(
            SrtpSender::new(&k, provider.crypto()),
            Err(SrtpError::BadKeyLength)
        ));
    }
}
