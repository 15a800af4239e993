//! The 1-second bar of aggr-server (reference/seed-compat.md) and the fixed layout it is stored in.

/// One bar. Field meanings are aggr-server's:
/// OHLC of the second's non-liquidation trades (NaN when the second had only liquidations),
/// `vbuy/vsell` taker quote notional, `cbuy/csell` taker trade counts, `lbuy/lsell`
/// liquidation quote notional by liquidation order side.
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C)]
pub struct Bar {
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub vbuy: f64,
    pub vsell: f64,
    pub lbuy: f64,
    pub lsell: f64,
    pub cbuy: u32,
    pub csell: u32,
    /// µs within the second of the trade that set `open` (u32::MAX when none); keeps a late
    /// trade's amendment exact ("first by exchange time").
    pub open_us: u32,
    /// µs within the second of the trade that set `close`.
    pub close_us: u32,
}

impl Bar {
    /// A bar with no trades and no liquidations.
    pub const EMPTY: Bar = Bar {
        open: f64::NAN,
        high: f64::NAN,
        low: f64::NAN,
        close: f64::NAN,
        vbuy: 0.0,
        vsell: 0.0,
        lbuy: 0.0,
        lsell: 0.0,
        cbuy: 0,
        csell: 0,
        open_us: u32::MAX,
        close_us: 0,
    };

    /// Whether any non-liquidation trade set OHLC.
    pub fn has_trades(&self) -> bool {
        self.cbuy + self.csell > 0
    }
}

impl Default for Bar {
    fn default() -> Bar {
        Bar::EMPTY
    }
}
