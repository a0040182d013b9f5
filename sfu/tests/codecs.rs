//! Every video codec the SFU negotiates is forwarded: VP8 and H.264 (required), VP9 and AV1
//! (passed through), each gated on its own keyframes, next to Opus.

mod common;

use common::{AUDIO, Harness, PeerOptions, VIDEO, VideoCodec};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_video_codec_reaches_the_others() {
    let h = Harness::start().await;
    let with = |video| PeerOptions {
        video,
        ..PeerOptions::default()
    };
    let peers = [
        h.peer("room", "vp8", 1, with(VideoCodec::Vp8)).await,
        h.peer("room", "h264", 2, with(VideoCodec::H264)).await,
        h.peer("room", "vp9", 3, with(VideoCodec::Vp9)).await,
        h.peer("room", "av1", 4, with(VideoCodec::Av1)).await,
    ];
    h.wait_all_receiving(&peers.iter().collect::<Vec<_>>(), Duration::from_secs(20))
        .await;

    let stats = h.sfu.stats().await.unwrap();
    let mut codecs: Vec<&str> = stats.rooms[0]
        .participants
        .iter()
        .flat_map(|p| &p.published)
        .map(|t| t.codec)
        .collect();
    codecs.sort();
    assert_eq!(
        codecs,
        ["av1", "h264", "opus", "opus", "opus", "opus", "vp8", "vp9"]
    );
    for p in &peers {
        let st = p.stats();
        assert_eq!(st.malformed, 0);
        for o in peers.iter().filter(|o| o.index != p.index) {
            assert!(st.got(o.index, AUDIO) > 5 && st.got(o.index, VIDEO) > 5);
        }
    }
    for p in peers {
        p.stop().await;
    }
}
