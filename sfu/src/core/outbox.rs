//! Outbox: what the core has for the IO layer, in order: datagrams, then events.

use crate::core::api::{Event, Transmit};
use std::collections::VecDeque;

/// Datagrams to send and events for signaling, waiting for `poll_output`.
#[derive(Default)]
pub(crate) struct Outbox {
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

impl Outbox {
    pub(crate) fn transmit(&mut self, t: Transmit) {
        self.transmits.push_back(t);
    }

    pub(crate) fn event(&mut self, e: Event) {
        self.events.push_back(e);
    }

    pub(crate) fn pop_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub(crate) fn pop_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}
