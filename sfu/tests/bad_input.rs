//! Bad input is counted and dropped, never panics, and never disturbs another room: garbage
//! datagrams, malformed STUN, STUN with unknown or wrong credentials, media from unverified
//! addresses, RTP for unknown SSRCs, junk DTLS and SRTP, and bad signaling.

mod common;

use common::{AUDIO, Harness, PeerOptions, VIDEO};
use ring::hmac;
use sfu::{ParticipantId, RoomId, SfuError};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;

/// A STUN binding request with USERNAME and MESSAGE-INTEGRITY keyed with `password`.
fn binding_request(username: &str, password: &str) -> Vec<u8> {
    let mut m = vec![0x00, 0x01, 0, 0, 0x21, 0x12, 0xa4, 0x42];
    m.extend_from_slice(&rand::random::<[u8; 12]>());
    m.extend_from_slice(&[0x00, 0x06]);
    m.extend_from_slice(&(username.len() as u16).to_be_bytes());
    m.extend_from_slice(username.as_bytes());
    while m.len() % 4 != 0 {
        m.push(0);
    }
    let len = (m.len() - 20 + 24) as u16;
    m[2..4].copy_from_slice(&len.to_be_bytes());
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, password.as_bytes());
    let tag = hmac::sign(&key, &m);
    m.extend_from_slice(&[0x00, 0x08, 0x00, 0x14]);
    m.extend_from_slice(tag.as_ref());
    m
}

fn sdp_attr<'a>(sdp: &'a str, name: &str) -> &'a str {
    sdp.lines()
        .find_map(|l| l.strip_prefix(name))
        .expect("attribute in SDP")
        .trim()
}

fn rtp(ssrc: u32, seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 111];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&1234u32.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0u8; 40]);
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_counted_and_isolated() {
    let h = Harness::start().await;
    let sfu_addr: SocketAddr = h.sfu.announce_addr();
    // A healthy call in another room, watched throughout.
    let a = h.peer("calm", "alice", 1, PeerOptions::default()).await;
    let b = h.peer("calm", "bob", 2, PeerOptions::default()).await;
    h.wait_all_receiving(&[&a, &b], Duration::from_secs(15))
        .await;

    // Mallory gets a real session whose credentials she knows, from a real offer.
    let mallory = ParticipantId::from("mallory");
    h.sfu
        .join(RoomId::from("bad"), mallory.clone())
        .await
        .unwrap();
    let offer = common::offer_with_media().await.expect("offer");
    let answer = h.sfu.offer(mallory.clone(), offer).await.unwrap();
    let (ufrag, pwd) = (
        sdp_attr(&answer, "a=ice-ufrag:"),
        sdp_attr(&answer, "a=ice-pwd:"),
    );

    let start = [a.stats().sent, b.stats().sent];
    let evil = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let send = |d: Vec<u8>| {
        let evil = &evil;
        async move { evil.send_to(&d, sfu_addr).await.unwrap() }
    };
    let before = h.sfu.stats().await.unwrap();

    send(vec![0xff; 100]).await; // garbage
    send(vec![]).await; // empty
    send(binding_request("nosuchufrag:x", "pw")).await; // unknown ufrag
    send(binding_request(&format!("{ufrag}:x"), "wrong-password")).await; // bad credentials
    let mut truncated = binding_request(&format!("{ufrag}:x"), pwd);
    truncated.truncate(30);
    send(truncated).await; // malformed STUN
    send(rtp(1, 1)).await; // media from an address no check verified
    send(vec![22, 254, 253, 0, 0]).await; // DTLS from an unverified address
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mid = h.sfu.stats().await.unwrap();
    let i = |s: &sfu::SfuStats| s.ingress;
    assert_eq!(i(&mid).garbage - i(&before).garbage, 2);
    assert_eq!(i(&mid).unknown_ufrag - i(&before).unknown_ufrag, 1);
    assert_eq!(i(&mid).bad_credentials - i(&before).bad_credentials, 1);
    assert_eq!(i(&mid).bad_stun - i(&before).bad_stun, 1);
    assert_eq!(i(&mid).unknown_source - i(&before).unknown_source, 2);
    assert_eq!(
        mid.tables.addresses, before.tables.addresses,
        "nothing was bound"
    );

    // A correct check binds the address; then RTP for an SSRC the session never announced.
    send(binding_request(&format!("{ufrag}:x"), pwd)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let bound = h.sfu.stats().await.unwrap();
    assert_eq!(bound.tables.addresses, before.tables.addresses + 1);
    send(rtp(0xdead_beef, 7)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after = h.sfu.stats().await.unwrap();
    assert_eq!(i(&after).unknown_ssrc - i(&bound).unknown_ssrc, 1);

    // A flood of junk from the verified address, in every protocol's first-byte range:
    // the session's WebRTC stack sees it and must neither panic nor leak.
    for n in 0..3000u32 {
        let mut d: Vec<u8> = (0..(n % 300) + 1).map(|_| rand::random()).collect();
        d[0] = [0u8, 1, 20, 22, 23, 128, 144, 191][n as usize % 8];
        if n % 3 == 0 && d.len() > 1 {
            d[1] = 200 + (n % 8) as u8; // RTCP packet types
        }
        send(d).await;
        if n % 500 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let flooded = h
        .sfu
        .stats()
        .await
        .expect("the media worker survived the flood");
    assert!(i(&flooded).datagrams >= i(&after).datagrams + 3000);
    assert_eq!(flooded.tables.sessions, 3);

    // The calm room did not notice.
    let end = [a.stats().sent, b.stats().sent];
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (p, other, i) in [(&a, &b, 1usize), (&b, &a, 0usize)] {
        for kind in [AUDIO, VIDEO] {
            common::assert_delivered(p, other, kind, (start[i], end[i]), 0.95);
        }
    }

    // Mallory leaves; her state is freed like anyone's.
    h.sfu.leave(mallory).await.unwrap();
    let t = h.sfu.stats().await.unwrap().tables;
    assert_eq!((t.sessions, t.ufrags), (2, 2));
    assert_eq!(t.addresses, bound.tables.addresses - 1);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signaling_gets_clear_errors() {
    let h = Harness::start().await;
    let p = ParticipantId::from("p");
    let ghost = ParticipantId::from("ghost");
    h.sfu.join(RoomId::from("r"), p.clone()).await.unwrap();

    let e = h.sfu.join(RoomId::from("r"), p.clone()).await.unwrap_err();
    assert!(matches!(e, SfuError::ParticipantExists(_)), "{e}");
    let e = h.sfu.offer(ghost.clone(), "v=0".into()).await.unwrap_err();
    assert!(matches!(e, SfuError::UnknownParticipant(_)), "{e}");
    assert_eq!(e.code(), "unknown-participant");
    let e = h
        .sfu
        .offer(p.clone(), "this is not sdp".into())
        .await
        .unwrap_err();
    assert!(matches!(e, SfuError::BadSdp(_)), "{e}");
    let e = h
        .sfu
        .offer(p.clone(), "v=0\r\n".repeat(20_000))
        .await
        .unwrap_err();
    assert!(matches!(e, SfuError::SdpTooLarge(_)), "{e}");
    let e = h.sfu.answer(p.clone(), "v=0\r\n".into()).await.unwrap_err();
    assert!(
        matches!(e, SfuError::BadSdp(_)),
        "an answer with no offer out: {e}"
    );
    let bad = sfu::IceCandidate {
        candidate: "candidate:garbage".into(),
        ..Default::default()
    };
    let e = h.sfu.candidate(p.clone(), bad).await.unwrap_err();
    assert!(matches!(e, SfuError::BadCandidate(_)), "{e}");
    let e = h.sfu.leave(ghost).await.unwrap_err();
    assert!(matches!(e, SfuError::UnknownParticipant(_)), "{e}");

    // After all that, the session still negotiates normally.
    let answer = h
        .sfu
        .offer(p.clone(), common::offer_with_media().await.expect("offer"))
        .await;
    assert!(answer.is_ok(), "{answer:?}");
    h.sfu.leave(p).await.unwrap();
    assert_eq!(h.sfu.stats().await.unwrap().tables.sessions, 0);
}
