//! The strategy driver of one shard: takes the shard's closed 1 s bars, builds each symbol's
//! window second by second in event time, runs the phases every `run_interval`, keeps paper
//! positions, validates signals and hands them on. The same code runs live (the shard calls
//! [`Strategy::advance`] as the wall clock passes each second plus grace), in replay and in
//! backtest (both advance on event time), so the same bars give the same signals.

use super::phases::{
    phase1, phase2, phase3, phase4, phase5, reset_levels, sizing, Exit, Held, Params, Phase1,
    Phase2, Phase3, Phase4,
};
use super::window::{SecondFlow, Window};
use crate::aggregate::ClosedBar;
use crate::bar::Bar;
use crate::market::MarketIdx;
use feeds::MarketKind;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Seconds of closed bars buffered ahead of the evaluation clock (exchange clocks ahead of
/// ours, bars closed by the next trade before the wall clock passes their second).
const PENDING_SECONDS: usize = 8;

/// Largest accepted `max_signals_per_hour` (the validator keeps that many recent times).
pub const MAX_PER_HOUR_LIMIT: usize = 64;

/// What a signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Long,
    Short,
    Close,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Long => "LONG",
            Action::Short => "SHORT",
            Action::Close => "CLOSE",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One symbol the strategy follows: its markets (in a fixed order, which fixes the order in
/// which per-second sums are added) and its reference market for OHLC.
#[derive(Debug, Clone, PartialEq)]
pub struct SymbolSpec {
    /// `BTC`.
    pub base: String,
    /// `BTCUSDT`, the name signals carry.
    pub pair: String,
    pub markets: Vec<(MarketIdx, MarketKind)>,
    pub reference: MarketIdx,
}

/// An open paper position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    /// +1 long, −1 short.
    pub direction: i8,
    /// Evaluation time of the entry (s).
    pub entry_time: i64,
    /// Start of the analysis bar the entry happened in (s).
    pub entry_bar: i64,
    pub entry_price: f64,
    pub quantity: f64,
    pub score: f64,
    /// Reset levels (Q25 low, Q75 high) recorded at entry.
    pub lo: f64,
    pub hi: f64,
    /// Spot / perp flow of the completed analysis bars after the entry bar.
    pub spot_flow: f64,
    pub perp_flow: f64,
}

/// The phase results behind an entry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phases {
    pub p1: Phase1,
    pub p2: Phase2,
    pub p3: Phase3,
    pub p4: Phase4,
}

/// A validated signal, fixed-size so it crosses the shard → IO ring without allocating.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SignalEvent {
    /// Index into the strategy's symbol list.
    pub symbol: u16,
    pub action: Action,
    /// Evaluation time (s since the epoch): the end of the last second the window includes.
    pub time: i64,
    /// Per-engine signal sequence number (1, 2, …), for stable ids.
    pub seq: u64,
    /// The score as computed (entries; 10 for CLOSE). May exceed 10 with the reset bonus.
    pub score: f64,
    pub size_factor: f64,
    pub leverage: u8,
    /// Entry price (entries) or exit price (CLOSE): the close of the current bar.
    pub price: f64,
    pub quantity: f64,
    pub confidence: f64,
    /// Bars in the window when the signal fired.
    pub window_bars: u32,
    pub phases: Option<Phases>,
    /// CLOSE only: why, and the position it closes.
    pub exit: Option<Exit>,
    pub position: Option<Position>,
    /// Monotonic ns when the evaluated second's bars were closed, and when the signal was made.
    pub bar_close_ns: u64,
    pub signal_ns: u64,
}

/// Why evaluations ended without a signal, and what was rejected (plain counts; the shard
/// copies them to its stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StrategyCounters {
    pub evaluations: u64,
    pub min_data: u64,
    pub warm_up: u64,
    pub no_divergence: u64,
    pub below_min_score: u64,
    pub position_cap: u64,
    pub signals: u64,
    pub rejected_duplicate: u64,
    pub rejected_hourly: u64,
    pub rejected_range: u64,
    /// Closed bars that arrived after their second had been evaluated (amendments and bars
    /// later than the grace); the live window does not see them, the bar store does.
    pub late_bars: u64,
    /// Seconds forced through because bars arrived more than the pending horizon ahead.
    pub forced_seconds: u64,
}

/// Per-symbol validator memory: last accepted time per action, last accepted times.
#[derive(Debug, Clone, Copy)]
struct Validator {
    last: [i64; 3],
    recent: [i64; MAX_PER_HOUR_LIMIT],
    next: usize,
}

impl Validator {
    fn new() -> Validator {
        Validator {
            last: [i64::MIN; 3],
            recent: [i64::MIN; MAX_PER_HOUR_LIMIT],
            next: 0,
        }
    }
}

#[derive(Debug)]
struct SymbolState {
    window: Window,
    /// Position of each market in `SymbolSpec::markets`.
    kinds: Vec<MarketKind>,
    reference_slot: usize,
    /// `PENDING_SECONDS` × markets bars, and which second each row holds.
    pending: Vec<Option<Bar>>,
    pending_second: [i64; PENDING_SECONDS],
    position: Option<Position>,
    validator: Validator,
}

/// Strategy settings, resolved from `[strategy]` by `engine::strategy::StrategyConfig::settings`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    pub params: Params,
    pub one_second: bool,
    pub timeframe_s: i64,
    pub lookback_s: i64,
    pub run_interval_s: i64,
    pub min_entry_score: f64,
    pub max_open_positions: usize,
    pub paper_equity: f64,
    pub ttl_s: u64,
    pub cooldown_s: i64,
    pub max_per_hour: usize,
}

/// The strategy of one shard's symbols.
#[derive(Debug)]
pub struct Strategy {
    settings: Settings,
    specs: Vec<SymbolSpec>,
    /// Global index of each of this shard's symbols (signals carry it).
    global: Vec<u16>,
    states: Vec<SymbolState>,
    /// Market index → (symbol slot, market slot).
    by_market: Vec<Option<(u16, u16)>>,
    last_second: Option<i64>,
    first_pending: Option<i64>,
    open_positions: Arc<AtomicUsize>,
    scratch: Vec<f64>,
    seq: u64,
    counters: StrategyCounters,
    /// Fold bars into windows without evaluating (start-up warm-up from the store).
    warming: bool,
}

impl Strategy {
    /// `symbols` are `(global index, spec)` pairs of the symbols this shard owns;
    /// `open_positions` is shared by every shard to enforce `max_open_positions`.
    pub fn new(
        settings: Settings,
        symbols: Vec<(u16, SymbolSpec)>,
        open_positions: Arc<AtomicUsize>,
    ) -> Strategy {
        let mut by_market: Vec<Option<(u16, u16)>> = Vec::new();
        let mut specs = Vec::new();
        let mut global = Vec::new();
        let mut states = Vec::new();
        for (slot, (g, spec)) in symbols.into_iter().enumerate() {
            for (m, (idx, _)) in spec.markets.iter().enumerate() {
                let i = *idx as usize;
                if by_market.len() <= i {
                    by_market.resize(i + 1, None);
                }
                by_market[i] = Some((slot as u16, m as u16));
            }
            let reference_slot = spec
                .markets
                .iter()
                .position(|(idx, _)| *idx == spec.reference)
                .unwrap_or(0);
            states.push(SymbolState {
                window: Window::new(settings.timeframe_s, settings.lookback_s),
                kinds: spec.markets.iter().map(|(_, k)| *k).collect(),
                reference_slot,
                pending: vec![None; PENDING_SECONDS * spec.markets.len()],
                pending_second: [i64::MIN; PENDING_SECONDS],
                position: None,
                validator: Validator::new(),
            });
            specs.push(spec);
            global.push(g);
        }
        let window_cap = (settings.lookback_s / settings.timeframe_s.max(1)) as usize + 2;
        Strategy {
            settings,
            specs,
            global,
            states,
            by_market,
            last_second: None,
            first_pending: None,
            open_positions,
            scratch: Vec::with_capacity(window_cap.max(64 * settings.params.scale)),
            seq: 0,
            counters: StrategyCounters::default(),
            warming: false,
        }
    }

    /// While on, seconds are folded into the windows (and into open positions' flows) but not
    /// evaluated: for rebuilding windows from stored bars at start-up without re-deciding the
    /// past.
    pub fn set_warming(&mut self, on: bool) {
        self.warming = on;
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn counters(&self) -> StrategyCounters {
        self.counters
    }

    /// The last second folded into the windows.
    pub fn last_second(&self) -> Option<i64> {
        self.last_second
    }

    /// Open positions of this shard's symbols, by global symbol index.
    pub fn positions(&self) -> impl Iterator<Item = (u16, &Position)> + '_ {
        self.states
            .iter()
            .zip(&self.global)
            .filter_map(|(s, g)| s.position.as_ref().map(|p| (*g, p)))
    }

    /// Put back a position persisted by an earlier run (start-up only). Its flow since entry
    /// restarts at zero. Returns false if the symbol is not on this shard.
    pub fn restore(&mut self, global: u16, position: Position) -> bool {
        let Some(slot) = self.global.iter().position(|g| *g == global) else {
            return false;
        };
        if self.states[slot].position.is_none() {
            self.open_positions.fetch_add(1, Ordering::AcqRel);
        }
        self.states[slot].position = Some(Position {
            spot_flow: 0.0,
            perp_flow: 0.0,
            ..position
        });
        true
    }

    /// Buffer a closed 1 s bar of one of this shard's markets until its second is evaluated.
    /// Bars for other markets are ignored.
    pub fn on_bar(&mut self, bar: &ClosedBar, now_ns: u64, emit: &mut dyn FnMut(SignalEvent)) {
        let Some(Some((sym, slot))) = self.by_market.get(bar.market as usize).copied() else {
            return;
        };
        if bar.late || self.last_second.is_some_and(|s| bar.second <= s) {
            self.counters.late_bars += 1;
            return;
        }
        if let Some(last) = self.last_second {
            let horizon = last + PENDING_SECONDS as i64;
            if bar.second > horizon {
                let through = bar.second - PENDING_SECONDS as i64;
                self.counters.forced_seconds += (through - last) as u64;
                self.advance(through, now_ns, emit);
            }
        } else {
            let first = self.first_pending.get_or_insert(bar.second);
            if bar.second < *first {
                *first = bar.second;
            } else if bar.second >= *first + PENDING_SECONDS as i64 {
                let through = bar.second - PENDING_SECONDS as i64;
                self.advance(through, now_ns, emit);
            }
        }
        let st = &mut self.states[sym as usize];
        let row = bar.second.rem_euclid(PENDING_SECONDS as i64) as usize;
        let markets = st.kinds.len();
        if st.pending_second[row] != bar.second {
            st.pending_second[row] = bar.second;
            st.pending[row * markets..(row + 1) * markets].fill(None);
        }
        st.pending[row * markets + slot as usize] = Some(bar.bar);
    }

    /// Evaluate every second up to and including `through` (the last second whose bars are
    /// all closed). `bar_close_ns` is the monotonic time those bars were closed at.
    pub fn advance(&mut self, through: i64, bar_close_ns: u64, emit: &mut dyn FnMut(SignalEvent)) {
        let start = match self.last_second {
            Some(s) => s + 1,
            None => match self.first_pending {
                Some(f) => f.min(through),
                None => through,
            },
        };
        if start > through {
            return;
        }
        for second in start..=through {
            for slot in 0..self.states.len() {
                self.fold_second(slot, second);
                if !self.warming && (second + 1) % self.settings.run_interval_s == 0 {
                    self.evaluate(slot, second + 1, bar_close_ns, emit);
                }
            }
            self.last_second = Some(second);
        }
    }

    /// Sum the second's pending bars (market order) into the symbol's window.
    fn fold_second(&mut self, slot: usize, second: i64) {
        let st = &mut self.states[slot];
        let row = second.rem_euclid(PENDING_SECONDS as i64) as usize;
        let markets = st.kinds.len();
        let mut flow = SecondFlow::EMPTY;
        if st.pending_second[row] == second {
            for (m, bar) in st.pending[row * markets..(row + 1) * markets]
                .iter_mut()
                .enumerate()
            {
                let Some(b) = bar.take() else { continue };
                let delta = b.vbuy - b.vsell;
                match st.kinds[m] {
                    MarketKind::Spot => flow.spot += delta,
                    MarketKind::Perp => flow.perp += delta,
                    MarketKind::Future => {}
                }
                flow.volume += b.vbuy + b.vsell;
                if m == st.reference_slot && b.has_trades() {
                    flow.ohlc = Some([b.open, b.high, b.low, b.close]);
                }
            }
            st.pending_second[row] = i64::MIN;
        }
        if let Some((bar_start, sf, pf)) = st.window.add_second(second, &flow) {
            if let Some(pos) = st.position.as_mut() {
                if bar_start > pos.entry_bar {
                    pos.spot_flow += sf;
                    pos.perp_flow += pf;
                }
            }
        }
    }

    fn evaluate(
        &mut self,
        slot: usize,
        time: i64,
        bar_close_ns: u64,
        emit: &mut dyn FnMut(SignalEvent),
    ) {
        let s = self.settings;
        let p = s.params;
        let st = &mut self.states[slot];
        let n = st.window.len();
        if n == 0 {
            return;
        }
        self.counters.evaluations += 1;
        if n < p.bars(p.min_data_points) {
            self.counters.min_data += 1;
            return;
        }
        let view = st.window.view();
        let close = view.close[n - 1];
        let current_bar = st.window.current_start().unwrap_or(time);
        if let Some(pos) = st.position {
            // Position mode: only phase 5.
            let (mut spot, mut perp) = (pos.spot_flow, pos.perp_flow);
            if current_bar > pos.entry_bar {
                spot += view.sf[n - 1];
                perp += view.pf[n - 1];
            }
            let held = Held {
                direction: pos.direction,
                spot_flow: spot,
                perp_flow: perp,
                lo: pos.lo,
                hi: pos.hi,
            };
            let Some(exit) = phase5(&view, &p, &held, &mut self.scratch) else {
                return;
            };
            let sig = SignalEvent {
                symbol: self.global[slot],
                action: Action::Close,
                time,
                seq: 0,
                score: 10.0,
                size_factor: 1.0,
                leverage: 1,
                price: close,
                quantity: pos.quantity,
                confidence: 1.0,
                window_bars: n as u32,
                phases: None,
                exit: Some(exit),
                position: Some(Position {
                    spot_flow: spot,
                    perp_flow: perp,
                    ..pos
                }),
                bar_close_ns,
                signal_ns: 0,
            };
            if validate(&mut st.validator, &sig, &s, &mut self.counters) {
                st.position = None;
                self.open_positions.fetch_sub(1, Ordering::AcqRel);
                self.seq += 1;
                self.counters.signals += 1;
                emit(SignalEvent {
                    seq: self.seq,
                    signal_ns: feeds::clock::mono_ns(),
                    ..sig
                });
            }
            return;
        }
        let k = if s.one_second {
            view.volatility_k()
        } else {
            1.0
        };
        let p1 = phase1(&view, &p, k);
        if p1.warm_up {
            self.counters.warm_up += 1;
            return;
        }
        let p2 = phase2(&view, &p, k, p1.bias);
        if !p2.has_divergence {
            self.counters.no_divergence += 1;
            return;
        }
        let p3 = phase3(&view, &p, k);
        let p4 = phase4(&view, &p, &p1, &p2, &p3);
        if p4.score < s.min_entry_score {
            self.counters.below_min_score += 1;
            return;
        }
        let (size_factor, leverage) = sizing(p4.score);
        if size_factor <= 0.0 || close.is_nan() || close <= 0.0 {
            self.counters.below_min_score += 1;
            return;
        }
        let max = s.max_open_positions;
        if self
            .open_positions
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
                (c < max).then_some(c + 1)
            })
            .is_err()
        {
            self.counters.position_cap += 1;
            return;
        }
        let (lo, hi) = reset_levels(&view, &p, &mut self.scratch);
        let position = Position {
            direction: p4.direction,
            entry_time: time,
            entry_bar: current_bar,
            entry_price: close,
            quantity: s.paper_equity * 0.02 * size_factor / close,
            score: p4.score,
            lo,
            hi,
            spot_flow: 0.0,
            perp_flow: 0.0,
        };
        let sig = SignalEvent {
            symbol: self.global[slot],
            action: if p4.direction > 0 {
                Action::Long
            } else {
                Action::Short
            },
            time,
            seq: 0,
            score: p4.score,
            size_factor,
            leverage,
            price: close,
            quantity: position.quantity,
            confidence: p4.confidence,
            window_bars: n as u32,
            phases: Some(Phases { p1, p2, p3, p4 }),
            exit: None,
            position: Some(position),
            bar_close_ns,
            signal_ns: 0,
        };
        if validate(&mut st.validator, &sig, &s, &mut self.counters) {
            st.position = Some(position);
            self.seq += 1;
            self.counters.signals += 1;
            emit(SignalEvent {
                seq: self.seq,
                signal_ns: feeds::clock::mono_ns(),
                ..sig
            });
        } else {
            self.open_positions.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// The symbol specs of this shard, in slot order.
    pub fn specs(&self) -> &[SymbolSpec] {
        &self.specs
    }
}

/// The validator of seed-compat.md: ranges, then the 15-minute duplicate rule per action,
/// then the hourly limit per symbol. Accepting records the signal.
fn validate(
    v: &mut Validator,
    sig: &SignalEvent,
    s: &Settings,
    counters: &mut StrategyCounters,
) -> bool {
    let in_range = (0.1..=2.0).contains(&sig.size_factor)
        && (1..=10).contains(&sig.leverage)
        && (1e-6..=1e6).contains(&sig.price)
        && (60..=3600).contains(&s.ttl_s)
        && sig.score >= 0.0;
    if !in_range {
        counters.rejected_range += 1;
        return false;
    }
    let a = sig.action.index();
    if v.last[a] != i64::MIN && sig.time - v.last[a] < s.cooldown_s {
        counters.rejected_duplicate += 1;
        return false;
    }
    let in_hour = v
        .recent
        .iter()
        .filter(|t| **t != i64::MIN && sig.time - **t < 3600)
        .count();
    if in_hour >= s.max_per_hour {
        counters.rejected_hourly += 1;
        return false;
    }
    v.last[a] = sig.time;
    v.recent[v.next] = sig.time;
    v.next = (v.next + 1) % v.recent.len();
    true
}
