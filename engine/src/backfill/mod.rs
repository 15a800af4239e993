//! REST backfill (placeholder types until the worker lands; see /work/spec4/SPEC.md).
use crate::market::{MarketIdx, Tick};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackfillJob {
    pub gap: u64,
    pub market: MarketIdx,
    pub from_ts_us: i64,
    pub to_ts_us: i64,
    pub after_id: u64,
    pub before_id: u64,
}

#[derive(Debug, Clone, Copy)]
pub enum BackfillOut {
    Tick(Tick),
    Done {
        gap: u64,
        market: MarketIdx,
        trades: u64,
        complete: bool,
        why: DoneWhy,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoneWhy {
    Ok,
    Unsupported,
    TooOld,
    Http,
    RateLimited,
    Parse,
    Stopped,
}
