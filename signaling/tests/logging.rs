//! What an operator must be able to read in the log: refused session descriptions, and
//! clients disconnected for not keeping up, each at warn with the participant. Before,
//! refusals were logged at debug only, and messages to a client that had fallen behind were
//! dropped without a word.

mod common;

use common::Client;
use serde_json::json;
use signaling::Config;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// Every warning of this test binary, as its message and fields.
#[derive(Clone, Default)]
struct Warnings(Arc<Mutex<Vec<String>>>);

impl<S: Subscriber> Layer<S> for Warnings {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if *event.metadata().level() != Level::WARN {
            return;
        }
        struct Line(String);
        impl Visit for Line {
            fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{}={value:?} ", field.name()));
            }
        }
        let mut line = Line(String::new());
        event.record(&mut line);
        self.0.lock().unwrap().push(line.0);
    }
}

/// The one subscriber of this test binary: every test reads the warnings that name its own
/// participants.
fn warnings() -> &'static Warnings {
    static W: OnceLock<Warnings> = OnceLock::new();
    W.get_or_init(|| {
        let w = Warnings::default();
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(w.clone()))
            .expect("the only subscriber of this test binary");
        w
    })
}

/// Whether a warning names `id` and says `what`.
fn logged(id: &str, what: &str) -> bool {
    warnings()
        .0
        .lock()
        .unwrap()
        .iter()
        .any(|w| w.contains(what) && w.contains(id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_offers_and_answers_are_logged_at_warn_with_the_participant() {
    warnings();
    let s = common::server().await;
    let mut c = Client::connect(&s).await;
    c.join("room", "Ada").await;
    // An offer the SFU cannot parse, and one signaling refuses as too large.
    c.call("sfu-offer", json!({ "sdp": "not sdp" })).await;
    assert!(logged(&c.id, "offer refused: bad session description"));
    c.call("sfu-offer", json!({ "sdp": "x".repeat(64 * 1024 + 1) }))
        .await;
    assert!(logged(
        &c.id,
        "SFU offer refused: session descriptions are at most"
    ));
    // An answer when none is awaited.
    c.call("sfu-answer", json!({ "sdp": "v=0\r\n" })).await;
    assert!(logged(&c.id, "answer refused"));
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_cannot_keep_up_is_disconnected_with_the_reason_logged() {
    warnings();
    let s = common::server().await;
    let mut a = Client::connect(&s).await;
    a.join("room", "ada").await;
    let mut b = Client::connect(&s).await;
    b.join("room", "bob").await;
    // Ada stops reading and floods the server with requests: their acks alone are more than
    // any documented rate can make, and her buffer overflows. Each ack names the unknown
    // event, 1 KiB long: the first few MB fill the kernel's socket buffers, the rest the
    // server's.
    a.sio.paused.store(true, Ordering::Relaxed);
    let flood = signaling::limits::send_buffer_packets(Config::for_tests().max_room_size) + 8000;
    let event = "x".repeat(1024);
    for _ in 0..flood {
        drop(a.sio.emit_with_ack(&event, json!({})));
    }
    // She is disconnected for it, the log says why, and the room goes on without her.
    let left = b.next("peer-left").await;
    assert_eq!(left["id"], json!(a.id));
    assert!(logged(&a.id, "send buffer is full"));
    a.sio.paused.store(false, Ordering::Relaxed);
    common::wait_until("ada's connection to end", async || !a.sio.is_open()).await;
    s.shutdown().await;
}
