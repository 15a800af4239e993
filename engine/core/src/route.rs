//! Frames → ticks: decode one venue frame and address each event to its market.
//!
//! Shared by the live feed threads (markets fixed at start-up) and the single-threaded replay
//! (markets learnt from the frames); both count every frame outcome in a [`FeedStats`].

use crate::market::{MarketIdx, Tick};
use crate::stats::FeedStats;
use feeds::{Decode, DecodeError, EventKind, Frame, Instruments, Symbol, Venue};
use std::sync::Arc;

/// How often a given error kind is written to the log: its 1st, 10th, 100th … occurrence.
pub fn should_sample(count: u64) -> bool {
    let mut n = count;
    while n >= 10 && n % 10 == 0 {
        n /= 10;
    }
    n == 1
}

/// One decoder per venue plus the counters of the thread that owns them.
pub struct Router {
    decoders: Vec<(Venue, Box<dyn Decode + Send>)>,
    /// Decoders of venues whose frames depend on per-connection state (channel ids, the last
    /// timestamp seen): one per (venue, connection), made at a connection's first frame.
    per_connection: Vec<((Venue, u64), Box<dyn Decode + Send>)>,
    stats: Arc<FeedStats>,
    /// Contract sizes for new decoders; `None`: the bundled snapshot.
    instruments: Option<Arc<Instruments>>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field(
                "venues",
                &self.decoders.iter().map(|d| d.0).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Router {
    pub fn new(stats: Arc<FeedStats>) -> Router {
        Router {
            decoders: Venue::ALL.iter().map(|&v| (v, v.decoder())).collect(),
            per_connection: Vec::new(),
            stats,
            instruments: None,
        }
    }

    /// A router whose decoders take contract sizes from `instruments` (the start-up result of
    /// `engine::instruments::load`) instead of the bundled snapshot.
    pub fn with_instruments(stats: Arc<FeedStats>, instruments: &Arc<Instruments>) -> Router {
        Router {
            decoders: Venue::ALL
                .iter()
                .map(|&v| (v, v.decoder_with(instruments)))
                .collect(),
            per_connection: Vec::new(),
            stats,
            instruments: Some(instruments.clone()),
        }
    }

    pub fn stats(&self) -> &Arc<FeedStats> {
        &self.stats
    }

    /// Decode `frame` (consumed: simd-json parses in place) and hand every event whose market
    /// `resolve` knows to `sink` as a [`Tick`] (trades, liquidations and open-interest
    /// readings; `events` counts the first two, `open_interest` the last). Errors are counted and sampled to the log, never
    /// returned: a bad frame must not stop a feed.
    #[inline]
    pub fn route(
        &mut self,
        venue: Venue,
        conn: u64,
        frame: &mut [u8],
        recv_ns: u64,
        resolve: &mut dyn FnMut(Venue, &Symbol) -> Option<MarketIdx>,
        sink: &mut dyn FnMut(Tick),
    ) -> Result<Frame, DecodeError> {
        let stats = &*self.stats;
        stats.frames.inc();
        let decoder = if venue.decoder_per_connection() {
            let key = (venue, conn);
            match self.per_connection.iter().position(|(k, _)| *k == key) {
                Some(i) => &mut self.per_connection[i].1,
                None => {
                    // A new connection (start-up or reconnect): not the steady state.
                    let decoder = match &self.instruments {
                        Some(i) => venue.decoder_with(i),
                        None => venue.decoder(),
                    };
                    self.per_connection.push((key, decoder));
                    &mut self.per_connection.last_mut().expect("just pushed").1
                }
            }
        } else {
            match self.decoders.iter_mut().find(|(v, _)| *v == venue) {
                Some((_, d)) => d,
                None => return Err(DecodeError::Unknown),
            }
        };
        let len = frame.len();
        let mut routed = 0u64;
        let result = decoder.decode(frame, &mut |ev| match resolve(venue, &ev.symbol) {
            // Open interest goes to the shard too (its own per-second series, not bars);
            // counted apart from the bar events.
            Some(idx) if ev.kind == EventKind::OpenInterest => {
                stats.open_interest.inc();
                sink(Tick::from_event(idx, &ev, recv_ns));
            }
            // Id-only prints: for the feed's gap detection, not counted as events.
            Some(idx) if ev.kind == EventKind::NonMarket => {
                sink(Tick::from_event(idx, &ev, recv_ns));
            }
            Some(idx) => {
                routed += 1;
                sink(Tick::from_event(idx, &ev, recv_ns));
            }
            None => {
                stats.unknown_symbols.inc();
                if should_sample(stats.unknown_symbols.get()) {
                    log::warn!(
                        "{venue} conn {conn}: event for unfollowed symbol {} ({} so far)",
                        ev.symbol,
                        stats.unknown_symbols.get()
                    );
                }
            }
        });
        stats.events.add(routed);
        match result {
            Ok(Frame::SubscribeAck) => stats.acks.inc(),
            Ok(Frame::VenueError { code }) => {
                stats.venue_errors.inc();
                log::error!("{venue} conn {conn}: venue error reply, code {code}");
            }
            Ok(Frame::ServerShutdown) => {
                stats.shutdown_notices.inc();
                log::warn!("{venue} conn {conn}: server announced shutdown");
            }
            Ok(Frame::Other) => stats.other_frames.inc(),
            Ok(_) => {}
            Err(e) => {
                let counter = match e {
                    DecodeError::Malformed => &stats.malformed,
                    DecodeError::Unknown => &stats.unknown_messages,
                    _ => &stats.bad_fields,
                };
                counter.inc();
                if should_sample(counter.get()) {
                    log::warn!(
                        "{venue} conn {conn}: undecodable frame ({e}, {len} bytes; {} such so far)",
                        counter.get()
                    );
                }
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bitfinex numbers its channels per connection: the same id means different symbols on two
    /// connections, so each connection needs its own decoder.
    #[test]
    fn per_connection_decoders_keep_channel_ids_apart() {
        let mut r = Router::new(Arc::new(FeedStats::default()));
        let mut got: Vec<(u64, String)> = Vec::new();
        let feed = |r: &mut Router, conn: u64, text: &str, got: &mut Vec<(u64, String)>| {
            let mut buf = text.as_bytes().to_vec();
            r.route(
                Venue::Bitfinex,
                conn,
                &mut buf,
                1,
                &mut |_, s| {
                    got.push((conn, s.as_str().to_string()));
                    Some(0)
                },
                &mut |_| {},
            )
        };
        for (conn, sym) in [(1, "tBTCUSD"), (2, "tETHUSD")] {
            let sub = format!(
                r#"{{"event":"subscribed","channel":"trades","chanId":17,"symbol":"{sym}","pair":"{}"}}"#,
                &sym[1..]
            );
            feed(&mut r, conn, &sub, &mut got).unwrap();
        }
        for conn in [1, 2] {
            feed(
                &mut r,
                conn,
                r#"[17,"te",[401597393,1574694478808,0.005,7245.3]]"#,
                &mut got,
            )
            .unwrap();
        }
        assert_eq!(
            got,
            vec![(1, "tBTCUSD".to_string()), (2, "tETHUSD".to_string())]
        );
    }

    #[test]
    fn sampling_is_logarithmic() {
        let hits: Vec<u64> = (1..=10_000).filter(|&n| should_sample(n)).collect();
        assert_eq!(hits, vec![1, 10, 100, 1000, 10_000]);
    }
}
