//! Refused session descriptions are logged at warn, with the participant: a refused
//! description leaves that member's media stuck, and an operator must be able to see why.
//! Before, refusals were logged at debug only.

mod common;

use serde_json::json;
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// Every warning, as its message and fields.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_offers_and_answers_are_logged_at_warn_with_the_participant() {
    let warnings = Warnings::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(warnings.clone()))
        .expect("the only subscriber of this test binary");
    let s = common::server().await;
    let mut c = common::Client::connect(&s).await;
    c.join("room", "Ada").await;
    let logged = |what: &str| {
        warnings
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|w| w.contains(what) && w.contains(&c.id))
    };

    // An offer the SFU cannot parse, and one signaling refuses as too large.
    c.call("sfu-offer", json!({ "sdp": "not sdp" })).await;
    assert!(logged("offer refused"), "{:?}", warnings.0.lock().unwrap());
    warnings.0.lock().unwrap().clear();
    c.call("sfu-offer", json!({ "sdp": "x".repeat(64 * 1024 + 1) }))
        .await;
    assert!(logged("offer refused"), "{:?}", warnings.0.lock().unwrap());
    // An answer when none is awaited.
    warnings.0.lock().unwrap().clear();
    c.call("sfu-answer", json!({ "sdp": "v=0\r\n" })).await;
    assert!(logged("answer refused"), "{:?}", warnings.0.lock().unwrap());
    s.shutdown().await;
}
