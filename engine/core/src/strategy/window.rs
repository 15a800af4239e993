//! One symbol's analysis bars over the lookback window (strategy.md "Inputs and the window").
//!
//! Bars are epoch-aligned buckets of `timeframe` seconds built from the symbol's 1 s bars,
//! second by second in time order. Columns live in vectors sized once (twice the window's
//! capacity), so sliding is a cursor move plus an occasional copy down: no allocation after
//! construction. The cumulative spot/perp CVDs restart from the window's first bar and are
//! recomputed whenever the first bar changes (once per timeframe), so their values depend
//! only on the bars in the window — the same in live, replay and backtest.

use super::phases::View;

/// One second of a symbol's flow, summed over its markets in market order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SecondFlow {
    /// Σ(vbuy − vsell) over SPOT markets.
    pub spot: f64,
    /// Σ(vbuy − vsell) over PERP markets.
    pub perp: f64,
    /// Σ(vbuy + vsell) over all markets.
    pub volume: f64,
    /// The reference market's 1 s OHLC, if it traded in this second.
    pub ohlc: Option<[f64; 4]>,
}

impl SecondFlow {
    pub const EMPTY: SecondFlow = SecondFlow {
        spot: 0.0,
        perp: 0.0,
        volume: 0.0,
        ohlc: None,
    };
}

const COLS: usize = 11;
const OPEN: usize = 0;
const HIGH: usize = 1;
const LOW: usize = 2;
const CLOSE: usize = 3;
const SF: usize = 4;
const PF: usize = 5;
const VOL: usize = 6;
const OI: usize = 7;
const SCVD: usize = 8;
const PCVD: usize = 9;
const DIV: usize = 10;

/// The analysis bars of one symbol.
#[derive(Debug, Clone)]
pub struct Window {
    timeframe: i64,
    lookback: i64,
    capacity: usize,
    cols: [Vec<f64>; COLS],
    start: Vec<i64>,
    head: usize,
    len: usize,
    /// Last reference close seen (NaN before the first reference trade).
    last_close: f64,
    /// Whether the current bar has had a reference trade (so OHLC are its own).
    current_priced: bool,
}

impl Window {
    /// `timeframe` and `lookback` in seconds.
    pub fn new(timeframe: i64, lookback: i64) -> Window {
        let timeframe = timeframe.max(1);
        let capacity = (lookback.max(timeframe) / timeframe) as usize + 1;
        Window {
            timeframe,
            lookback,
            capacity,
            cols: std::array::from_fn(|_| Vec::with_capacity(2 * capacity)),
            start: Vec::with_capacity(2 * capacity),
            head: 0,
            len: 0,
            last_close: f64::NAN,
            current_priced: false,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn timeframe(&self) -> i64 {
        self.timeframe
    }

    /// Start (s) of the current bar, if any.
    pub fn current_start(&self) -> Option<i64> {
        (self.len > 0).then(|| self.start[self.head + self.len - 1])
    }

    /// Value of column `c` of the current bar.
    fn cur(&self, c: usize) -> f64 {
        self.cols[c][self.head + self.len - 1]
    }

    /// Fold second `second` into the window. Seconds must come in increasing order; call it
    /// for every second (with [`SecondFlow::EMPTY`] when nothing traded) so that bars without
    /// trades exist. Returns the per-bar spot and perp flow of a bar that this call completed
    /// (the previous current bar), with its start, for positions that track flow since entry.
    pub fn add_second(&mut self, second: i64, flow: &SecondFlow) -> Option<(i64, f64, f64)> {
        let bar_start = second - second.rem_euclid(self.timeframe);
        let mut completed = None;
        if self.current_start() != Some(bar_start) {
            if let Some(prev) = self.current_start() {
                completed = Some((prev, self.cur(SF), self.cur(PF)));
            }
            if self.last_close.is_nan() && flow.ohlc.is_none() {
                // No price yet: the window starts at the first reference trade.
                return completed;
            }
            // Bars between the previous one and this one had no trade at all.
            if let Some(prev) = self.current_start() {
                let gap_bars = (bar_start - prev) / self.timeframe - 1;
                if gap_bars as usize >= self.capacity {
                    self.clear();
                } else {
                    for i in 1..=gap_bars {
                        self.push_bar(prev + i * self.timeframe);
                    }
                }
            }
            self.push_bar(bar_start);
        }
        let i = self.head + self.len - 1;
        if let Some([o, h, l, c]) = flow.ohlc {
            let cols = &mut self.cols;
            if self.current_priced {
                cols[HIGH][i] = cols[HIGH][i].max(h);
                cols[LOW][i] = cols[LOW][i].min(l);
            } else {
                cols[OPEN][i] = o;
                cols[HIGH][i] = h;
                cols[LOW][i] = l;
                self.current_priced = true;
            }
            cols[CLOSE][i] = c;
            self.last_close = c;
        }
        self.cols[SF][i] += flow.spot;
        self.cols[PF][i] += flow.perp;
        self.cols[VOL][i] += flow.volume;
        self.update_cvd(i);
        self.trim(second + 1);
        completed
    }

    /// Drop bars that started before `now − lookback` and re-base the CVDs if any went.
    fn trim(&mut self, now: i64) {
        let mut dropped = false;
        while self.len > 1 && self.start[self.head] < now - self.lookback {
            self.head += 1;
            self.len -= 1;
            dropped = true;
        }
        if dropped {
            self.rebase();
        }
    }

    /// Recompute the CVDs from the window's first bar (same additions, in the same order, as
    /// [`Window::update_cvd`] bar by bar, so the values are identical).
    fn rebase(&mut self) {
        let r = self.head..self.head + self.len;
        let [_, _, _, _, sf, pf, _, _, scvd, pcvd, div] = &mut self.cols;
        let (mut s, mut p) = (0.0, 0.0);
        for i in r {
            s += sf[i];
            p += pf[i];
            scvd[i] = s;
            pcvd[i] = p;
            div[i] = s - p;
        }
    }

    fn update_cvd(&mut self, i: usize) {
        let (s, p) = if i > self.head {
            (self.cols[SCVD][i - 1], self.cols[PCVD][i - 1])
        } else {
            (0.0, 0.0)
        };
        let s = s + self.cols[SF][i];
        let p = p + self.cols[PF][i];
        self.cols[SCVD][i] = s;
        self.cols[PCVD][i] = p;
        self.cols[DIV][i] = s - p;
    }

    fn push_bar(&mut self, start: i64) {
        if self.head + self.len == 2 * self.capacity {
            for col in self.cols.iter_mut() {
                col.copy_within(self.head..self.head + self.len, 0);
                col.truncate(self.len);
            }
            self.start.copy_within(self.head..self.head + self.len, 0);
            self.start.truncate(self.len);
            self.head = 0;
        }
        let c = self.last_close;
        let values = [c, c, c, c, 0.0, 0.0, 0.0, f64::NAN, 0.0, 0.0, 0.0];
        for (col, v) in self.cols.iter_mut().zip(values) {
            col.push(v);
        }
        self.start.push(start);
        self.len += 1;
        self.current_priced = false;
        let i = self.head + self.len - 1;
        self.update_cvd(i);
        if self.len > self.capacity {
            // Cannot happen with trim() after every second; keep the bound anyway.
            self.head += 1;
            self.len -= 1;
            self.rebase();
        }
    }

    fn clear(&mut self) {
        for col in self.cols.iter_mut() {
            col.clear();
        }
        self.start.clear();
        self.head = 0;
        self.len = 0;
    }

    /// The window as the phases read it.
    pub fn view(&self) -> View<'_> {
        let r = self.head..self.head + self.len;
        let c = &self.cols;
        View {
            open: &c[OPEN][r.clone()],
            high: &c[HIGH][r.clone()],
            low: &c[LOW][r.clone()],
            close: &c[CLOSE][r.clone()],
            sf: &c[SF][r.clone()],
            pf: &c[PF][r.clone()],
            volume: &c[VOL][r.clone()],
            oi: &c[OI][r.clone()],
            scvd: &c[SCVD][r.clone()],
            pcvd: &c[PCVD][r.clone()],
            div: &c[DIV][r],
        }
    }

    /// Bar starts, oldest first.
    pub fn starts(&self) -> &[i64] {
        &self.start[self.head..self.head + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(spot: f64, perp: f64, px: Option<f64>) -> SecondFlow {
        SecondFlow {
            spot,
            perp,
            volume: spot.abs() + perp.abs(),
            ohlc: px.map(|p| [p, p + 1.0, p - 1.0, p]),
        }
    }

    #[test]
    fn builds_aligned_bars_fills_gaps_and_rebases_cvd() {
        let mut w = Window::new(60, 180); // 3 bars of 1 min
                                          // Nothing before the first price.
        assert!(w.add_second(59, &flow(5.0, 0.0, None)).is_none());
        assert!(w.is_empty());
        w.add_second(60, &flow(10.0, -4.0, Some(100.0)));
        w.add_second(61, &flow(1.0, 0.0, Some(102.0)));
        w.add_second(62, &flow(0.0, 0.0, None));
        assert_eq!(w.len(), 1);
        let v = w.view();
        assert_eq!(
            (v.open[0], v.high[0], v.low[0], v.close[0]),
            (100.0, 103.0, 99.0, 102.0)
        );
        assert_eq!(
            (v.sf[0], v.pf[0], v.scvd[0], v.div[0]),
            (11.0, -4.0, 11.0, 15.0)
        );
        // Second 185 skips the bar at 120: it is filled with the last close and no flow.
        let done = w.add_second(185, &flow(2.0, 3.0, None));
        assert_eq!(done, Some((60, 11.0, -4.0)));
        assert_eq!(w.starts(), &[60, 120, 180]);
        let v = w.view();
        assert_eq!((v.open[1], v.close[1], v.volume[1]), (102.0, 102.0, 0.0));
        assert_eq!(v.close[2], 102.0);
        assert_eq!(v.scvd, &[11.0, 11.0, 13.0]);
        assert_eq!(v.pcvd, &[-4.0, -4.0, -1.0]);
        // At second 240 the window is [61, 241): the bar at 60 leaves and the CVDs re-base.
        w.add_second(240, &flow(1.0, 1.0, Some(90.0)));
        assert_eq!(w.starts(), &[120, 180, 240]);
        let v = w.view();
        assert_eq!(v.scvd, &[0.0, 2.0, 3.0]);
        assert_eq!(v.pcvd, &[0.0, 3.0, 4.0]);
        assert_eq!(v.div, &[0.0, -1.0, -1.0]);
        assert_eq!((v.open[2], v.close[2]), (90.0, 90.0));
    }

    #[test]
    fn long_runs_do_not_grow_storage() {
        let mut w = Window::new(1, 100);
        let cap = w.cols[0].capacity();
        for s in 0..10_000 {
            w.add_second(s, &flow(1.0, -1.0, Some(100.0 + (s % 7) as f64)));
            assert!(w.len() <= 101);
        }
        assert_eq!(w.cols[0].capacity(), cap);
        assert_eq!(w.len(), 100);
        let v = w.view();
        assert_eq!(v.scvd[99], 100.0);
        assert_eq!(w.starts()[0], 9_900);
    }

    #[test]
    fn a_gap_longer_than_the_window_restarts_it() {
        let mut w = Window::new(60, 600);
        w.add_second(0, &flow(1.0, 0.0, Some(10.0)));
        w.add_second(100_000, &flow(2.0, 0.0, None));
        assert_eq!(w.starts(), &[99_960]);
        assert_eq!(w.view().close[0], 10.0);
        assert_eq!(w.view().scvd[0], 2.0);
    }
}
