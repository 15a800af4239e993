//! The feed thread: owns WebSocket connections (mio + rustls), decodes every frame and pushes
//! the resulting ticks to the shard that owns each market.
//!
//! Reconnection here is the basic policy (exponential backoff with jitter, resubscribe through
//! the combined-stream URL); gap detection and backfill are later work.

use crate::market::{MarketTable, Tick};
use crate::ring::Producer;
use crate::route::Router;
use crate::runtime::{IdlePolicy, StopFlag, Waker};
use crate::shard::{ShardCore, ShardReport};
use crate::stats::{latency_histogram, FeedStats};
use feeds::clock::{mono_ns, wall_us};
use feeds::ws::{ConnId, WsClient, WsConfig, WsEvent};
use feeds::Venue;
use hdrhistogram::Histogram;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// One WebSocket connection the feed thread keeps open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub venue: Venue,
    /// Full URL including the combined-stream query.
    pub url: String,
}

/// A shard's input ring as seen from one feed thread, with the ticks waiting to be pushed.
#[derive(Debug)]
pub struct ShardLink {
    pub ring: Producer<Tick>,
    pub waker: Waker,
    batch: Vec<Tick>,
}

impl ShardLink {
    pub fn new(ring: Producer<Tick>, waker: Waker) -> ShardLink {
        ShardLink {
            ring,
            waker,
            batch: Vec::with_capacity(BATCH),
        }
    }

    /// Push the pending batch; a full ring is never dropped: back off (spin) until the shard makes
    /// room, counting it. Returns false if the shard is gone.
    #[inline]
    fn flush(&mut self, stats: &FeedStats) -> bool {
        let mut done = 0;
        let mut counted = false;
        while done < self.batch.len() {
            done += self.ring.push_batch(&self.batch[done..]);
            if done < self.batch.len() {
                if self.ring.is_abandoned() {
                    self.batch.clear();
                    return false;
                }
                if !counted {
                    stats.ring_full.inc();
                    counted = true;
                }
                self.waker.wake();
                std::hint::spin_loop();
            }
        }
        if done > 0 {
            self.waker.wake();
        }
        self.batch.clear();
        true
    }
}

/// Where a feed thread's ticks go.
#[derive(Debug)]
pub enum Downstream {
    /// Shard threads, one ring each (indexed by shard id).
    Rings(Vec<ShardLink>),
    /// The shard's work done on the feed thread itself (small machines): no hop, no wake-up.
    Inline(Box<ShardCore>),
}

impl Downstream {
    #[inline]
    fn flush(&mut self, stats: &FeedStats, now_ns: u64) {
        match self {
            Downstream::Rings(links) => {
                for link in links.iter_mut() {
                    link.flush(stats);
                }
            }
            Downstream::Inline(core) => core.on_clock(now_ns),
        }
    }
}

/// Ticks buffered per shard before a push (one index store per batch).
const BATCH: usize = 512;
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Failure count that puts `backoff` at its cap.
const HOPELESS_FAILURES: u32 = 8;

#[derive(Debug)]
struct ConnSlot {
    sub: usize,
    id: Option<ConnId>,
    retry_at_ns: u64,
    failures: u32,
}

/// What a feed thread hands back when it stops.
#[derive(Debug)]
pub struct FeedReport {
    pub id: usize,
    /// Receive → frame decoded and routed (with an inline shard: bars updated too), ns.
    pub decode_ns: Histogram<u64>,
    /// Exchange time → receive, µs (includes clock offset to the venue).
    pub network_us: Histogram<u64>,
    /// The inline shard's report, when this feed ran one.
    pub shard: Option<ShardReport>,
}

/// Everything one feed thread owns.
#[derive(Debug)]
pub struct Feed {
    pub id: usize,
    subs: Vec<Subscription>,
    table: Arc<MarketTable>,
    downstream: Downstream,
    router: Router,
    ws: WsConfig,
}

impl Feed {
    pub fn new(
        id: usize,
        subs: Vec<Subscription>,
        table: Arc<MarketTable>,
        downstream: Downstream,
        stats: Arc<FeedStats>,
        ws: WsConfig,
    ) -> Feed {
        Feed {
            id,
            subs,
            table,
            downstream,
            router: Router::new(stats),
            ws,
        }
    }

    /// Connect every subscription and pump frames until `stop` is set.
    pub fn run(self, idle: IdlePolicy, stop: &StopFlag) -> std::io::Result<FeedReport> {
        let Feed {
            id,
            subs,
            table,
            mut downstream,
            mut router,
            ws,
        } = self;
        let stats = router.stats().clone();
        let mut client = WsClient::new(ws)?;
        let mut slots: Vec<ConnSlot> = (0..subs.len())
            .map(|sub| ConnSlot {
                sub,
                id: None,
                retry_at_ns: 0,
                failures: 0,
            })
            .collect();
        let mut by_conn: HashMap<ConnId, usize> = HashMap::with_capacity(subs.len() * 2);
        let mut decode_ns = latency_histogram();
        let mut network_us = latency_histogram();
        // Wall time is derived from the monotonic receive stamp: no extra clock read per frame.
        let (mono0, wall0) = (mono_ns(), wall_us());
        let mut lost: Vec<(ConnId, bool)> = Vec::with_capacity(subs.len());
        // Connections whose last error will not go away by retrying (rejected handshake, bad
        // URL …): retried at the slowest pace only, and said so.
        let mut hopeless: Vec<ConnId> = Vec::with_capacity(subs.len());
        let mut last_publish = mono0;
        let mut idle_since: Option<u64> = None;
        let mut jitter = 0x9E37_79B9_7F4A_7C15u64 ^ wall0 as u64 ^ id as u64;

        // Set once `stop` is seen: every connection has been sent a close frame, and frames that
        // still arrive before the peers answer are routed like any other (nothing is dropped).
        let mut closing_deadline: Option<u64> = None;
        loop {
            let now = mono_ns();
            if stop.is_set() && closing_deadline.is_none() {
                for slot in &slots {
                    if let Some(conn) = slot.id {
                        client.close(conn, 1000);
                    }
                }
                closing_deadline = Some(now + 1_000_000_000);
            }
            if let Some(deadline) = closing_deadline {
                if client.open_connections() == 0 || now >= deadline {
                    break;
                }
            }
            // (Re)connect what is down and due.
            for slot in slots.iter_mut() {
                if closing_deadline.is_none() && slot.id.is_none() && now >= slot.retry_at_ns {
                    let sub = &subs[slot.sub];
                    match client.connect(&sub.url) {
                        Ok(conn) => {
                            log::info!("feed {id}: connecting {} {}", sub.venue, sub.url);
                            slot.id = Some(conn);
                            by_conn.insert(conn, slot.sub);
                        }
                        Err(e) => {
                            slot.failures += 1;
                            let wait = backoff(slot.failures, &mut jitter);
                            slot.retry_at_ns = now + wait.as_nanos() as u64;
                            log::error!(
                                "feed {id}: cannot connect {} {}: {e}; retrying in {:.1} s",
                                sub.venue,
                                sub.url,
                                wait.as_secs_f64()
                            );
                        }
                    }
                }
            }

            let timeout = if idle.busy_poll {
                Some(Duration::ZERO)
            } else {
                match idle_since {
                    Some(since) if now - since >= idle.spin.as_nanos() as u64 => Some(idle.park),
                    _ => Some(Duration::ZERO),
                }
            };
            let mut frames = 0u64;
            let closing = closing_deadline.is_some();
            {
                let table = &*table;
                let downstream = &mut downstream;
                let stats_ref = &*stats;
                let decode_ns = &mut decode_ns;
                let network_us = &mut network_us;
                let router = &mut router;
                let lost = &mut lost;
                let hopeless = &mut hopeless;
                let subs = &subs;
                let by_conn = &by_conn;
                client.poll(timeout, &mut |conn, ev| {
                    let Some(&sub) = by_conn.get(&conn) else {
                        return;
                    };
                    let venue = subs[sub].venue;
                    match ev {
                        WsEvent::Text { payload, recv_ns } => {
                            frames += 1;
                            if let Some(c) = stats_ref.conns.get(sub) {
                                c.frames.inc();
                            }
                            let wall_recv_us =
                                wall0 + (recv_ns.saturating_sub(mono0) / 1000) as i64;
                            let mut last_ts = 0i64;
                            let _ = router.route(
                                venue,
                                conn.0 as u64,
                                payload,
                                recv_ns,
                                &mut |v, s| table.lookup(v, s),
                                &mut |tick| {
                                    last_ts = tick.ts_us;
                                    match downstream {
                                        Downstream::Rings(links) => {
                                            let link = &mut links[table.get(tick.market).shard];
                                            link.batch.push(tick);
                                            if link.batch.len() == BATCH {
                                                link.flush(stats_ref);
                                            }
                                        }
                                        Downstream::Inline(core) => core.on_tick(&tick),
                                    }
                                },
                            );
                            let _ = decode_ns.record(mono_ns().saturating_sub(recv_ns).max(1));
                            if last_ts > 0 {
                                let _ = network_us.record((wall_recv_us - last_ts).max(1) as u64);
                            }
                        }
                        WsEvent::Binary { .. } => {
                            stats_ref.unknown_messages.inc();
                        }
                        WsEvent::Open => {
                            stats_ref.connects.inc();
                            if let Some(c) = stats_ref.conns.get(sub) {
                                c.connects.inc();
                                c.open.set(1);
                            }
                            log::info!("feed: {venue} connection {} open", conn.0);
                        }
                        WsEvent::Ping { .. } => {}
                        WsEvent::Closed {
                            code,
                            reason,
                            clean,
                        } => {
                            if let Some(c) = stats_ref.conns.get(sub) {
                                c.open.set(0);
                                if !closing {
                                    c.disconnects.inc();
                                }
                            }
                            if closing {
                                log::info!("feed: {venue} connection {} closed", conn.0);
                            } else {
                                stats_ref.disconnects.inc();
                                log::warn!(
                                    "feed: {venue} connection {} closed (code {code:?}, {reason:?}, clean: {clean})",
                                    conn.0
                                );
                            }
                            lost.push((conn, clean));
                        }
                        WsEvent::Error(e) => {
                            log::error!("feed: {venue} connection {}: {e}", conn.0);
                            if !e.is_retryable() {
                                hopeless.push(conn);
                            }
                        }
                    }
                })?;
            }
            let now = mono_ns();
            downstream.flush(&stats, now);
            for (conn, clean) in lost.drain(..) {
                if let Some(sub) = by_conn.remove(&conn) {
                    let slot = &mut slots[sub];
                    slot.id = None;
                    if closing_deadline.is_some() {
                        continue; // shutting down: no reconnect
                    }
                    slot.failures = if clean { 1 } else { slot.failures + 1 };
                    if hopeless.contains(&conn) {
                        slot.failures = slot.failures.max(HOPELESS_FAILURES);
                        log::error!(
                            "feed {id}: {} {} keeps failing in a way retrying will not fix; check the configuration (retrying every ~30 s)",
                            subs[sub].venue,
                            subs[sub].url
                        );
                    }
                    let wait = backoff(slot.failures, &mut jitter);
                    slot.retry_at_ns = now + wait.as_nanos() as u64;
                    log::warn!(
                        "feed {id}: reconnecting {} in {:.2} s",
                        subs[sub].venue,
                        wait.as_secs_f64()
                    );
                }
            }
            hopeless.clear();
            stats.open_connections.set(client.open_connections() as u64);
            if frames > 0 {
                idle_since = None;
            } else if idle_since.is_none() {
                idle_since = Some(now);
            }
            if now - last_publish >= 1_000_000_000 {
                last_publish = now;
                if let Downstream::Rings(links) = &downstream {
                    let deepest = links.iter().map(|l| l.ring.len()).max().unwrap_or(0);
                    stats.shard_ring_depth.set(deepest as u64);
                    let cap = links.iter().map(|l| l.ring.capacity()).max().unwrap_or(0);
                    stats.shard_ring_capacity.set(cap as u64);
                }
                stats.decode_p50_ns.set(decode_ns.value_at_quantile(0.5));
                stats.decode_p99_ns.set(decode_ns.value_at_quantile(0.99));
                stats.network_p50_us.set(network_us.value_at_quantile(0.5));
                stats.network_p99_us.set(network_us.value_at_quantile(0.99));
                stats.decode_p999_ns.set(decode_ns.value_at_quantile(0.999));
                stats.decode_max_ns.set(decode_ns.max());
                stats
                    .network_p999_us
                    .set(network_us.value_at_quantile(0.999));
                stats.network_max_us.set(network_us.max());
            }
        }

        let shard = match downstream {
            Downstream::Rings(mut links) => {
                for link in links.iter_mut() {
                    link.flush(&stats);
                }
                None
            }
            Downstream::Inline(core) => Some(core.finish()),
        };
        Ok(FeedReport {
            id,
            decode_ns,
            network_us,
            shard,
        })
    }
}

/// Exponential backoff with ±25 % jitter: 250 ms, 500 ms, 1 s … capped at 30 s.
fn backoff(failures: u32, state: &mut u64) -> Duration {
    let base = BACKOFF_MIN
        .saturating_mul(1u32 << failures.saturating_sub(1).min(8))
        .min(BACKOFF_MAX);
    // xorshift64: cheap, good enough to spread reconnect storms.
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    let frac = (*state % 1000) as f64 / 1000.0; // 0..1
    base.mul_f64(0.75 + 0.5 * frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let mut s = 42;
        let first = backoff(1, &mut s);
        assert!(first >= Duration::from_millis(187) && first <= Duration::from_millis(313));
        let big = backoff(30, &mut s);
        assert!(big <= BACKOFF_MAX.mul_f64(1.25) && big >= BACKOFF_MAX.mul_f64(0.75));
        let hopeless = backoff(HOPELESS_FAILURES, &mut s);
        assert!(hopeless >= BACKOFF_MAX.mul_f64(0.75));
        let third = backoff(3, &mut s);
        assert!(third >= Duration::from_millis(750) && third <= Duration::from_millis(1250));
    }
}
