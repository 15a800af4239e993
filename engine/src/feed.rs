//! The feed thread: owns WebSocket connections (mio + rustls), decodes every frame and pushes
//! the resulting ticks to the shard that owns each market.
//!
//! Every venue goes through the same loop: connect the plan's URL, send its subscribe requests
//! once open (paced under the venue's request limit, again after each reconnect), send the
//! client keepalive the venue wants, and answer what the decoders say must be answered (HTX
//! `ping`s, Deribit `test_request`s).
//!
//! Nothing is lost silently (see [`crate::continuity`]):
//! - a connection that goes quiet for far longer than its usual gap between frames is dropped
//!   and reconnected (exponential backoff with jitter), and resubscribed;
//! - before a venue's connection lifetime runs out (Binance 24 h), or when it announces a
//!   shutdown, a replacement is opened and subscribed, both overlap around a boundary second,
//!   and the old one is closed;
//! - every tick passes the continuity check (duplicates dropped, gaps detected); gaps go to
//!   the backfill worker as jobs, recovered trades come back and take the normal path, and the
//!   shard flags bars of gaps that stay unrecovered;
//! - a subscribed market that gets no trade for its limit while its connection lives on (the
//!   venue re-routed, renamed or retired the stream) is reported silent until its trades return
//!   ([`crate::silence`]).

use crate::backoff::reconnect as backoff;
use crate::continuity::{
    Action, ConnPolicy, Continuity, ContinuityConfig, ContinuityCounters, Outcome, Record, Source,
};
use crate::market::{MarketTable, Tick};
use crate::recovery::{BackfillJob, BackfillOut, DoneWhy};
use crate::ring::{Consumer, Producer};
use crate::route::Router;
use crate::runtime::{IdlePolicy, StopFlag, Waker};
use crate::shard::{ShardCore, ShardReport};
use crate::silence::Silence;
use crate::stats::{latency_histogram, FeedStats};
use feeds::clock::{mono_ns, wall_us};
use feeds::plan::{write_pong, ConnPlan, Ping};
use feeds::ws::{ConnId, WsClient, WsConfig, WsError, WsEvent};
use feeds::{EventKind, Frame, Venue};
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
    /// Rotate the connection this long after it opened (a little before the venue's own
    /// limit); `None`: never.
    pub rotate_after: Option<Duration>,
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
            rotate_after: None,
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
            rotate_after: feeds::plan::max_lifetime(p.venue).map(rotate_before),
            ping: p.ping,
            symbols: p.symbols,
        }
    }
}

/// When to rotate a connection the venue keeps for `lifetime`: 10 minutes before it ends
/// (a fifth of it for lifetimes under an hour).
pub fn rotate_before(lifetime: Duration) -> Duration {
    if lifetime >= Duration::from_secs(3600) {
        lifetime - Duration::from_secs(600)
    } else {
        lifetime.mul_f64(0.8)
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
/// Failure count that puts `backoff` at its cap.
const HOPELESS_FAILURES: u32 = 8;

/// What a feed thread exchanges with the rest of the engine about continuity: its
/// [`Continuity`] state, the rings to and from the backfill worker, and the ring of gap
/// records to the IO thread.
#[derive(Debug)]
pub struct FeedContinuity {
    pub state: Continuity,
    pub policy: ConnPolicy,
    pub backfill: Option<(Producer<BackfillJob>, Consumer<BackfillOut>)>,
    pub records: Option<Producer<Record>>,
}

/// Longest a rotation may take before it is abandoned (and retried later).
const ROTATION_TIMEOUT_NS: u64 = 60_000_000_000;
/// Wait for the replacement's first trade before fixing the boundary at the wall clock.
const BOUNDARY_WAIT_NS: u64 = 10_000_000_000;
/// Timers (watchdog, continuity) run at most this often.
const TIMER_NS: u64 = 100_000_000;
/// Backfill results taken per loop.
const BACKFILL_BATCH: usize = 512;

/// One WebSocket connection of a subscription.
#[derive(Debug, Clone, Copy)]
struct Conn {
    id: ConnId,
    /// Whether the upgrade finished (requests and pings go out only then).
    open: bool,
    /// Index of the next subscribe request to send, and when it may go.
    next_request: usize,
    request_at_ns: u64,
    /// When the next client keepalive is due.
    ping_at_ns: u64,
    opened_ns: u64,
    /// Last frame of any kind (data, keepalive, control) and the smoothed gap between frames.
    last_frame_ns: u64,
    gap_ewma_ns: u64,
}

impl Conn {
    /// A new connection starts with the most patient limit (`stale_cap`); its usual gap is
    /// learnt from the frames it receives (an illiquid market is not stale after 10 s).
    fn new(id: ConnId, now: u64, p: &ConnPolicy) -> Conn {
        Conn {
            id,
            open: false,
            next_request: 0,
            request_at_ns: 0,
            ping_at_ns: 0,
            opened_ns: 0,
            last_frame_ns: now,
            gap_ewma_ns: (p.stale_cap.as_nanos() as u64 / u64::from(p.stale_factor.max(1))).max(1),
        }
    }

    #[inline]
    fn saw_frame(&mut self, now: u64) {
        let gap = now.saturating_sub(self.last_frame_ns);
        self.gap_ewma_ns = self.gap_ewma_ns - self.gap_ewma_ns / 8 + gap / 8;
        self.last_frame_ns = now;
    }

    fn stale_after(&self, p: &ConnPolicy, ping: &Ping) -> u64 {
        let mut limit = self
            .gap_ewma_ns
            .saturating_mul(u64::from(p.stale_factor))
            .clamp(
                p.stale_floor.as_nanos() as u64,
                p.stale_cap.as_nanos() as u64,
            );
        // A venue we ping answers within its own keepalive period.
        if !ping.every.is_zero() {
            let by_ping = (ping.every.as_nanos() as u64)
                .saturating_mul(2)
                .max(p.stale_floor.as_nanos() as u64);
            limit = limit.min(by_ping);
        }
        limit
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Current,
    /// The replacement opened by a rotation.
    Replacement,
    /// A connection rotated out: closing, nothing it sends is used.
    Retired,
}

#[derive(Debug)]
struct ConnSlot {
    sub: usize,
    cur: Option<Conn>,
    next: Option<Conn>,
    retry_at_ns: u64,
    failures: u32,
    /// When the current connection is to be rotated (0: never).
    rotate_at_ns: u64,
    /// The venue announced a shutdown: rotate now.
    rotate_now: bool,
    rotation_started_ns: u64,
    /// When the replacement had sent all its subscribe requests.
    replacement_ready_ns: u64,
    /// The usual gap between frames the last connection had learnt (0: none yet).
    learnt_gap_ns: u64,
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
    continuity: Option<FeedContinuity>,
    /// Raw-frame capture (`[capture] enabled`), see [`crate::capture`].
    capture: Option<crate::capture::CaptureTx>,
}

/// Push one tick towards its shard (batched) or into the inline shard.
#[inline]
fn push_tick(downstream: &mut Downstream, table: &MarketTable, stats: &FeedStats, tick: Tick) {
    match downstream {
        Downstream::Rings(links) => {
            let link = &mut links[table.get(tick.market).shard];
            link.batch.push(tick);
            if link.batch.len() == BATCH {
                link.flush(stats);
            }
        }
        Downstream::Inline(core) => core.on_tick(&tick),
    }
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
            continuity: None,
            capture: None,
        }
    }

    /// Track continuity (duplicates, gaps, rotations, backfill) with `c`; without it a feed
    /// still de-duplicates and reports gaps, but has no backfill and no gap journal.
    pub fn with_continuity(mut self, c: FeedContinuity) -> Feed {
        self.continuity = Some(c);
        self
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
            continuity,
            mut capture,
        } = self;
        let stats = router.stats().clone();
        let FeedContinuity {
            state: mut cont,
            policy,
            mut backfill,
            mut records,
        } = continuity.unwrap_or_else(|| FeedContinuity {
            state: Continuity::new(
                ContinuityConfig {
                    backfill: false,
                    ..ContinuityConfig::default()
                },
                &table,
                &[],
                subs.len(),
                id,
            ),
            policy: ConnPolicy::default(),
            backfill: None,
            records: None,
        });
        let mut client = WsClient::new(ws)?;
        // Which of this thread's subscriptions carry each market (a subscription without a
        // symbol list carries every market of its venue), for the silent-market detector.
        let carriers: Vec<Vec<usize>> = table
            .iter()
            .map(|(_, m)| {
                subs.iter()
                    .enumerate()
                    .filter(|(_, s)| {
                        s.venue == m.venue
                            && (s.symbols.is_empty()
                                || s.symbols.iter().any(|p| {
                                    crate::market::frame_symbol(m.venue, p) == Some(m.symbol)
                                }))
                    })
                    .map(|(i, _)| i)
                    .collect()
            })
            .collect();
        let mut silence = Silence::new(cont.silent_after_ns(), &carriers, subs.len());
        drop(carriers);
        let mut slots: Vec<ConnSlot> = (0..subs.len())
            .map(|sub| ConnSlot {
                sub,
                cur: None,
                next: None,
                retry_at_ns: 0,
                failures: 0,
                rotate_at_ns: 0,
                rotate_now: false,
                rotation_started_ns: 0,
                replacement_ready_ns: 0,
                learnt_gap_ns: 0,
            })
            .collect();
        // Answers owed to connections (filled while polling, sent right after).
        let mut answers: Vec<(ConnId, Answer)> = Vec::with_capacity(64);
        let mut opened: Vec<ConnId> = Vec::with_capacity(subs.len() * 2);
        let mut pong_buf: Vec<u8> = Vec::with_capacity(64);
        let mut by_conn: HashMap<ConnId, (usize, Role)> = HashMap::with_capacity(subs.len() * 4);
        let mut decode_ns = latency_histogram();
        let mut network_us = latency_histogram();
        // Wall time is derived from the monotonic receive stamp: no extra clock read per frame.
        let (mono0, wall0) = (mono_ns(), wall_us());
        let wall_at = |mono: u64| wall0 + (mono.saturating_sub(mono0) / 1000) as i64;
        let mut lost: Vec<(ConnId, bool)> = Vec::with_capacity(subs.len() * 2);
        // Connections whose last error will not go away by retrying (rejected handshake, bad
        // URL …): retried at the slowest pace only, and said so.
        let mut hopeless: Vec<ConnId> = Vec::with_capacity(subs.len());
        let mut last_publish = mono0;
        let mut last_timer = mono0;
        let mut idle_since: Option<u64> = None;
        let mut jitter = 0x9E37_79B9_7F4A_7C15u64 ^ wall0 as u64 ^ id as u64;
        // Jobs the backfill ring had no room for (sent on a later loop, never dropped).
        let mut pending_jobs: Vec<BackfillJob> = Vec::with_capacity(4096);
        let mut recovered: Vec<BackfillOut> = Vec::with_capacity(BACKFILL_BATCH);
        recovered.resize(
            BACKFILL_BATCH,
            BackfillOut::Done {
                gap: 0,
                market: 0,
                trades: 0,
                complete: false,
                why: DoneWhy::Stopped,
            },
        );
        let mut counters_seen = cont.counters();

        // Set once `stop` is seen: every connection has been sent a close frame, and frames that
        // still arrive before the peers answer are routed like any other (nothing is dropped).
        let mut closing_deadline: Option<u64> = None;
        loop {
            let now = mono_ns();
            if stop.is_set() && closing_deadline.is_none() {
                for slot in &slots {
                    for conn in [slot.cur, slot.next].into_iter().flatten() {
                        client.close(conn.id, 1000);
                    }
                }
                closing_deadline = Some(now + 1_000_000_000);
            }
            if let Some(deadline) = closing_deadline {
                if client.open_connections() == 0 || now >= deadline {
                    break;
                }
            }
            if closing_deadline.is_none() {
                for slot in slots.iter_mut() {
                    let sub = &subs[slot.sub];
                    // (Re)connect what is down and due.
                    if slot.cur.is_none() && now >= slot.retry_at_ns {
                        match client.connect(&sub.url) {
                            Ok(conn) => {
                                log::info!("feed {id}: connecting {} {}", sub.venue, sub.url);
                                let mut c = Conn::new(conn, now, &policy);
                                if slot.learnt_gap_ns != 0 {
                                    // What the last connection learnt about this stream.
                                    c.gap_ewma_ns = slot.learnt_gap_ns;
                                }
                                slot.cur = Some(c);
                                by_conn.insert(conn, (slot.sub, Role::Current));
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
                    // Planned rotation: open the replacement before the venue's limit.
                    let due =
                        slot.rotate_now || (slot.rotate_at_ns != 0 && now >= slot.rotate_at_ns);
                    if due && slot.next.is_none() && slot.cur.is_some_and(|c| c.open) {
                        match client.connect(&sub.url) {
                            Ok(conn) => {
                                log::info!(
                                    "feed {id}: rotating {} connection {} ({}): opening its replacement {}",
                                    sub.venue,
                                    slot.cur.map_or(0, |c| c.id.0),
                                    if slot.rotate_now {
                                        "the venue announced a shutdown"
                                    } else {
                                        "connection lifetime"
                                    },
                                    conn.0
                                );
                                let mut c = Conn::new(conn, now, &policy);
                                if let Some(cur) = slot.cur {
                                    c.gap_ewma_ns = cur.gap_ewma_ns;
                                }
                                slot.next = Some(c);
                                slot.rotation_started_ns = now;
                                slot.replacement_ready_ns = 0;
                                by_conn.insert(conn, (slot.sub, Role::Replacement));
                                cont.handover_begin(slot.sub);
                            }
                            Err(e) => {
                                log::warn!(
                                    "feed {id}: cannot open a replacement for {}: {e}",
                                    sub.venue
                                );
                                slot.rotate_now = false;
                                slot.rotate_at_ns = now + 5_000_000_000;
                            }
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
                let slots = &mut slots;
                let cont = &mut cont;
                let silence = &mut silence;
                let capture = &mut capture;
                client.poll(timeout, &mut |conn, ev| {
                    let Some(&(sub, role)) = by_conn.get(&conn) else {
                        return;
                    };
                    let venue = subs[sub].venue;
                    if let Some(slot) = slots.get_mut(sub) {
                        let c = match role {
                            Role::Current => slot.cur.as_mut(),
                            Role::Replacement => slot.next.as_mut(),
                            Role::Retired => None,
                        };
                        if let Some(c) = c.filter(|c| c.id == conn) {
                            let t = mono_ns();
                            c.saw_frame(t);
                            silence.frame(sub, t);
                        }
                    }
                    let binary = matches!(ev, WsEvent::Binary { .. });
                    match ev {
                        WsEvent::Text { payload, recv_ns }
                        | WsEvent::Binary { payload, recv_ns } => {
                            if role == Role::Retired {
                                return; // rotated out: its replacement carries the markets
                            }
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
                            let src = Source {
                                sub,
                                replacement: role == Role::Replacement,
                            };
                            let mut last_ts = 0i64;
                            let outcome = router.route(
                                venue,
                                conn.0 as u64,
                                payload,
                                recv_ns,
                                &mut |v, s| table.lookup(v, s),
                                &mut |tick| {
                                    if matches!(tick.kind, EventKind::Trade | EventKind::NonMarket)
                                    {
                                        silence.trade(tick.market, recv_ns);
                                    }
                                    if !cont.admit(&tick, src, recv_ns) {
                                        return;
                                    }
                                    last_ts = tick.ts_us;
                                    push_tick(downstream, table, stats_ref, tick);
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
                                Ok(Frame::ServerShutdown) if role == Role::Current => {
                                    if let Some(slot) = slots.get_mut(sub) {
                                        slot.rotate_now = true;
                                    }
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
                            let planned = closing || role != Role::Current;
                            if let Some(c) = stats_ref.conns.get(sub) {
                                if role == Role::Current {
                                    c.open.set(0);
                                }
                                if !planned {
                                    c.disconnects.inc();
                                }
                            }
                            if planned {
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
                            // An oversized message is one bad message, not a bad
                            // configuration: counted, and the connection (closed with 1009)
                            // is reopened with the usual backoff.
                            let oversized = matches!(e, WsError::MessageTooBig { .. });
                            if oversized {
                                stats_ref.oversized.inc();
                            }
                            log::error!("feed: {venue} connection {}: {e}", conn.0);
                            if !e.is_retryable() && !oversized {
                                hopeless.push(conn);
                            }
                        }
                    }
                })?;
            }
            let now = mono_ns();
            // Recovered trades go the way of live ones (they amend closed bars).
            if let Some((_, results)) = backfill.as_mut() {
                let n = results.pop_batch(&mut recovered[..]);
                for out in &recovered[..n] {
                    match *out {
                        BackfillOut::Tick(mut tick) => {
                            if cont.admit_backfill(&tick) {
                                tick.recv_ns = now;
                                push_tick(&mut downstream, &table, &stats, tick);
                            }
                        }
                        BackfillOut::Done {
                            gap,
                            market,
                            complete,
                            why,
                            ..
                        } => cont.backfill_done(gap, market, complete, why),
                    }
                }
            }
            if now.saturating_sub(last_timer) >= TIMER_NS {
                last_timer = now;
                cont.poll(now);
                if closing_deadline.is_none() {
                    // Markets silent while their connection lives on, and those flowing again.
                    silence.poll(now, &mut |r| send_record(&table, &mut records, &stats, r));
                }
                // Watchdog: a connection silent for far longer than usual is dead.
                if closing_deadline.is_none() {
                    for slot in slots.iter() {
                        let sub = &subs[slot.sub];
                        for c in [slot.cur, slot.next].into_iter().flatten() {
                            let quiet = now.saturating_sub(c.last_frame_ns);
                            let limit = c.stale_after(&policy, &sub.ping);
                            if quiet > limit {
                                stats.stale.inc();
                                log::warn!(
                                    "feed {id}: {} connection {} sent nothing for {:.1} s (usual gap {:.0} ms, limit {:.1} s): dropping it",
                                    sub.venue,
                                    c.id.0,
                                    quiet as f64 / 1e9,
                                    c.gap_ewma_ns as f64 / 1e6,
                                    limit as f64 / 1e9
                                );
                                client.abort(c.id);
                            }
                        }
                    }
                }
            }
            let wall_now = wall_at(now);
            for action in cont.actions().drain(..) {
                match action {
                    Action::Job(job) => pending_jobs.push(job),
                    Action::Mark {
                        market,
                        from_sec,
                        to_sec,
                        set,
                    } => push_tick(
                        &mut downstream,
                        &table,
                        &stats,
                        Tick::gap_mark(market, from_sec, to_sec, set),
                    ),
                    Action::Record(r) => send_record(&table, &mut records, &stats, r),
                }
            }
            if let Some((jobs, _)) = backfill.as_mut() {
                let mut sent = 0;
                while sent < pending_jobs.len() {
                    if jobs.try_push(pending_jobs[sent]).is_err() {
                        break;
                    }
                    sent += 1;
                }
                pending_jobs.drain(..sent);
            } else {
                pending_jobs.clear();
            }
            downstream.flush(&stats, now);
            for conn in opened.drain(..) {
                let Some(&(sub, role)) = by_conn.get(&conn) else {
                    continue;
                };
                let slot = &mut slots[sub];
                let c = match role {
                    Role::Current => slot.cur.as_mut(),
                    Role::Replacement => slot.next.as_mut(),
                    Role::Retired => None,
                };
                if let Some(c) = c.filter(|c| c.id == conn) {
                    c.open = true;
                    c.next_request = 0;
                    c.request_at_ns = now;
                    c.opened_ns = now;
                    c.last_frame_ns = now;
                    c.ping_at_ns = now + subs[sub].ping.every.as_nanos() as u64;
                }
                if role == Role::Current {
                    cont.connection_open(sub, now, wall_now);
                    silence.connection_open(sub, now);
                    slot.rotate_at_ns = rotate_at(now, subs[sub].rotate_after, &mut jitter);
                }
            }
            for (conn, answer) in answers.drain(..) {
                let sent = match answer {
                    Answer::Pong(n) => match by_conn.get(&conn) {
                        Some(&(sub, _)) if write_pong(subs[sub].venue, n, &mut pong_buf) => {
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
                    let sub = &subs[slot.sub];
                    for c in [slot.cur.as_mut(), slot.next.as_mut()]
                        .into_iter()
                        .flatten()
                    {
                        if !c.open {
                            continue;
                        }
                        if c.next_request < sub.subscribe.len() && now >= c.request_at_ns {
                            let request = &sub.subscribe[c.next_request];
                            if let Err(e) = client.send_text(c.id, request.as_bytes()) {
                                log::warn!("feed {id}: {} subscribe failed: {e}", sub.venue);
                            }
                            c.next_request += 1;
                            c.request_at_ns = now + sub.send_gap.as_nanos() as u64;
                        }
                        if !sub.ping.every.is_zero() && now >= c.ping_at_ns {
                            c.ping_at_ns = now + sub.ping.every.as_nanos() as u64;
                            if let Some(text) = sub.ping.text {
                                let _ = client.send_text(c.id, text.as_bytes());
                            }
                            if sub.ping.ws_ping {
                                let _ = client.send_ping(c.id, b"");
                            }
                        }
                    }
                    // Rotation progress: once the replacement is subscribed and the boundary
                    // second (plus the overlap) has passed, retire the old connection.
                    let Some(next) = slot.next else { continue };
                    if now.saturating_sub(slot.rotation_started_ns) > ROTATION_TIMEOUT_NS {
                        log::warn!(
                            "feed {id}: {} rotation did not complete in {} s; keeping connection {} and retrying later",
                            sub.venue,
                            ROTATION_TIMEOUT_NS / 1_000_000_000,
                            slot.cur.map_or(0, |c| c.id.0)
                        );
                        client.close(next.id, 1000);
                        by_conn.insert(next.id, (slot.sub, Role::Retired));
                        slot.next = None;
                        cont.handover_end(slot.sub);
                        slot.rotate_now = false;
                        slot.rotate_at_ns = now + 30_000_000_000;
                        continue;
                    }
                    if !next.open || next.next_request < sub.subscribe.len() {
                        continue;
                    }
                    if slot.replacement_ready_ns == 0 {
                        slot.replacement_ready_ns = now;
                    }
                    if now.saturating_sub(slot.replacement_ready_ns) > BOUNDARY_WAIT_NS {
                        cont.handover_force_boundary(slot.sub, wall_now);
                    }
                    let Some(boundary) = cont.handover_boundary(slot.sub) else {
                        continue;
                    };
                    if wall_now < boundary + policy.overlap.as_micros() as i64 {
                        continue;
                    }
                    if let Some(old) = slot.cur {
                        client.close(old.id, 1000);
                        by_conn.insert(old.id, (slot.sub, Role::Retired));
                        log::info!(
                            "feed {id}: {} rotated: connection {} replaces {} from {} (overlap {:.1} s)",
                            sub.venue,
                            next.id.0,
                            old.id.0,
                            crate::continuity::iso_time_us(boundary),
                            now.saturating_sub(slot.rotation_started_ns) as f64 / 1e9
                        );
                    }
                    by_conn.insert(next.id, (slot.sub, Role::Current));
                    slot.cur = Some(next);
                    slot.next = None;
                    slot.rotate_now = false;
                    slot.rotate_at_ns = rotate_at(now, sub.rotate_after, &mut jitter);
                    cont.handover_end(slot.sub);
                    stats.rotations.inc();
                }
            }
            for (conn, clean) in lost.drain(..) {
                let Some((sub, role)) = by_conn.remove(&conn) else {
                    continue;
                };
                let slot = &mut slots[sub];
                match role {
                    Role::Retired => continue,
                    Role::Replacement => {
                        if slot.next.is_some_and(|c| c.id == conn) {
                            slot.next = None;
                            cont.handover_end(sub);
                            if closing_deadline.is_none() {
                                slot.rotate_at_ns = now + 5_000_000_000;
                                log::warn!(
                                    "feed {id}: {} replacement connection {} lost; retrying the rotation in 5 s",
                                    subs[sub].venue,
                                    conn.0
                                );
                            }
                        }
                        continue;
                    }
                    Role::Current => {}
                }
                if !slot.cur.is_some_and(|c| c.id == conn) {
                    continue;
                }
                if let Some(c) = slot.cur.take() {
                    slot.learnt_gap_ns = c.gap_ewma_ns;
                }
                if closing_deadline.is_some() {
                    continue; // shutting down: no reconnect
                }
                if let Some(next) = slot.next.take() {
                    // Lost during a rotation: the replacement takes over at once.
                    by_conn.insert(next.id, (sub, Role::Current));
                    slot.cur = Some(next);
                    cont.handover_abort_old(sub, wall_now);
                    cont.connection_open(sub, now, wall_now);
                    silence.connection_open(sub, now);
                    slot.rotate_now = false;
                    slot.rotate_at_ns = rotate_at(now, subs[sub].rotate_after, &mut jitter);
                    log::warn!(
                        "feed {id}: {} connection {} lost during its rotation; {} takes over",
                        subs[sub].venue,
                        conn.0,
                        next.id.0
                    );
                    continue;
                }
                cont.connection_lost(sub);
                silence.connection_lost(sub);
                slot.rotate_now = false;
                slot.rotate_at_ns = 0;
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
                stats.last_reconnect_wait_ms.set(wait.as_millis() as u64);
                log::warn!(
                    "feed {id}: reconnecting {} in {:.2} s",
                    subs[sub].venue,
                    wait.as_secs_f64()
                );
            }
            // A connection that stays open resets its failure count.
            for slot in slots.iter_mut() {
                if slot
                    .cur
                    .is_some_and(|c| c.open && now.saturating_sub(c.opened_ns) > 60_000_000_000)
                {
                    slot.failures = 0;
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
                publish_continuity(&stats, cont.counters(), &mut counters_seen);
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

        publish_continuity(&stats, cont.counters(), &mut counters_seen);
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

/// Adds what the continuity counters gained since `seen` to the feed's stats.
fn publish_continuity(stats: &FeedStats, k: ContinuityCounters, seen: &mut ContinuityCounters) {
    stats.duplicates.add(k.duplicates - seen.duplicates);
    stats.gaps_opened.add(k.gaps_opened - seen.gaps_opened);
    stats
        .gaps_recovered
        .add(k.gaps_recovered - seen.gaps_recovered);
    stats
        .gaps_unrecovered
        .add(k.gaps_unrecovered - seen.gaps_unrecovered);
    stats
        .trades_missing
        .add(k.trades_missing - seen.trades_missing);
    stats
        .trades_recovered
        .add(k.trades_recovered - seen.trades_recovered);
    stats
        .backfill_dropped
        .add(k.backfill_dropped - seen.backfill_dropped);
    stats.reordered.add(k.reordered - seen.reordered);
    *seen = k;
}

/// When a connection opened at `now` is to be rotated: its lifetime minus a random 0–60 s,
/// so connections opened together do not all rotate together.
fn rotate_at(now: u64, after: Option<Duration>, state: &mut u64) -> u64 {
    let Some(after) = after else { return 0 };
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    let spread = (after.as_nanos() as u64 / 20).min(60_000_000_000);
    let early = if spread == 0 { 0 } else { *state % spread };
    now + (after.as_nanos() as u64).saturating_sub(early).max(1)
}

/// Logs `r` and sends it to the IO thread (gap journal, monitor); a full ring is counted.
fn send_record(
    table: &MarketTable,
    records: &mut Option<Producer<Record>>,
    stats: &FeedStats,
    r: Record,
) {
    log_record(table, &r);
    if let Some(p) = records.as_mut() {
        if p.try_push(r).is_err() {
            stats.records_dropped.inc();
        }
    }
}

/// One gap or silence event in the log (the IO thread also writes it to the gap journal).
fn log_record(table: &MarketTable, r: &Record) {
    match *r {
        Record::Silent {
            market,
            quiet_ms,
            limit_ms,
            traded,
            episode,
        } => log::warn!(
            "{} is silent: no trade for {:.1} s {} while its connection is alive (limit {:.1} s; silent episode {episode}); the venue may have re-routed, renamed or retired the stream",
            table.get(market).id,
            quiet_ms as f64 / 1e3,
            if traded {
                "since its last one"
            } else {
                "since it was subscribed"
            },
            limit_ms as f64 / 1e3
        ),
        Record::Flowing {
            market,
            silent_ms,
            episode,
        } => log::info!(
            "{} flows again: trades arrive after {:.1} s silent (episode {episode})",
            table.get(market).id,
            silent_ms as f64 / 1e3
        ),
        Record::Opened {
            gap,
            market,
            kind,
            from_ts_us,
            to_ts_us,
            missing,
            ..
        } => {
            let m = &table.get(market).id;
            let what = if missing > 0 {
                format!("{missing} trades missing")
            } else {
                "trades unknown".to_string()
            };
            log::warn!(
                "gap {gap:#x} {m}: {} gap {} → {} ({what}){}",
                kind.as_str(),
                crate::continuity::iso_time_us(from_ts_us),
                crate::continuity::iso_time_us(to_ts_us),
                ""
            );
        }
        Record::Closed {
            gap,
            market,
            recovered,
            remaining,
            outcome,
            ..
        } => {
            let m = &table.get(market).id;
            match outcome {
                Outcome::Recovered if remaining == 0 => {
                    log::info!("gap {gap:#x} {m}: recovered ({recovered} trades backfilled)")
                }
                Outcome::Recovered => log::info!(
                    "gap {gap:#x} {m}: recovered ({recovered} trades backfilled; {remaining} ids were not market trades)"
                ),
                Outcome::Unrecovered(why) => log::warn!(
                    "gap {gap:#x} {m}: NOT recovered ({why:?}): {recovered} trades backfilled, {} still missing; its bars are flagged GAP",
                    if remaining > 0 { remaining.to_string() } else { "an unknown number".to_string() }
                ),
                Outcome::Abandoned => log::warn!(
                    "gap {gap:#x} {m}: abandoned (too many open gaps on the market); its bars stay flagged GAP"
                ),
            }
        }
    }
}
