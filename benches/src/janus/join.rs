//! Joining a Janus VideoRoom with the generator's WebRTC peers, as Janus's own `janus.js`
//! client does: a publisher handle that offers its tracks, and a subscriber handle per
//! receiving member, to which Janus offers the room's feeds.

use super::api::{Handle, Session};
use super::config::room_settings;
use super::http::JanusError;
use crate::engine::Engine;
use crate::peer::{PeerError, Role};
use serde_json::{Value, json};
use std::sync::Arc;

/// Why a member could not join Janus.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// Janus refused or did not answer.
    #[error(transparent)]
    Janus(#[from] JanusError),
    /// The peer's WebRTC stack refused.
    #[error(transparent)]
    Peer(#[from] PeerError),
    /// A join task panicked or was cancelled.
    #[error("join task: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// Janus's answer lacked something it should carry.
    #[error("Janus's {0} carried no {1}")]
    Missing(&'static str, &'static str),
}

/// A published feed: Janus's id for it, and who publishes it. Dropping it changes nothing
/// in Janus: the feed lasts until its session ends.
pub struct Feed {
    /// The id subscribers ask for.
    pub id: u64,
    /// The member publishing it.
    pub member: u32,
}

/// Makes sure `room` exists (the configuration defines room 1; others are created alike).
pub async fn ensure_room(session: &Session, room: u64) -> Result<(), JoinError> {
    let control = session.attach().await?;
    let exists = control
        .request(json!({"request": "exists", "room": room}))
        .await?;
    if exists["exists"] != true {
        let mut create = json!({"request": "create", "room": room});
        for (k, v) in room_settings() {
            create[k] = v;
        }
        control.request(create).await?;
    }
    Ok(())
}

/// The SDP in an event's `jsep`; `what` names the event in the error.
fn sdp_of(event: &Value, what: &'static str) -> Result<String, JoinError> {
    event["jsep"]["sdp"]
        .as_str()
        .map(str::to_owned)
        .ok_or(JoinError::Missing(what, "SDP"))
}

/// Joins `room` as a publisher and publishes `role`'s tracks; returns once Janus reports
/// the PeerConnection up, since until then Janus refuses subscriptions to the feed.
pub async fn publish(
    session: &Session,
    room: u64,
    role: Role,
    engine: &Engine,
) -> Result<Feed, JoinError> {
    let handle = session.attach().await?;
    let joined = handle
        .send(
            json!({
                "request": "join",
                "ptype": "publisher",
                "room": room,
                "display": format!("loadgen-{}", role.id),
            }),
            None,
        )
        .await?;
    let id = joined["plugindata"]["data"]["id"]
        .as_u64()
        .ok_or(JoinError::Missing("join answer", "publisher id"))?;
    let (key, offer) = engine.add_rtc(role).await?;
    let up = handle.webrtc_up();
    let answer = handle
        .send(
            json!({"request": "publish", "audio": true, "video": true}),
            Some(json!({"type": "offer", "sdp": offer})),
        )
        .await?;
    engine
        .answer(key, sdp_of(&answer, "publish answer")?)
        .await?;
    handle.candidates_done().await?;
    up.await?;
    Ok(Feed {
        id,
        member: role.id,
    })
}

/// Subscribes `role` (a receive-only peer) to `feeds` in `room`: Janus offers, the peer
/// answers, and `start` sets the media flowing.
pub async fn subscribe(
    session: &Session,
    room: u64,
    feeds: &[u64],
    role: Role,
    engine: &Engine,
) -> Result<Handle, JoinError> {
    let handle = session.attach().await?;
    let streams: Vec<Value> = feeds.iter().map(|f| json!({"feed": f})).collect();
    let attached = handle
        .send(
            json!({
                "request": "join",
                "ptype": "subscriber",
                "room": room,
                "streams": streams,
            }),
            None,
        )
        .await?;
    let offer = sdp_of(&attached, "subscriber offer")?;
    let (_key, answer) = engine.accept_offer(role, offer).await?;
    handle
        .send(
            json!({"request": "start"}),
            Some(json!({"type": "answer", "sdp": answer})),
        )
        .await?;
    handle.candidates_done().await?;
    Ok(handle)
}

/// Joins one room's members: every publisher first (each up before the next batch), then a
/// receive-only peer per member subscribed to every feed but its own. A publisher's
/// receiving peer takes its id from `next_id`; `engine_for` spreads peers over engines.
pub async fn join_room(
    session: &Arc<Session>,
    room: u64,
    publishers: Vec<Role>,
    subscribers: Vec<Role>,
    engine_for: &dyn Fn(u32) -> Arc<Engine>,
    next_id: &mut u32,
    on_joined: &dyn Fn(),
) -> Result<(), JoinError> {
    const BATCH: usize = 8;
    ensure_room(session, room).await?;
    let mut feeds: Vec<Feed> = Vec::new();
    for batch in publishers.chunks(BATCH) {
        let mut set = tokio::task::JoinSet::new();
        for &role in batch {
            let (session, engine) = (session.clone(), engine_for(role.id));
            set.spawn(async move { publish(&session, room, role, &engine).await });
        }
        while let Some(r) = set.join_next().await {
            feeds.push(r??);
            on_joined();
        }
    }
    // Who receives what: each subscriber everything, each publisher the others.
    let mut receivers: Vec<(Role, Vec<u64>)> = Vec::new();
    if feeds.len() > 1 {
        for f in &feeds {
            let role = Role {
                id: *next_id,
                publish: false,
                video_kbps: 0,
                simulcast: false,
                room: 0,
            };
            *next_id += 1;
            let others = feeds.iter().filter(|o| o.member != f.member);
            receivers.push((role, others.map(|o| o.id).collect()));
        }
    }
    let all: Vec<u64> = feeds.iter().map(|f| f.id).collect();
    receivers.extend(subscribers.into_iter().map(|r| (r, all.clone())));
    for batch in receivers.chunks(BATCH) {
        let mut set = tokio::task::JoinSet::new();
        for (role, feeds) in batch.iter().cloned() {
            let (session, engine) = (session.clone(), engine_for(role.id));
            set.spawn(async move { subscribe(&session, room, &feeds, role, &engine).await });
        }
        while let Some(r) = set.join_next().await {
            r??;
            on_joined();
        }
    }
    Ok(())
}
