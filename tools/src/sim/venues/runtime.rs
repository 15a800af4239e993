//! The multi-venue simulator's runtime: one loopback listener per venue, a thread per
//! connection running that venue's [`Protocol`], and one generator thread producing
//! venue-neutral [`Print`]s for the markets someone is subscribed to.
//!
//! Each connection owns a bounded mailbox; the generator sends every step's prints of a venue
//! (one shared `Arc`) to each connection of that venue that wants any of them, and a
//! connection whose mailbox is full is kicked as a slow consumer. The connection filters the
//! prints by its own `Session::subs` and lets its protocol format them.

use super::gen::{self, GenParams, MarketGen};
use super::proto::{Hangup, Out, Print, PrintKind, Protocol, Session, SimMarket, Streams};
use super::protocol;
use crate::sim::faults::{Action, ConnFaults, FaultHandle, FaultSet, VenueFaults};
use crate::sim::history::{HistoryConfig, TradeHistory};
use anyhow::{bail, Context as _};
use feeds::instruments::Instruments;
use feeds::Venue;
use std::io::{self, BufWriter, ErrorKind, Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::http::StatusCode;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

/// How long the listener sleeps when nobody is connecting.
const ACCEPT_POLL: Duration = Duration::from_millis(5);
/// How long a connection waits for prints before it looks at its socket again.
const POLL: Duration = Duration::from_millis(2);
/// The generator's step.
const TICK: Duration = Duration::from_millis(5);
/// The most time one generator step may cover (a stalled generator does not flood).
const MAX_STEP: f64 = 0.25;
/// Generator steps a mailbox holds before its client counts as too slow.
const MAILBOX: usize = 4096;
/// Recent trades kept per market for snapshots.
const RECENT: usize = 100;
/// Bytes tungstenite may hold for a socket that does not drain.
const MAX_WRITE_BUFFER: usize = 16 << 20;
/// Incoming messages larger than this are refused.
const MAX_MESSAGE: usize = 256 << 10;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// The protocols' timer period at real keepalive timings.
const TIMER: Duration = Duration::from_millis(100);

/// What the multi-venue simulator serves and how.
#[derive(Debug, Clone)]
pub struct VenueSimConfig {
    /// The venues to serve and each one's markets, as the venue's API spells them.
    pub markets: Vec<(Venue, Vec<String>)>,
    /// Mean trades per second per market outside bursts.
    pub trades_per_sec: f64,
    /// Chance that a second is a burst (`burst_mult` × the rates, a directional move).
    pub burst_prob: f64,
    pub burst_mult: f64,
    /// Liquidations per second per derivatives market outside bursts.
    pub liquidations_per_sec: f64,
    /// Interval of open-interest readings on derivatives markets; zero disables them.
    pub open_interest_every: Duration,
    pub seed: u64,
    /// JSONL tape of every frame sent (`{"ts_ns","venue","conn","frame"}`; gzip frames inflated).
    pub tape: Option<PathBuf>,
    /// Stop generating trades after this many (all venues and markets together).
    pub max_trades: Option<u64>,
    /// Scale of every venue's keepalive timings (1.0 = real; tests use e.g. 0.01).
    pub keepalive_scale: f64,
    /// Bounds of the trade history the REST responder serves ([`VenueSim::history`]).
    pub history: HistoryConfig,
    /// Connections are closed (1000) after this long; `None` keeps them forever.
    pub max_lifetime: Option<Duration>,
    /// Trades each market made before the simulator started: a real market has a recent
    /// history, which venues send as a snapshot on subscribe (Kraken v2 `trade`: the last 50;
    /// Coinbase Advanced `market_trades`, Bitget, Bitfinex, Hyperliquid, Kraken Futures: recent
    /// trades) and serve over REST. Made at `trades_per_sec` just before start, in the trade
    /// history and the snapshots, not on any live stream, not counted in `max_trades` nor in
    /// [`MarketStats::trades_sent`]. 0: markets start without history (a first subscriber then
    /// gets an empty snapshot, which no real venue sends).
    pub backlog: usize,
}

impl Default for VenueSimConfig {
    fn default() -> VenueSimConfig {
        VenueSimConfig {
            markets: Vec::new(),
            trades_per_sec: 10.0,
            burst_prob: 0.05,
            burst_mult: 5.0,
            liquidations_per_sec: 0.2,
            open_interest_every: Duration::from_secs(3),
            seed: 1,
            tape: None,
            max_trades: None,
            keepalive_scale: 1.0,
            history: HistoryConfig::default(),
            max_lifetime: None,
            backlog: RECENT,
        }
    }
}

/// The venues that have a simulated protocol, with the default symbols of `--venues all`.
/// Contract venues get only instruments the bundled metadata has a size for (Gate: BTC and
/// ETH; BitMEX: XBTUSD), so the real decoders can convert every size.
pub fn default_markets() -> Vec<(Venue, Vec<String>)> {
    let v = |xs: &[&str]| xs.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let all = [
        (
            Venue::BinanceCoinm,
            v(&["BTCUSD_PERP", "ETHUSD_PERP", "SOLUSD_PERP"]),
        ),
        (Venue::BybitLinear, v(&["BTCUSDT", "ETHUSDT", "SOLUSDT"])),
        (Venue::BybitInverse, v(&["BTCUSD", "ETHUSD", "SOLUSD"])),
        (Venue::BybitSpot, v(&["BTCUSDT", "ETHUSDT", "SOLUSDT"])),
        (Venue::OkxSpot, v(&["BTC-USDT", "ETH-USDT", "SOL-USDT"])),
        (
            Venue::OkxSwap,
            v(&["BTC-USDT-SWAP", "ETH-USDT-SWAP", "SOL-USDT-SWAP"]),
        ),
        (Venue::Coinbase, v(&["BTC-USD", "ETH-USD", "SOL-USD"])),
        (
            Venue::CoinbaseAdvanced,
            v(&["BTC-USD", "ETH-USD", "SOL-USD"]),
        ),
        (Venue::KrakenSpot, v(&["BTC/USD", "ETH/USD", "SOL/USD"])),
        (
            Venue::KrakenFutures,
            v(&["PF_XBTUSD", "PF_ETHUSD", "PF_SOLUSD"]),
        ),
        (Venue::Bitmex, v(&["XBTUSD"])),
        (
            Venue::Deribit,
            v(&["BTC-PERPETUAL", "ETH-PERPETUAL", "SOL_USDC-PERPETUAL"]),
        ),
        (Venue::Bitfinex, v(&["tBTCUSD", "tETHUSD", "tSOLUSD"])),
        (Venue::Huobi, v(&["btcusdt", "ethusdt", "solusdt"])),
        (Venue::HuobiSwap, v(&["BTC-USDT", "ETH-USDT", "SOL-USDT"])),
        (Venue::Bitget, v(&["BTCUSDT", "ETHUSDT", "SOLUSDT"])),
        (Venue::BitgetSpot, v(&["BTCUSDT", "ETHUSDT", "SOLUSDT"])),
        (Venue::GateFutures, v(&["BTC_USDT", "ETH_USDT"])),
        (Venue::Hyperliquid, v(&["BTC", "ETH", "SOL"])),
    ];
    all.into_iter()
        .filter(|(venue, _)| protocol(*venue).is_some())
        .collect()
}

/// The path a client appends to [`VenueSim::base_url`] for `venue` (the path of the real
/// URL in `feeds`; Binance COIN-M also serves `/ws/<stream>` and `/stream?streams=…`).
pub fn ws_path(venue: Venue) -> Option<&'static str> {
    Some(match venue {
        Venue::BinanceCoinm => "/ws",
        Venue::BybitLinear => "/v5/public/linear",
        Venue::BybitInverse => "/v5/public/inverse",
        Venue::BybitSpot => "/v5/public/spot",
        Venue::OkxSpot | Venue::OkxSwap | Venue::OkxFutures => "/ws/v5/public",
        Venue::Huobi => "/ws",
        Venue::HuobiSwap => "/linear-swap-ws",
        Venue::Bitget | Venue::BitgetSpot => "/v2/ws/public",
        Venue::GateFutures => "/v4/ws/usdt",
        Venue::Hyperliquid => "/ws",
        Venue::Coinbase | Venue::CoinbaseAdvanced => "/",
        Venue::KrakenSpot => "/v2",
        Venue::KrakenFutures => "/ws/v1",
        Venue::Bitmex => "/realtime",
        Venue::Deribit => "/ws/api/v2",
        Venue::Bitfinex => "/ws/2",
        _ => return None,
    })
}

/// Counters of one market.
#[derive(Debug, Default)]
struct MarketCounters {
    trades: AtomicU64,
    liquidations: AtomicU64,
    open_interest: AtomicU64,
    snapshot_trades: AtomicU64,
}

/// Counters of one venue.
#[derive(Debug, Default)]
struct Counters {
    connections_accepted: AtomicU64,
    connections_open: AtomicU64,
    handshakes_rejected: AtomicU64,
    frames_sent: AtomicU64,
    replies: AtomicU64,
    pings: AtomicU64,
    ping_timeouts: AtomicU64,
    subscribe_errors: AtomicU64,
    slow_consumers: AtomicU64,
}

/// One market's figures in [`VenueStats`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketStats {
    pub symbol: String,
    /// Trade prints handed to connections (counted once per connection).
    pub trades_sent: u64,
    pub liquidations_sent: u64,
    pub open_interest_sent: u64,
    /// Trades handed out in subscribe snapshots (counted once per connection): the recent
    /// history, not part of `trades_sent`.
    pub snapshot_trades_sent: u64,
}

/// A snapshot of one venue's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueStats {
    pub venue: Venue,
    pub connections_accepted: u64,
    pub connections_open: u64,
    /// Upgrades refused (unknown path, bad request) or failed.
    pub handshakes_rejected: u64,
    /// Every frame written (data, replies, pings, closes).
    pub frames_sent: u64,
    /// Frames sent in answer to client messages or on open.
    pub replies: u64,
    /// Frames sent by the protocols' timers (server pings, heartbeats).
    pub pings: u64,
    /// Connections dropped for an unanswered server ping.
    pub ping_timeouts: u64,
    /// Error replies to requests (unknown symbol, bad request).
    pub subscribe_errors: u64,
    /// Connections kicked for not reading fast enough.
    pub slow_consumers: u64,
    pub markets: Vec<MarketStats>,
}

impl VenueStats {
    pub fn trades_sent(&self) -> u64 {
        self.markets.iter().map(|m| m.trades_sent).sum()
    }
    pub fn liquidations_sent(&self) -> u64 {
        self.markets.iter().map(|m| m.liquidations_sent).sum()
    }
    pub fn open_interest_sent(&self) -> u64 {
        self.markets.iter().map(|m| m.open_interest_sent).sum()
    }
    pub fn snapshot_trades_sent(&self) -> u64 {
        self.markets.iter().map(|m| m.snapshot_trades_sent).sum()
    }
}

/// A connection as the generator sees it.
#[derive(Debug)]
struct Subscriber {
    conn: u64,
    tx: SyncSender<Arc<Vec<Print>>>,
    kicked: Arc<AtomicBool>,
    subs: Vec<Streams>,
}

/// Everything about one venue the threads share.
#[derive(Debug)]
struct VenueShared {
    venue: Venue,
    markets: Vec<SimMarket>,
    recent: Mutex<Vec<Vec<Print>>>,
    subscribers: Mutex<Vec<Subscriber>>,
    counters: Counters,
    market_counters: Vec<MarketCounters>,
    /// History index of this venue's first market.
    history_base: usize,
    /// Injected faults of this venue.
    faults: Arc<VenueFaults>,
}

/// One tape line.
#[derive(Debug)]
struct TapeLine {
    ts_ns: u64,
    venue: Venue,
    conn: u64,
    frame: String,
}

#[derive(Debug)]
struct Shared {
    /// Every generated trade, for the REST responder.
    history: TradeHistory,
    venues: Vec<Arc<VenueShared>>,
    stop: AtomicBool,
    next_conn: AtomicU64,
    tape: Mutex<Option<Sender<TapeLine>>>,
    keepalive_scale: f64,
    max_lifetime: Option<Duration>,
    faults: Arc<FaultSet>,
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The running multi-venue simulator. [`VenueSim::stop`] ends it (dropping it does too, less
/// politely: threads notice the stop flag and exit).
#[derive(Debug)]
pub struct VenueSim {
    shared: Arc<Shared>,
    addrs: Vec<(Venue, SocketAddr)>,
    threads: Vec<JoinHandle<()>>,
    tape: Option<JoinHandle<io::Result<u64>>>,
}

impl VenueSim {
    /// Binds one loopback listener per venue and starts the threads.
    pub fn start(cfg: VenueSimConfig) -> anyhow::Result<VenueSim> {
        let instruments = Instruments::bundled();
        let history = TradeHistory::new(cfg.history);
        let faults = FaultSet::new(cfg.markets.clone(), cfg.seed);
        let mut venues = Vec::new();
        for (venue, symbols) in &cfg.markets {
            if protocol(*venue).is_none() {
                bail!("the simulator has no protocol for {venue}");
            }
            if venues.iter().any(|v: &Arc<VenueShared>| v.venue == *venue) {
                bail!("{venue} listed twice");
            }
            let markets: Vec<SimMarket> = symbols
                .iter()
                .map(|s| gen::market(*venue, s, &instruments))
                .collect();
            let history_base = markets
                .iter()
                .map(|m| history.register(*venue, &m.symbol, Some(m.clone())))
                .min()
                .unwrap_or(0);
            let Some(vf) = faults.get(venues.len()) else {
                bail!("fault state for {venue} missing");
            };
            venues.push(Arc::new(VenueShared {
                history_base,
                faults: Arc::clone(vf),
                venue: *venue,
                recent: Mutex::new(vec![Vec::new(); markets.len()]),
                subscribers: Mutex::new(Vec::new()),
                counters: Counters::default(),
                market_counters: markets.iter().map(|_| MarketCounters::default()).collect(),
                markets,
            }));
        }
        let (tape_tx, tape) = match &cfg.tape {
            Some(path) => {
                let file = std::fs::File::create(path)
                    .with_context(|| format!("creating tape {}", path.display()))?;
                let (tx, rx) = mpsc::channel();
                let handle = thread::Builder::new()
                    .name("vsim-tape".into())
                    .spawn(move || write_tape(rx, BufWriter::with_capacity(1 << 20, file)))?;
                (Some(tx), Some(handle))
            }
            None => (None, None),
        };
        let shared = Arc::new(Shared {
            history,
            venues,
            stop: AtomicBool::new(false),
            next_conn: AtomicU64::new(1),
            tape: Mutex::new(tape_tx),
            keepalive_scale: if cfg.keepalive_scale > 0.0 {
                cfg.keepalive_scale
            } else {
                1.0
            },
            max_lifetime: cfg.max_lifetime,
            faults,
        });
        let mut sim = VenueSim {
            shared: Arc::clone(&shared),
            addrs: Vec::new(),
            threads: Vec::new(),
            tape,
        };
        for vs in &shared.venues {
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .with_context(|| format!("binding a loopback port for {}", vs.venue))?;
            listener.set_nonblocking(true)?;
            sim.addrs.push((vs.venue, listener.local_addr()?));
            let (shared, vs) = (Arc::clone(&shared), Arc::clone(vs));
            sim.threads.push(
                thread::Builder::new()
                    .name(format!("vsim-{}", vs.venue))
                    .spawn(move || run_listener(&shared, &vs, listener))?,
            );
        }
        let params = GenParams {
            trades_per_sec: cfg.trades_per_sec,
            burst_prob: cfg.burst_prob,
            burst_mult: cfg.burst_mult,
            liquidations_per_sec: cfg.liquidations_per_sec,
            oi_every_secs: cfg.open_interest_every.as_secs_f64(),
        };
        let budget = cfg.max_trades.unwrap_or(u64::MAX);
        let mut gens = generators(&shared, cfg.seed);
        make_backlog(&shared, &mut gens, &params, cfg.backlog);
        let gen_shared = Arc::clone(&shared);
        sim.threads.push(
            thread::Builder::new()
                .name("vsim-gen".into())
                .spawn(move || run_generator(&gen_shared, gens, params, budget))?,
        );
        Ok(sim)
    }

    /// `ws://127.0.0.1:PORT` of `venue`'s listener; the client appends the venue's real path.
    pub fn base_url(&self, venue: Venue) -> Option<String> {
        self.addrs
            .iter()
            .find(|(v, _)| *v == venue)
            .map(|(_, a)| format!("ws://{a}"))
    }

    /// The trade history of every served market: each generated trade (before any fault),
    /// for [`crate::sim::RestConfig::histories`] so a [`crate::sim::RestServer`] serves the
    /// venues' REST trade endpoints for these markets.
    pub fn history(&self) -> TradeHistory {
        self.shared.history.clone()
    }

    /// The fault injection handle (every served venue; see [`crate::sim::faults`]).
    pub fn faults(&self) -> FaultHandle {
        FaultHandle::new(Arc::clone(&self.shared.faults))
    }

    /// The served venues, in configuration order.
    pub fn venues(&self) -> Vec<Venue> {
        self.addrs.iter().map(|(v, _)| *v).collect()
    }

    /// A snapshot of `venue`'s counters.
    pub fn stats(&self, venue: Venue) -> Option<VenueStats> {
        let vs = self.shared.venues.iter().find(|v| v.venue == venue)?;
        let c = &vs.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Some(VenueStats {
            venue,
            connections_accepted: get(&c.connections_accepted),
            connections_open: get(&c.connections_open),
            handshakes_rejected: get(&c.handshakes_rejected),
            frames_sent: get(&c.frames_sent),
            replies: get(&c.replies),
            pings: get(&c.pings),
            ping_timeouts: get(&c.ping_timeouts),
            subscribe_errors: get(&c.subscribe_errors),
            slow_consumers: get(&c.slow_consumers),
            markets: vs
                .markets
                .iter()
                .zip(&vs.market_counters)
                .map(|(m, mc)| MarketStats {
                    symbol: m.symbol.clone(),
                    trades_sent: get(&mc.trades),
                    liquidations_sent: get(&mc.liquidations),
                    open_interest_sent: get(&mc.open_interest),
                    snapshot_trades_sent: get(&mc.snapshot_trades),
                })
                .collect(),
        })
    }

    /// Every venue's counters.
    pub fn all_stats(&self) -> Vec<VenueStats> {
        self.venues()
            .into_iter()
            .filter_map(|v| self.stats(v))
            .collect()
    }

    /// Stops every thread, closes connections (1001) and finishes the tape.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            if t.join().is_err() {
                log::error!("venue sim: a thread panicked");
            }
        }
        lock(&self.shared.tape).take();
        if let Some(t) = self.tape.take() {
            match t.join() {
                Ok(Ok(n)) => log::info!("venue sim: wrote {n} frames to the tape"),
                Ok(Err(e)) => log::error!("venue sim: writing the tape: {e}"),
                Err(_) => log::error!("venue sim: the tape writer panicked"),
            }
        }
    }
}

impl Drop for VenueSim {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn write_tape(rx: Receiver<TapeLine>, mut out: BufWriter<std::fs::File>) -> io::Result<u64> {
    let mut lines = 0;
    let mut failure = None;
    for line in rx {
        if failure.is_some() {
            continue;
        }
        let r = write!(
            out,
            r#"{{"ts_ns":{},"venue":"{}","conn":{},"frame":"#,
            line.ts_ns,
            line.venue.name(),
            line.conn
        )
        .and_then(|()| serde_json::to_writer(&mut out, &line.frame).map_err(io::Error::from))
        .and_then(|()| out.write_all(b"}\n"));
        match r {
            Ok(()) => lines += 1,
            Err(e) => failure = Some(e),
        }
    }
    match failure {
        Some(e) => Err(e),
        None => out.flush().map(|()| lines),
    }
}

/// One generator per market of every venue.
fn generators(shared: &Shared, seed: u64) -> Vec<Vec<MarketGen>> {
    shared
        .venues
        .iter()
        .map(|vs| {
            vs.markets
                .iter()
                .enumerate()
                .map(|(i, m)| MarketGen::new(m, seed, i))
                .collect()
        })
        .collect()
}

/// Runs every market's generator for about `backlog` trades ending now, into the trade
/// history and the recent trades (the snapshots), so that a market has a past before anyone
/// subscribes, as a real one does. Trade ids continue from the backlog on the live stream.
fn make_backlog(shared: &Shared, gens: &mut [Vec<MarketGen>], params: &GenParams, backlog: usize) {
    if backlog == 0 || params.trades_per_sec.is_nan() || params.trades_per_sec <= 0.0 {
        return;
    }
    // Long enough for `backlog` trades (three times what the calm rate needs, at most ten
    // minutes); each market's trades are then moved so that its newest is just before now.
    let span = (3.0 * backlog as f64 / params.trades_per_sec).min(600.0);
    let now_us = (wall_ns() / 1000) as i64 - 1_000;
    let wants = Streams {
        trades: true,
        ..Streams::default()
    };
    let mut prints = Vec::new();
    for (vs, gens) in shared.venues.iter().zip(gens.iter_mut()) {
        prints.clear();
        for g in gens.iter_mut() {
            let mut budget = backlog as u64;
            let from = prints.len();
            g.advance(params, span, now_us, wants, &mut budget, &mut prints);
            let mine = &mut prints[from..];
            if let Some(newest) = mine.iter().map(|p| p.ts_us).max() {
                for p in mine.iter_mut() {
                    p.ts_us += now_us - newest;
                }
            }
        }
        prints.retain(|p| p.kind == PrintKind::Trade);
        prints.sort_by_key(|p| p.ts_us);
        shared.history.record_prints(vs.history_base, &prints);
        let mut recent = lock(&vs.recent);
        for p in &prints {
            if let Some(r) = recent.get_mut(p.market) {
                if r.len() >= RECENT {
                    r.remove(0);
                }
                r.push(*p);
            }
        }
    }
}

fn run_generator(
    shared: &Shared,
    mut gens: Vec<Vec<MarketGen>>,
    params: GenParams,
    mut budget: u64,
) {
    let mut last = Instant::now();
    let mut prints = Vec::new();
    while !shared.stopping() {
        thread::sleep(TICK);
        let now = Instant::now();
        let dt = now.duration_since(last).as_secs_f64().min(MAX_STEP);
        last = now;
        let now_us = (wall_ns() / 1000) as i64;
        for (vs, gens) in shared.venues.iter().zip(&mut gens) {
            let mut demand = vec![Streams::default(); vs.markets.len()];
            {
                let subs = lock(&vs.subscribers);
                for s in subs.iter() {
                    for (d, w) in demand.iter_mut().zip(&s.subs) {
                        d.trades |= w.trades;
                        d.liquidations |= w.liquidations;
                        d.open_interest |= w.open_interest;
                    }
                }
            }
            prints.clear();
            for (g, wants) in gens.iter_mut().zip(&demand) {
                if wants.any() {
                    g.advance(&params, dt, now_us, *wants, &mut budget, &mut prints);
                }
            }
            if prints.is_empty() {
                continue;
            }
            prints.sort_by_key(|p| p.ts_us);
            shared.history.record_prints(vs.history_base, &prints);
            {
                let mut recent = lock(&vs.recent);
                for p in prints.iter().filter(|p| p.kind == PrintKind::Trade) {
                    if let Some(r) = recent.get_mut(p.market) {
                        if r.len() >= RECENT {
                            r.remove(0);
                        }
                        r.push(*p);
                    }
                }
            }
            // Fault injection: a skipped trade was generated but is sent to nobody.
            prints.retain(|p| p.kind != PrintKind::Trade || !vs.faults.skip_trade(p.market));
            if prints.is_empty() {
                continue;
            }
            let batch = Arc::new(prints.clone());
            let mut subs = lock(&vs.subscribers);
            subs.retain(|s| {
                let wanted = batch
                    .iter()
                    .any(|p| s.subs.get(p.market).is_some_and(|w| w.wants(p.kind)));
                if !wanted {
                    return true;
                }
                match s.tx.try_send(Arc::clone(&batch)) {
                    Ok(()) => true,
                    Err(TrySendError::Full(_)) => {
                        s.kicked.store(true, Ordering::Relaxed);
                        false
                    }
                    Err(TrySendError::Disconnected(_)) => false,
                }
            });
        }
    }
}

fn run_listener(shared: &Arc<Shared>, vs: &Arc<VenueShared>, listener: TcpListener) {
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    while !shared.stopping() {
        match listener.accept() {
            Ok((stream, _)) => {
                let conn = shared.next_conn.fetch_add(1, Ordering::Relaxed);
                let (shared, vs) = (Arc::clone(shared), Arc::clone(vs));
                let spawned = thread::Builder::new()
                    .name(format!("vsim-{}-{conn}", vs.venue))
                    .spawn(move || serve(&shared, &vs, conn, stream));
                match spawned {
                    Ok(h) => workers.push(h),
                    Err(e) => log::warn!("venue sim: cannot start a connection thread: {e}"),
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(ACCEPT_POLL),
            Err(e) => {
                log::warn!("venue sim {}: accept: {e}", vs.venue);
                thread::sleep(ACCEPT_POLL);
            }
        }
        let (done, running): (Vec<_>, Vec<_>) =
            workers.into_iter().partition(JoinHandle::is_finished);
        workers = running;
        for w in done.into_iter().chain(if shared.stopping() {
            std::mem::take(&mut workers)
        } else {
            Vec::new()
        }) {
            if w.join().is_err() {
                log::error!("venue sim: a connection thread panicked");
            }
        }
    }
    for w in workers {
        if w.join().is_err() {
            log::error!("venue sim: a connection thread panicked");
        }
    }
}

/// Why a connection ended (for the debug log).
#[derive(Debug)]
#[allow(dead_code)]
enum End {
    ClientClosed,
    Gone(String),
    Stopping,
    PingTimeout,
    SlowConsumer,
    /// The protocol closed it.
    Closed,
    /// The lifetime ran out.
    Lifetime,
    /// Dropped by fault injection.
    Fault,
}

struct Conn<'a> {
    shared: &'a Shared,
    vs: &'a VenueShared,
    conn: u64,
    ws: WebSocket<TcpStream>,
    proto: Box<dyn Protocol>,
    subs: Vec<Streams>,
    kicked: Arc<AtomicBool>,
    rx: Receiver<Arc<Vec<Print>>>,
    tape: Option<Sender<TapeLine>>,
    out: Vec<Out>,
    errors_seen: u64,
    opened: Instant,
    faults: ConnFaults,
    /// The last data text frame sent (a malformed frame is cut from it).
    last_data: String,
    /// Frames of a trade held back by a reorder fault, until the next trade of its market.
    held: Option<(usize, Vec<Out>)>,
    /// Snapshot trades sent per market (the protocol counts), and how many were reported.
    snap: Vec<u64>,
    snap_reported: Vec<u64>,
}

fn serve(shared: &Shared, vs: &VenueShared, conn: u64, stream: TcpStream) {
    let counters = &vs.counters;
    let Some(mut proto) = protocol(vs.venue) else {
        return;
    };
    proto.set_keepalive_scale(shared.keepalive_scale);
    let mut subs = vec![Streams::default(); vs.markets.len()];
    let ws = match handshake(vs, conn, stream, proto.as_mut(), &mut subs) {
        Ok(ws) => ws,
        Err(e) => {
            counters.handshakes_rejected.fetch_add(1, Ordering::Relaxed);
            log::debug!("venue sim {}: connection {conn} refused: {e}", vs.venue);
            return;
        }
    };
    counters
        .connections_accepted
        .fetch_add(1, Ordering::Relaxed);
    counters.connections_open.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = mpsc::sync_channel(MAILBOX);
    let kicked = Arc::new(AtomicBool::new(false));
    lock(&vs.subscribers).push(Subscriber {
        conn,
        tx,
        kicked: Arc::clone(&kicked),
        subs: subs.clone(),
    });
    let mut c = Conn {
        shared,
        vs,
        conn,
        ws,
        proto,
        subs,
        kicked,
        rx,
        tape: lock(&shared.tape).clone(),
        out: Vec::new(),
        errors_seen: 0,
        opened: Instant::now(),
        faults: ConnFaults::new(Arc::clone(&vs.faults)),
        last_data: String::new(),
        held: None,
        snap: vec![0; vs.markets.len()],
        snap_reported: vec![0; vs.markets.len()],
    };
    let end = c.run();
    lock(&vs.subscribers).retain(|s| s.conn != conn);
    counters.connections_open.fetch_sub(1, Ordering::Relaxed);
    let end = end.err().unwrap_or(End::ClientClosed);
    match end {
        End::PingTimeout => {
            counters.ping_timeouts.fetch_add(1, Ordering::Relaxed);
        }
        End::SlowConsumer => {
            counters.slow_consumers.fetch_add(1, Ordering::Relaxed);
        }
        _ => {}
    }
    log::debug!("venue sim {}: connection {conn} ended: {end:?}", vs.venue);
}

#[allow(clippy::result_large_err)]
fn handshake(
    vs: &VenueShared,
    conn: u64,
    stream: TcpStream,
    proto: &mut dyn Protocol,
    subs: &mut [Streams],
) -> Result<WebSocket<TcpStream>, String> {
    let io = |e: io::Error| e.to_string();
    stream.set_nonblocking(false).map_err(io)?;
    stream
        .set_read_timeout(Some(HANDSHAKE_TIMEOUT))
        .map_err(io)?;
    stream
        .set_write_timeout(Some(HANDSHAKE_TIMEOUT))
        .map_err(io)?;
    stream.set_nodelay(true).map_err(io)?;
    let mut refused = None;
    let callback = |request: &Request, response: Response| {
        let uri = request.uri();
        let target = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
        let recent = lock(&vs.recent);
        let mut snapshot_sent = vec![0; vs.markets.len()];
        let mut s = Session {
            markets: &vs.markets,
            subs,
            recent: &recent,
            snapshot_sent: &mut snapshot_sent,
            now_us: (wall_ns() / 1000) as i64,
            conn,
        };
        match proto.route(target, &mut s) {
            Ok(()) => Ok(response),
            Err((status, body)) => {
                refused = Some(format!("{status} {body}"));
                let mut r = ErrorResponse::new(Some(body));
                *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::NOT_FOUND);
                Err(r)
            }
        }
    };
    let config = WebSocketConfig::default()
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let accepted = tungstenite::accept_hdr_with_config(stream, callback, Some(config))
        .map_err(|e| e.to_string());
    if let Some(r) = refused {
        return Err(r);
    }
    let ws = accepted?;
    let socket = ws.get_ref();
    socket.set_read_timeout(None).map_err(io)?;
    socket.set_write_timeout(None).map_err(io)?;
    socket.set_nonblocking(true).map_err(io)?;
    Ok(ws)
}

/// Where a batch of protocol output came from (for the counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Reply,
    Data,
    Timer,
}

impl Conn<'_> {
    fn session<'s>(
        vs: &'s VenueShared,
        subs: &'s mut [Streams],
        snapshot_sent: &'s mut [u64],
        recent: &'s [Vec<Print>],
        conn: u64,
    ) -> Session<'s> {
        Session {
            markets: &vs.markets,
            subs,
            recent,
            snapshot_sent,
            now_us: (wall_ns() / 1000) as i64,
            conn,
        }
    }

    fn run(&mut self) -> Result<(), End> {
        {
            let recent = lock(&self.vs.recent);
            let mut s = Self::session(self.vs, &mut self.subs, &mut self.snap, &recent, self.conn);
            self.proto.on_open(&mut s, &mut self.out);
        }
        self.publish_subs();
        self.send_out(Source::Reply)?;
        let timer = TIMER
            .mul_f64(self.shared.keepalive_scale)
            .clamp(Duration::from_millis(10), TIMER);
        let mut next_timer = Instant::now() + timer;
        let mut filtered: Vec<Print> = Vec::new();
        loop {
            if self.shared.stopping() {
                self.close(CloseCode::Away, "Server shutting down");
                return Err(End::Stopping);
            }
            let mut resumed = None;
            match self.faults.check(Instant::now(), &mut resumed) {
                Action::Run => {}
                Action::Stall => {
                    thread::sleep(POLL);
                    continue;
                }
                Action::DropClose => {
                    self.close(CloseCode::Away, "going away");
                    return Err(End::Fault);
                }
                Action::DropAbrupt => {
                    let _ = self.ws.get_ref().shutdown(std::net::Shutdown::Both);
                    return Err(End::Fault);
                }
            }
            if let Some(d) = resumed {
                // Read what the client sent meanwhile (keepalive answers) before any deadline.
                next_timer += d;
                self.read_all()?;
            }
            if self
                .shared
                .max_lifetime
                .is_some_and(|l| self.opened.elapsed() >= l)
            {
                let c = &self.faults.venue.counters;
                c.lifetime_closes.fetch_add(1, Ordering::Relaxed);
                self.close(CloseCode::Normal, "Connection lifetime exceeded");
                return Err(End::Lifetime);
            }
            self.inject()?;
            if self.kicked.load(Ordering::Relaxed) {
                self.close(CloseCode::Again, "Slow consumer");
                return Err(End::SlowConsumer);
            }
            // Prints.
            filtered.clear();
            match self.rx.recv_timeout(POLL) {
                Ok(batch) => {
                    self.filter(&batch, &mut filtered);
                    while let Ok(batch) = self.rx.try_recv() {
                        self.filter(&batch, &mut filtered);
                        if filtered.len() > 4096 {
                            break;
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
            }
            if !filtered.is_empty() {
                for p in &filtered {
                    if let Some(mc) = self.vs.market_counters.get(p.market) {
                        let c = match p.kind {
                            PrintKind::Trade => &mc.trades,
                            PrintKind::Liquidation => &mc.liquidations,
                            PrintKind::OpenInterest => &mc.open_interest,
                        };
                        c.fetch_add(1, Ordering::Relaxed);
                    }
                }
                self.format_prints(&filtered);
                self.send_out(Source::Data)?;
            }
            // Timer.
            let now = Instant::now();
            if now >= next_timer {
                next_timer = now + timer;
                let r = {
                    let recent = lock(&self.vs.recent);
                    let mut s =
                        Self::session(self.vs, &mut self.subs, &mut self.snap, &recent, self.conn);
                    self.proto.on_timer(&mut s, &mut self.out)
                };
                if let Err(Hangup::PingTimeout) = r {
                    // The venue drops the TCP connection without a close frame.
                    return Err(End::PingTimeout);
                }
                self.send_out(Source::Timer)?;
            }
            self.read_all()?;
            self.flush()?;
        }
    }

    fn filter(&self, batch: &[Print], out: &mut Vec<Print>) {
        out.extend(
            batch
                .iter()
                .filter(|p| self.subs.get(p.market).is_some_and(|w| w.wants(p.kind))),
        );
    }

    fn publish_subs(&self) {
        let mut subs = lock(&self.vs.subscribers);
        if let Some(me) = subs.iter_mut().find(|s| s.conn == self.conn) {
            me.subs.clone_from(&self.subs);
        }
    }

    fn read_all(&mut self) -> Result<(), End> {
        loop {
            let msg = match self.ws.read() {
                Ok(m) => m,
                Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {
                    return Ok(())
                }
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return Err(End::ClientClosed)
                }
                Err(e) => return Err(End::Gone(e.to_string())),
            };
            match msg {
                Message::Text(t) => self.on_message(t.as_bytes(), false)?,
                Message::Binary(b) => self.on_message(&b, true)?,
                Message::Pong(_) if self.faults.venue.ignore_pong() => {}
                Message::Pong(p) => {
                    let recent = lock(&self.vs.recent);
                    let mut s =
                        Self::session(self.vs, &mut self.subs, &mut self.snap, &recent, self.conn);
                    self.proto.on_pong(&p, &mut s);
                }
                // tungstenite queues the pong itself.
                Message::Ping(_) | Message::Frame(_) => {}
                Message::Close(_) => return Err(End::ClientClosed),
            }
        }
    }

    fn on_message(&mut self, msg: &[u8], binary: bool) -> Result<(), End> {
        let f = Arc::clone(&self.faults.venue);
        if self.proto.is_pong(msg, binary) && f.ignore_pong() {
            return Ok(());
        }
        {
            let recent = lock(&self.vs.recent);
            let mut s = Self::session(self.vs, &mut self.subs, &mut self.snap, &recent, self.conn);
            let mut rejected = false;
            if f.reject_armed() {
                let mut reply = Vec::new();
                if self.proto.reject_subscribe(msg, binary, &mut s, &mut reply) && f.reject() {
                    self.out.append(&mut reply);
                    rejected = true;
                }
            }
            if !rejected {
                self.proto.on_message(msg, binary, &mut s, &mut self.out);
            }
        }
        let errors = self.proto.errors_sent();
        if errors > self.errors_seen {
            self.vs
                .counters
                .subscribe_errors
                .fetch_add(errors - self.errors_seen, Ordering::Relaxed);
            self.errors_seen = errors;
        }
        self.publish_subs();
        self.send_out(Source::Reply)
    }

    fn send_out(&mut self, source: Source) -> Result<(), End> {
        for ((sent, reported), mc) in self
            .snap
            .iter()
            .zip(self.snap_reported.iter_mut())
            .zip(&self.vs.market_counters)
        {
            if *sent > *reported {
                mc.snapshot_trades
                    .fetch_add(*sent - *reported, Ordering::Relaxed);
                *reported = *sent;
            }
        }
        let out = std::mem::take(&mut self.out);
        let c = &self.vs.counters;
        let n = out.len() as u64;
        match source {
            Source::Reply => c.replies.fetch_add(n, Ordering::Relaxed),
            Source::Timer => c.pings.fetch_add(n, Ordering::Relaxed),
            Source::Data => 0,
        };
        if source == Source::Data {
            if let Some(Out::Text(t)) = out.iter().rev().find(|o| matches!(o, Out::Text(_))) {
                self.last_data.clone_from(t);
            }
        }
        let mut closed = false;
        for o in out {
            c.frames_sent.fetch_add(1, Ordering::Relaxed);
            let msg = match o {
                Out::Text(t) => {
                    self.record(t.clone());
                    Message::text(t)
                }
                Out::Binary(b) => {
                    self.record(inflate(&b));
                    Message::binary(b)
                }
                Out::Ping(p) => Message::Ping(p.into()),
                Out::Close(code, reason) => {
                    closed = true;
                    self.close(CloseCode::from(code), &reason);
                    break;
                }
            };
            self.write(msg)?;
        }
        if closed {
            return Err(End::Closed);
        }
        Ok(())
    }

    /// The frames of `prints` (in this connection's protocol), appended to `out`.
    fn format(&mut self, prints: &[Print], out: &mut Vec<Out>) {
        if prints.is_empty() {
            return;
        }
        let recent = lock(&self.vs.recent);
        let mut s = Self::session(self.vs, &mut self.subs, &mut self.snap, &recent, self.conn);
        self.proto.on_prints(prints, &mut s, out);
    }

    /// Formats a step's prints into `self.out`, applying duplicate and reorder faults: an
    /// affected trade is formatted on its own so that its frames can be doubled or held.
    fn format_prints(&mut self, prints: &[Print]) {
        let f = Arc::clone(&self.faults.venue);
        let mut out = std::mem::take(&mut self.out);
        let mut start = 0;
        for (i, p) in prints.iter().enumerate() {
            if p.kind != PrintKind::Trade {
                continue;
            }
            let release = self.held.as_ref().is_some_and(|(m, _)| *m == p.market);
            let reorder = !release && self.held.is_none() && f.reorder();
            let duplicate = !release && !reorder && f.duplicate();
            if !(release || reorder || duplicate) {
                continue;
            }
            self.format(&prints[start..i], &mut out);
            let mut mine = Vec::new();
            self.format(&prints[i..=i], &mut mine);
            start = i + 1;
            if reorder {
                self.held = Some((p.market, mine));
            } else if duplicate {
                out.extend(mine.iter().cloned());
                out.append(&mut mine);
            } else if let Some((_, mut held)) = self.held.take() {
                out.append(&mut mine);
                out.append(&mut held);
                f.counters.frames_reordered.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.format(&prints[start..], &mut out);
        self.out = out;
    }

    /// Sends the malformed and oversized frames fault injection asks for (not on the tape).
    fn inject(&mut self) -> Result<(), End> {
        let f = Arc::clone(&self.faults.venue);
        if let Some(text) = f.malformed(&self.last_data) {
            self.write(Message::text(text))?;
        }
        if let Some(text) = f.oversized() {
            let room = MAX_WRITE_BUFFER + text.len();
            self.ws.set_config(|c| c.max_write_buffer_size = room);
            self.write(Message::text(text))?;
        }
        Ok(())
    }

    fn record(&self, frame: String) {
        if let Some(tape) = &self.tape {
            // A tape writer that failed keeps draining; a send error means we are stopping.
            let _ = tape.send(TapeLine {
                ts_ns: wall_ns(),
                venue: self.vs.venue,
                conn: self.conn,
                frame,
            });
        }
    }

    fn write(&mut self, msg: Message) -> Result<(), End> {
        match self.ws.write(msg) {
            Ok(()) => Ok(()),
            Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => Ok(()),
            Err(tungstenite::Error::WriteBufferFull(_)) => Err(End::SlowConsumer),
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                Err(End::ClientClosed)
            }
            Err(e) => Err(End::Gone(e.to_string())),
        }
    }

    fn flush(&mut self) -> Result<(), End> {
        match self.ws.flush() {
            Ok(()) => Ok(()),
            Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => Ok(()),
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                Err(End::ClientClosed)
            }
            Err(e) => Err(End::Gone(e.to_string())),
        }
    }

    /// Sends a close frame and waits briefly for the client's.
    fn close(&mut self, code: CloseCode, reason: &str) {
        let frame = CloseFrame {
            code,
            reason: reason.to_owned().into(),
        };
        if self.ws.close(Some(frame)).is_err() {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline {
            match self.ws.read() {
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {
                    let _ = self.ws.flush();
                    thread::sleep(Duration::from_millis(2));
                }
                Err(_) => return,
            }
        }
    }
}

/// The JSON inside a gzip frame, for the tape (`<gzip: error>` if it does not inflate).
fn inflate(gz: &[u8]) -> String {
    let mut text = String::new();
    match flate2::read::GzDecoder::new(gz).read_to_string(&mut text) {
        Ok(_) => text,
        Err(e) => format!("<gzip: {e}>"),
    }
}
