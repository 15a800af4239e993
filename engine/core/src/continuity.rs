//! Per-market continuity on a feed thread: nothing is lost silently and nothing is counted
//! twice.
//!
//! Every live tick passes [`Continuity::admit`] before it goes downstream, every recovered one
//! [`Continuity::admit_backfill`]. What it decides:
//!
//! - **Duplicates** are dropped: trades a venue replays on subscribe after a reconnect, the
//!   overlap of a planned rotation, duplicated frames.
//! - **Gaps in contiguous trade ids** (Binance `t`/`a`, OKX `tradeId` with `count`, Kraken v2,
//!   Coinbase Exchange) are exact: a jump opens a *hole* of the missing ids. A hole that is
//!   still open after a short grace (a reordered frame fills it first) becomes a gap: an event,
//!   the stored bars of its seconds flagged [`GAP`](crate::store::flags::GAP), and a REST
//!   backfill job. Recovered trades fill the hole id by id; when none is missing the gap is
//!   closed as recovered and the flag cleared, otherwise it is closed with the exact number of
//!   trades still missing and the flag stays.
//! - **Reconnect windows**: on venues without contiguous ids, the time between the last trade
//!   before a connection was lost and the first one after it is a gap of unknown size, backfilled
//!   by time (and by id where ids are monotonic).
//! - **Downtime**: at start-up each market resumes after its last closed stored second; the
//!   time until its first live trade is backfilled the same way.
//! - **Handovers** (planned rotation): while a replacement connection overlaps the old one,
//!   a boundary second splits the stream: the old connection's trades before it, the new one's
//!   from it on.
//!
//! No allocation after construction: every table is sized up front.

use crate::market::{MarketIdx, MarketTable, Tick};
use crate::recovery::{BackfillJob, DoneWhy};
use feeds::registry::TradeIds;
use feeds::{EventKind, Venue};

/// `2026-11-24T04:12:00.123456Z` for a time in µs since the epoch.
pub fn iso_time_us(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let (day, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = crate::store::civil_from_days(day);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60,
        us.rem_euclid(1_000_000)
    )
}

/// How the feed keeps its connections healthy and its markets continuous.
#[derive(Debug, Clone, Copy)]
pub struct ConnPolicy {
    /// A connection that sent nothing (no data, no keepalive) for this many times its usual
    /// gap between frames is dropped and reconnected, within [`ConnPolicy::stale_floor`] …
    /// [`ConnPolicy::stale_cap`].
    pub stale_factor: u32,
    pub stale_floor: std::time::Duration,
    pub stale_cap: std::time::Duration,
    /// During a rotation, how long after the boundary second both connections overlap
    /// before the old one is closed.
    pub overlap: std::time::Duration,
}

impl Default for ConnPolicy {
    fn default() -> Self {
        ConnPolicy {
            stale_factor: 20,
            stale_floor: std::time::Duration::from_secs(10),
            stale_cap: std::time::Duration::from_secs(300),
            overlap: std::time::Duration::from_secs(2),
        }
    }
}

/// What a venue's trade ids allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdModel {
    /// Per market, every trade takes the next id (a tick covers `trade_id - fills + 1 ..=
    /// trade_id` where ids count fills, else exactly `trade_id`): missing trades are counted
    /// exactly.
    Contiguous { per_fill: bool },
    /// Ids grow but skip (Deribit, Bitfinex, Coinbase Advanced): duplicates are found by id,
    /// gaps only by reconnect windows.
    Monotonic,
    /// No usable id: duplicates by time, gaps by reconnect windows.
    None,
}

/// How `venue`'s trade ids behave (reference/exchanges.md, "id usable for gap detection").
pub fn id_model(venue: Venue) -> IdModel {
    // The venue's `SPEC` says it. Binance spot follows `@trade` ids `t`: a live trade is one
    // id, a REST aggregate (`trade_id` = `l`, `fills` = `l − f + 1`) the ids `f..=l`. USDⓈ-M
    // and COIN-M follow `@aggTrade` ids `a`, one per event live and over REST.
    match venue.spec().trade_ids {
        TradeIds::Contiguous { per_fill } => IdModel::Contiguous { per_fill },
        TradeIds::Monotonic => IdModel::Monotonic,
        TradeIds::None => IdModel::None,
    }
}

/// What kind of gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapKind {
    /// Missing contiguous trade ids: the count is exact.
    Ids,
    /// A connection was down: from the last trade before to the first trade after.
    Window,
    /// The engine was down: from the last closed stored second to the first live trade.
    Downtime,
}

impl GapKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GapKind::Ids => "ids",
            GapKind::Window => "window",
            GapKind::Downtime => "downtime",
        }
    }
}

/// How a gap ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every missing trade was recovered (or the window was fetched completely).
    Recovered,
    /// Closed with trades still missing: its bars stay flagged.
    Unrecovered(DoneWhy),
    /// Dropped to make room (too many open gaps on one market): its bars stay flagged.
    Abandoned,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Recovered => "recovered",
            Outcome::Unrecovered(_) => "unrecovered",
            Outcome::Abandoned => "abandoned",
        }
    }
}

/// An event for the log, the stats and the gap journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    Opened {
        gap: u64,
        market: MarketIdx,
        kind: GapKind,
        from_ts_us: i64,
        to_ts_us: i64,
        after_id: u64,
        before_id: u64,
        /// Missing trades (exact for [`GapKind::Ids`], 0 = unknown otherwise).
        missing: u64,
    },
    Closed {
        gap: u64,
        market: MarketIdx,
        kind: GapKind,
        /// Trades recovered into the bars.
        recovered: u64,
        /// Trades still missing (exact for [`GapKind::Ids`]).
        remaining: u64,
        outcome: Outcome,
    },
    /// A subscribed market received no trade for `quiet_ms` (its limit: `limit_ms`) while its
    /// connection kept receiving other frames ([`crate::silence`]); `traded`: whether it had
    /// traded since start (else it has been silent since it was subscribed). `episode` counts
    /// the market's silent episodes since start.
    Silent {
        market: MarketIdx,
        quiet_ms: u64,
        limit_ms: u64,
        traded: bool,
        episode: u64,
    },
    /// Trades of a silent market arrive again, `silent_ms` after its last trade (or after it
    /// was subscribed).
    Flowing {
        market: MarketIdx,
        silent_ms: u64,
        episode: u64,
    },
}

impl Record {
    /// The market the record is about.
    pub fn market(&self) -> MarketIdx {
        match *self {
            Record::Opened { market, .. }
            | Record::Closed { market, .. }
            | Record::Silent { market, .. }
            | Record::Flowing { market, .. } => market,
        }
    }
}

/// Work for the feed thread: what it must send where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send to the backfill worker.
    Job(BackfillJob),
    /// Send to the market's shard: set/clear the gap flag over seconds `from..=to`.
    Mark {
        market: MarketIdx,
        from_sec: i64,
        to_sec: i64,
        set: bool,
    },
    /// Log and journal.
    Record(Record),
}

/// Settings.
#[derive(Debug, Clone, Copy)]
pub struct ContinuityConfig {
    /// How long a hole in contiguous ids may stay open before it is a gap (a reordered frame
    /// fills it first).
    pub hole_grace_ns: u64,
    /// After a reconnect, how long to wait for a market's first trade before closing its
    /// window at the moment the connection reopened.
    pub window_wait_ns: u64,
    /// Whether backfill jobs are sent (else gaps close at once as unrecovered).
    pub backfill: bool,
    /// A market with no trade for this long (at least) while its connection is alive is
    /// reported silent ([`crate::silence`]).
    pub silent_after_ns: u64,
}

impl Default for ContinuityConfig {
    fn default() -> Self {
        ContinuityConfig {
            hole_grace_ns: 1_000_000_000,
            window_wait_ns: 10_000_000_000,
            backfill: true,
            silent_after_ns: 120_000_000_000,
        }
    }
}

/// Counters (monotonic), read by the feed thread into its stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContinuityCounters {
    pub duplicates: u64,
    pub gaps_opened: u64,
    pub gaps_recovered: u64,
    pub gaps_unrecovered: u64,
    /// Trades found missing by id (exact).
    pub trades_missing: u64,
    /// Recovered trades accepted into the bars.
    pub trades_recovered: u64,
    /// Recovered trades dropped (already seen, or outside every open gap).
    pub backfill_dropped: u64,
    /// Holes filled by a late live frame before they became gaps.
    pub reordered: u64,
    /// Id-only prints (not market trades) seen.
    pub non_market: u64,
    /// Live trades that filled a hole (arrived out of order or late).
    pub reordered_or_recovered_live: u64,
}

/// Which connection of a subscription a live tick came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    /// Index of the subscription.
    pub sub: usize,
    /// The replacement connection of a rotation (else the current one).
    pub replacement: bool,
}

const MAX_HOLES: usize = 8;
const MAX_WINDOWS: usize = 4;
/// Ids a hole tracks one by one; larger holes only by a fill watermark (backfill sends them in
/// ascending order).
const HOLE_BITS: u64 = 4096;
const RECENT: usize = 64;

#[derive(Debug, Clone, Copy)]
struct Hole {
    lo: u64,
    hi: u64,
    /// Unseen ids in `lo..=hi`.
    missing: u64,
    /// Bit i = id `lo + i` seen (small holes only).
    seen: [u64; (HOLE_BITS / 64) as usize],
    /// Large holes: every id up to this one is seen.
    filled_to: u64,
    from_ts: i64,
    to_ts: i64,
    since_ns: u64,
    /// 0 while pending (within the grace).
    gap: u64,
    recovered: u64,
}

impl Hole {
    fn small(&self) -> bool {
        self.hi - self.lo < HOLE_BITS
    }

    /// Marks `id` seen; false if it was seen already.
    fn fill(&mut self, id: u64) -> bool {
        if id < self.lo || id > self.hi {
            return false;
        }
        if self.small() {
            let i = id - self.lo;
            let (w, b) = ((i / 64) as usize, i % 64);
            if self.seen[w] & (1 << b) != 0 {
                return false;
            }
            self.seen[w] |= 1 << b;
        } else {
            if id <= self.filled_to {
                return false;
            }
            self.filled_to = id;
        }
        self.missing -= 1;
        true
    }

    fn is_seen(&self, id: u64) -> bool {
        if self.small() {
            let i = id - self.lo;
            self.seen[(i / 64) as usize] & (1 << (i % 64)) != 0
        } else {
            id <= self.filled_to
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    gap: u64,
    kind: GapKind,
    from_ts: i64,
    to_ts: i64,
    after_id: u64,
    before_id: u64,
    recovered: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resume {
    Live,
    /// Waiting for the first trade after a reconnect (or, for `Downtime`, after start-up).
    Waiting {
        kind: GapKind,
        since_ts: i64,
        since_id: u64,
        /// `mono_ns` when the connection was open again (0: not yet).
        reopened_ns: u64,
        reopened_wall_us: i64,
    },
}

#[derive(Debug, Clone)]
struct MarketState {
    model: IdModel,
    /// Windows open (skips the per-tick window update when zero).
    open_windows: u8,
    /// Highest id accepted (0: none yet).
    hi: u64,
    /// Latest exchange time accepted.
    last_ts: i64,
    holes: [Option<Hole>; MAX_HOLES],
    windows: [Option<Window>; MAX_WINDOWS],
    resume: Resume,
    /// Recent ids (monotonic venues: reorders; none: fingerprints after a reconnect).
    recent: [u64; RECENT],
    recent_pos: usize,
    /// Which subscription carries the market.
    sub: usize,
}

impl MarketState {
    fn new(venue: Venue, resume: Resume) -> MarketState {
        MarketState {
            model: id_model(venue),
            open_windows: 0,
            hi: 0,
            last_ts: i64::MIN,
            holes: [None; MAX_HOLES],
            windows: [None; MAX_WINDOWS],
            resume,
            recent: [0; RECENT],
            recent_pos: 0,
            sub: usize::MAX,
        }
    }

    /// Ids one tick covers: its fills where the venue's ids count fills (OKX; Binance spot,
    /// whose REST aggregates cover `f..=l`), else one.
    fn id_span(&self, tick: &Tick) -> u64 {
        match self.model {
            IdModel::Contiguous { per_fill: true } => u64::from(tick.fills.max(1)),
            _ => 1,
        }
    }
}

/// Per-subscription handover state during a planned rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Handover {
    /// First second (µs) taken from the replacement; `None` until its first trade.
    boundary_us: Option<i64>,
}

/// The continuity state of one feed thread's markets.
#[derive(Debug)]
pub struct Continuity {
    cfg: ContinuityConfig,
    markets: Vec<Option<MarketState>>,
    handovers: Vec<Option<Handover>>,
    actions: Vec<Action>,
    next_gap: u64,
    counters: ContinuityCounters,
}

impl Continuity {
    /// States for every market of `table` (a market learns which subscription carries it from
    /// its first tick). `resume_after`: per market index, its last closed stored second (the
    /// downtime backfill starts after it), `None` for a market with no stored bar. `feed_id`
    /// keeps gap ids unique across feed threads.
    pub fn new(
        cfg: ContinuityConfig,
        table: &MarketTable,
        resume_after: &[Option<i64>],
        subs: usize,
        feed_id: usize,
    ) -> Continuity {
        let states = table
            .iter()
            .map(|(idx, market)| {
                let resume = match resume_after.get(idx as usize).copied().flatten() {
                    Some(last) => Resume::Waiting {
                        kind: GapKind::Downtime,
                        since_ts: (last + 1) * 1_000_000,
                        since_id: 0,
                        reopened_ns: 0,
                        reopened_wall_us: 0,
                    },
                    None => Resume::Live,
                };
                Some(MarketState::new(market.venue, resume))
            })
            .collect();
        Continuity {
            cfg,
            markets: states,
            handovers: vec![None; subs],
            actions: Vec::with_capacity(4096),
            // Gap ids: feed id in the top bits, a sequence below.
            next_gap: ((feed_id as u64) << 40) + 1,
            counters: ContinuityCounters::default(),
        }
    }

    /// Whether `idx` has a state.
    pub fn knows(&self, idx: MarketIdx) -> bool {
        matches!(self.markets.get(idx as usize), Some(Some(_)))
    }

    /// A market learnt after construction (replay learns markets from the frames; allocates).
    pub fn add_market(&mut self, idx: MarketIdx, venue: Venue) {
        let i = idx as usize;
        if self.markets.len() <= i {
            self.markets.resize(i + 1, None);
        }
        self.markets[i] = Some(MarketState::new(venue, Resume::Live));
    }

    pub fn counters(&self) -> ContinuityCounters {
        self.counters
    }

    /// `silent_after_s` in ns (the floor of the silent-market detector, [`crate::silence`]).
    pub fn silent_after_ns(&self) -> u64 {
        self.cfg.silent_after_ns
    }

    /// Actions produced since the last call (the feed thread sends them, then clears).
    pub fn actions(&mut self) -> &mut Vec<Action> {
        &mut self.actions
    }

    /// Whether a live tick goes downstream. Non-trade ticks (open interest) always do;
    /// id-only prints never (they only advance the ids).
    #[inline]
    pub fn admit(&mut self, tick: &Tick, src: Source, now_ns: u64) -> bool {
        if tick.kind == EventKind::OpenInterest || tick.kind == EventKind::Liquidation {
            // Liquidations carry no usable id and are not backfilled over REST; during a
            // handover they follow the boundary like trades.
            return match tick.kind {
                EventKind::Liquidation => self.boundary_ok(tick, src),
                _ => true,
            };
        }
        let idx = tick.market as usize;
        let non_market = tick.kind == EventKind::NonMarket;
        if non_market {
            self.counters.non_market += 1;
        }
        if !self.boundary_ok(tick, src) {
            self.counters.duplicates += u64::from(!non_market);
            return false;
        }
        let in_handover = self.handovers.get(src.sub).is_some_and(|h| h.is_some());
        let Some(Some(m)) = self.markets.get_mut(idx) else {
            return !non_market;
        };
        m.sub = src.sub;
        // The first trade after a reconnect (or after start-up) ends the market's window.
        let waiting = match m.resume {
            Resume::Waiting {
                kind,
                since_ts,
                since_id,
                ..
            } => Some((kind, since_ts, since_id)),
            Resume::Live => None,
        };
        if waiting.is_some_and(|w| tick.ts_us < w.1) {
            // Older than what was seen (or stored) before: a replayed snapshot.
            self.counters.duplicates += u64::from(!non_market);
            return false;
        }
        let mut filled = false;
        let accept = match m.model {
            IdModel::Contiguous { .. } if tick.trade_id != 0 => {
                let fills = m.id_span(tick);
                match admit_contiguous(m, tick, fills, now_ns) {
                    Admit::New => true,
                    Admit::Filled => {
                        filled = true;
                        true
                    }
                    Admit::Seen => false,
                }
            }
            IdModel::Monotonic if tick.trade_id != 0 => {
                admit_monotonic(m, tick.trade_id, in_handover || waiting.is_some())
            }
            _ => admit_untracked(m, tick, waiting.map(|w| w.1)),
        };
        if !accept {
            self.counters.duplicates += u64::from(!non_market);
            return false;
        }
        if let Some((kind, since_ts, since_id)) = waiting {
            m.resume = Resume::Live;
            // Contiguous ids with a known last id: the hole logic counts the gap exactly.
            let exact = matches!(m.model, IdModel::Contiguous { .. }) && since_id != 0;
            if !exact && tick.ts_us > since_ts {
                let before_id = tick.trade_id;
                self.open_window(idx, kind, since_ts, tick.ts_us, since_id, before_id);
            }
        }
        if let Some(Some(m)) = self.markets.get_mut(idx) {
            m.last_ts = m.last_ts.max(tick.ts_us);
            if m.open_windows != 0 && waiting.is_none() {
                // Trades taken live inside an open window (a snapshot sent newest first)
                // shrink what the backfill may still add.
                for w in m.windows.iter_mut().flatten() {
                    if tick.ts_us >= w.from_ts && tick.ts_us < w.to_ts {
                        w.to_ts = tick.ts_us;
                        if tick.trade_id != 0 && tick.trade_id < w.before_id {
                            w.before_id = tick.trade_id;
                        }
                    }
                }
            }
        }
        if filled {
            self.counters.reordered_or_recovered_live += 1;
            self.close_filled_holes(idx);
        }
        !non_market
    }

    /// The handover rule: during a rotation the old connection supplies trades before the
    /// boundary second and the replacement those from it on.
    fn boundary_ok(&mut self, tick: &Tick, src: Source) -> bool {
        let Some(Some(h)) = self.handovers.get_mut(src.sub) else {
            return !src.replacement;
        };
        match (h.boundary_us, src.replacement) {
            (None, false) => true,
            (None, true) => {
                let b = (tick.ts_us.div_euclid(1_000_000) + 1) * 1_000_000;
                h.boundary_us = Some(b);
                false
            }
            (Some(b), false) => tick.ts_us < b,
            (Some(b), true) => tick.ts_us >= b,
        }
    }

    /// A recovered trade from the backfill worker: accepted only into an open gap, once.
    pub fn admit_backfill(&mut self, tick: &Tick) -> bool {
        let idx = tick.market as usize;
        let Some(Some(m)) = self.markets.get_mut(idx) else {
            self.counters.backfill_dropped += 1;
            return false;
        };
        // Contiguous ids: fill the hole the ids fall in.
        if matches!(m.model, IdModel::Contiguous { .. }) && tick.trade_id != 0 {
            let fills = m.id_span(tick);
            let lo = tick.trade_id.saturating_sub(fills - 1);
            if let Some(h) = m
                .holes
                .iter_mut()
                .flatten()
                .find(|h| lo >= h.lo && tick.trade_id <= h.hi)
            {
                // Binance aggregated trades may cover ids already seen live: take the
                // record only when every id it covers is missing (else its fills would be
                // counted twice).
                if (lo..=tick.trade_id).any(|id| h.is_seen(id)) {
                    self.counters.backfill_dropped += 1;
                    return false;
                }
                for id in lo..=tick.trade_id {
                    h.fill(id);
                }
                h.recovered += 1;
                self.counters.trades_recovered += 1;
                self.close_filled_holes(idx);
                return true;
            }
        }
        // Windows: by time, and by id where ids exist.
        let Some(Some(m)) = self.markets.get_mut(idx) else {
            return false;
        };
        let untracked = m.model == IdModel::None || tick.trade_id == 0;
        for w in m.windows.iter_mut().flatten() {
            let in_time = if untracked {
                // No id to tell a trade at the edges from one seen live: the edges are
                // exclusive (trades sharing the edge millisecond are not recovered).
                tick.ts_us > w.from_ts && tick.ts_us < w.to_ts
            } else {
                tick.ts_us >= w.from_ts && tick.ts_us <= w.to_ts
            };
            let in_ids = untracked
                || ((w.after_id == 0 || tick.trade_id > w.after_id)
                    && (w.before_id == 0 || tick.trade_id < w.before_id));
            if in_time && in_ids {
                w.recovered += 1;
                self.counters.trades_recovered += 1;
                return true;
            }
        }
        self.counters.backfill_dropped += 1;
        false
    }

    /// The backfill worker finished gap `gap`.
    pub fn backfill_done(&mut self, gap: u64, market: MarketIdx, complete: bool, why: DoneWhy) {
        let idx = market as usize;
        let Some(Some(m)) = self.markets.get_mut(idx) else {
            return;
        };
        // No venue special case: USDⓈ-M holes are in `@aggTrade` ids `a` (since the 2026 route
        // split), which `aggTrades` lists one for one, so a complete walk leaves none missing;
        // insurance-fund/ADL prints have no `a` and never open a hole. (When the feed read
        // `@trade` ids, the ids REST left out were those prints and a complete walk counted
        // as recovered whatever stayed missing.)
        if let Some(slot) = m.holes.iter_mut().find(|h| h.is_some_and(|h| h.gap == gap)) {
            let Some(h) = slot.take() else { return };
            let outcome = if h.missing == 0 {
                Outcome::Recovered
            } else {
                Outcome::Unrecovered(if complete { DoneWhy::Ok } else { why })
            };
            self.close(
                idx,
                GapKind::Ids,
                h.gap,
                h.from_ts,
                h.to_ts,
                h.recovered,
                h.missing,
                outcome,
            );
            return;
        }
        if let Some(slot) = m
            .windows
            .iter_mut()
            .find(|w| w.is_some_and(|w| w.gap == gap))
        {
            let Some(w) = slot.take() else { return };
            m.open_windows = m.open_windows.saturating_sub(1);
            let outcome = if complete {
                Outcome::Recovered
            } else {
                Outcome::Unrecovered(why)
            };
            self.close(
                idx,
                w.kind,
                w.gap,
                w.from_ts,
                w.to_ts,
                w.recovered,
                0,
                outcome,
            );
        }
    }

    /// The connection of subscription `sub` was lost: its markets wait for their first trade
    /// on the next connection (the window in between is a gap).
    pub fn connection_lost(&mut self, sub: usize) {
        if let Some(h) = self.handovers.get_mut(sub) {
            *h = None;
        }
        for m in self.markets.iter_mut().flatten() {
            if m.sub != sub {
                continue;
            }
            match m.resume {
                // Already waiting (lost again before the first trade): keep the older start.
                Resume::Waiting { .. } => {
                    if let Resume::Waiting {
                        reopened_ns,
                        reopened_wall_us,
                        ..
                    } = &mut m.resume
                    {
                        *reopened_ns = 0;
                        *reopened_wall_us = 0;
                    }
                }
                Resume::Live => {
                    if m.last_ts == i64::MIN {
                        continue; // nothing seen yet: nothing to measure a window from
                    }
                    m.resume = Resume::Waiting {
                        kind: GapKind::Window,
                        since_ts: m.last_ts,
                        since_id: m.hi,
                        reopened_ns: 0,
                        reopened_wall_us: 0,
                    };
                }
            }
        }
    }

    /// Subscription `sub` has a working connection again (subscribed at `now`).
    pub fn connection_open(&mut self, sub: usize, now_ns: u64, wall_us: i64) {
        for m in self.markets.iter_mut().flatten() {
            if m.sub != sub {
                continue;
            }
            if let Resume::Waiting {
                reopened_ns,
                reopened_wall_us,
                ..
            } = &mut m.resume
            {
                if *reopened_ns == 0 {
                    *reopened_ns = now_ns.max(1);
                    *reopened_wall_us = wall_us;
                }
            }
        }
    }

    /// A rotation of `sub` starts: the replacement is being opened.
    pub fn handover_begin(&mut self, sub: usize) {
        if let Some(h) = self.handovers.get_mut(sub) {
            *h = Some(Handover { boundary_us: None });
        }
    }

    /// The boundary of `sub`'s handover, once the replacement's first trade set it.
    pub fn handover_boundary(&self, sub: usize) -> Option<i64> {
        self.handovers.get(sub).copied().flatten()?.boundary_us
    }

    /// Fix the boundary if the replacement has not set it (quiet markets): from `at_us` on.
    pub fn handover_force_boundary(&mut self, sub: usize, at_us: i64) {
        if let Some(Some(h)) = self.handovers.get_mut(sub) {
            if h.boundary_us.is_none() {
                h.boundary_us = Some((at_us.div_euclid(1_000_000) + 1) * 1_000_000);
            }
        }
    }

    /// The rotation of `sub` is over (old connection closed, replacement current).
    pub fn handover_end(&mut self, sub: usize) {
        if let Some(h) = self.handovers.get_mut(sub) {
            *h = None;
        }
    }

    /// The old connection died during a handover: the replacement takes over at once; trades
    /// it dropped before the boundary are a window to backfill.
    pub fn handover_abort_old(&mut self, sub: usize, wall_us: i64) {
        let boundary = self.handover_boundary(sub);
        self.handover_end(sub);
        let Some(boundary) = boundary else {
            // The replacement delivered nothing yet: as after a plain reconnect, each market's
            // window runs from its last trade to its first on the replacement.
            self.connection_lost(sub);
            return;
        };
        for idx in 0..self.markets.len() {
            let Some(Some(m)) = self.markets.get(idx) else {
                continue;
            };
            if m.sub != sub || m.last_ts == i64::MIN || m.last_ts >= boundary {
                continue;
            }
            let (from, after) = (m.last_ts, m.hi);
            self.open_window(idx, GapKind::Window, from, boundary.min(wall_us), after, 0);
        }
    }

    /// Timers: pending holes past their grace become gaps; markets that saw no trade for
    /// `window_wait` after a reconnect close their window at the reconnect.
    pub fn poll(&mut self, now_ns: u64) {
        for idx in 0..self.markets.len() {
            let Some(Some(m)) = self.markets.get_mut(idx) else {
                continue;
            };
            let mut due = [None; MAX_HOLES];
            for (i, h) in m.holes.iter().enumerate() {
                if let Some(h) = h {
                    if h.gap == 0 && now_ns.saturating_sub(h.since_ns) >= self.cfg.hole_grace_ns {
                        due[i] = Some(i);
                    }
                }
            }
            if let Resume::Waiting {
                kind,
                since_ts,
                since_id,
                reopened_ns,
                reopened_wall_us,
            } = m.resume
            {
                if reopened_ns != 0 && now_ns.saturating_sub(reopened_ns) >= self.cfg.window_wait_ns
                {
                    m.resume = Resume::Live;
                    if reopened_wall_us > since_ts {
                        self.open_window(idx, kind, since_ts, reopened_wall_us, since_id, 0);
                    }
                }
            }
            for i in due.into_iter().flatten() {
                self.report_hole(idx, i);
            }
        }
    }

    fn report_hole(&mut self, idx: usize, i: usize) {
        let gap = self.next_gap;
        let Some(Some(m)) = self.markets.get_mut(idx) else {
            return;
        };
        let Some(h) = m.holes[i].as_mut() else {
            return;
        };
        self.next_gap += 1;
        h.gap = gap;
        let h = *h;
        self.counters.gaps_opened += 1;
        self.counters.trades_missing += h.missing;
        let market = idx as MarketIdx;
        self.actions.push(Action::Record(Record::Opened {
            gap,
            market,
            kind: GapKind::Ids,
            from_ts_us: h.from_ts,
            to_ts_us: h.to_ts,
            after_id: h.lo - 1,
            before_id: h.hi + 1,
            missing: h.missing,
        }));
        self.mark(market, h.from_ts, h.to_ts, true);
        self.job_or_close(
            market,
            gap,
            h.from_ts,
            h.to_ts,
            h.lo.saturating_sub(1),
            h.hi + 1,
        );
    }

    fn open_window(
        &mut self,
        idx: usize,
        kind: GapKind,
        from_ts: i64,
        to_ts: i64,
        after_id: u64,
        before_id: u64,
    ) {
        let gap = self.next_gap;
        let Some(Some(m)) = self.markets.get_mut(idx) else {
            return;
        };
        self.next_gap += 1;
        let w = Window {
            gap,
            kind,
            from_ts,
            to_ts,
            after_id,
            before_id,
            recovered: 0,
        };
        let market = idx as MarketIdx;
        let evicted = match m.windows.iter_mut().find(|w| w.is_none()) {
            Some(slot) => {
                *slot = Some(w);
                m.open_windows += 1;
                None
            }
            None => {
                let old = m.windows[0].take();
                m.windows.rotate_left(1);
                m.windows[MAX_WINDOWS - 1] = Some(w);
                old
            }
        };
        if let Some(old) = evicted {
            self.close(
                idx,
                old.kind,
                old.gap,
                old.from_ts,
                old.to_ts,
                old.recovered,
                0,
                Outcome::Abandoned,
            );
        }
        self.counters.gaps_opened += 1;
        self.actions.push(Action::Record(Record::Opened {
            gap,
            market,
            kind,
            from_ts_us: from_ts,
            to_ts_us: to_ts,
            after_id,
            before_id,
            missing: 0,
        }));
        self.mark(market, from_ts, to_ts, true);
        self.job_or_close(market, gap, from_ts, to_ts, after_id, before_id);
    }

    fn job_or_close(
        &mut self,
        market: MarketIdx,
        gap: u64,
        from_ts: i64,
        to_ts: i64,
        after_id: u64,
        before_id: u64,
    ) {
        if self.cfg.backfill {
            self.actions.push(Action::Job(BackfillJob {
                gap,
                market,
                from_ts_us: from_ts,
                to_ts_us: to_ts,
                after_id,
                before_id,
            }));
        } else {
            self.backfill_done(gap, market, false, DoneWhy::Unsupported);
        }
    }

    fn mark(&mut self, market: MarketIdx, from_ts: i64, to_ts: i64, set: bool) {
        self.actions.push(Action::Mark {
            market,
            from_sec: from_ts.div_euclid(1_000_000),
            to_sec: to_ts.div_euclid(1_000_000),
            set,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn close(
        &mut self,
        idx: usize,
        kind: GapKind,
        gap: u64,
        from_ts: i64,
        to_ts: i64,
        recovered: u64,
        remaining: u64,
        outcome: Outcome,
    ) {
        let market = idx as MarketIdx;
        match outcome {
            Outcome::Recovered => {
                self.counters.gaps_recovered += 1;
                self.mark(market, from_ts, to_ts, false);
            }
            Outcome::Unrecovered(_) | Outcome::Abandoned => self.counters.gaps_unrecovered += 1,
        }
        self.actions.push(Action::Record(Record::Closed {
            gap,
            market,
            kind,
            recovered,
            remaining,
            outcome,
        }));
    }

    /// Holes with nothing missing: pending ones vanish (a reorder), reported ones close as
    /// recovered.
    fn close_filled_holes(&mut self, idx: usize) {
        for i in 0..MAX_HOLES {
            let Some(Some(m)) = self.markets.get_mut(idx) else {
                return;
            };
            let Some(h) = m.holes[i] else { continue };
            if h.missing != 0 {
                continue;
            }
            m.holes[i] = None;
            if h.gap == 0 {
                self.counters.reordered += 1;
            } else {
                self.close(
                    idx,
                    GapKind::Ids,
                    h.gap,
                    h.from_ts,
                    h.to_ts,
                    h.recovered,
                    0,
                    Outcome::Recovered,
                );
            }
        }
    }
}

/// What [`admit_contiguous`] found.
enum Admit {
    /// Beyond the highest id (any ids skipped are a new hole).
    New,
    /// Filled (part of) a hole.
    Filled,
    /// Every id it covers was seen: a duplicate.
    Seen,
}

/// Contiguous ids: new ids beyond the highest open a hole for what they skip; older ids are
/// taken only if they fill a hole.
fn admit_contiguous(m: &mut MarketState, tick: &Tick, fills: u64, now_ns: u64) -> Admit {
    let id = tick.trade_id;
    let lo = id.saturating_sub(fills - 1).max(1);
    if m.hi == 0 {
        m.hi = id;
        return Admit::New;
    }
    if lo > m.hi {
        if lo > m.hi + 1 {
            let hole = Hole {
                lo: m.hi + 1,
                hi: lo - 1,
                missing: lo - 1 - m.hi,
                seen: [0; (HOLE_BITS / 64) as usize],
                filled_to: m.hi,
                from_ts: if m.last_ts == i64::MIN {
                    tick.ts_us
                } else {
                    m.last_ts
                },
                to_ts: tick.ts_us,
                since_ns: now_ns,
                gap: 0,
                recovered: 0,
            };
            match m.holes.iter_mut().find(|h| h.is_none()) {
                Some(slot) => *slot = Some(hole),
                None => {
                    // Too many open holes: extend the newest over the new one (the ids in
                    // between count as missing too; recovered ones still fill it).
                    if let Some(last) = m.holes.iter_mut().flatten().max_by_key(|h| h.hi) {
                        let was_small = last.small();
                        let extra = hole.hi - last.hi;
                        last.hi = hole.hi;
                        last.missing += extra;
                        last.to_ts = hole.to_ts;
                        if was_small && !last.small() {
                            // Switching to the watermark: only ids above it are new.
                            last.filled_to = last.lo - 1;
                        }
                    }
                }
            }
        }
        m.hi = id;
        return Admit::New;
    }
    // At or below the highest id: only ids of a hole are new, and only if all are.
    for h in m.holes.iter_mut().flatten() {
        if id < h.lo || lo > h.hi {
            continue;
        }
        let (a, b) = (lo.max(h.lo), id.min(h.hi));
        if (a..=b).any(|i| h.is_seen(i)) {
            return Admit::Seen;
        }
        for i in a..=b {
            h.fill(i);
        }
        if h.gap != 0 {
            h.recovered += 1;
        }
        return Admit::Filled;
    }
    Admit::Seen
}

/// Monotonic ids: newer than the highest is new; older only if recent and unseen (a reorder),
/// never while resuming (a replayed snapshot).
fn admit_monotonic(m: &mut MarketState, id: u64, resuming: bool) -> bool {
    let fresh = if id > m.hi {
        true
    } else if resuming {
        false
    } else {
        let oldest = m
            .recent
            .iter()
            .copied()
            .filter(|&r| r != 0)
            .min()
            .unwrap_or(0);
        id > oldest && !m.recent.contains(&id)
    };
    if fresh {
        m.hi = m.hi.max(id);
        m.recent[m.recent_pos] = id;
        m.recent_pos = (m.recent_pos + 1) % RECENT;
    }
    fresh
}

/// No ids: after a reconnect, trades older than the last one seen are a replayed snapshot;
/// at the same millisecond a fingerprint of the recent trades decides.
fn admit_untracked(m: &mut MarketState, tick: &Tick, resuming_since: Option<i64>) -> bool {
    let key = fingerprint(tick);
    if let Some(since) = resuming_since {
        if tick.ts_us < since {
            return false;
        }
        if tick.ts_us == since && m.recent.contains(&key) {
            return false;
        }
    }
    m.recent[m.recent_pos] = key;
    m.recent_pos = (m.recent_pos + 1) % RECENT;
    true
}

fn fingerprint(tick: &Tick) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for v in [
        tick.ts_us as u64,
        tick.price.to_bits(),
        tick.qty.to_bits(),
        tick.side as u64,
        tick.trade_id,
    ] {
        h ^= v;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h | 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use feeds::{Side, Symbol};

    const SEC: i64 = 1_000_000;

    fn table(venue: Venue) -> MarketTable {
        let mut t = MarketTable::new(1);
        t.add(venue, Symbol::new(b"BTCUSDT").unwrap());
        t
    }

    fn cont(venue: Venue, cfg: ContinuityConfig, resume: Option<i64>) -> Continuity {
        Continuity::new(cfg, &table(venue), &[resume], 1, 0)
    }

    fn trade(id: u64, ts_us: i64) -> Tick {
        Tick {
            market: 0,
            kind: EventKind::Trade,
            side: Side::Buy,
            fills: 1,
            price: 100.0 + id as f64,
            qty: 1.0,
            ts_us,
            recv_ns: 1,
            trade_id: id,
        }
    }

    const LIVE: Source = Source {
        sub: 0,
        replacement: false,
    };
    const NEW: Source = Source {
        sub: 0,
        replacement: true,
    };

    fn drain(c: &mut Continuity) -> Vec<Action> {
        c.actions().drain(..).collect()
    }

    #[test]
    fn missing_ids_become_a_gap_after_the_grace_and_close_when_backfilled() {
        let mut c = cont(Venue::BinanceSpot, ContinuityConfig::default(), None);
        for (id, ts) in [
            (1, 10 * SEC),
            (2, 10 * SEC + 5),
            (3, 11 * SEC),
            (6, 13 * SEC),
        ] {
            assert!(c.admit(&trade(id, ts), LIVE, 100));
        }
        c.poll(100 + 999_999_999);
        assert!(drain(&mut c).is_empty(), "still within the grace");
        c.poll(100 + 1_000_000_000);
        let acts = drain(&mut c);
        let gap = match acts[0] {
            Action::Record(Record::Opened {
                gap,
                kind: GapKind::Ids,
                missing: 2,
                after_id: 3,
                before_id: 6,
                from_ts_us,
                to_ts_us,
                ..
            }) => {
                assert_eq!((from_ts_us, to_ts_us), (11 * SEC, 13 * SEC));
                gap
            }
            ref other => panic!("{other:?}"),
        };
        assert!(acts.contains(&Action::Mark {
            market: 0,
            from_sec: 11,
            to_sec: 13,
            set: true
        }));
        assert!(acts.iter().any(
            |a| matches!(a, Action::Job(j) if j.gap == gap && j.after_id == 3 && j.before_id == 6)
        ));
        assert_eq!(c.counters().trades_missing, 2);
        // Recovered trades: each id once.
        assert!(c.admit_backfill(&trade(4, 12 * SEC)));
        assert!(!c.admit_backfill(&trade(4, 12 * SEC)));
        assert!(!c.admit_backfill(&trade(3, 11 * SEC)));
        assert!(drain(&mut c).is_empty());
        assert!(c.admit_backfill(&trade(5, 12 * SEC)));
        let acts = drain(&mut c);
        assert!(acts.contains(&Action::Mark {
            market: 0,
            from_sec: 11,
            to_sec: 13,
            set: false
        }));
        assert!(acts.iter().any(|a| matches!(
            a,
            Action::Record(Record::Closed {
                recovered: 2,
                remaining: 0,
                outcome: Outcome::Recovered,
                ..
            })
        )));
        // The worker's Done after the fact changes nothing.
        c.backfill_done(gap, 0, true, DoneWhy::Ok);
        assert!(drain(&mut c).is_empty());
        let k = c.counters();
        assert_eq!(
            (k.gaps_opened, k.gaps_recovered, k.trades_recovered),
            (1, 1, 2)
        );
    }

    #[test]
    fn without_backfill_the_exact_count_stays_missing_and_flagged() {
        let cfg = ContinuityConfig {
            backfill: false,
            ..ContinuityConfig::default()
        };
        let mut c = cont(Venue::BinanceUsdm, cfg, None);
        for id in [10, 11, 15, 16] {
            assert!(c.admit(&trade(id, id as i64 * SEC), LIVE, 0));
        }
        c.poll(2_000_000_000);
        let acts = drain(&mut c);
        assert!(!acts.iter().any(|a| matches!(a, Action::Job(_))));
        assert!(!acts
            .iter()
            .any(|a| matches!(a, Action::Mark { set: false, .. })));
        assert!(acts.iter().any(|a| matches!(
            a,
            Action::Record(Record::Closed {
                remaining: 3,
                outcome: Outcome::Unrecovered(DoneWhy::Unsupported),
                ..
            })
        )));
        assert_eq!(c.counters().gaps_unrecovered, 1);
    }

    /// USDⓈ-M follows aggregate ids: a live aggregate of 4 fills is one id, a complete
    /// backfill that leaves an aggregate id missing says so (the old `@trade`-id special case
    /// called any complete walk recovered).
    #[test]
    fn usdm_aggregate_ids_are_one_per_event_and_a_complete_walk_counts_what_is_missing() {
        let mut c = cont(Venue::BinanceUsdm, ContinuityConfig::default(), None);
        let agg = |id: u64, fills: u32, ts: i64| Tick {
            fills,
            ..trade(id, ts)
        };
        assert!(c.admit(&agg(100, 4, SEC), LIVE, 0));
        assert!(
            c.admit(&agg(101, 7, SEC), LIVE, 0),
            "next aggregate id: no hole"
        );
        assert!(c.admit(&agg(105, 2, 2 * SEC), LIVE, 0));
        c.poll(10_000_000_000);
        let acts = drain(&mut c);
        let gap = acts
            .iter()
            .find_map(|a| match a {
                Action::Record(Record::Opened {
                    gap, missing: 3, ..
                }) => Some(*gap),
                _ => None,
            })
            .expect("ids 102..=104 missing");
        // Multi-fill aggregates each fill one id.
        assert!(c.admit_backfill(&agg(102, 3, SEC)));
        assert!(c.admit_backfill(&agg(103, 5, 2 * SEC)));
        c.backfill_done(gap, 0, true, DoneWhy::Ok);
        assert!(drain(&mut c).iter().any(|a| matches!(
            a,
            Action::Record(Record::Closed {
                recovered: 2,
                remaining: 1,
                outcome: Outcome::Unrecovered(DoneWhy::Ok),
                ..
            })
        )));
    }

    /// Spot follows `@trade` ids: a REST aggregate (`trade_id` = `l`, `fills` = `l − f + 1`)
    /// fills every id it covers, and one overlapping an id seen live is refused.
    #[test]
    fn spot_aggregates_fill_the_trade_ids_they_cover() {
        let mut c = cont(Venue::BinanceSpot, ContinuityConfig::default(), None);
        for id in [10, 11, 17] {
            assert!(c.admit(&trade(id, id as i64 * SEC), LIVE, 0));
        }
        c.poll(10_000_000_000);
        let gap = drain(&mut c)
            .iter()
            .find_map(|a| match a {
                Action::Record(Record::Opened {
                    gap, missing: 5, ..
                }) => Some(*gap),
                _ => None,
            })
            .expect("ids 12..=16 missing");
        let agg = |l: u64, fills: u32| Tick {
            fills,
            ..trade(l, 12 * SEC)
        };
        assert!(!c.admit_backfill(&agg(12, 2)), "covers 11, seen live");
        assert!(c.admit_backfill(&agg(14, 3)), "12..=14");
        assert!(c.admit_backfill(&agg(16, 2)), "15..=16");
        let acts = drain(&mut c);
        assert!(acts.iter().any(|a| matches!(
            a,
            Action::Record(Record::Closed {
                recovered: 2,
                remaining: 0,
                outcome: Outcome::Recovered,
                ..
            })
        )));
        c.backfill_done(gap, 0, true, DoneWhy::Ok);
    }

    #[test]
    fn reorders_and_duplicates() {
        let mut c = cont(Venue::BinanceSpot, ContinuityConfig::default(), None);
        assert!(c.admit(&trade(1, SEC), LIVE, 0));
        assert!(c.admit(&trade(3, SEC), LIVE, 0));
        assert!(
            c.admit(&trade(2, SEC), LIVE, 0),
            "reordered, not a duplicate"
        );
        assert!(!c.admit(&trade(2, SEC), LIVE, 0), "now a duplicate");
        assert!(!c.admit(&trade(3, SEC), LIVE, 0));
        c.poll(10_000_000_000);
        assert!(drain(&mut c).is_empty(), "no gap: the hole was filled");
        let k = c.counters();
        assert_eq!((k.duplicates, k.reordered, k.gaps_opened), (2, 1, 0));
    }

    #[test]
    fn non_market_prints_fill_ids_but_never_go_downstream() {
        let mut c = cont(Venue::BinanceUsdm, ContinuityConfig::default(), None);
        assert!(c.admit(&trade(1, SEC), LIVE, 0));
        let mut nm = trade(2, SEC);
        nm.kind = EventKind::NonMarket;
        assert!(!c.admit(&nm, LIVE, 0));
        assert!(c.admit(&trade(3, SEC), LIVE, 0));
        c.poll(10_000_000_000);
        assert!(drain(&mut c).is_empty());
        assert_eq!(c.counters().duplicates, 0);
    }

    #[test]
    fn okx_ids_count_fills() {
        let mut c = cont(Venue::OkxSwap, ContinuityConfig::default(), None);
        let mut t = trade(10, SEC);
        t.fills = 3; // ids 8..=10
        assert!(c.admit(&t, LIVE, 0));
        let mut t = trade(12, SEC);
        t.fills = 2; // 11..=12: contiguous
        assert!(c.admit(&t, LIVE, 0));
        let mut t = trade(20, 2 * SEC);
        t.fills = 3; // 18..=20: 13..=17 missing
        assert!(c.admit(&t, LIVE, 0));
        c.poll(10_000_000_000);
        assert!(drain(&mut c)
            .iter()
            .any(|a| matches!(a, Action::Record(Record::Opened { missing: 5, .. }))));
    }

    #[test]
    fn a_reconnect_window_on_a_venue_without_ids() {
        let mut c = cont(Venue::BybitLinear, ContinuityConfig::default(), None);
        assert!(c.admit(&trade(0, 10 * SEC), LIVE, 0));
        c.connection_lost(0);
        c.connection_open(0, 5, 12 * SEC);
        // A replayed older trade is dropped; the first new one closes the window.
        assert!(!c.admit(&trade(0, 9 * SEC), LIVE, 10));
        assert!(c.admit(&trade(0, 14 * SEC), LIVE, 10));
        let acts = drain(&mut c);
        let gap = match acts[0] {
            Action::Record(Record::Opened {
                gap,
                kind: GapKind::Window,
                from_ts_us,
                to_ts_us,
                ..
            }) => {
                assert_eq!((from_ts_us, to_ts_us), (10 * SEC, 14 * SEC));
                gap
            }
            ref other => panic!("{other:?}"),
        };
        assert!(c.admit_backfill(&trade(0, 12 * SEC)));
        assert!(!c.admit_backfill(&trade(0, 10 * SEC)), "edge: seen live");
        assert!(!c.admit_backfill(&trade(0, 20 * SEC)), "outside the window");
        c.backfill_done(gap, 0, true, DoneWhy::Ok);
        assert!(drain(&mut c).iter().any(|a| matches!(
            a,
            Action::Record(Record::Closed {
                recovered: 1,
                outcome: Outcome::Recovered,
                ..
            })
        )));
    }

    #[test]
    fn a_quiet_market_closes_its_window_at_the_reconnect() {
        let mut c = cont(Venue::BybitLinear, ContinuityConfig::default(), None);
        assert!(c.admit(&trade(0, 10 * SEC), LIVE, 0));
        c.connection_lost(0);
        c.connection_open(0, 1_000, 30 * SEC);
        c.poll(1_000 + 10_000_000_000);
        assert!(drain(&mut c).iter().any(|a| matches!(
            a,
            Action::Record(Record::Opened {
                from_ts_us: 10_000_000,
                to_ts_us: 30_000_000,
                ..
            })
        )));
    }

    #[test]
    fn downtime_after_a_restart_is_a_window_from_the_last_closed_second() {
        let mut c = cont(Venue::BinanceSpot, ContinuityConfig::default(), Some(100));
        assert!(
            !c.admit(&trade(50, 100 * SEC + 500), LIVE, 0),
            "already stored"
        );
        assert!(c.admit(&trade(60, 130 * SEC), LIVE, 0));
        let acts = drain(&mut c);
        let Action::Record(Record::Opened {
            kind: GapKind::Downtime,
            from_ts_us,
            to_ts_us,
            before_id: 60,
            ..
        }) = acts[0]
        else {
            panic!("{acts:?}");
        };
        assert_eq!((from_ts_us, to_ts_us), (101 * SEC, 130 * SEC));
        assert!(c.admit_backfill(&trade(55, 110 * SEC)));
        assert!(!c.admit_backfill(&trade(60, 130 * SEC)), "seen live");
    }

    #[test]
    fn handover_splits_at_the_boundary_second() {
        let mut c = cont(Venue::BybitLinear, ContinuityConfig::default(), None);
        c.handover_begin(0);
        assert!(c.admit(&trade(0, 10 * SEC + 200_000), LIVE, 0));
        assert!(!c.admit(&trade(0, 10 * SEC + 500_000), NEW, 0));
        assert_eq!(c.handover_boundary(0), Some(11 * SEC));
        assert!(c.admit(&trade(0, 10 * SEC + 900_000), LIVE, 0));
        assert!(!c.admit(&trade(0, 11 * SEC + 100_000), LIVE, 0));
        assert!(c.admit(&trade(0, 11 * SEC + 100_000), NEW, 0));
        c.handover_end(0);
        // After the handover the replacement is simply the connection.
        assert!(c.admit(&trade(0, 12 * SEC), LIVE, 0));
        assert!(!c.admit(&trade(0, 12 * SEC), NEW, 0));
        assert_eq!(c.counters().duplicates, 3);
    }

    #[test]
    fn old_connection_lost_mid_rotation_leaves_a_window() {
        let mut c = cont(Venue::BybitLinear, ContinuityConfig::default(), None);
        assert!(c.admit(&trade(0, 10 * SEC), LIVE, 0));
        c.handover_begin(0);
        // The old connection dies before the replacement delivered anything.
        c.handover_abort_old(0, 12 * SEC);
        c.connection_open(0, 1, 12 * SEC);
        assert!(c.admit(&trade(0, 13 * SEC), LIVE, 2));
        assert!(drain(&mut c).iter().any(|a| matches!(
            a,
            Action::Record(Record::Opened {
                kind: GapKind::Window,
                from_ts_us: 10_000_000,
                to_ts_us: 13_000_000,
                ..
            })
        )));
        // With a boundary set, the trades the replacement dropped before it are a window.
        let mut c = cont(Venue::BybitLinear, ContinuityConfig::default(), None);
        assert!(c.admit(&trade(0, 10 * SEC), LIVE, 0));
        c.handover_begin(0);
        assert!(!c.admit(&trade(0, 10 * SEC + 500_000), NEW, 0));
        c.handover_abort_old(0, 20 * SEC);
        assert!(drain(&mut c).iter().any(|a| matches!(
            a,
            Action::Record(Record::Opened {
                from_ts_us: 10_000_000,
                to_ts_us: 11_000_000,
                ..
            })
        )));
    }

    #[test]
    fn monotonic_ids_drop_replayed_snapshots_and_keep_reorders() {
        let mut c = cont(Venue::Deribit, ContinuityConfig::default(), None);
        for id in [100, 105, 103] {
            assert!(c.admit(&trade(id, 10 * SEC), LIVE, 0));
        }
        assert!(!c.admit(&trade(105, 10 * SEC), LIVE, 0));
        c.connection_lost(0);
        c.connection_open(0, 1, 11 * SEC);
        assert!(
            !c.admit(&trade(104, 10 * SEC), LIVE, 2),
            "snapshot of old trades"
        );
        assert!(c.admit(&trade(120, 12 * SEC), LIVE, 2));
    }
}
