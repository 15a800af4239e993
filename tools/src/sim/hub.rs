//! Who is subscribed to which stream, and the pump thread that runs the generators and pushes
//! their frames to the subscribers.
//!
//! Each connection owns a bounded mailbox (a `sync_channel`); the pump formats a payload once and
//! `try_send`s a cheap clone to every mailbox subscribed to its stream. A mailbox that is full
//! belongs to a client too slow to keep up: like Binance, the simulator disconnects it rather
//! than buffer without bound or slow everyone else down.

use super::binance::{Catalog, StreamId};
use super::faults::BinanceSkip;
use super::history::Rec;
use super::market::{Demand, Generator, StreamKind};
use super::{lock, wall_ns, Shared, SimVenue};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use tungstenite::Utf8Bytes;

/// How often the pump wakes to advance the generators.
const TICK: Duration = Duration::from_millis(1);
/// The most virtual time one tick may cover, so a stalled pump does not dump a flood at once.
const MAX_STEP: Duration = Duration::from_millis(250);

/// A data frame on its way to a connection: the raw payload, wrapped by the connection if it
/// is in combined mode. Cloning only bumps a reference count.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub(crate) stream: StreamId,
    pub(crate) kind: StreamKind,
    pub(crate) payload: Utf8Bytes,
}

/// The sending side of one connection's mailbox, as the hub keeps it.
#[derive(Debug, Clone)]
pub(crate) struct Mailbox {
    pub(crate) conn: u64,
    pub(crate) tx: SyncSender<Outgoing>,
    /// Set when the mailbox overflowed; the connection then closes.
    pub(crate) kicked: Arc<AtomicBool>,
}

/// The subscriptions of one venue: for every stream id, the mailboxes that want it.
#[derive(Debug)]
pub(crate) struct Hub {
    streams: Vec<Vec<Mailbox>>,
}

impl Hub {
    pub(crate) fn new(streams: usize) -> Hub {
        Hub {
            streams: vec![Vec::new(); streams],
        }
    }

    pub(crate) fn subscribe(&mut self, stream: StreamId, mailbox: &Mailbox) {
        let subs = &mut self.streams[stream];
        if !subs.iter().any(|m| m.conn == mailbox.conn) {
            subs.push(mailbox.clone());
        }
    }

    pub(crate) fn unsubscribe(&mut self, stream: StreamId, conn: u64) {
        self.streams[stream].retain(|m| m.conn != conn);
    }

    fn has_subscribers(&self, stream: StreamId) -> bool {
        !self.streams[stream].is_empty()
    }

    /// Delivers `frame` to every subscriber of its stream. A full mailbox is flagged (its
    /// connection then closes and counts itself) and dropped from the stream.
    fn publish(&mut self, frame: &Outgoing) {
        self.streams[frame.stream].retain(|m| match m.tx.try_send(frame.clone()) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                m.kicked.store(true, Ordering::Relaxed);
                false
            }
            Err(TrySendError::Disconnected(_)) => false,
        });
    }
}

/// The pump: advances every generator by the elapsed wall time, then fans the frames out.
/// Ends when the simulator stops.
pub(crate) fn run_pump(shared: Arc<Shared>, mut generators: Vec<Generator>) {
    let mut budget = shared.cfg.max_trades.unwrap_or(u64::MAX);
    let mut demand = vec![Demand::default(); generators.len()];
    let mut out: [Vec<Outgoing>; 2] = [Vec::new(), Vec::new()];
    let mut last = Instant::now();
    let mut skips = BinanceSkip::new(generators.len());
    while !shared.stopping() {
        thread::sleep(TICK);
        let now = Instant::now();
        let dt = now.duration_since(last).min(MAX_STEP).as_secs_f64();
        last = now;

        for venue in SimVenue::BOTH {
            let hub = lock(&shared.hubs[venue as usize]);
            for (symbol, d) in demand.iter_mut().enumerate() {
                for kind in StreamKind::ALL {
                    d.wants[venue as usize][kind as usize] =
                        kind.served_on(venue) && hub.has_subscribers(Catalog::id(symbol, kind));
                }
            }
        }

        let now_ms = wall_ns() / 1_000_000;
        for (symbol, g) in generators.iter_mut().enumerate() {
            let made = g.advance(
                dt,
                &demand[symbol],
                now_ms,
                &mut budget,
                &mut |venue, kind, payload| {
                    out[venue as usize].push(Outgoing {
                        stream: Catalog::id(symbol, kind),
                        kind,
                        payload: Utf8Bytes::from(payload),
                    })
                },
            );
            let idx = shared.history_idx.get(symbol).copied().unwrap_or_default();
            shared.history.record(
                g.take_recorded()
                    .map(|(venue, t)| (idx[venue as usize], Rec::Binance(t))),
            );
            for venue in SimVenue::BOTH {
                let c = &shared.counters[venue as usize];
                c.trades_generated
                    .fetch_add(made.trades[venue as usize], Ordering::Relaxed);
            }
            let futures = &shared.counters[SimVenue::Futures as usize];
            futures
                .liquidations_generated
                .fetch_add(made.liquidations, Ordering::Relaxed);
        }

        for venue in SimVenue::BOTH {
            let frames = &mut out[venue as usize];
            if frames.is_empty() {
                continue;
            }
            let mut hub = lock(&shared.hubs[venue as usize]);
            let faults = shared.faults.get(venue as usize);
            for frame in frames.drain(..) {
                // Fault injection: a skipped trade was generated but is sent to nobody.
                let symbol = frame.stream / StreamKind::ALL.len();
                if faults.is_some_and(|f| {
                    skips.skip(f, venue as usize, symbol, frame.kind, &frame.payload)
                }) {
                    continue;
                }
                hub.publish(&frame);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::sync_channel;

    fn frame(stream: StreamId) -> Outgoing {
        Outgoing {
            stream,
            kind: StreamKind::Trade,
            payload: Utf8Bytes::from_static("{}"),
        }
    }

    #[test]
    fn full_mailbox_is_kicked_and_dropped() {
        let mut hub = Hub::new(3);
        let (tx, rx) = sync_channel(1);
        let mailbox = Mailbox {
            conn: 1,
            tx,
            kicked: Arc::default(),
        };
        hub.subscribe(0, &mailbox);
        hub.subscribe(0, &mailbox);
        hub.publish(&frame(0));
        hub.publish(&frame(1)); // nobody on stream 1
        assert!(!mailbox.kicked.load(Ordering::Relaxed));
        hub.publish(&frame(0));
        assert!(mailbox.kicked.load(Ordering::Relaxed));
        assert!(!hub.has_subscribers(0));
        assert_eq!(rx.try_iter().count(), 1);
    }

    #[test]
    fn unsubscribe_and_disconnect_remove() {
        let mut hub = Hub::new(3);
        let (tx, rx) = sync_channel(8);
        let mailbox = Mailbox {
            conn: 1,
            tx,
            kicked: Arc::default(),
        };
        hub.subscribe(1, &mailbox);
        hub.subscribe(2, &mailbox);
        hub.unsubscribe(1, 1);
        assert!(!hub.has_subscribers(1));
        drop((mailbox, rx));
        hub.publish(&frame(2));
        assert!(!hub.has_subscribers(2));
    }
}
