//! The exchange simulator: Binance spot and USDⓈ-M market streams served on loopback with the
//! real protocol, so the real client and decoders can be exercised without the internet.
//!
//! Two plain `ws://127.0.0.1` listeners speak what `stream.binance.com` and
//! `fstream.binance.com` speak: the same paths (`/ws`, `/ws/<stream>`, `/ws/<anything>`,
//! `/stream?streams=…`), on futures under `/public/` and `/market/` and routed like Binance
//! since 2026 (`@trade` only on `/public`, `@aggTrade` and `@forceOrder` only on `/market`; a
//! stream on the other route is acknowledged and stays silent; unrouted paths act as
//! `/public`), the `SUBSCRIBE`/`UNSUBSCRIBE`/`LIST_SUBSCRIPTIONS` methods with Binance's replies and error
//! codes, server pings with a pong deadline, the incoming message rate limit (close 1008), and
//! `trade`, `aggTrade` and `forceOrder` payloads byte for byte in the exchange's layout,
//! including the futures insurance-fund/ADL prints a correct client must not count.
//!
//! Inside:
//! - `market`: one seeded generator per symbol (random walk, bursts, liquidations) writing the
//!   payloads.
//! - `binance`: the protocol without I/O: paths, stream names, requests and replies.
//! - `hub`: subscriptions, and the pump thread that runs the generators and fans frames out.
//! - `server`: the listeners and one thread per connection (keepalive, limits, close).
//! - `tape`: the optional JSONL record of every text frame sent.
//!
//! **Getting every trade in a test.** A market generates nothing while no connection is
//! subscribed to one of its streams, so a test that subscribes first and then reads sees trade
//! ids from the start, contiguous. With [`SimConfig::max_trades`] the simulator stops after that
//! many trades (all markets together), so a test can read until it has them all. Only frames
//! generated after a connection subscribed reach it.
//!
//! **The tape** ([`SimConfig::tape`]) is one merged JSONL file for both venues, in the tape
//! format of DESIGN.md: `{"ts_ns":…,"venue":"binance"|"binance-usdm","conn":n,"frame":"…"}`, one
//! line per text frame handed to a socket (data frames, and the replies to requests), in send
//! order per connection; `conn` is unique across both venues. It is complete once
//! [`Simulator::stop`] returns.

mod binance;
pub mod faults;
pub mod history;
mod hub;
mod market;
pub mod playback;
mod rest;
mod rest_markets;
mod rest_trades;
pub mod scenario;
mod server;
mod tape;
pub mod venues;
pub use history::{HistoryConfig, HistoryTrade, TradeHistory};
pub use rest::{RestConfig, RestServer};
pub use rest_trades::{FaultKind, RestFaults};

use anyhow::{bail, Context as _};
use binance::Catalog;
use hub::Hub;
use market::{GenParams, Generator, SymbolSpec};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tape::{TapeLine, TapeWriter};

/// What the simulator serves and how. `SimConfig { seed: 7, ..SimConfig::default() }` is the
/// usual way to build one.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Symbols served on both venues (`BTCUSDT`; case does not matter). BTCUSDT, ETHUSDT and
    /// SOLUSDT get Binance's real price levels and tick/step sizes; others a generic 100 USDT coin.
    pub symbols: Vec<String>,
    /// Mean trades per second per market (each symbol has a spot and a perpetual market),
    /// outside bursts.
    pub trades_per_sec: f64,
    /// Chance that a second is a burst: `burst_mult` times the rate, a directional move, and
    /// liquidations on the perpetual.
    pub burst_prob: f64,
    /// Rate multiplier during a burst.
    pub burst_mult: f64,
    /// Seed of every generator (each symbol derives its own stream from it and its name).
    pub seed: u64,
    /// Port of the spot listener on 127.0.0.1; 0 picks a free one (see [`Simulator::spot_url`]).
    pub spot_port: u16,
    /// Port of the USDⓈ-M listener on 127.0.0.1; 0 picks a free one.
    pub futures_port: u16,
    /// Interval of server pings on spot (Binance: 20 s); zero disables them.
    pub spot_ping: Duration,
    /// Interval of server pings on futures (Binance: 3 min); zero disables them.
    pub futures_ping: Duration,
    /// How long a spot ping may go unanswered before the connection is dropped (Binance: 1 min).
    pub pong_timeout_spot: Duration,
    /// The same on futures (Binance: 10 min).
    pub pong_timeout_futures: Duration,
    /// Chance that a futures `@trade` is an `INSURANCE_FUND` or `ADL` print, not a market trade.
    pub non_market_prob: f64,
    /// Where to write the JSONL tape of every text frame sent (see the module docs).
    pub tape: Option<PathBuf>,
    /// Stop generating after this many trades, all markets together (for tests).
    pub max_trades: Option<u64>,
    /// Connections are closed after this long (Binance: 24 h); `None` keeps them forever.
    pub max_lifetime: Option<Duration>,
    /// Incoming messages per second a spot connection may send (Binance: 5).
    pub spot_msg_limit: u32,
    /// Incoming messages per second a futures connection may send (Binance: 10).
    pub futures_msg_limit: u32,
    /// Bounds of the trade history the REST responder serves ([`Simulator::history`]).
    pub history: HistoryConfig,
    /// Send Binance's `serverShutdown` notice this long before a connection's
    /// [`SimConfig::max_lifetime`] runs out; `None` sends none.
    pub shutdown_notice: Option<Duration>,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            symbols: ["BTCUSDT", "ETHUSDT", "SOLUSDT"].map(String::from).to_vec(),
            trades_per_sec: 10.0,
            burst_prob: 0.05,
            burst_mult: 5.0,
            seed: 1,
            spot_port: 0,
            futures_port: 0,
            spot_ping: Duration::from_secs(20),
            futures_ping: Duration::from_secs(180),
            pong_timeout_spot: Duration::from_secs(60),
            pong_timeout_futures: Duration::from_secs(600),
            non_market_prob: 0.002,
            tape: None,
            max_trades: None,
            max_lifetime: Some(Duration::from_secs(24 * 3600)),
            spot_msg_limit: 5,
            futures_msg_limit: 10,
            history: HistoryConfig::default(),
            shutdown_notice: None,
        }
    }
}

impl SimConfig {
    fn validate(&self) -> anyhow::Result<()> {
        if self.symbols.is_empty() {
            bail!("sim: no symbols configured");
        }
        for (i, s) in self.symbols.iter().enumerate() {
            if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
                bail!("sim: symbol {s:?} is not 1-20 ASCII letters and digits");
            }
            if self.symbols[..i].iter().any(|t| t.eq_ignore_ascii_case(s)) {
                bail!("sim: symbol {s} is listed twice");
            }
        }
        if !(self.trades_per_sec.is_finite() && self.trades_per_sec >= 0.0) {
            bail!(
                "sim: trades_per_sec must be a finite number ≥ 0, not {}",
                self.trades_per_sec
            );
        }
        if !(self.burst_mult.is_finite() && self.burst_mult >= 0.0) {
            bail!(
                "sim: burst_mult must be a finite number ≥ 0, not {}",
                self.burst_mult
            );
        }
        for (name, p) in [
            ("burst_prob", self.burst_prob),
            ("non_market_prob", self.non_market_prob),
        ] {
            if !(0.0..=1.0).contains(&p) {
                bail!("sim: {name} must be between 0 and 1, not {p}");
            }
        }
        if self.spot_msg_limit == 0 || self.futures_msg_limit == 0 {
            bail!("sim: message limits must be at least 1 per second");
        }
        Ok(())
    }
}

/// A running simulator. It stops (closing every connection with 1001 and flushing the tape)
/// on [`Simulator::stop`] or when dropped.
#[derive(Debug)]
pub struct Simulator {
    shared: Arc<Shared>,
    spot_addr: SocketAddr,
    futures_addr: SocketAddr,
    threads: Vec<JoinHandle<()>>,
    tape: Option<TapeWriter>,
}

impl Simulator {
    /// Binds both listeners, opens the tape and starts the threads.
    pub fn start(cfg: SimConfig) -> anyhow::Result<Simulator> {
        cfg.validate()?;
        let specs: Vec<SymbolSpec> = cfg.symbols.iter().map(|s| SymbolSpec::new(s)).collect();
        let catalog = Catalog::new(&specs);
        let bind = |port: u16, what: &str| -> anyhow::Result<TcpListener> {
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))
                .with_context(|| format!("sim: binding the {what} listener to 127.0.0.1:{port}"))?;
            // Non-blocking so the accept loop can notice a stop.
            listener
                .set_nonblocking(true)
                .with_context(|| format!("sim: configuring the {what} listener"))?;
            Ok(listener)
        };
        let spot = bind(cfg.spot_port, "spot")?;
        let futures = bind(cfg.futures_port, "futures")?;
        let (tape_tx, tape) = match &cfg.tape {
            Some(path) => {
                let (tx, writer) = TapeWriter::start(path)
                    .with_context(|| format!("sim: creating tape {}", path.display()))?;
                (Some(tx), Some(writer))
            }
            None => (None, None),
        };
        let params = GenParams {
            seed: cfg.seed,
            trades_per_sec: cfg.trades_per_sec,
            burst_prob: cfg.burst_prob,
            burst_mult: cfg.burst_mult,
            non_market_prob: cfg.non_market_prob,
        };
        let generators: Vec<Generator> = specs
            .into_iter()
            .map(|s| Generator::new(s, params))
            .collect();
        let streams = catalog.len();
        let history = TradeHistory::new(cfg.history);
        let history_idx = generators
            .iter()
            .map(|g| {
                let s = g.symbol();
                SimVenue::BOTH.map(|v| history.register(v.feed_venue(), s, None))
            })
            .collect();
        let names: Vec<String> = cfg.symbols.iter().map(|s| s.to_ascii_uppercase()).collect();
        let faults = faults::FaultSet::new(
            SimVenue::BOTH
                .map(|v| (v.feed_venue(), names.clone()))
                .to_vec(),
            cfg.seed,
        );
        let shared = Arc::new(Shared {
            history,
            history_idx,
            faults,
            cfg,
            catalog,
            hubs: [Mutex::new(Hub::new(streams)), Mutex::new(Hub::new(streams))],
            counters: Default::default(),
            stop: AtomicBool::new(false),
            next_conn: AtomicU64::new(0),
            tape: Mutex::new(tape_tx),
        });
        let mut sim = Simulator {
            spot_addr: spot.local_addr().context("sim: spot listener address")?,
            futures_addr: futures
                .local_addr()
                .context("sim: futures listener address")?,
            shared,
            threads: Vec::new(),
            tape,
        };
        // On an error below, dropping `sim` stops whatever was already started.
        let shared = Arc::clone(&sim.shared);
        sim.spawn("sim-pump", move || hub::run_pump(shared, generators))?;
        for (venue, listener) in [(SimVenue::Spot, spot), (SimVenue::Futures, futures)] {
            let shared = Arc::clone(&sim.shared);
            let name = format!("sim-{}-listen", venue.feed_venue());
            sim.spawn(&name, move || server::run_listener(shared, venue, listener))?;
        }
        log::info!(
            "sim: spot on {}, USDⓈ-M on {}",
            sim.spot_url(),
            sim.futures_url()
        );
        Ok(sim)
    }

    fn spawn(&mut self, name: &str, f: impl FnOnce() + Send + 'static) -> anyhow::Result<()> {
        let handle = thread::Builder::new()
            .name(name.to_owned())
            .spawn(f)
            .with_context(|| format!("sim: starting thread {name}"))?;
        self.threads.push(handle);
        Ok(())
    }

    /// `ws://127.0.0.1:PORT` of the spot listener (append `/ws/…` or `/stream?streams=…`).
    pub fn spot_url(&self) -> String {
        format!("ws://{}", self.spot_addr)
    }

    /// `ws://127.0.0.1:PORT` of the USDⓈ-M listener (append `/market/ws/…`,
    /// `/market/stream?streams=…`, or the same under `/public` for `@trade`).
    pub fn futures_url(&self) -> String {
        format!("ws://{}", self.futures_addr)
    }

    /// The trade history of both venues: every generated trade (before any fault), for
    /// [`RestConfig::histories`] so a [`RestServer`] serves `/api/v3/aggTrades` and
    /// `/fapi/v1/aggTrades` for these markets.
    pub fn history(&self) -> TradeHistory {
        self.shared.history.clone()
    }

    /// The fault injection handle (both venues; see [`faults`]).
    pub fn faults(&self) -> faults::FaultHandle {
        faults::FaultHandle::new(Arc::clone(&self.shared.faults))
    }

    /// Counters so far, per venue.
    pub fn stats(&self) -> SimStats {
        SimStats {
            spot: self.shared.counters[SimVenue::Spot as usize].snapshot(),
            futures: self.shared.counters[SimVenue::Futures as usize].snapshot(),
        }
    }

    /// Closes every connection, joins every thread and completes the tape.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            if t.join().is_err() {
                log::error!("sim: a simulator thread panicked");
            }
        }
        // Connection threads (joined by their listeners) held the other senders.
        drop(lock(&self.shared.tape).take());
        if let Some(tape) = self.tape.take() {
            tape.finish();
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Counters of one venue, as [`Simulator::stats`] reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VenueStats {
    /// WebSocket connections that completed the upgrade.
    pub connections_accepted: u64,
    /// Of those, still open.
    pub connections_open: u64,
    /// Upgrades refused (404/400) or broken off.
    pub handshakes_rejected: u64,
    /// Data frames sent (trade, aggTrade, forceOrder), over all connections.
    pub frames_sent: u64,
    /// `@trade` frames sent, non-market ones included.
    pub trades_sent: u64,
    /// `@aggTrade` frames sent.
    pub agg_trades_sent: u64,
    /// `@forceOrder` frames sent.
    pub liquidations_sent: u64,
    /// Replies to requests sent.
    pub replies_sent: u64,
    /// Trades generated on this venue's markets (once each, however many subscribers).
    pub trades_generated: u64,
    /// Liquidations generated (futures only).
    pub liquidations_generated: u64,
    /// Connections dropped for not answering a ping in time.
    pub pong_timeouts: u64,
    /// Connections closed with 1008 for sending too many messages.
    pub rate_limited: u64,
    /// Connections closed for not reading fast enough.
    pub slow_consumers: u64,
    /// Streams subscribed (in the URL or by `SUBSCRIBE`) on a USDⓈ-M route that does not
    /// carry them: acknowledged, then silent, as on Binance.
    pub misrouted_subscriptions: u64,
}

/// [`VenueStats`] of both listeners.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    pub spot: VenueStats,
    pub futures: VenueStats,
}

/// The simulator's two venues; also the index of per-venue arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SimVenue {
    Spot = 0,
    Futures = 1,
}

impl SimVenue {
    pub(crate) const BOTH: [SimVenue; 2] = [SimVenue::Spot, SimVenue::Futures];

    /// The venue as the rest of the system names it (`binance`, `binance-usdm`).
    pub(crate) fn feed_venue(self) -> feeds::Venue {
        match self {
            SimVenue::Spot => feeds::Venue::BinanceSpot,
            SimVenue::Futures => feeds::Venue::BinanceUsdm,
        }
    }
}

/// State every simulator thread sees.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) cfg: SimConfig,
    pub(crate) catalog: Catalog,
    /// Subscriptions per venue.
    pub(crate) hubs: [Mutex<Hub>; 2],
    pub(crate) counters: [Counters; 2],
    pub(crate) stop: AtomicBool,
    pub(crate) next_conn: AtomicU64,
    /// The tape writer's inbox; taken out at shutdown so the writer can finish.
    pub(crate) tape: Mutex<Option<Sender<TapeLine>>>,
    /// Every generated trade, and each symbol's history index per venue.
    pub(crate) history: TradeHistory,
    pub(crate) history_idx: Vec<[usize; 2]>,
    /// Injected faults, indexed by [`SimVenue`].
    pub(crate) faults: Arc<faults::FaultSet>,
}

impl Shared {
    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// The live form of [`VenueStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) connections_accepted: AtomicU64,
    pub(crate) connections_open: AtomicU64,
    pub(crate) handshakes_rejected: AtomicU64,
    pub(crate) frames_sent: AtomicU64,
    pub(crate) trades_sent: AtomicU64,
    pub(crate) agg_trades_sent: AtomicU64,
    pub(crate) liquidations_sent: AtomicU64,
    pub(crate) replies_sent: AtomicU64,
    pub(crate) trades_generated: AtomicU64,
    pub(crate) liquidations_generated: AtomicU64,
    pub(crate) pong_timeouts: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) slow_consumers: AtomicU64,
    pub(crate) misrouted_subscriptions: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> VenueStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        VenueStats {
            connections_accepted: get(&self.connections_accepted),
            connections_open: get(&self.connections_open),
            handshakes_rejected: get(&self.handshakes_rejected),
            frames_sent: get(&self.frames_sent),
            trades_sent: get(&self.trades_sent),
            agg_trades_sent: get(&self.agg_trades_sent),
            liquidations_sent: get(&self.liquidations_sent),
            replies_sent: get(&self.replies_sent),
            trades_generated: get(&self.trades_generated),
            liquidations_generated: get(&self.liquidations_generated),
            pong_timeouts: get(&self.pong_timeouts),
            rate_limited: get(&self.rate_limited),
            slow_consumers: get(&self.slow_consumers),
            misrouted_subscriptions: get(&self.misrouted_subscriptions),
        }
    }
}

/// Locks a mutex, carrying on after a panic elsewhere: the data behind these locks (subscriber
/// lists, the tape inbox) stays consistent whatever a panicking holder was doing.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Wall-clock nanoseconds since the Unix epoch (0 if the clock is before 1970).
pub(crate) fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_validation() {
        assert!(SimConfig::default().validate().is_ok());
        let bad = |f: fn(&mut SimConfig)| {
            let mut c = SimConfig::default();
            f(&mut c);
            c.validate().is_err()
        };
        assert!(bad(|c| c.symbols.clear()));
        assert!(bad(|c| c.symbols.push("btcusdt".into())));
        assert!(bad(|c| c.symbols.push("BTC/USDT".into())));
        assert!(bad(|c| c.trades_per_sec = f64::NAN));
        assert!(bad(|c| c.burst_prob = 1.5));
        assert!(bad(|c| c.non_market_prob = -0.1));
        assert!(bad(|c| c.spot_msg_limit = 0));
    }
}
