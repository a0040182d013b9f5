//! A test peer on a real UDP socket, driven by tokio with the wall clock.

use super::peer::{PeerCore, PeerError, TICK};
use super::{Observed, PeerOptions, PeerStats, Sabotage, Signal, lock};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// A running peer.
pub struct Peer {
    /// The participant id.
    pub id: String,
    pub index: u8,
    pub stats: Arc<Mutex<PeerStats>>,
    /// Spoils the next answers, one entry each, front first.
    pub sabotage: Arc<Mutex<VecDeque<Sabotage>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Peer {
    /// Starts a peer. `offers` carries the offers the SFU makes to it, in order.
    pub fn spawn(
        signal: Arc<dyn Signal>,
        offers: mpsc::UnboundedReceiver<String>,
        id: &str,
        index: u8,
        opts: PeerOptions,
    ) -> Peer {
        let stats: Arc<Mutex<PeerStats>> = Arc::default();
        let sabotage: Arc<Mutex<VecDeque<Sabotage>>> = Arc::default();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let (st, sab) = (stats.clone(), sabotage.clone());
        let p = id.to_owned();
        let task = tokio::spawn(async move {
            if let Err(e) = run(signal, &p, index, opts, st, sab, offers, stop_rx).await {
                panic!("peer {p} failed: {e}");
            }
        });
        Peer {
            id: id.to_owned(),
            index,
            stats,
            sabotage,
            stop: Some(stop_tx),
            task,
        }
    }

    pub fn stats(&self) -> std::sync::MutexGuard<'_, PeerStats> {
        lock(&self.stats)
    }

    /// Spoils the peer's next answer in this way.
    pub fn sabotage_next_answer(&self, how: Sabotage) {
        // Never poisoned: holders only push or pop.
        self.sabotage.lock().expect("sabotage lock").push_back(how);
    }

    /// Stops the peer without telling the SFU (the caller calls `leave`).
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = self.task.await;
    }
}

impl Observed for Peer {
    fn index(&self) -> u8 {
        self.index
    }

    fn stats(&self) -> std::sync::MutexGuard<'_, PeerStats> {
        lock(&self.stats)
    }
}

#[allow(clippy::too_many_arguments)]
async fn run(
    signal: Arc<dyn Signal>,
    id: &str,
    index: u8,
    opts: PeerOptions,
    stats: Arc<Mutex<PeerStats>>,
    sabotage: Arc<Mutex<VecDeque<Sabotage>>>,
    mut offers: mpsc::UnboundedReceiver<String>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> Result<(), PeerError> {
    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    let local = socket.local_addr()?;
    let mut peer = PeerCore::new(id, index, local, opts, stats, sabotage, Instant::now())?;
    let offer = peer.offer(Instant::now())?;
    let answer = signal.offer(offer).await?;
    peer.accept_answer(answer, Instant::now())?;

    let mut buf = vec![0u8; 2048];
    let mut ticker = tokio::time::interval(TICK);
    loop {
        peer.drain();
        while let Some((to, data)) = peer.poll_transmit() {
            let _ = socket.send_to(&data, to).await;
        }
        let deadline = peer
            .poll_timeout()
            .unwrap_or(Instant::now() + Duration::from_secs(1));
        let sleep = tokio::time::sleep_until(deadline.into());
        tokio::select! {
            _ = &mut stop => break,
            _ = sleep => peer.handle_timeout(Instant::now())?,
            r = socket.recv_from(&mut buf) => {
                let (n, from) = r?;
                peer.handle_datagram(Instant::now(), local, from, &buf[..n])?;
            }
            Some(sdp) = offers.recv() => {
                let (answer, sabotaged) = peer.answer_offer(sdp, Instant::now())?;
                let accepted = signal.answer(answer).await;
                peer.answered(accepted, sabotaged)?;
            }
            _ = ticker.tick() => peer.tick(Instant::now())?,
        }
    }
    peer.close();
    while let Some((to, data)) = peer.poll_transmit() {
        let _ = socket.send_to(&data, to).await;
    }
    Ok(())
}
