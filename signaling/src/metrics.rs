//! Prometheus metrics, rendered through the `metrics` crate's Prometheus exporter.
//!
//! Most figures are read from live snapshots (the SFU's counters, the rooms, the sockets) at
//! scrape time, so they can never drift from what the admin API shows. Only events that
//! leave no state behind, such as the time a room took to move to the SFU, are recorded as
//! they happen. Each server owns its recorder, so that servers in one process (the tests)
//! keep separate figures. No label names a participant: cardinality stays bounded.

use crate::rooms::RoomCounts;
use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use sfu::SfuSummary;
use std::time::Duration;

/// Histogram of the P2P→SFU move, in seconds.
pub const SWITCH_SECONDS: &str = "sfu_room_switch_to_sfu_seconds";
const SWITCH_BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0];

/// One server's metrics.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(None)
    }
}

impl Metrics {
    /// A recorder with every metric described. In a cluster, every series carries the
    /// node's id as the label `node`, so that one Prometheus can scrape every node.
    pub fn new(node: Option<&str>) -> Metrics {
        let mut builder = PrometheusBuilder::new();
        if let Some(node) = node {
            builder = builder.add_global_label("node", node);
        }
        let recorder = builder
            .set_buckets_for_metric(Matcher::Full(SWITCH_SECONDS.into()), &SWITCH_BUCKETS)
            // Only an empty bucket list is refused, and this one is a non-empty constant.
            .expect("non-empty histogram buckets")
            .build_recorder();
        let handle = recorder.handle();
        let m = Metrics { recorder, handle };
        m.with(describe);
        m
    }

    fn with<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&self.recorder, f)
    }

    /// A room finished moving from P2P to the SFU.
    pub fn switched_to_sfu(&self, took: Duration) {
        self.with(|| metrics::histogram!(SWITCH_SECONDS).record(took.as_secs_f64()));
    }

    /// A room's move to the SFU did not complete in time.
    pub fn switch_timed_out(&self) {
        self.with(|| counter!("sfu_room_switch_timeouts_total").increment(1));
    }

    /// The Prometheus text for these snapshots.
    pub fn render(
        &self,
        stats: &SfuSummary,
        rooms: RoomCounts,
        sockets: usize,
        turn: Option<crate::turn::TurnUsage>,
    ) -> String {
        self.with(|| {
            if let Some(t) = turn {
                gauge!("sfu_turn_allocations").set(t.allocations as f64);
                gauge!("sfu_turn_relayed_bytes").set(t.relayed_bytes as f64);
            }
            gauge!("sfu_rooms").set(rooms.rooms as f64);
            for (n, label) in [(rooms.p2p, "p2p"), (rooms.sfu, "sfu")] {
                gauge!("sfu_rooms_by_mode", "mode" => label).set(n as f64);
            }
            gauge!("sfu_participants").set(rooms.members as f64);
            gauge!("sfu_sessions").set(stats.tables.sessions as f64);
            gauge!("sfu_tracks").set(stats.tables.tracks as f64);
            gauge!("sfu_socketio_connections").set(sockets as f64);
            let t = &stats.totals;
            counter!("sfu_received_packets_total").absolute(t.packets_in);
            counter!("sfu_received_bytes_total").absolute(t.bytes_in);
            counter!("sfu_forwarded_packets_total").absolute(t.packets_out);
            counter!("sfu_forwarded_bytes_total").absolute(t.bytes_out);
            counter!("sfu_publisher_lost_packets_total").absolute(t.packets_lost);
            counter!("sfu_nacks_total").absolute(t.nacks);
            counter!("sfu_retransmitted_packets_total").absolute(t.retransmits);
            counter!("sfu_plis_total").absolute(t.plis);
            counter!("sfu_layer_switches_total").absolute(t.layer_switches);
            for (reason, n) in t.dropped.by_reason() {
                counter!("sfu_dropped_packets_total", "reason" => reason).absolute(n);
            }
            let i = &stats.ingress;
            for (reason, n) in i.drops() {
                counter!("sfu_ingress_dropped_total", "reason" => reason).absolute(n);
            }
            counter!("sfu_ingress_datagrams_total").absolute(i.datagrams);
            for w in &stats.workers {
                let worker = w.index.to_string();
                let gauges = [
                    ("sfu_worker_alive", if w.alive { 1.0 } else { 0.0 }),
                    ("sfu_worker_rooms", w.rooms as f64),
                    ("sfu_worker_participants", w.participants as f64),
                    ("sfu_worker_down_tracks", w.down_tracks as f64),
                    (
                        "sfu_worker_received_packets_per_second",
                        w.packets_in_per_second,
                    ),
                    (
                        "sfu_worker_forwarded_packets_per_second",
                        w.packets_out_per_second,
                    ),
                    ("sfu_worker_cpu_utilization", w.cpu_utilization),
                    (
                        "sfu_worker_ice_tcp_connections",
                        w.ice_tcp_connections as f64,
                    ),
                ];
                for (name, value) in gauges {
                    gauge!(name, "worker" => worker.clone()).set(value);
                }
                // Monotonic (the thread's CPU clock goes on across a restart), but seconds in
                // a float: the `metrics` crate's counters are integers.
                gauge!("sfu_worker_cpu_seconds", "worker" => worker.clone()).set(w.cpu_seconds);
                counter!("sfu_worker_ice_tcp_dropped_frames_total", "worker" => worker.clone())
                    .absolute(w.ice_tcp_frames_dropped);
                counter!("sfu_worker_restarts_total", "worker" => worker).absolute(w.restarts);
            }
        });
        self.handle.render()
    }
}

fn describe() {
    describe_gauge!("sfu_rooms", "Rooms with at least one member.");
    describe_gauge!("sfu_rooms_by_mode", "Rooms by media mode (p2p or sfu).");
    describe_gauge!("sfu_participants", "Members of all rooms.");
    describe_gauge!("sfu_sessions", "WebRTC sessions the SFU holds.");
    describe_gauge!("sfu_tracks", "Tracks published to the SFU.");
    describe_gauge!("sfu_socketio_connections", "Open Socket.IO connections.");
    describe_counter!(
        "sfu_received_packets_total",
        "RTP packets received from publishers."
    );
    describe_counter!(
        "sfu_received_bytes_total",
        Unit::Bytes,
        "RTP bytes received from publishers."
    );
    describe_counter!(
        "sfu_forwarded_packets_total",
        "RTP packets forwarded to subscribers."
    );
    describe_counter!(
        "sfu_forwarded_bytes_total",
        Unit::Bytes,
        "RTP bytes forwarded to subscribers."
    );
    describe_counter!(
        "sfu_publisher_lost_packets_total",
        "Packets missing from publishers' sequence numbers."
    );
    describe_counter!("sfu_nacks_total", "Packets subscribers asked to resend.");
    describe_counter!(
        "sfu_retransmitted_packets_total",
        "NACKed packets resent from the cache."
    );
    describe_counter!("sfu_plis_total", "Keyframe requests sent to publishers.");
    describe_counter!(
        "sfu_layer_switches_total",
        "Moves of subscribers from one simulcast layer to another."
    );
    describe_counter!(
        "sfu_dropped_packets_total",
        "Packets not forwarded to a subscriber, by reason."
    );
    describe_counter!(
        "sfu_ingress_dropped_total",
        "Datagrams not attributed to any session, by reason."
    );
    describe_counter!(
        "sfu_ingress_datagrams_total",
        "Datagrams received on the media socket."
    );
    describe_gauge!(
        "sfu_worker_alive",
        "1 while the media worker runs; 0 while it starts afresh after a failure."
    );
    describe_gauge!("sfu_worker_rooms", "Rooms placed on the media worker.");
    describe_gauge!(
        "sfu_worker_participants",
        "SFU sessions the media worker holds."
    );
    describe_gauge!(
        "sfu_worker_down_tracks",
        "Subscriptions the media worker forwards to (what new rooms are placed by)."
    );
    describe_gauge!(
        "sfu_worker_received_packets_per_second",
        "RTP packets per second the media worker received, over the last second."
    );
    describe_gauge!(
        "sfu_worker_forwarded_packets_per_second",
        "RTP packets per second the media worker forwarded, over the last second."
    );
    describe_gauge!(
        "sfu_worker_cpu_utilization",
        "Share of one core the media worker's thread used over the last second."
    );
    describe_gauge!(
        "sfu_worker_cpu_seconds",
        Unit::Seconds,
        "CPU time the media worker's thread has used; it goes on across restarts."
    );
    describe_gauge!(
        "sfu_worker_ice_tcp_connections",
        "Open ICE-TCP connections to the media worker (0 without --ice-tcp)."
    );
    describe_counter!(
        "sfu_worker_ice_tcp_dropped_frames_total",
        "Frames the media worker could not queue on an ICE-TCP connection (gone, or full)."
    );
    describe_counter!(
        "sfu_worker_restarts_total",
        "Failures after which the media worker started afresh."
    );
    describe_gauge!(
        "sfu_turn_allocations",
        "Live allocations of the embedded TURN server."
    );
    describe_gauge!(
        "sfu_turn_relayed_bytes",
        Unit::Bytes,
        "Bytes relayed through the embedded TURN server's live allocations."
    );
    describe_histogram!(
        SWITCH_SECONDS,
        Unit::Seconds,
        "Time from a room's move to the SFU until every member receives forwarded media."
    );
    describe_counter!(
        "sfu_room_switch_timeouts_total",
        "Moves to the SFU that did not complete within 20 s."
    );
}
