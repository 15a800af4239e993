//! Stored bars → strategy: the bar store read back second by second, in the same order the
//! live shard would have seen the bars (`visit` sees each bar just before the strategy does), for warming a window at start-up and for backtests.

use super::{SignalEvent, Strategy};
use crate::aggregate::ClosedBar;
use crate::market::MarketIdx;
use crate::store::{Store, StoreError};

/// Feed the committed 1 s bars of `markets` for seconds `[from_s, to_s)` into `strategy`, day
/// by day (memory stays bounded by one day of the markets' bars), advancing it through each
/// second. Markets are offered in the order given within a second. Returns the bars read.
// Three callbacks (signals, bars, progress) beside the five inputs; a struct would only wrap them.
#[allow(clippy::too_many_arguments)]
pub fn feed_stored_bars(
    strategy: &mut Strategy,
    store: &Store,
    markets: &[(MarketIdx, String)],
    from_s: i64,
    to_s: i64,
    emit: &mut dyn FnMut(SignalEvent),
    visit: &mut dyn FnMut(&ClosedBar),
    progress: &mut dyn FnMut(i64),
) -> Result<u64, StoreError> {
    let mut count = 0u64;
    let mut day_start = from_s;
    while day_start < to_s {
        let day_end = ((day_start.div_euclid(86_400) + 1) * 86_400).min(to_s);
        let mut per_market = Vec::with_capacity(markets.len());
        for (_, id) in markets {
            per_market.push(store.range(id, day_start * 1000, day_end * 1000)?);
        }
        let mut next = vec![0usize; markets.len()];
        for second in day_start..day_end {
            for (m, (idx, _)) in markets.iter().enumerate() {
                let bars = &per_market[m];
                if let Some(b) = bars.get(next[m]) {
                    if b.time_ms.div_euclid(1000) == second {
                        next[m] += 1;
                        count += 1;
                        let closed = ClosedBar {
                            market: *idx,
                            second,
                            bar: b.bar,
                            late: false,
                        };
                        visit(&closed);
                        strategy.on_bar(&closed, 0, emit);
                    }
                }
            }
            strategy.advance(second, 0, emit);
        }
        progress(day_end);
        day_start = day_end;
    }
    Ok(count)
}
