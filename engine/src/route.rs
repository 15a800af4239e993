//! Frames → ticks: decode one venue frame and address each event to its market.
//!
//! Shared by the live feed threads (markets fixed at start-up) and the single-threaded replay
//! (markets learnt from the frames); both count every frame outcome in a [`FeedStats`].

use crate::market::{MarketIdx, Tick};
use crate::stats::FeedStats;
use feeds::{Decode, DecodeError, EventKind, Frame, Symbol, Venue};
use std::sync::Arc;

/// How often a given error kind is written to the log: its 1st, 10th, 100th … occurrence.
pub(crate) fn should_sample(count: u64) -> bool {
    let mut n = count;
    while n >= 10 && n % 10 == 0 {
        n /= 10;
    }
    n == 1
}

/// One decoder per venue plus the counters of the thread that owns them.
pub struct Router {
    decoders: Vec<(Venue, Box<dyn Decode + Send>)>,
    stats: Arc<FeedStats>,
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
            stats,
        }
    }

    pub fn stats(&self) -> &Arc<FeedStats> {
        &self.stats
    }

    /// Decode `frame` (consumed: simd-json parses in place) and hand every event whose market
    /// `resolve` knows to `sink` as a [`Tick`]. Errors are counted and sampled to the log, never
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
        let Some((_, decoder)) = self.decoders.iter_mut().find(|(v, _)| *v == venue) else {
            return Err(DecodeError::Unknown);
        };
        let len = frame.len();
        let mut routed = 0u64;
        let result = decoder.decode(frame, &mut |ev| match resolve(venue, &ev.symbol) {
            // Open interest is not part of bars; counted until it has a store of its own.
            Some(_) if ev.kind == EventKind::OpenInterest => stats.open_interest.inc(),
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
    use super::should_sample;

    #[test]
    fn sampling_is_logarithmic() {
        let hits: Vec<u64> = (1..=10_000).filter(|&n| should_sample(n)).collect();
        assert_eq!(hits, vec![1, 10, 100, 1000, 10_000]);
    }
}
