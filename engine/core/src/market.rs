//! Markets: which (venue, symbol) pairs the engine follows, their ids, and which shard owns them.
//!
//! The table is built before the hot threads start (or, in single-threaded replay, grown as new
//! symbols appear) and is read-only afterwards; the feed thread turns a decoded `Event` into a
//! [`Tick`] addressed by a dense market index, which is what crosses the SPSC rings.

use feeds::{Event, EventKind, Side, Symbol, Venue};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A small multiply-rotate hasher for the (venue, symbol) lookup done on every event: the keys
/// come from our own configuration or from frames already parsed, so DoS-resistant SipHash buys
/// nothing here and costs ~4× more per lookup.
#[derive(Debug, Default, Clone, Copy)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }
    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }
    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// Dense index of a market in its [`MarketTable`].
pub type MarketIdx = u32;

/// One market the engine follows.
#[derive(Debug, Clone)]
pub struct Market {
    /// `EXCHANGE:pair` as aggr-server writes it (`BINANCE_FUTURES:btcusdt`).
    pub id: String,
    pub venue: Venue,
    /// The instrument as it appears in the venue's frames (`BTCUSDT`).
    pub symbol: Symbol,
    /// The base asset the strategy groups markets by (`BTC`).
    pub base: String,
    /// The shard that aggregates this market (all markets of one base share a shard).
    pub shard: usize,
}

/// The markets of one engine, indexed densely.
#[derive(Debug, Clone, Default)]
pub struct MarketTable {
    markets: Vec<Market>,
    index: FastMap<(Venue, Symbol), MarketIdx>,
    bases: Vec<String>,
    shards: usize,
}

impl MarketTable {
    /// An empty table whose markets will be spread over `shards` shards (at least 1).
    pub fn new(shards: usize) -> MarketTable {
        MarketTable {
            shards: shards.max(1),
            ..MarketTable::default()
        }
    }

    /// Add (or find) the market for `symbol` on `venue`. Markets of the same base asset land on
    /// the same shard; bases are dealt to shards round-robin in order of first appearance.
    pub fn add(&mut self, venue: Venue, symbol: Symbol) -> MarketIdx {
        if let Some(&idx) = self.index.get(&(venue, symbol)) {
            return idx;
        }
        let base = base_asset(symbol.as_str());
        let shard = match self.bases.iter().position(|b| *b == base) {
            Some(i) => i % self.shards,
            None => {
                self.bases.push(base.clone());
                (self.bases.len() - 1) % self.shards
            }
        };
        let idx = self.markets.len() as MarketIdx;
        self.markets.push(Market {
            id: venue.market_id(&symbol),
            venue,
            symbol,
            base,
            shard,
        });
        self.index.insert((venue, symbol), idx);
        idx
    }

    /// The market a decoded frame's symbol belongs to, if the engine follows it. No allocation.
    #[inline]
    pub fn lookup(&self, venue: Venue, symbol: &Symbol) -> Option<MarketIdx> {
        self.index.get(&(venue, *symbol)).copied()
    }

    pub fn get(&self, idx: MarketIdx) -> &Market {
        &self.markets[idx as usize]
    }

    pub fn len(&self) -> usize {
        self.markets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.markets.is_empty()
    }

    pub fn shards(&self) -> usize {
        self.shards
    }

    pub fn iter(&self) -> impl Iterator<Item = (MarketIdx, &Market)> {
        self.markets
            .iter()
            .enumerate()
            .map(|(i, m)| (i as MarketIdx, m))
    }
}

/// Quote assets stripped to find a pair's base, longest first so `FDUSD` wins over `USD`.
const QUOTES: &[&str] = &["FDUSD", "USDT", "USDC", "BUSD", "UST", "USD", "EUR", "BTC"];

/// The base asset of a venue pair: `BTCUSDT` → `BTC`, `btcusd_perp` → `BTC`, `ETHBTC` → `ETH`,
/// `XBTUSD` → `BTC`. Unrecognised pairs keep their upper-cased text.
pub fn base_asset(pair: &str) -> String {
    // Bitfinex trading pairs carry a `t` prefix (`tBTCUSD`); Kraken Futures a product-type one.
    let mut pair = match pair.as_bytes() {
        [b't', second, ..] if second.is_ascii_uppercase() => &pair[1..],
        _ => pair,
    };
    for prefix in ["PF_", "PI_", "FF_", "FI_"] {
        pair = pair.strip_prefix(prefix).unwrap_or(pair);
    }
    // Bitfinex perpetuals: `BTCF0:USTF0`.
    if let Some(i) = pair.find("F0:") {
        pair = &pair[..i];
    }
    let mut p = pair.to_ascii_uppercase();
    for deco in ["_PERP", "-SWAP", "-SPOT", "-PERPETUAL", "PERP"] {
        if let Some(stripped) = p.strip_suffix(deco) {
            p = stripped.to_string();
        }
    }
    let p: String = p.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let mut base = p.clone();
    for q in QUOTES {
        if let Some(b) = p.strip_suffix(q) {
            if !b.is_empty() {
                base = b.to_string();
                break;
            }
        }
    }
    if base == "XBT" {
        base = "BTC".to_string();
    }
    base
}

/// What crosses the feed → shard ring: one normalized event addressed to a market, with the
/// price and size already in `f64` and the receive stamp for latency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tick {
    pub market: MarketIdx,
    pub kind: EventKind,
    pub side: Side,
    /// Underlying fills this tick stands for (≥ 1).
    pub fills: u32,
    pub price: f64,
    /// Base units.
    pub qty: f64,
    /// Exchange time, µs since the Unix epoch.
    pub ts_us: i64,
    /// `feeds::clock::mono_ns()` when the socket read that carried it returned.
    pub recv_ns: u64,
    /// Venue trade id, 0 when none.
    pub trade_id: u64,
}

impl Tick {
    pub const ZERO: Tick = Tick {
        market: 0,
        kind: EventKind::Trade,
        side: Side::Buy,
        fills: 0,
        price: 0.0,
        qty: 0.0,
        ts_us: 0,
        recv_ns: 0,
        trade_id: 0,
    };

    /// A control record for the shard (never a trade): set (`set`) or clear the
    /// [`GAP`](crate::store::flags::GAP) flag on `market`'s stored bars of seconds
    /// `from_sec..=to_sec`. Encoded as `ts_us` = `from_sec` in µs, `trade_id` = `to_sec`,
    /// `side` = `Buy` to set / `Sell` to clear; see [`Tick::as_gap_mark`].
    pub fn gap_mark(market: MarketIdx, from_sec: i64, to_sec: i64, set: bool) -> Tick {
        Tick {
            market,
            kind: EventKind::GapMark,
            side: if set { Side::Buy } else { Side::Sell },
            fills: 0,
            price: 0.0,
            qty: 0.0,
            ts_us: from_sec.saturating_mul(1_000_000),
            recv_ns: 0,
            trade_id: to_sec.max(0) as u64,
        }
    }

    /// `(from_sec, to_sec, set)` of a [`Tick::gap_mark`] record, `None` for any other tick.
    pub fn as_gap_mark(&self) -> Option<(i64, i64, bool)> {
        (self.kind == EventKind::GapMark).then(|| {
            (
                self.ts_us.div_euclid(1_000_000),
                self.trade_id.min(i64::MAX as u64) as i64,
                self.side == Side::Buy,
            )
        })
    }

    #[inline]
    pub fn from_event(market: MarketIdx, ev: &Event, recv_ns: u64) -> Tick {
        Tick {
            market,
            kind: ev.kind,
            side: ev.side,
            fills: ev.fills.max(1),
            price: ev.price.to_f64(),
            qty: ev.qty.to_f64(),
            ts_us: ev.ts_us,
            recv_ns,
            trade_id: ev.trade_id.unwrap_or(0),
        }
    }
}

/// The symbol a venue's frames carry for a configured pair (`btcusdt` → `BTCUSDT` on Binance;
/// other venues' frames spell instruments as their requests do).
pub fn frame_symbol(venue: Venue, pair: &str) -> Option<Symbol> {
    venue.frame_symbol(pair)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_assets() {
        for (pair, base) in [
            ("BTCUSDT", "BTC"),
            ("btcusdt", "BTC"),
            ("btcusd_perp", "BTC"),
            ("ETHBTC", "ETH"),
            ("XBTUSD", "BTC"),
            ("SOLFDUSD", "SOL"),
            ("BTC-USDT-SWAP", "BTC"),
            ("USDT", "USDT"),
            ("tBTCUSD", "BTC"),
            ("tETHUST", "ETH"),
            ("tSOLF0:USTF0", "SOL"),
            ("trxusdt", "TRX"),
            ("PF_XBTUSD", "BTC"),
            ("PI_ETHUSD", "ETH"),
            ("BTCPERP", "BTC"),
            ("SOL_USDC-PERPETUAL", "SOL"),
            ("BTC/USD", "BTC"),
            ("BTC_USDT", "BTC"),
            ("SOL", "SOL"),
        ] {
            assert_eq!(base_asset(pair), base, "{pair}");
        }
    }

    #[test]
    fn tick_fits_in_one_cache_line() {
        assert_eq!(std::mem::size_of::<Tick>(), 56);
    }

    #[test]
    fn same_base_same_shard() {
        let mut t = MarketTable::new(2);
        let s = |x: &str| Symbol::new(x.as_bytes()).unwrap();
        let a = t.add(Venue::BinanceSpot, s("BTCUSDT"));
        let b = t.add(Venue::BinanceSpot, s("ETHUSDT"));
        let c = t.add(Venue::BinanceUsdm, s("BTCUSDT"));
        assert_eq!(t.add(Venue::BinanceSpot, s("BTCUSDT")), a);
        assert_eq!(t.get(a).shard, t.get(c).shard);
        assert_ne!(t.get(a).shard, t.get(b).shard);
        assert_eq!(t.get(c).id, "BINANCE_FUTURES:btcusdt");
        assert_eq!(t.lookup(Venue::BinanceUsdm, &s("ETHUSDT")), None);
    }
}
