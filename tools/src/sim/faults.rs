//! Fault injection on the simulators' WebSocket side, shared by [`super::Simulator`] (Binance
//! spot and USDⓈ-M) and [`super::venues::VenueSim`] (the other venues).
//!
//! Faults act on what is **sent**, never on what is generated: a skipped trade was generated
//! (its id is used up, it is in the generator's history and in later snapshots) but no
//! connection receives it.
//!
//! A [`FaultHandle`] (from `Simulator::faults()` / `VenueSim::faults()`) arms faults at run
//! time. Every trigger applies to each venue in the handle's scope (all venues of the
//! simulator, or one after [`FaultHandle::venue`]); "the next n" counts are per venue and are
//! consumed by whichever connection of that venue gets there first, so with one connection per
//! venue they are exact.
//!
//! What a client sees:
//! - [`FaultHandle::drop_connections`]: every open connection closes now, with a close frame
//!   (1001 "going away") or abruptly (TCP shutdown, no close frame).
//! - [`FaultHandle::stall`]: connections send nothing (data, pings, replies) and read nothing
//!   for the duration; the TCP connection stays open. Frames generated meanwhile wait in the
//!   connection's mailbox and arrive late, in order, after the stall. If the mailbox overflows
//!   during the stall (Binance simulator: 65,536 frames; venue simulator: 4,096 generator
//!   steps with data for the connection, about 20 s) the connection is closed as a slow
//!   consumer (close 1013) when the stall ends. Binance: ping deadlines are shifted by the
//!   stall. Venue simulator: the client's queued messages are read first when the stall ends;
//!   the protocols' keepalive deadlines run on the wall clock, so a stall longer than a
//!   venue's deadline (Deribit: 10 s for a `test_request`) can still end in a ping timeout.
//!   Injected malformed/oversized frames are not written to the tape.
//! - [`FaultHandle::skip_trades`]: the next n trades are sent to nobody (Binance: their
//!   `@trade` frame and the `@aggTrade` frame carrying the same id).
//! - [`FaultHandle::duplicate_next`] / [`FaultHandle::reorder_next`]: the next n trade frames
//!   are sent twice / held back and sent after the next trade frame of the same market.
//! - [`FaultHandle::send_malformed`]: a text frame that is not JSON (the first half of the
//!   connection's last data frame, or `{"` before any), in addition to the data.
//! - [`FaultHandle::send_oversized`]: one text frame of exactly the given size (valid JSON:
//!   `{"e":"oversized","pad":"xx…"}`).
//! - [`FaultHandle::reject_subscribes`]: subscribe requests get the venue's real error reply
//!   (the one for an unknown instrument); a Binance URL that subscribes (`/ws/<stream>`,
//!   `/stream?streams=…`) has its upgrade refused with HTTP 400, as Binance does for an
//!   invalid stream.
//! - [`FaultHandle::ignore_pongs`]: WebSocket pongs and the venue's application-level keepalive
//!   answers (HTX `{"pong":n}`, Deribit `public/test`) are read and ignored, so the server's
//!   ping deadline closes the connection.

use feeds::Venue;
use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

const R: Ordering = Ordering::Relaxed;

/// Takes one from a pending count; false if it was zero.
fn take(a: &AtomicU64) -> bool {
    a.fetch_update(R, R, |n| n.checked_sub(1)).is_ok()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Counters of injected faults (one venue, or summed over a handle's scope).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Connections closed by [`FaultHandle::drop_connections`] with a close frame.
    pub dropped_with_close: u64,
    /// Connections closed by [`FaultHandle::drop_connections`] without one.
    pub dropped_abrupt: u64,
    /// Connections that went through a stall.
    pub stalled: u64,
    /// Trades sent to nobody.
    pub trades_skipped: u64,
    /// Trade frames sent twice.
    pub frames_duplicated: u64,
    /// Trade frames held back and sent after the next one.
    pub frames_reordered: u64,
    /// Malformed text frames sent.
    pub malformed_sent: u64,
    /// Oversized text frames sent.
    pub oversized_sent: u64,
    /// Subscribe requests (or subscribing upgrades) rejected.
    pub subscribes_rejected: u64,
    /// Pongs (and keepalive answers) ignored.
    pub pongs_ignored: u64,
    /// Connections closed because their lifetime ran out.
    pub lifetime_closes: u64,
    /// Binance `serverShutdown` notices sent.
    pub shutdown_notices: u64,
}

impl FaultStats {
    fn add(&mut self, o: &FaultStats) {
        self.dropped_with_close += o.dropped_with_close;
        self.dropped_abrupt += o.dropped_abrupt;
        self.stalled += o.stalled;
        self.trades_skipped += o.trades_skipped;
        self.frames_duplicated += o.frames_duplicated;
        self.frames_reordered += o.frames_reordered;
        self.malformed_sent += o.malformed_sent;
        self.oversized_sent += o.oversized_sent;
        self.subscribes_rejected += o.subscribes_rejected;
        self.pongs_ignored += o.pongs_ignored;
        self.lifetime_closes += o.lifetime_closes;
        self.shutdown_notices += o.shutdown_notices;
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) dropped_with_close: AtomicU64,
    pub(crate) dropped_abrupt: AtomicU64,
    pub(crate) stalled: AtomicU64,
    pub(crate) frames_duplicated: AtomicU64,
    pub(crate) frames_reordered: AtomicU64,
    pub(crate) malformed_sent: AtomicU64,
    pub(crate) oversized_sent: AtomicU64,
    pub(crate) subscribes_rejected: AtomicU64,
    pub(crate) pongs_ignored: AtomicU64,
    pub(crate) lifetime_closes: AtomicU64,
    pub(crate) shutdown_notices: AtomicU64,
}

/// Probabilities of the random faults (0 = off), per trade, trade frame or subscribe request.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FaultOdds {
    pub skip: f64,
    pub duplicate: f64,
    pub reorder: f64,
    pub reject: f64,
}

/// The fault state of one venue.
#[derive(Debug)]
pub(crate) struct VenueFaults {
    pub(crate) venue: Venue,
    /// Market names, as the venue spells them (Binance: `BTCUSDT`).
    markets: Vec<String>,
    base: Instant,
    drop_epoch: AtomicU64,
    drop_abrupt: AtomicBool,
    /// Nanoseconds after `base` until which connections stall.
    stall_until: AtomicU64,
    skip_any: AtomicU64,
    skip_market: Vec<AtomicU64>,
    skipped: Vec<AtomicU64>,
    duplicate: AtomicU64,
    reorder: AtomicU64,
    malformed: AtomicU64,
    oversized: AtomicU64,
    oversized_bytes: AtomicU64,
    reject: AtomicU64,
    ignore_pongs: AtomicBool,
    /// `FaultOdds` as f64 bits: skip, duplicate, reorder, reject.
    odds: [AtomicU64; 4],
    rng: Mutex<SmallRng>,
    pub(crate) counters: Counters,
}

impl VenueFaults {
    fn new(venue: Venue, markets: Vec<String>, base: Instant, seed: u64) -> VenueFaults {
        let n = markets.len();
        VenueFaults {
            venue,
            markets,
            base,
            drop_epoch: AtomicU64::new(0),
            drop_abrupt: AtomicBool::new(false),
            stall_until: AtomicU64::new(0),
            skip_any: AtomicU64::new(0),
            skip_market: (0..n).map(|_| AtomicU64::new(0)).collect(),
            skipped: (0..n).map(|_| AtomicU64::new(0)).collect(),
            duplicate: AtomicU64::new(0),
            reorder: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            oversized: AtomicU64::new(0),
            oversized_bytes: AtomicU64::new(0),
            reject: AtomicU64::new(0),
            ignore_pongs: AtomicBool::new(false),
            odds: Default::default(),
            rng: Mutex::new(SmallRng::seed_from_u64(seed ^ venue as u64)),
            counters: Counters::default(),
        }
    }

    fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    fn roll(&self, which: usize) -> bool {
        let p = self
            .odds
            .get(which)
            .map_or(0.0, |a| f64::from_bits(a.load(R)));
        p > 0.0 && lock(&self.rng).gen::<f64>() < p
    }

    /// Decides whether the next trade of `market` (index) is sent to nobody, and counts it.
    pub(crate) fn skip_trade(&self, market: usize) -> bool {
        let skip =
            self.skip_market.get(market).is_some_and(take) || take(&self.skip_any) || self.roll(0);
        if skip {
            if let Some(c) = self.skipped.get(market) {
                c.fetch_add(1, R);
            }
        }
        skip
    }

    pub(crate) fn duplicate(&self) -> bool {
        let d = take(&self.duplicate) || self.roll(1);
        if d {
            self.counters.frames_duplicated.fetch_add(1, R);
        }
        d
    }

    pub(crate) fn reorder(&self) -> bool {
        take(&self.reorder) || self.roll(2)
    }

    /// Whether a subscribe request is to be rejected (consumes one).
    pub(crate) fn reject(&self) -> bool {
        let r = take(&self.reject) || self.roll(3);
        if r {
            self.counters.subscribes_rejected.fetch_add(1, R);
        }
        r
    }

    /// Cheap check whether [`Self::reject`] could say yes.
    pub(crate) fn reject_armed(&self) -> bool {
        self.reject.load(R) > 0 || self.odds[3].load(R) != 0
    }

    /// Whether a pong just read is to be ignored (and counts it).
    pub(crate) fn ignore_pong(&self) -> bool {
        let i = self.ignore_pongs.load(R);
        if i {
            self.counters.pongs_ignored.fetch_add(1, R);
        }
        i
    }

    /// The malformed frame to send now, if one is armed.
    pub(crate) fn malformed(&self, last_data: &str) -> Option<String> {
        if !take(&self.malformed) {
            return None;
        }
        self.counters.malformed_sent.fetch_add(1, R);
        let mut cut = last_data.len() / 2;
        while !last_data.is_char_boundary(cut) {
            cut -= 1;
        }
        Some(if cut < 2 {
            "{\"".to_owned()
        } else {
            last_data[..cut].to_owned()
        })
    }

    /// The oversized frame to send now, if one is armed.
    pub(crate) fn oversized(&self) -> Option<String> {
        if !take(&self.oversized) {
            return None;
        }
        self.counters.oversized_sent.fetch_add(1, R);
        Some(oversized_frame(self.oversized_bytes.load(R) as usize))
    }

    fn stats(&self) -> FaultStats {
        let c = &self.counters;
        let g = |a: &AtomicU64| a.load(R);
        FaultStats {
            dropped_with_close: g(&c.dropped_with_close),
            dropped_abrupt: g(&c.dropped_abrupt),
            stalled: g(&c.stalled),
            trades_skipped: self.skipped.iter().map(g).sum(),
            frames_duplicated: g(&c.frames_duplicated),
            frames_reordered: g(&c.frames_reordered),
            malformed_sent: g(&c.malformed_sent),
            oversized_sent: g(&c.oversized_sent),
            subscribes_rejected: g(&c.subscribes_rejected),
            pongs_ignored: g(&c.pongs_ignored),
            lifetime_closes: g(&c.lifetime_closes),
            shutdown_notices: g(&c.shutdown_notices),
        }
    }
}

/// `{"e":"oversized","pad":"xx…"}` of exactly `bytes` bytes (at least the frame's 27 fixed
/// bytes).
pub(crate) fn oversized_frame(bytes: usize) -> String {
    const HEAD: &str = r#"{"e":"oversized","pad":""#;
    const TAIL: &str = r#""}"#;
    let pad = bytes.saturating_sub(HEAD.len() + TAIL.len());
    let mut s = String::with_capacity(HEAD.len() + pad + TAIL.len());
    s.push_str(HEAD);
    s.extend(std::iter::repeat_n('x', pad));
    s.push_str(TAIL);
    s
}

/// What a connection must do about faults at the top of its loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Nothing: carry on.
    Run,
    /// Send nothing, read nothing this turn.
    Stall,
    /// Close with 1001 "going away".
    DropClose,
    /// Shut the TCP connection down without a close frame.
    DropAbrupt,
}

/// One connection's view of its venue's faults.
#[derive(Debug)]
pub(crate) struct ConnFaults {
    pub(crate) venue: Arc<VenueFaults>,
    epoch: u64,
    stalled_since: Option<Instant>,
    /// Whether the `serverShutdown` notice went out (Binance).
    pub(crate) notice_sent: bool,
}

impl ConnFaults {
    pub(crate) fn new(venue: Arc<VenueFaults>) -> ConnFaults {
        ConnFaults {
            epoch: venue.drop_epoch.load(R),
            venue,
            stalled_since: None,
            notice_sent: false,
        }
    }

    /// What to do now. `resumed` gets the length of a stall that just ended (to shift ping
    /// deadlines by it).
    pub(crate) fn check(&mut self, now: Instant, resumed: &mut Option<Duration>) -> Action {
        let v = &self.venue;
        if v.drop_epoch.load(R) != self.epoch {
            self.epoch = v.drop_epoch.load(R);
            return if v.drop_abrupt.load(R) {
                v.counters.dropped_abrupt.fetch_add(1, R);
                Action::DropAbrupt
            } else {
                v.counters.dropped_with_close.fetch_add(1, R);
                Action::DropClose
            };
        }
        if v.now_ns() < v.stall_until.load(R) {
            if self.stalled_since.is_none() {
                v.counters.stalled.fetch_add(1, R);
                self.stalled_since = Some(now);
            }
            return Action::Stall;
        }
        if let Some(since) = self.stalled_since.take() {
            *resumed = Some(now.saturating_duration_since(since));
        }
        Action::Run
    }
}

/// The fault state of one simulator (every venue it serves).
#[derive(Debug)]
pub(crate) struct FaultSet {
    venues: Vec<Arc<VenueFaults>>,
}

impl FaultSet {
    /// `venues`: each venue with its market names, in the simulator's order.
    pub(crate) fn new(venues: Vec<(Venue, Vec<String>)>, seed: u64) -> Arc<FaultSet> {
        let base = Instant::now();
        Arc::new(FaultSet {
            venues: venues
                .into_iter()
                .map(|(v, m)| Arc::new(VenueFaults::new(v, m, base, seed)))
                .collect(),
        })
    }

    /// The faults of the simulator's `i`-th venue.
    pub(crate) fn get(&self, i: usize) -> Option<&Arc<VenueFaults>> {
        self.venues.get(i)
    }
}

/// Arms faults on a running simulator (see the module docs). Cheap to clone, `Send`.
#[derive(Debug, Clone)]
pub struct FaultHandle {
    set: Arc<FaultSet>,
    only: Option<Venue>,
}

impl FaultHandle {
    pub(crate) fn new(set: Arc<FaultSet>) -> FaultHandle {
        FaultHandle { set, only: None }
    }

    fn each(&self) -> impl Iterator<Item = &Arc<VenueFaults>> {
        self.set
            .venues
            .iter()
            .filter(move |v| self.only.is_none_or(|o| o == v.venue))
    }

    /// A handle for `venue` alone (`None` if the simulator does not serve it).
    pub fn venue(&self, venue: Venue) -> Option<FaultHandle> {
        self.set
            .venues
            .iter()
            .any(|v| v.venue == venue)
            .then(|| FaultHandle {
                set: Arc::clone(&self.set),
                only: Some(venue),
            })
    }

    /// The venues in this handle's scope.
    pub fn venues(&self) -> Vec<Venue> {
        self.each().map(|v| v.venue).collect()
    }

    /// Closes every open connection now: with a close frame (1001 "going away") or abruptly
    /// (TCP shutdown, no close frame). Connections opened afterwards are not affected.
    pub fn drop_connections(&self, close_frame: bool) {
        for v in self.each() {
            v.drop_abrupt.store(!close_frame, R);
            v.drop_epoch.fetch_add(1, R);
        }
    }

    /// Connections send and read nothing for `d` from now (see the module docs).
    pub fn stall(&self, d: Duration) {
        for v in self.each() {
            v.stall_until.store(v.now_ns() + d.as_nanos() as u64, R);
        }
    }

    /// The next `n` trades of each venue (any market) are sent to nobody.
    pub fn skip_trades(&self, n: u64) {
        self.each().for_each(|v| {
            v.skip_any.fetch_add(n, R);
        });
    }

    /// The next `n` trades of `venue`'s market `symbol` (as the venue spells it; Binance:
    /// `BTCUSDT`) are sent to nobody. False if there is no such market.
    pub fn skip_trades_on(&self, venue: Venue, symbol: &str, n: u64) -> bool {
        let Some(v) = self.each().find(|v| v.venue == venue) else {
            return false;
        };
        match v
            .markets
            .iter()
            .position(|m| m.eq_ignore_ascii_case(symbol))
        {
            Some(i) => {
                v.skip_market[i].fetch_add(n, R);
                true
            }
            None => false,
        }
    }

    /// Trades of `venue`'s market `symbol` skipped so far.
    pub fn skipped(&self, venue: Venue, symbol: &str) -> u64 {
        self.each()
            .filter(|v| v.venue == venue)
            .flat_map(|v| v.markets.iter().zip(&v.skipped))
            .filter(|(m, _)| m.eq_ignore_ascii_case(symbol))
            .map(|(_, c)| c.load(R))
            .sum()
    }

    /// The next `n` trade frames are sent twice.
    pub fn duplicate_next(&self, n: u64) {
        self.each().for_each(|v| {
            v.duplicate.fetch_add(n, R);
        });
    }

    /// The next `n` trade frames are each swapped with the next trade frame of their market.
    pub fn reorder_next(&self, n: u64) {
        self.each().for_each(|v| {
            v.reorder.fetch_add(n, R);
        });
    }

    /// `n` malformed (not JSON) text frames are sent, one per connection turn.
    pub fn send_malformed(&self, n: u64) {
        self.each().for_each(|v| {
            v.malformed.fetch_add(n, R);
        });
    }

    /// `n` text frames of exactly `bytes` bytes are sent.
    pub fn send_oversized(&self, n: u64, bytes: usize) {
        self.each().for_each(|v| {
            v.oversized_bytes.store(bytes as u64, R);
            v.oversized.fetch_add(n, R);
        });
    }

    /// The next `n` subscribe requests get the venue's error reply.
    pub fn reject_subscribes(&self, n: u64) {
        self.each().for_each(|v| {
            v.reject.fetch_add(n, R);
        });
    }

    /// While on, client pongs are ignored, so the server's ping deadline ends connections.
    pub fn ignore_pongs(&self, on: bool) {
        self.each().for_each(|v| v.ignore_pongs.store(on, R));
    }

    /// Sets the random faults' probabilities.
    pub fn set_odds(&self, odds: FaultOdds) {
        for v in self.each() {
            for (a, p) in v
                .odds
                .iter()
                .zip([odds.skip, odds.duplicate, odds.reorder, odds.reject])
            {
                a.store(p.clamp(0.0, 1.0).to_bits(), R);
            }
        }
    }

    /// Fault counters summed over this handle's venues.
    pub fn stats(&self) -> FaultStats {
        let mut s = FaultStats::default();
        for v in self.each() {
            s.add(&v.stats());
        }
        s
    }
}

/// One `--fault` of `squeezeflow sim`: a fault repeated at random or on a schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FaultSpec {
    /// `drop:EVERY[:abrupt]`: every EVERY, drop every connection (close frame unless abrupt).
    Drop { every: Duration, close_frame: bool },
    /// `stall:EVERY:FOR`: every EVERY, stall every connection for FOR.
    Stall { every: Duration, length: Duration },
    /// `skip:P`: each trade is sent to nobody with probability P.
    Skip(f64),
    /// `dup:P`: each trade frame is sent twice with probability P.
    Duplicate(f64),
    /// `reorder:P`: each trade frame is swapped with the next with probability P.
    Reorder(f64),
    /// `reject:P`: each subscribe request is rejected with probability P.
    Reject(f64),
    /// `malformed:EVERY`: a malformed frame every EVERY.
    Malformed(Duration),
    /// `oversized:EVERY[:BYTES]`: a frame of BYTES (default 20 MiB) every EVERY.
    Oversized { every: Duration, bytes: usize },
    /// `nopong`: client pongs are ignored.
    NoPong,
    /// `lifetime:D`: connections are closed after D.
    Lifetime(Duration),
    /// `notice:D` (Binance): the `serverShutdown` notice D before the lifetime close.
    Notice(Duration),
}

/// The syntax, for `--help` and error messages.
pub const FAULT_SYNTAX: &str = "drop:EVERY[:abrupt] | stall:EVERY:FOR | skip:P | dup:P | reorder:P | reject:P | malformed:EVERY | oversized:EVERY[:BYTES] | nopong | lifetime:D | notice:D  (durations like 500ms, 30s, 10m, 1h; P in 0..1)";

/// `500ms`, `30s`, `10m`, `1h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (like 500ms, 30s, 10m, 1h)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("{s:?}: unit must be ms, s, m or h")),
    };
    if !(secs.is_finite() && secs > 0.0) {
        return Err(format!("{s:?}: a duration must be positive"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_prob(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("{s:?} is not a probability between 0 and 1")),
    }
}

impl std::str::FromStr for FaultSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<FaultSpec, String> {
        let parts: Vec<&str> = text.split(':').collect();
        let bad = |why: String| format!("{text:?}: {why} (syntax: {FAULT_SYNTAX})");
        let d = |s: &str| parse_duration(s).map_err(bad);
        let p = |s: &str| parse_prob(s).map_err(bad);
        Ok(match parts.as_slice() {
            ["drop", every] => FaultSpec::Drop {
                every: d(every)?,
                close_frame: true,
            },
            ["drop", every, "abrupt"] => FaultSpec::Drop {
                every: d(every)?,
                close_frame: false,
            },
            ["stall", every, length] => FaultSpec::Stall {
                every: d(every)?,
                length: d(length)?,
            },
            ["skip", x] => FaultSpec::Skip(p(x)?),
            ["dup", x] => FaultSpec::Duplicate(p(x)?),
            ["reorder", x] => FaultSpec::Reorder(p(x)?),
            ["reject", x] => FaultSpec::Reject(p(x)?),
            ["malformed", every] => FaultSpec::Malformed(d(every)?),
            ["oversized", every] => FaultSpec::Oversized {
                every: d(every)?,
                bytes: 20 << 20,
            },
            ["oversized", every, bytes] => FaultSpec::Oversized {
                every: d(every)?,
                bytes: bytes
                    .parse()
                    .map_err(|_| bad(format!("{bytes:?} is not a byte count")))?,
            },
            ["nopong"] => FaultSpec::NoPong,
            ["lifetime", x] => FaultSpec::Lifetime(d(x)?),
            ["notice", x] => FaultSpec::Notice(d(x)?),
            _ => return Err(bad("unknown fault".into())),
        })
    }
}

/// Runs a list of [`FaultSpec`]s against simulators: sets the odds and `nopong` at once,
/// then fires the scheduled faults from a thread until dropped. `lifetime` and `notice` are
/// configuration: read them with [`FaultPlan::lifetime`] and [`FaultPlan::notice`] before
/// starting the simulators.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    pub specs: Vec<FaultSpec>,
}

impl FaultPlan {
    /// The `lifetime:` fault, if any.
    pub fn lifetime(&self) -> Option<Duration> {
        self.specs.iter().find_map(|s| match s {
            FaultSpec::Lifetime(d) => Some(*d),
            _ => None,
        })
    }

    /// The `notice:` fault, if any.
    pub fn notice(&self) -> Option<Duration> {
        self.specs.iter().find_map(|s| match s {
            FaultSpec::Notice(d) => Some(*d),
            _ => None,
        })
    }

    /// Applies the plan to `handles`; the returned driver fires the scheduled faults until
    /// it is dropped.
    pub fn start(&self, handles: Vec<FaultHandle>) -> std::io::Result<FaultDriver> {
        let mut odds = FaultOdds::default();
        let mut schedule: Vec<(Duration, FaultSpec)> = Vec::new();
        for s in &self.specs {
            match *s {
                FaultSpec::Skip(p) => odds.skip = p,
                FaultSpec::Duplicate(p) => odds.duplicate = p,
                FaultSpec::Reorder(p) => odds.reorder = p,
                FaultSpec::Reject(p) => odds.reject = p,
                FaultSpec::NoPong => handles.iter().for_each(|h| h.ignore_pongs(true)),
                FaultSpec::Drop { every, .. }
                | FaultSpec::Stall { every, .. }
                | FaultSpec::Malformed(every)
                | FaultSpec::Oversized { every, .. } => schedule.push((every, *s)),
                FaultSpec::Lifetime(_) | FaultSpec::Notice(_) => {}
            }
        }
        handles.iter().for_each(|h| h.set_odds(odds));
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("sim-faults".into())
            .spawn(move || {
                let start = Instant::now();
                let mut next: Vec<Instant> = schedule.iter().map(|(e, _)| start + *e).collect();
                while !flag.load(R) {
                    thread::sleep(Duration::from_millis(10));
                    let now = Instant::now();
                    for ((every, spec), at) in schedule.iter().zip(&mut next) {
                        if now < *at {
                            continue;
                        }
                        *at = now + *every;
                        log::info!("sim: fault {spec:?}");
                        for h in &handles {
                            match *spec {
                                FaultSpec::Drop { close_frame, .. } => {
                                    h.drop_connections(close_frame)
                                }
                                FaultSpec::Stall { length, .. } => h.stall(length),
                                FaultSpec::Malformed(_) => h.send_malformed(1),
                                FaultSpec::Oversized { bytes, .. } => h.send_oversized(1, bytes),
                                _ => {}
                            }
                        }
                    }
                }
            })?;
        Ok(FaultDriver {
            stop,
            thread: Some(thread),
        })
    }
}

/// The thread of a running [`FaultPlan`]; stops when dropped.
#[derive(Debug)]
pub struct FaultDriver {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for FaultDriver {
    fn drop(&mut self) {
        self.stop.store(true, R);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Binance: which trades the pump sends to nobody. Remembers, per venue and symbol, the
/// fate of the last `@trade` so the `@aggTrade` of the same trade (`f` = its `t`) shares it;
/// an `@aggTrade` without a matching `@trade` (nobody wants the trade stream) decides itself.
#[derive(Debug)]
pub(crate) struct BinanceSkip {
    last: [Vec<Option<(u64, bool)>>; 2],
}

impl BinanceSkip {
    pub(crate) fn new(symbols: usize) -> BinanceSkip {
        BinanceSkip {
            last: [vec![None; symbols], vec![None; symbols]],
        }
    }

    /// Whether the data frame (`kind` of `symbol` on venue `venue`, 0 spot / 1 futures) is
    /// to be sent to nobody.
    pub(crate) fn skip(
        &mut self,
        faults: &VenueFaults,
        venue: usize,
        symbol: usize,
        kind: super::market::StreamKind,
        payload: &str,
    ) -> bool {
        use super::market::StreamKind;
        let Some(last) = self.last.get_mut(venue).and_then(|l| l.get_mut(symbol)) else {
            return false;
        };
        match kind {
            StreamKind::Trade => {
                let skip = faults.skip_trade(symbol);
                if let Some(t) = u64_after(payload, r#""t":"#) {
                    *last = Some((t, skip));
                }
                skip
            }
            StreamKind::AggTrade => match (*last, u64_after(payload, r#""f":"#)) {
                (Some((t, skip)), Some(f)) if t == f => skip,
                _ => faults.skip_trade(symbol),
            },
            StreamKind::ForceOrder => false,
        }
    }
}

/// Reads the unsigned integer after `key` (like `"t":`) in a JSON text, for matching an
/// `@aggTrade` frame to the `@trade` frame of the same trade.
pub(crate) fn u64_after(text: &str, key: &str) -> Option<u64> {
    let rest = &text[text.find(key)? + key.len()..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_fail_clearly() {
        assert_eq!(
            "drop:30s".parse::<FaultSpec>(),
            Ok(FaultSpec::Drop {
                every: Duration::from_secs(30),
                close_frame: true
            })
        );
        assert_eq!(
            "stall:1m:500ms".parse::<FaultSpec>(),
            Ok(FaultSpec::Stall {
                every: Duration::from_secs(60),
                length: Duration::from_millis(500)
            })
        );
        assert_eq!("skip:0.001".parse(), Ok(FaultSpec::Skip(0.001)));
        assert_eq!(
            "lifetime:10m".parse(),
            Ok(FaultSpec::Lifetime(Duration::from_secs(600)))
        );
        assert_eq!("nopong".parse(), Ok(FaultSpec::NoPong));
        for bad in [
            "drop",
            "drop:x",
            "skip:2",
            "stall:1s",
            "lifetime:0s",
            "boom:1s",
            "drop:1s:soft",
        ] {
            let e = bad.parse::<FaultSpec>().unwrap_err();
            assert!(e.contains("syntax"), "{bad}: {e}");
        }
    }

    #[test]
    fn oversized_frame_is_exact_json() {
        for n in [100, 1 << 20] {
            let f = oversized_frame(n);
            assert_eq!(f.len(), n);
            assert!(serde_json::from_str::<serde_json::Value>(&f).is_ok());
        }
    }

    #[test]
    fn counts_are_taken_exactly() {
        let set = FaultSet::new(vec![(Venue::OkxSwap, vec!["A".into(), "B".into()])], 1);
        let h = FaultHandle::new(Arc::clone(&set));
        let v = set.get(0).unwrap();
        h.skip_trades(2);
        assert!(h.skip_trades_on(Venue::OkxSwap, "b", 1));
        assert!(!h.skip_trades_on(Venue::OkxSwap, "C", 1));
        let got: Vec<bool> = [0, 1, 1, 0, 1].iter().map(|&m| v.skip_trade(m)).collect();
        assert_eq!(got, [true, true, true, false, false]);
        assert_eq!(h.skipped(Venue::OkxSwap, "A"), 1);
        assert_eq!(h.skipped(Venue::OkxSwap, "B"), 2);
        assert_eq!(h.stats().trades_skipped, 3);
        assert_eq!(u64_after(r#"{"t":123,"p":"1"}"#, r#""t":"#), Some(123));
        assert_eq!(v.malformed("abc"), None);
        h.send_malformed(1);
        let m = v.malformed(r#"{"e":"trade","t":1}"#).unwrap();
        assert!(serde_json::from_str::<serde_json::Value>(&m).is_err());
    }
}
