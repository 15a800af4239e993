//! The feed thread: owns WebSocket connections (mio + rustls), decodes every frame and pushes
//! the resulting ticks to the shard that owns each market.
//!
//! Every venue goes through the same loop: connect the plan's URL, send its subscribe requests
//! once open (paced under the venue's request limit, again after each reconnect), send the
//! client keepalive the venue wants, and answer what the decoders say must be answered (HTX
//! `ping`s, Deribit `test_request`s). Reconnection is exponential backoff with jitter; gap
//! detection and backfill are later work.

use crate::market::{MarketTable, Tick};
use crate::ring::Producer;
use crate::route::Router;
use crate::runtime::{IdlePolicy, StopFlag, Waker};
use crate::shard::{ShardCore, ShardReport};
use crate::stats::{latency_histogram, FeedStats};
use feeds::clock::{mono_ns, wall_us};
use feeds::plan::{write_pong, ConnPlan, Ping};
use feeds::ws::{ConnId, WsClient, WsConfig, WsEvent};
use feeds::{Frame, Venue};
use hdrhistogram::Histogram;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// One WebSocket connection the feed thread keeps open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub venue: Venue,
    /// Full URL (on Binance including the combined-stream query).
    pub url: String,
    /// Requests sent once the connection is open, in order.
    pub subscribe: Vec<String>,
    /// Least time between two of them.
    pub send_gap: Duration,
    /// The client's own keepalive.
    pub ping: Ping,
    /// The instruments the connection carries (for the log).
    pub symbols: Vec<String>,
}

impl Subscription {
    /// A connection whose URL subscribes by itself (Binance combined streams).
    pub fn url_only(venue: Venue, url: String) -> Subscription {
        Subscription {
            venue,
            url,
            subscribe: Vec::new(),
            send_gap: Duration::ZERO,
            ping: Ping::NONE,
            symbols: Vec::new(),
        }
    }
}

impl From<ConnPlan> for Subscription {
    fn from(p: ConnPlan) -> Subscription {
        Subscription {
            venue: p.venue,
            url: p.url,
            subscribe: p.subscribe,
            send_gap: p.send_gap,
            ping: p.ping,
            symbols: p.symbols,
        }
    }
}

/// Something a connection must be sent in answer to a frame.
#[derive(Debug, Clone, Copy)]
enum Answer {
    /// HTX `{"pong":n}`.
    Pong(u64),
    /// A fixed reply (Deribit's `public/test`).
    Text(&'static str),
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
    /// Whether the upgrade finished (requests and pings go out only then).
    open: bool,
    /// Index of the next subscribe request to send, and when it may go.
    next_request: usize,
    request_at_ns: u64,
    /// When the next client keepalive is due.
    ping_at_ns: u64,
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
    /// Raw-frame capture (`[capture] enabled`), see [`crate::capture`].
    capture: Option<crate::capture::CaptureTx>,
}

impl Feed {
    pub fn new(
        id: usize,
        subs: Vec<Subscription>,
        table: Arc<MarketTable>,
        downstream: Downstream,
        stats: Arc<FeedStats>,
        ws: WsConfig,
        instruments: &Arc<feeds::Instruments>,
    ) -> Feed {
        Feed {
            id,
            subs,
            table,
            downstream,
            router: Router::with_instruments(stats, instruments),
            ws,
            capture: None,
        }
    }

    /// Record every received frame through `capture`.
    pub fn with_capture(mut self, capture: Option<crate::capture::CaptureTx>) -> Feed {
        self.capture = capture;
        self
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
            mut capture,
        } = self;
        let stats = router.stats().clone();
        let mut client = WsClient::new(ws)?;
        let mut slots: Vec<ConnSlot> = (0..subs.len())
            .map(|sub| ConnSlot {
                sub,
                id: None,
                retry_at_ns: 0,
                failures: 0,
                open: false,
                next_request: 0,
                request_at_ns: 0,
                ping_at_ns: 0,
            })
            .collect();
        // Answers owed to connections (filled while polling, sent right after).
        let mut answers: Vec<(ConnId, Answer)> = Vec::with_capacity(64);
        let mut opened: Vec<ConnId> = Vec::with_capacity(subs.len());
        let mut pong_buf: Vec<u8> = Vec::with_capacity(64);
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
                let answers = &mut answers;
                let opened = &mut opened;
                let capture = &mut capture;
                client.poll(timeout, &mut |conn, ev| {
                    let Some(&sub) = by_conn.get(&conn) else {
                        return;
                    };
                    let venue = subs[sub].venue;
                    let binary = matches!(ev, WsEvent::Binary { .. });
                    match ev {
                        WsEvent::Text { payload, recv_ns }
                        | WsEvent::Binary { payload, recv_ns } => {
                            if let Some(cap) = capture.as_mut() {
                                let wall_ns = (wall0 * 1000) as u64 + recv_ns.saturating_sub(mono0);
                                cap.record(recv_ns, wall_ns, venue, conn.0, binary, payload);
                            }
                            frames += 1;
                            if let Some(c) = stats_ref.conns.get(sub) {
                                c.frames.inc();
                            }
                            let wall_recv_us =
                                wall0 + (recv_ns.saturating_sub(mono0) / 1000) as i64;
                            let mut last_ts = 0i64;
                            let outcome = router.route(
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
                            match outcome {
                                Ok(Frame::Ping(n)) => answers.push((conn, Answer::Pong(n))),
                                Ok(Frame::Reply(text)) => answers.push((conn, Answer::Text(text))),
                                Ok(Frame::VenueError { .. }) => {
                                    let s = &subs[sub];
                                    log::error!(
                                        "feed: {venue} connection {} refused a request; it carries {}",
                                        conn.0,
                                        s.symbols.join(", ")
                                    );
                                }
                                _ => {}
                            }
                            let _ = decode_ns.record(mono_ns().saturating_sub(recv_ns).max(1));
                            if last_ts > 0 {
                                let _ = network_us.record((wall_recv_us - last_ts).max(1) as u64);
                            }
                        }
                        WsEvent::Open => {
                            opened.push(conn);
                            if let Some(cap) = capture.as_mut() {
                                let now = mono_ns();
                                let wall_ns = (wall0 * 1000) as u64 + now.saturating_sub(mono0);
                                cap.open(now, wall_ns, venue, conn.0, &subs[sub].url);
                            }
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
            for conn in opened.drain(..) {
                if let Some(&sub) = by_conn.get(&conn) {
                    let slot = &mut slots[sub];
                    slot.open = true;
                    slot.next_request = 0;
                    slot.request_at_ns = now;
                    slot.ping_at_ns = now + subs[sub].ping.every.as_nanos() as u64;
                }
            }
            for (conn, answer) in answers.drain(..) {
                let sent = match answer {
                    Answer::Pong(n) => match by_conn.get(&conn) {
                        Some(&sub) if write_pong(subs[sub].venue, n, &mut pong_buf) => {
                            client.send_text(conn, &pong_buf)
                        }
                        _ => Ok(()),
                    },
                    Answer::Text(text) => client.send_text(conn, text.as_bytes()),
                };
                if let Err(e) = sent {
                    log::warn!("feed {id}: cannot answer on connection {}: {e}", conn.0);
                }
            }
            if closing_deadline.is_none() {
                for slot in slots.iter_mut() {
                    let (Some(conn), true) = (slot.id, slot.open) else {
                        continue;
                    };
                    let sub = &subs[slot.sub];
                    if slot.next_request < sub.subscribe.len() && now >= slot.request_at_ns {
                        let request = &sub.subscribe[slot.next_request];
                        if let Err(e) = client.send_text(conn, request.as_bytes()) {
                            log::warn!("feed {id}: {} subscribe failed: {e}", sub.venue);
                        }
                        slot.next_request += 1;
                        slot.request_at_ns = now + sub.send_gap.as_nanos() as u64;
                    }
                    if !sub.ping.every.is_zero() && now >= slot.ping_at_ns {
                        slot.ping_at_ns = now + sub.ping.every.as_nanos() as u64;
                        if let Some(text) = sub.ping.text {
                            let _ = client.send_text(conn, text.as_bytes());
                        }
                        if sub.ping.ws_ping {
                            let _ = client.send_ping(conn, b"");
                        }
                    }
                }
            }
            for (conn, clean) in lost.drain(..) {
                if let Some(sub) = by_conn.remove(&conn) {
                    let slot = &mut slots[sub];
                    slot.id = None;
                    slot.open = false;
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
