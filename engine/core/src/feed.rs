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
        let (mut client, mut feed) = FeedLoop::start(self)?;
        while feed.turn(&mut client, &idle, stop)? {}
        Ok(feed.finish(client))
    }
}

/// Wall time derived from the monotonic receive stamp: no extra clock read per frame.
#[derive(Debug, Clone, Copy)]
struct Clock {
    mono0: u64,
    wall0: i64,
}

impl Clock {
    fn start() -> Clock {
        let (mono0, wall0) = (mono_ns(), wall_us());
        Clock { mono0, wall0 }
    }

    /// Unix µs of monotonic stamp `mono`.
    #[inline]
    fn wall_us(&self, mono: u64) -> i64 {
        self.wall0 + (mono.saturating_sub(self.mono0) / 1000) as i64
    }

    /// Unix ns of monotonic stamp `mono` (the capture's receive time).
    #[inline]
    fn wall_ns(&self, mono: u64) -> u64 {
        (self.wall0 * 1000) as u64 + mono.saturating_sub(self.mono0)
    }
}

/// Where a WebSocket event came from: the connection, its subscription, its role there.
#[derive(Debug, Clone, Copy)]
struct Origin {
    conn: ConnId,
    sub: usize,
    role: Role,
}

/// A running feed thread: what [`Feed::run`] keeps between turns of its loop, with one handler
/// per thing that happens — a connection is dialled, opens, sends a frame, errs, closes or is
/// lost; a timer fires; a rotation moves on; backfill results come back.
///
/// The WebSocket client is not a field: `poll` borrows it while it hands each event to
/// [`FeedLoop::on_event`], and the handlers that send or close take it as an argument.
#[derive(Debug)]
struct FeedLoop {
    id: usize,
    subs: Vec<Subscription>,
    table: Arc<MarketTable>,
    stats: Arc<FeedStats>,
    router: Router,
    downstream: Downstream,
    cont: Continuity,
    policy: ConnPolicy,
    silence: Silence,
    backfill: Option<(Producer<BackfillJob>, Consumer<BackfillOut>)>,
    records: Option<Producer<Record>>,
    capture: Option<crate::capture::CaptureTx>,
    /// One per subscription (index = subscription).
    slots: Vec<ConnSlot>,
    /// Each connection's subscription and role.
    by_conn: HashMap<ConnId, (usize, Role)>,
    /// Connections that opened while polling (handled right after).
    opened: Vec<ConnId>,
    /// Answers owed to connections (filled while polling, sent right after).
    answers: Vec<(ConnId, Answer)>,
    pong_buf: Vec<u8>,
    /// Connections that closed while polling, and whether cleanly.
    lost: Vec<(ConnId, bool)>,
    /// Connections whose last error will not go away by retrying (rejected handshake, bad
    /// URL …): retried at the slowest pace only, and said so.
    hopeless: Vec<ConnId>,
    /// Jobs the backfill ring had no room for (sent on a later turn, never dropped).
    pending_jobs: Vec<BackfillJob>,
    /// Backfill results are popped into this.
    recovered: Vec<BackfillOut>,
    counters_seen: ContinuityCounters,
    decode_ns: Histogram<u64>,
    network_us: Histogram<u64>,
    clock: Clock,
    jitter: u64,
    last_publish: u64,
    last_timer: u64,
    idle_since: Option<u64>,
    /// Frames routed in the current turn.
    frames: u64,
    /// Set once `stop` is seen: every connection has been sent a close frame, and frames that
    /// still arrive before the peers answer are routed like any other (nothing is dropped).
    closing_deadline: Option<u64>,
}

/// What fills the backfill result buffer before anything is popped into it.
const NO_RESULT: BackfillOut = BackfillOut::Done {
    gap: 0,
    market: 0,
    trades: 0,
    complete: false,
    why: DoneWhy::Stopped,
};

impl FeedLoop {
    /// Takes `feed` apart for running; every buffer the loop uses is allocated here.
    fn start(feed: Feed) -> std::io::Result<(WsClient, FeedLoop)> {
        let Feed {
            id,
            subs,
            table,
            downstream,
            router,
            ws,
            continuity,
            capture,
        } = feed;
        let stats = router.stats().clone();
        let FeedContinuity {
            state: cont,
            policy,
            backfill,
            records,
        } = continuity.unwrap_or_else(|| without_continuity(&table, subs.len(), id));
        let client = WsClient::new(ws)?;
        let silence = Silence::new(cont.silent_after_ns(), &carriers(&table, &subs), subs.len());
        let n = subs.len();
        let clock = Clock::start();
        let feed = FeedLoop {
            slots: (0..n).map(ConnSlot::new).collect(),
            by_conn: HashMap::with_capacity(n * 4),
            opened: Vec::with_capacity(n * 2),
            answers: Vec::with_capacity(64),
            pong_buf: Vec::with_capacity(64),
            lost: Vec::with_capacity(n * 2),
            hopeless: Vec::with_capacity(n),
            pending_jobs: Vec::with_capacity(4096),
            recovered: vec![NO_RESULT; BACKFILL_BATCH],
            counters_seen: cont.counters(),
            decode_ns: latency_histogram(),
            network_us: latency_histogram(),
            jitter: 0x9E37_79B9_7F4A_7C15u64 ^ clock.wall0 as u64 ^ id as u64,
            last_publish: clock.mono0,
            last_timer: clock.mono0,
            clock,
            idle_since: None,
            frames: 0,
            closing_deadline: None,
            id,
            subs,
            table,
            stats,
            router,
            downstream,
            cont,
            policy,
            silence,
            backfill,
            records,
            capture,
        };
        Ok((client, feed))
    }

    /// One turn of the loop: dial, poll (events go to [`FeedLoop::on_event`]), then handle
    /// what the poll left and what is due. False once closing is done.
    fn turn(
        &mut self,
        client: &mut WsClient,
        idle: &IdlePolicy,
        stop: &StopFlag,
    ) -> std::io::Result<bool> {
        let now = mono_ns();
        if stop.is_set() && self.closing_deadline.is_none() {
            self.begin_closing(client, now);
        }
        match self.closing_deadline {
            Some(deadline) if client.open_connections() == 0 || now >= deadline => {
                return Ok(false)
            }
            Some(_) => {}
            None => self.dial(client, now),
        }
        let timeout = self.poll_timeout(idle, now);
        self.frames = 0;
        client.poll(Some(timeout), &mut |conn, ev| self.on_event(conn, ev))?;
        let now = mono_ns();
        self.take_recovered(now);
        if now.saturating_sub(self.last_timer) >= TIMER_NS {
            self.on_timer(client, now);
        }
        let wall_now = self.clock.wall_us(now);
        self.apply_actions();
        self.send_jobs();
        self.downstream.flush(&self.stats, now);
        self.on_opened(now, wall_now);
        self.send_answers(client);
        if self.closing_deadline.is_none() {
            for i in 0..self.slots.len() {
                self.keep_alive(client, i, now);
                self.advance_rotation(client, i, now, wall_now);
            }
        }
        self.on_lost(now, wall_now);
        self.end_turn(client, now);
        Ok(true)
    }

    /// `stop` was seen: every connection is sent a close frame; the peers get a second.
    fn begin_closing(&mut self, client: &mut WsClient, now: u64) {
        for slot in &self.slots {
            for conn in [slot.cur, slot.next].into_iter().flatten() {
                client.close(conn.id, 1000);
            }
        }
        self.closing_deadline = Some(now + 1_000_000_000);
    }

    /// Per subscription: (re)connect what is down and due, open a due rotation's replacement.
    fn dial(&mut self, client: &mut WsClient, now: u64) {
        for i in 0..self.slots.len() {
            self.reconnect(client, i, now);
            self.begin_rotation(client, i, now);
        }
    }

    /// Connects slot `i` if it has no connection and its retry time has come.
    fn reconnect(&mut self, client: &mut WsClient, i: usize, now: u64) {
        let id = self.id;
        let slot = &mut self.slots[i];
        if slot.cur.is_some() || now < slot.retry_at_ns {
            return;
        }
        let sub = &self.subs[slot.sub];
        match client.connect(&sub.url) {
            Ok(conn) => {
                log::info!("feed {id}: connecting {} {}", sub.venue, sub.url);
                let mut c = Conn::new(conn, now, &self.policy);
                if slot.learnt_gap_ns != 0 {
                    // What the last connection learnt about this stream.
                    c.gap_ewma_ns = slot.learnt_gap_ns;
                }
                slot.cur = Some(c);
                self.by_conn.insert(conn, (slot.sub, Role::Current));
            }
            Err(e) => {
                slot.failures += 1;
                let wait = backoff(slot.failures, &mut self.jitter);
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

    /// Planned rotation: opens slot `i`'s replacement before the venue's limit (or at once
    /// when the venue announced a shutdown).
    fn begin_rotation(&mut self, client: &mut WsClient, i: usize, now: u64) {
        let id = self.id;
        let slot = &mut self.slots[i];
        let due = slot.rotate_now || (slot.rotate_at_ns != 0 && now >= slot.rotate_at_ns);
        if !due || slot.next.is_some() || !slot.cur.is_some_and(|c| c.open) {
            return;
        }
        let sub = &self.subs[slot.sub];
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
                let mut c = Conn::new(conn, now, &self.policy);
                if let Some(cur) = slot.cur {
                    c.gap_ewma_ns = cur.gap_ewma_ns;
                }
                slot.next = Some(c);
                slot.rotation_started_ns = now;
                slot.replacement_ready_ns = 0;
                self.by_conn.insert(conn, (slot.sub, Role::Replacement));
                self.cont.handover_begin(slot.sub);
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

    /// How long the poll may wait: not at all while busy polling or spinning, then `park`.
    fn poll_timeout(&self, idle: &IdlePolicy, now: u64) -> Duration {
        if idle.busy_poll {
            return Duration::ZERO;
        }
        match self.idle_since {
            Some(since) if now - since >= idle.spin.as_nanos() as u64 => idle.park,
            _ => Duration::ZERO,
        }
    }

    /// One event of `poll`: stamps the connection's last frame, then hands the event on.
    fn on_event(&mut self, conn: ConnId, ev: WsEvent<'_>) {
        let Some(&(sub, role)) = self.by_conn.get(&conn) else {
            return;
        };
        let at = Origin { conn, sub, role };
        if let Some(slot) = self.slots.get_mut(sub) {
            if let Some(c) = slot.conn_mut(role).filter(|c| c.id == conn) {
                let t = mono_ns();
                c.saw_frame(t);
                self.silence.frame(sub, t);
            }
        }
        match ev {
            WsEvent::Text { payload, recv_ns } => self.on_frame(at, false, payload, recv_ns),
            WsEvent::Binary { payload, recv_ns } => self.on_frame(at, true, payload, recv_ns),
            WsEvent::Open => self.on_open(at),
            WsEvent::Ping { .. } => {}
            WsEvent::Closed {
                code,
                reason,
                clean,
            } => self.on_closed(at, code, reason, clean),
            WsEvent::Error(e) => self.on_error(at, e),
        }
    }

    /// A text or binary frame: captured, then routed; each tick passes the silent-market
    /// detector and the continuity check on its way to its shard.
    fn on_frame(&mut self, at: Origin, binary: bool, payload: &mut [u8], recv_ns: u64) {
        if at.role == Role::Retired {
            return; // rotated out: its replacement carries the markets
        }
        let venue = self.subs[at.sub].venue;
        if let Some(cap) = self.capture.as_mut() {
            let wall_ns = self.clock.wall_ns(recv_ns);
            cap.record(recv_ns, wall_ns, venue, at.conn.0, binary, payload);
        }
        self.frames += 1;
        if let Some(c) = self.stats.conns.get(at.sub) {
            c.frames.inc();
        }
        let wall_recv_us = self.clock.wall_us(recv_ns);
        let src = Source {
            sub: at.sub,
            replacement: at.role == Role::Replacement,
        };
        let (table, stats) = (&*self.table, &*self.stats);
        let (downstream, cont, silence) = (&mut self.downstream, &mut self.cont, &mut self.silence);
        let mut last_ts = 0i64;
        let outcome = self.router.route(
            venue,
            at.conn.0 as u64,
            payload,
            recv_ns,
            &mut |v, s| table.lookup(v, s),
            &mut |tick| {
                if matches!(tick.kind, EventKind::Trade | EventKind::NonMarket) {
                    silence.trade(tick.market, recv_ns);
                }
                if cont.admit(&tick, src, recv_ns) {
                    last_ts = tick.ts_us;
                    push_tick(downstream, table, stats, tick);
                }
            },
        );
        if let Ok(frame) = outcome {
            self.on_decoded(at, venue, frame);
        }
        let _ = self
            .decode_ns
            .record(mono_ns().saturating_sub(recv_ns).max(1));
        if last_ts > 0 {
            let _ = self
                .network_us
                .record((wall_recv_us - last_ts).max(1) as u64);
        }
    }

    /// What a decoded frame asks of its connection: an answer, a log line for a refused
    /// request, or (the venue announced a shutdown) a rotation now.
    fn on_decoded(&mut self, at: Origin, venue: Venue, frame: Frame) {
        match frame {
            Frame::Ping(n) => self.answers.push((at.conn, Answer::Pong(n))),
            Frame::Reply(text) => self.answers.push((at.conn, Answer::Text(text))),
            Frame::VenueError { .. } => {
                log::error!(
                    "feed: {venue} connection {} refused a request; it carries {}",
                    at.conn.0,
                    self.subs[at.sub].symbols.join(", ")
                );
            }
            Frame::ServerShutdown if at.role == Role::Current => {
                if let Some(slot) = self.slots.get_mut(at.sub) {
                    slot.rotate_now = true;
                }
            }
            _ => {}
        }
    }

    /// The upgrade finished: counted and captured; requests and pings start after the poll.
    fn on_open(&mut self, at: Origin) {
        let venue = self.subs[at.sub].venue;
        self.opened.push(at.conn);
        if let Some(cap) = self.capture.as_mut() {
            let now = mono_ns();
            let wall_ns = self.clock.wall_ns(now);
            cap.open(now, wall_ns, venue, at.conn.0, &self.subs[at.sub].url);
        }
        self.stats.connects.inc();
        if let Some(c) = self.stats.conns.get(at.sub) {
            c.connects.inc();
            c.open.set(1);
        }
        log::info!("feed: {venue} connection {} open", at.conn.0);
    }

    /// The connection is finished: counted as a disconnect unless it was planned (closing,
    /// rotation); its slot is dealt with after the poll ([`FeedLoop::on_lost`]).
    fn on_closed(&mut self, at: Origin, code: Option<u16>, reason: &str, clean: bool) {
        let venue = self.subs[at.sub].venue;
        let planned = self.closing_deadline.is_some() || at.role != Role::Current;
        if let Some(c) = self.stats.conns.get(at.sub) {
            if at.role == Role::Current {
                c.open.set(0);
            }
            if !planned {
                c.disconnects.inc();
            }
        }
        if planned {
            log::info!("feed: {venue} connection {} closed", at.conn.0);
        } else {
            self.stats.disconnects.inc();
            log::warn!(
                "feed: {venue} connection {} closed (code {code:?}, {reason:?}, clean: {clean})",
                at.conn.0
            );
        }
        self.lost.push((at.conn, clean));
    }

    /// A connection error (a `Closed` follows). An oversized message is one bad message, not
    /// a bad configuration: counted, and the connection (closed with 1009) is reopened with
    /// the usual backoff; other errors that retrying will not fix make it hopeless.
    fn on_error(&mut self, at: Origin, e: WsError) {
        let venue = self.subs[at.sub].venue;
        let oversized = matches!(e, WsError::MessageTooBig { .. });
        if oversized {
            self.stats.oversized.inc();
        }
        log::error!("feed: {venue} connection {}: {e}", at.conn.0);
        if !e.is_retryable() && !oversized {
            self.hopeless.push(at.conn);
        }
    }

    /// Recovered trades go the way of live ones (they amend closed bars); a finished job
    /// closes its gap.
    fn take_recovered(&mut self, now: u64) {
        let Some((_, results)) = self.backfill.as_mut() else {
            return;
        };
        let n = results.pop_batch(&mut self.recovered[..]);
        for out in &self.recovered[..n] {
            match *out {
                BackfillOut::Tick(mut tick) => {
                    if self.cont.admit_backfill(&tick) {
                        tick.recv_ns = now;
                        push_tick(&mut self.downstream, &self.table, &self.stats, tick);
                    }
                }
                BackfillOut::Done {
                    gap,
                    market,
                    complete,
                    why,
                    ..
                } => self.cont.backfill_done(gap, market, complete, why),
            }
        }
    }

    /// The timers (at most every [`TIMER_NS`]): continuity, silent markets, the watchdog.
    fn on_timer(&mut self, client: &mut WsClient, now: u64) {
        self.last_timer = now;
        self.cont.poll(now);
        if self.closing_deadline.is_some() {
            return;
        }
        // Markets silent while their connection lives on, and those flowing again.
        let (table, stats, records) = (&*self.table, &*self.stats, &mut self.records);
        self.silence
            .poll(now, &mut |r| send_record(table, records, stats, r));
        self.watchdog(client, now);
    }

    /// A connection silent for far longer than usual is dead: aborted (then lost and
    /// reconnected).
    fn watchdog(&self, client: &mut WsClient, now: u64) {
        let id = self.id;
        for slot in &self.slots {
            let sub = &self.subs[slot.sub];
            for c in [slot.cur, slot.next].into_iter().flatten() {
                let quiet = now.saturating_sub(c.last_frame_ns);
                let limit = c.stale_after(&self.policy, &sub.ping);
                if quiet > limit {
                    self.stats.stale.inc();
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

    /// What the continuity check asked for: backfill jobs (queued), GAP marks (to the
    /// shard), records (log, gap journal).
    fn apply_actions(&mut self) {
        for action in self.cont.actions().drain(..) {
            match action {
                Action::Job(job) => self.pending_jobs.push(job),
                Action::Mark {
                    market,
                    from_sec,
                    to_sec,
                    set,
                } => push_tick(
                    &mut self.downstream,
                    &self.table,
                    &self.stats,
                    Tick::gap_mark(market, from_sec, to_sec, set),
                ),
                Action::Record(r) => send_record(&self.table, &mut self.records, &self.stats, r),
            }
        }
    }

    /// Queued jobs go to the backfill worker while its ring has room (none is dropped);
    /// without a worker they are discarded.
    fn send_jobs(&mut self) {
        let Some((jobs, _)) = self.backfill.as_mut() else {
            self.pending_jobs.clear();
            return;
        };
        let mut sent = 0;
        while sent < self.pending_jobs.len() {
            if jobs.try_push(self.pending_jobs[sent]).is_err() {
                break;
            }
            sent += 1;
        }
        self.pending_jobs.drain(..sent);
    }

    /// Connections that opened in this poll start their subscribe requests and keepalives;
    /// a current one also starts continuity, the silent-market clock and its lifetime.
    fn on_opened(&mut self, now: u64, wall_now: i64) {
        for conn in self.opened.drain(..) {
            let Some(&(sub, role)) = self.by_conn.get(&conn) else {
                continue;
            };
            let slot = &mut self.slots[sub];
            if let Some(c) = slot.conn_mut(role).filter(|c| c.id == conn) {
                c.open = true;
                c.next_request = 0;
                c.request_at_ns = now;
                c.opened_ns = now;
                c.last_frame_ns = now;
                c.ping_at_ns = now + self.subs[sub].ping.every.as_nanos() as u64;
            }
            if role == Role::Current {
                self.cont.connection_open(sub, now, wall_now);
                self.silence.connection_open(sub, now);
                slot.rotate_at_ns = rotate_at(now, self.subs[sub].rotate_after, &mut self.jitter);
            }
        }
    }

    /// Sends the answers the decoders asked for (HTX pongs, Deribit `public/test`).
    fn send_answers(&mut self, client: &mut WsClient) {
        let id = self.id;
        for (conn, answer) in self.answers.drain(..) {
            let sent = match answer {
                Answer::Pong(n) => match self.by_conn.get(&conn) {
                    Some(&(sub, _)) if write_pong(self.subs[sub].venue, n, &mut self.pong_buf) => {
                        client.send_text(conn, &self.pong_buf)
                    }
                    _ => Ok(()),
                },
                Answer::Text(text) => client.send_text(conn, text.as_bytes()),
            };
            if let Err(e) = sent {
                log::warn!("feed {id}: cannot answer on connection {}: {e}", conn.0);
            }
        }
    }

    /// Slot `i`'s open connections: the next subscribe request once its pause has passed,
    /// the client keepalive when due.
    fn keep_alive(&mut self, client: &mut WsClient, i: usize, now: u64) {
        let id = self.id;
        let slot = &mut self.slots[i];
        let sub = &self.subs[slot.sub];
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
    }

    /// Rotation progress of slot `i`: once the replacement is subscribed and the boundary
    /// second (plus the overlap) has passed, the old connection is retired; a rotation that
    /// takes too long is abandoned.
    fn advance_rotation(&mut self, client: &mut WsClient, i: usize, now: u64, wall_now: i64) {
        let slot = &mut self.slots[i];
        let Some(next) = slot.next else { return };
        if now.saturating_sub(slot.rotation_started_ns) > ROTATION_TIMEOUT_NS {
            return self.abandon_rotation(client, i, next, now);
        }
        if !next.open || next.next_request < self.subs[slot.sub].subscribe.len() {
            return;
        }
        if slot.replacement_ready_ns == 0 {
            slot.replacement_ready_ns = now;
        }
        if now.saturating_sub(slot.replacement_ready_ns) > BOUNDARY_WAIT_NS {
            self.cont.handover_force_boundary(slot.sub, wall_now);
        }
        let Some(boundary) = self.cont.handover_boundary(slot.sub) else {
            return;
        };
        if wall_now < boundary + self.policy.overlap.as_micros() as i64 {
            return;
        }
        self.complete_rotation(client, i, next, boundary, now);
    }

    /// The rotation of slot `i` took too long: its replacement `next` is closed, the current
    /// connection kept, and the rotation retried in 30 s.
    fn abandon_rotation(&mut self, client: &mut WsClient, i: usize, next: Conn, now: u64) {
        let id = self.id;
        let slot = &mut self.slots[i];
        log::warn!(
            "feed {id}: {} rotation did not complete in {} s; keeping connection {} and retrying later",
            self.subs[slot.sub].venue,
            ROTATION_TIMEOUT_NS / 1_000_000_000,
            slot.cur.map_or(0, |c| c.id.0)
        );
        client.close(next.id, 1000);
        self.by_conn.insert(next.id, (slot.sub, Role::Retired));
        slot.next = None;
        self.cont.handover_end(slot.sub);
        slot.rotate_now = false;
        slot.rotate_at_ns = now + 30_000_000_000;
    }

    /// The replacement `next` of slot `i` takes over from `boundary` on; the old connection
    /// is closed and retired.
    fn complete_rotation(
        &mut self,
        client: &mut WsClient,
        i: usize,
        next: Conn,
        boundary: i64,
        now: u64,
    ) {
        let id = self.id;
        let slot = &mut self.slots[i];
        let sub = &self.subs[slot.sub];
        if let Some(old) = slot.cur {
            client.close(old.id, 1000);
            self.by_conn.insert(old.id, (slot.sub, Role::Retired));
            log::info!(
                "feed {id}: {} rotated: connection {} replaces {} from {} (overlap {:.1} s)",
                sub.venue,
                next.id.0,
                old.id.0,
                crate::continuity::iso_time_us(boundary),
                now.saturating_sub(slot.rotation_started_ns) as f64 / 1e9
            );
        }
        self.by_conn.insert(next.id, (slot.sub, Role::Current));
        slot.cur = Some(next);
        slot.next = None;
        slot.rotate_now = false;
        slot.rotate_at_ns = rotate_at(now, sub.rotate_after, &mut self.jitter);
        self.cont.handover_end(slot.sub);
        self.stats.rotations.inc();
    }

    /// Connections that closed in this poll, in order (see [`FeedLoop::conn_lost`]).
    fn on_lost(&mut self, now: u64, wall_now: i64) {
        for i in 0..self.lost.len() {
            let (conn, clean) = self.lost[i];
            self.conn_lost(conn, clean, now, wall_now);
        }
        self.lost.clear();
    }

    /// Connection `conn` is gone: a retired one is forgotten, a replacement ends its rotation,
    /// a current one hands over to its replacement if a rotation was under way, else it is
    /// reconnected after a backoff (not while closing).
    fn conn_lost(&mut self, conn: ConnId, clean: bool, now: u64, wall_now: i64) {
        let Some((sub, role)) = self.by_conn.remove(&conn) else {
            return;
        };
        match role {
            Role::Retired => {}
            Role::Replacement => self.replacement_lost(conn, sub, now),
            Role::Current => {
                let slot = &mut self.slots[sub];
                if !slot.cur.is_some_and(|c| c.id == conn) {
                    return;
                }
                if let Some(c) = slot.cur.take() {
                    slot.learnt_gap_ns = c.gap_ewma_ns;
                }
                if self.closing_deadline.is_some() {
                    return; // shutting down: no reconnect
                }
                match slot.next.take() {
                    Some(next) => self.promote_replacement(conn, sub, next, now, wall_now),
                    None => self.schedule_reconnect(conn, sub, clean, now),
                }
            }
        }
    }

    /// The replacement connection of subscription `sub` was lost: its rotation ends, and is
    /// retried in 5 s.
    fn replacement_lost(&mut self, conn: ConnId, sub: usize, now: u64) {
        let id = self.id;
        let slot = &mut self.slots[sub];
        if !slot.next.is_some_and(|c| c.id == conn) {
            return;
        }
        slot.next = None;
        self.cont.handover_end(sub);
        if self.closing_deadline.is_none() {
            slot.rotate_at_ns = now + 5_000_000_000;
            log::warn!(
                "feed {id}: {} replacement connection {} lost; retrying the rotation in 5 s",
                self.subs[sub].venue,
                conn.0
            );
        }
    }

    /// The current connection `conn` was lost during a rotation: the replacement `next`
    /// takes over at once.
    fn promote_replacement(
        &mut self,
        conn: ConnId,
        sub: usize,
        next: Conn,
        now: u64,
        wall_now: i64,
    ) {
        let id = self.id;
        let slot = &mut self.slots[sub];
        self.by_conn.insert(next.id, (sub, Role::Current));
        slot.cur = Some(next);
        self.cont.handover_abort_old(sub, wall_now);
        self.cont.connection_open(sub, now, wall_now);
        self.silence.connection_open(sub, now);
        slot.rotate_now = false;
        slot.rotate_at_ns = rotate_at(now, self.subs[sub].rotate_after, &mut self.jitter);
        log::warn!(
            "feed {id}: {} connection {} lost during its rotation; {} takes over",
            self.subs[sub].venue,
            conn.0,
            next.id.0
        );
    }

    /// The current connection `conn` of subscription `sub` was lost: continuity and the
    /// silent-market detector are told, and a reconnect is scheduled after a backoff (the
    /// slowest one for a hopeless connection).
    fn schedule_reconnect(&mut self, conn: ConnId, sub: usize, clean: bool, now: u64) {
        let id = self.id;
        self.cont.connection_lost(sub);
        self.silence.connection_lost(sub);
        let slot = &mut self.slots[sub];
        slot.rotate_now = false;
        slot.rotate_at_ns = 0;
        slot.failures = if clean { 1 } else { slot.failures + 1 };
        let s = &self.subs[sub];
        if self.hopeless.contains(&conn) {
            slot.failures = slot.failures.max(HOPELESS_FAILURES);
            log::error!(
                "feed {id}: {} {} keeps failing in a way retrying will not fix; check the configuration (retrying every ~30 s)",
                s.venue,
                s.url
            );
        }
        let wait = backoff(slot.failures, &mut self.jitter);
        slot.retry_at_ns = now + wait.as_nanos() as u64;
        self.stats
            .last_reconnect_wait_ms
            .set(wait.as_millis() as u64);
        log::warn!(
            "feed {id}: reconnecting {} in {:.2} s",
            s.venue,
            wait.as_secs_f64()
        );
    }

    /// The end of a turn: a connection open for a minute resets its failure count; the
    /// open-connection gauge, the idle clock, and once a second the published figures.
    fn end_turn(&mut self, client: &WsClient, now: u64) {
        for slot in self.slots.iter_mut() {
            if slot
                .cur
                .is_some_and(|c| c.open && now.saturating_sub(c.opened_ns) > 60_000_000_000)
            {
                slot.failures = 0;
            }
        }
        self.hopeless.clear();
        self.stats
            .open_connections
            .set(client.open_connections() as u64);
        if self.frames > 0 {
            self.idle_since = None;
        } else if self.idle_since.is_none() {
            self.idle_since = Some(now);
        }
        if now - self.last_publish >= 1_000_000_000 {
            self.last_publish = now;
            self.publish();
        }
    }

    /// Once a second: the continuity counters, the deepest shard ring, latency quantiles.
    fn publish(&mut self) {
        let stats = &*self.stats;
        publish_continuity(stats, self.cont.counters(), &mut self.counters_seen);
        if let Downstream::Rings(links) = &self.downstream {
            let deepest = links.iter().map(|l| l.ring.len()).max().unwrap_or(0);
            stats.shard_ring_depth.set(deepest as u64);
            let cap = links.iter().map(|l| l.ring.capacity()).max().unwrap_or(0);
            stats.shard_ring_capacity.set(cap as u64);
        }
        let (decode_ns, network_us) = (&self.decode_ns, &self.network_us);
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

    /// After the loop: the last counters, the shard rings flushed (or the inline shard
    /// finished), then the client dropped.
    fn finish(mut self, client: WsClient) -> FeedReport {
        publish_continuity(&self.stats, self.cont.counters(), &mut self.counters_seen);
        let shard = match self.downstream {
            Downstream::Rings(mut links) => {
                for link in links.iter_mut() {
                    link.flush(&self.stats);
                }
                None
            }
            Downstream::Inline(core) => Some(core.finish()),
        };
        let report = FeedReport {
            id: self.id,
            decode_ns: self.decode_ns,
            network_us: self.network_us,
            shard,
        };
        drop(client);
        report
    }
}

impl ConnSlot {
    fn new(sub: usize) -> ConnSlot {
        ConnSlot {
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
        }
    }

    /// The connection in `role` (none for a retired one).
    fn conn_mut(&mut self, role: Role) -> Option<&mut Conn> {
        match role {
            Role::Current => self.cur.as_mut(),
            Role::Replacement => self.next.as_mut(),
            Role::Retired => None,
        }
    }
}

/// A feed without `[continuity]`: it still de-duplicates and reports gaps, but has no
/// backfill and no gap journal.
fn without_continuity(table: &MarketTable, subs: usize, id: usize) -> FeedContinuity {
    FeedContinuity {
        state: Continuity::new(
            ContinuityConfig {
                backfill: false,
                ..ContinuityConfig::default()
            },
            table,
            &[],
            subs,
            id,
        ),
        policy: ConnPolicy::default(),
        backfill: None,
        records: None,
    }
}

/// Which of `subs` carry each market of `table` (a subscription without a symbol list carries
/// every market of its venue), for the silent-market detector.
fn carriers(table: &MarketTable, subs: &[Subscription]) -> Vec<Vec<usize>> {
    table
        .iter()
        .map(|(_, m)| {
            subs.iter()
                .enumerate()
                .filter(|(_, s)| {
                    s.venue == m.venue
                        && (s.symbols.is_empty()
                            || s.symbols
                                .iter()
                                .any(|p| crate::market::frame_symbol(m.venue, p) == Some(m.symbol)))
                })
                .map(|(i, _)| i)
                .collect()
        })
        .collect()
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
