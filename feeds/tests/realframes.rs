//! Conformance against frames captured live by other projects (`../shared/realframes/`, beside
//! the workspace; its README names each file's source and the conventions below). Every file
//! is decoded with our decoder for its venue (one decoder per file, frames in order, so
//! stateful decoders such as Bitfinex see their subscriptions), and every frame's events are
//! compared with what an independent checker in this file derives from the venues' documented
//! conventions: plain `serde_json` and `f64`, contract sizes read straight from the bundled
//! snapshot's JSON (`feeds/data/instruments/*.json`), no code shared with the decoders.
//!
//! The existing `tests/reference/` decoders were not reused: they are differential oracles
//! that must agree with our decoders on which frames are errors (so they encode our own error
//! policy), and half of them take contract sizes and decimals from `feeds` itself.
//!
//! Conventions (realframes/README.md, "What check.py expects"; venue docs as of 2026-12):
//! - taker side: Binance `m` true ⇒ sell; Coinbase Exchange and Advanced Trade `side` is the
//!   maker's (taker = the other side); Bitfinex sign of the amount; Kraken v1 `b`/`s`;
//!   Hyperliquid `B`/`A`; the others' `side`/`S`/`direction`;
//! - liquidation side = the liquidation order's side: Bybit `S` is the position side
//!   (inverted); Deribit `liquidation: "M"` = the maker was liquidated, i.e. opposite to the
//!   taker's `direction`; Binance `forceOrder` = `z` at `ap`;
//! - base quantity: Binance COIN-M `q × size / p`, OKX `sz × ctVal` (inverse `/ px`), Bybit
//!   and Kraken Futures inverse 1-USD contracts `/ p`, BitMEX `homeNotional` (liquidations
//!   `leavesQty / price` on XBTUSD), Deribit inverse `amount / price`, Gate
//!   `|size| × quanto_multiplier`, HTX swaps `quantity`; open interest in base units (Bybit
//!   linear `openInterest`, inverse `openInterestValue`, OKX `oiCcy`, Bitget `holdingAmount`);
//! - USDⓈ-M `@trade` with `X` other than `MARKET`/`RPI` is not a trade (a `non_market` record
//!   is allowed); a liquidation print is a liquidation event only;
//! - optional (checked when printed): history sent on subscribing (snapshots, BitMEX partials,
//!   `last_match`), Deribit combo legs, Bitfinex liquidations, out-of-scope market families,
//!   open interest without a price or a time in the frame; Bitfinex `te`/`tu` of one trade
//!   exactly once;
//! - not checkable: instruments the bundle has no size for, when our decoder refuses them with
//!   `DecodeError::Instrument` (the live engine fetches their specs over REST), and outdated
//!   captures our decoder refuses;
//! - quantities equal to 1e-12 relative; an absolute difference up to 1e-12 coin (inverse
//!   conversions are rounded to 12 decimals) is accepted and counted as a note.
//!
//! The folder is optional: without it the test prints that it skipped and passes. Its files are
//! other projects' data and are read in place, never copied into this repository.

use feeds::{DecodeError, Event, EventKind, Venue};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

fn realframes_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/realframes")
}

/// The venue whose decoder reads each file (by the API its README row names).
fn venue_of(file: &str) -> Option<Venue> {
    let stem = file
        .strip_suffix(".jsonl")
        .or_else(|| file.strip_suffix(".gzlines"))?;
    let stem = stem.strip_prefix("unattributed-").unwrap_or(stem);
    Some(match stem {
        "binance" => Venue::BinanceSpot,
        "binance-usdm" => Venue::BinanceUsdm,
        "binance-coinm" => Venue::BinanceCoinm,
        "bybit-linear" => Venue::BybitLinear,
        "bybit-inverse" => Venue::BybitInverse,
        "bybit-spot" => Venue::BybitSpot,
        "okx-spot" => Venue::OkxSpot,
        "okx-swap" => Venue::OkxSwap,
        "okx-futures" => Venue::OkxFutures,
        "coinbase" => Venue::Coinbase,
        "coinbase-advanced" => Venue::CoinbaseAdvanced,
        "kraken" => Venue::KrakenSpot,
        "kraken-futures" => Venue::KrakenFutures,
        "bitmex" => Venue::Bitmex,
        "deribit" => Venue::Deribit,
        "bitfinex" => Venue::Bitfinex,
        "huobi" => Venue::Huobi,
        "huobi-swap" => Venue::HuobiSwap,
        "bitget" => Venue::Bitget,
        "bitget-spot" => Venue::BitgetSpot,
        "gate-futures" => Venue::GateFutures,
        "hyperliquid" => Venue::Hyperliquid,
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// Contract sizes: the bundled snapshot's JSON, read directly.

#[derive(Debug, Clone, Copy)]
struct Spec {
    size: f64,
    inverse: bool,
}

struct Bundle(BTreeMap<(String, String), Spec>);

impl Bundle {
    fn load() -> Bundle {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/instruments");
        let mut map = BTreeMap::new();
        for entry in std::fs::read_dir(&dir).expect("feeds/data/instruments") {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let list: Vec<Value> =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            for item in list {
                let venue = item["venue"].as_str().unwrap().to_string();
                let symbol = item["symbol"].as_str().unwrap().to_string();
                let size = item["size"].as_str().unwrap().parse().unwrap();
                let inverse = item["inverse"].as_bool().unwrap_or(false);
                map.insert((venue, symbol), Spec { size, inverse });
            }
        }
        Bundle(map)
    }

    fn get(&self, venue: &str, symbol: &str) -> Option<Spec> {
        self.0
            .get(&(venue.to_string(), symbol.to_string()))
            .copied()
    }
}

// ---------------------------------------------------------------------------------------------
// What the checker expects.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Trade,
    Liquidation,
    OpenInterest,
    NonMarket,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Required,
    /// Checked when printed, not required.
    Optional,
}

#[derive(Debug, Clone)]
struct Exp {
    kind: Kind,
    need: Need,
    /// `"buy"`/`"sell"`; `None` = not compared (open interest).
    side: Option<&'static str>,
    symbol: String,
    /// `None` = not compared (open interest price is the venue's reference, if any).
    price: Option<f64>,
    /// `None` = the bundle has no size for this instrument (see `missing`).
    qty: Option<f64>,
    /// Other quantities the conventions allow (Bybit inverse open interest: the venue's
    /// rounded `openInterestValue`, or contracts / a price in the frame).
    qty_alts: Vec<f64>,
    /// Other prices the conventions allow (a Bitfinex liquidation: the price acquired or the
    /// position's base price).
    price_alts: Vec<f64>,
    /// `None` = the frame carries no time (BitMEX liquidations, Hyperliquid contexts).
    ts_us: Option<i64>,
    /// The venue's numeric trade id, compared where our decoder exposes one.
    id: Option<u64>,
    /// The frame's trade id is not a number (Bybit derivatives' UUIDs): an id our decoder
    /// derives from it cannot be compared with the frame.
    id_opaque: bool,
    /// `l − f + 1` of a Binance aggregated trade.
    fills: Option<u32>,
    /// Bitfinex `te`/`tu`: the trade must be printed exactly once over the file.
    once: Option<u64>,
}

impl Exp {
    fn new(kind: Kind, side: &'static str, symbol: &str, price: f64, qty: Option<f64>) -> Exp {
        Exp {
            kind,
            need: Need::Required,
            side: Some(side),
            symbol: symbol.to_string(),
            price: Some(price),
            qty,
            qty_alts: Vec::new(),
            price_alts: Vec::new(),
            ts_us: None,
            id: None,
            id_opaque: false,
            fills: None,
            once: None,
        }
    }
    fn oi(symbol: &str, qty: f64, ts_us: Option<i64>, need: Need) -> Exp {
        Exp {
            kind: Kind::OpenInterest,
            need,
            side: None,
            symbol: symbol.to_string(),
            price: None,
            qty: Some(qty),
            qty_alts: Vec::new(),
            price_alts: Vec::new(),
            ts_us,
            id: None,
            id_opaque: false,
            fills: None,
            once: None,
        }
    }
    fn at(mut self, ts_us: i64) -> Exp {
        self.ts_us = Some(ts_us);
        self
    }
    fn id(mut self, id: Option<u64>) -> Exp {
        self.id = id;
        self
    }
    fn optional(mut self, yes: bool) -> Exp {
        if yes {
            self.need = Need::Optional;
        }
        self
    }
}

/// The checker's view of one frame.
#[derive(Debug, Default)]
struct FrameExp {
    events: Vec<Exp>,
    /// Instruments in the frame whose size the bundle lacks.
    missing: Vec<String>,
    /// An outdated capture (a field since added is missing): refusal is "not checkable".
    outdated: Option<&'static str>,
}

impl FrameExp {
    fn none() -> FrameExp {
        FrameExp::default()
    }
}

// ---------------------------------------------------------------------------------------------
// JSON helpers.

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("checker: no string {k} in {v}"))
}

/// A number written as a JSON string or number.
fn f(v: &Value, k: &str) -> f64 {
    match v.get(k) {
        Some(Value::String(t)) => t.parse().unwrap_or_else(|_| panic!("checker: {k} = {t}")),
        Some(Value::Number(n)) => n.as_f64().unwrap(),
        other => panic!("checker: no number {k} in {v}: {other:?}"),
    }
}

/// An integer written as a JSON string or number; `None` if absent or not a u64.
fn uint(v: &Value, k: &str) -> Option<u64> {
    match v.get(k)? {
        Value::String(t) => t.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

fn ms(v: &Value, k: &str) -> i64 {
    uint(v, k).unwrap_or_else(|| panic!("checker: no time {k} in {v}")) as i64 * 1000
}

fn lower_side(t: &str) -> &'static str {
    match t.to_ascii_lowercase().as_str() {
        "buy" | "b" => "buy",
        "sell" | "s" | "a" => "sell",
        other => panic!("checker: side {other:?}"),
    }
}

fn flip(side: &'static str) -> &'static str {
    if side == "buy" {
        "sell"
    } else {
        "buy"
    }
}

/// `2021-04-17T16:43:30.244075Z` (or with nanoseconds) → µs since the epoch, UTC; the
/// fraction is truncated to µs.
fn iso_us(t: &str) -> i64 {
    let (date, rest) = t.split_once('T').unwrap();
    let rest = rest.trim_end_matches('Z');
    let mut d = date.split('-').map(|x| x.parse::<i64>().unwrap());
    let (y, m, day) = (d.next().unwrap(), d.next().unwrap(), d.next().unwrap());
    let (hms, frac) = rest.split_once('.').unwrap_or((rest, ""));
    let mut h = hms.split(':').map(|x| x.parse::<i64>().unwrap());
    let (hh, mm, ss) = (h.next().unwrap(), h.next().unwrap(), h.next().unwrap());
    let micros: i64 = format!("{:0<6}", &frac[..frac.len().min(6)])
        .parse()
        .unwrap();
    // Days from civil (proleptic Gregorian), Howard Hinnant's algorithm.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days * 86_400 + hh * 3600 + mm * 60 + ss) * 1_000_000 + micros
}

/// Kraken v1's `"1618678145.920708"` seconds → µs, exactly (digits, not f64).
fn seconds_text_us(t: &str) -> i64 {
    let (sec, frac) = t.split_once('.').unwrap_or((t, ""));
    let micros: i64 = format!("{:0<6}", &frac[..frac.len().min(6)])
        .parse()
        .unwrap();
    sec.parse::<i64>().unwrap() * 1_000_000 + micros
}

// ---------------------------------------------------------------------------------------------
// Per-venue expectations, from the venues' documented message formats.

struct Checker {
    bundle: Bundle,
    /// Bitfinex channel id → subscribed symbol or key (per file).
    bitfinex_channels: BTreeMap<i64, String>,
}

impl Checker {
    fn expect(&mut self, venue: Venue, text: &str) -> FrameExp {
        let v: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => panic!("checker: a captured frame is not JSON ({e}): {text}"),
        };
        match venue {
            Venue::BinanceSpot | Venue::BinanceUsdm | Venue::BinanceCoinm => {
                self.binance(venue, &v)
            }
            Venue::BybitLinear | Venue::BybitInverse | Venue::BybitSpot => self.bybit(venue, &v),
            Venue::OkxSpot | Venue::OkxSwap | Venue::OkxFutures => self.okx(&v),
            Venue::Coinbase => coinbase_exchange(&v),
            Venue::CoinbaseAdvanced => coinbase_advanced(&v),
            Venue::KrakenSpot => kraken_spot(&v),
            Venue::KrakenFutures => kraken_futures(&v),
            Venue::Bitmex => self.bitmex(&v),
            Venue::Deribit => deribit(&v),
            Venue::Bitfinex => self.bitfinex(&v),
            Venue::Huobi | Venue::HuobiSwap => huobi(venue, &v),
            Venue::Bitget | Venue::BitgetSpot => bitget(venue, &v),
            Venue::GateFutures => self.gate(&v),
            Venue::Hyperliquid => hyperliquid(&v),
            other => panic!("checker: no conventions for {other}"),
        }
    }

    /// Binance: combined-stream envelope `{"stream","data"}` or the raw payload.
    fn binance(&self, venue: Venue, v: &Value) -> FrameExp {
        let d = v.get("data").unwrap_or(v);
        let mut out = FrameExp::none();
        let taker = |d: &Value| {
            if d["m"].as_bool().unwrap() {
                "sell"
            } else {
                "buy"
            }
        };
        // COIN-M quantities are contracts of `size` USD: base = q × size / p.
        let base = |sym: &str, q: f64, p: f64, out: &mut FrameExp| -> Option<f64> {
            if venue != Venue::BinanceCoinm {
                return Some(q);
            }
            match self.bundle.get("binance-coinm", sym) {
                Some(spec) => Some(q * spec.size / p),
                None => {
                    out.missing.push(sym.to_string());
                    None
                }
            }
        };
        match d.get("e").and_then(Value::as_str) {
            Some("aggTrade") => {
                let (sym, p, q) = (s(d, "s"), f(d, "p"), f(d, "q"));
                let qty = base(sym, q, p, &mut out);
                let mut e = Exp::new(Kind::Trade, taker(d), sym, p, qty)
                    .at(ms(d, "T"))
                    .id(uint(d, "a"));
                e.fills = Some((uint(d, "l").unwrap() - uint(d, "f").unwrap() + 1) as u32);
                if d.get("a").is_none() {
                    out.outdated = Some("aggTrade without its id `a` (2019 format)");
                }
                out.events.push(e);
            }
            Some("trade") => {
                let (sym, p, q) = (s(d, "s"), f(d, "p"), f(d, "q"));
                let qty = base(sym, q, p, &mut out);
                let market = match d.get("X").and_then(Value::as_str) {
                    None | Some("MARKET") | Some("RPI") => true,
                    Some(_) => venue == Venue::BinanceSpot,
                };
                let e = Exp::new(Kind::Trade, taker(d), sym, p, qty)
                    .at(ms(d, "T"))
                    .id(uint(d, "t"));
                if market {
                    out.events.push(e);
                } else {
                    // Insurance-fund / ADL prints: not trades; a non-market record may be printed.
                    let mut e = e.optional(true);
                    e.kind = Kind::NonMarket;
                    e.side = None;
                    out.events.push(e);
                }
            }
            Some("forceOrder") => {
                let o = &d["o"];
                let (sym, p, q) = (s(o, "s"), f(o, "ap"), f(o, "z"));
                let qty = base(sym, q, p, &mut out);
                out.events.push(
                    Exp::new(Kind::Liquidation, lower_side(s(o, "S")), sym, p, qty).at(ms(o, "T")),
                );
            }
            _ => {}
        }
        out
    }

    fn bybit(&self, venue: Venue, v: &Value) -> FrameExp {
        let mut out = FrameExp::none();
        let Some(topic) = v.get("topic").and_then(Value::as_str) else {
            return out;
        };
        // Inverse contracts are 1 USD each: base = v / p (size from the bundle).
        let base = |sym: &str, q: f64, p: f64, out: &mut FrameExp| -> Option<f64> {
            if venue != Venue::BybitInverse {
                return Some(q);
            }
            match self.bundle.get("bybit-inverse", sym) {
                Some(spec) => Some(q * spec.size / p),
                None => {
                    out.missing.push(sym.to_string());
                    None
                }
            }
        };
        let (channel, _) = topic.split_once('.').unwrap_or((topic, ""));
        match channel {
            "publicTrade" => {
                for t in v["data"].as_array().unwrap() {
                    let (sym, p) = (s(t, "s"), f(t, "p"));
                    let qty = base(sym, f(t, "v"), p, &mut out);
                    // Spot trade ids are numbers; derivatives' are UUIDs.
                    let mut e = Exp::new(Kind::Trade, lower_side(s(t, "S")), sym, p, qty)
                        .at(ms(t, "T"))
                        .id(uint(t, "i"));
                    e.id_opaque = e.id.is_none() && t.get("i").is_some();
                    out.events.push(e);
                }
            }
            "allLiquidation" => {
                for t in v["data"].as_array().unwrap() {
                    let (sym, p) = (s(t, "s"), f(t, "p"));
                    let qty = base(sym, f(t, "v"), p, &mut out);
                    // `S` is the liquidated position's side: the order is the other side.
                    out.events.push(
                        Exp::new(Kind::Liquidation, flip(lower_side(s(t, "S"))), sym, p, qty)
                            .at(ms(t, "T")),
                    );
                }
            }
            "liquidation" => {
                // Retired in 2023 (replaced by allLiquidation); `side` was the position side too.
                let t = &v["data"];
                let (sym, p) = (s(t, "symbol"), f(t, "price"));
                let qty = base(sym, f(t, "size"), p, &mut out);
                out.outdated = Some("retired `liquidation` topic");
                out.events.push(
                    Exp::new(
                        Kind::Liquidation,
                        flip(lower_side(s(t, "side"))),
                        sym,
                        p,
                        qty,
                    )
                    .at(ms(t, "updatedTime"))
                    .optional(true),
                );
            }
            "tickers" if venue != Venue::BybitSpot => {
                let t = &v["data"];
                let sym = s(t, "symbol");
                let ts = v.get("ts").and_then(Value::as_u64).map(|x| x as i64 * 1000);
                let priced = t.get("markPrice").is_some() || t.get("lastPrice").is_some();
                let need = if priced && ts.is_some() {
                    Need::Required
                } else {
                    Need::Optional
                };
                if venue == Venue::BybitLinear {
                    if t.get("openInterest").is_some() {
                        out.events
                            .push(Exp::oi(sym, f(t, "openInterest"), ts, need));
                    }
                } else if t.get("openInterestValue").is_some() {
                    let mut e = Exp::oi(sym, f(t, "openInterestValue"), ts, need);
                    if t.get("openInterest").is_some() {
                        for price in ["markPrice", "lastPrice"] {
                            if t.get(price).is_some() {
                                e.qty_alts.push(f(t, "openInterest") / f(t, price));
                            }
                        }
                    }
                    out.events.push(e);
                } else if t.get("openInterest").is_some() {
                    // Contracts without their value: base needs a price the frame may lack.
                    let mut e = Exp::oi(sym, 0.0, ts, Need::Optional);
                    e.qty = t
                        .get("markPrice")
                        .map(|_| f(t, "openInterest") / f(t, "markPrice"));
                    out.events.push(e);
                }
            }
            _ => {}
        }
        out
    }

    fn okx(&self, v: &Value) -> FrameExp {
        let mut out = FrameExp::none();
        let (Some(arg), Some(data)) = (v.get("arg"), v.get("data").and_then(Value::as_array))
        else {
            return out;
        };
        // Spot `BASE-QUOTE`; swaps `…-SWAP`; dated futures `…-YYMMDD`: sz × ctVal (inverse / px).
        let base = |inst: &str, sz: f64, px: f64, out: &mut FrameExp| -> Option<f64> {
            let parts: Vec<&str> = inst.split('-').collect();
            if parts.len() == 2 {
                return Some(sz);
            }
            let venue = if parts[2] == "SWAP" {
                "okx-swap"
            } else {
                "okx-futures"
            };
            match self.bundle.get(venue, inst) {
                Some(spec) if spec.inverse => Some(sz * spec.size / px),
                Some(spec) => Some(sz * spec.size),
                None => {
                    out.missing.push(inst.to_string());
                    None
                }
            }
        };
        match s(arg, "channel") {
            "trades" | "trades-all" => {
                for t in data {
                    let (inst, px) = (s(t, "instId"), f(t, "px"));
                    let qty = base(inst, f(t, "sz"), px, &mut out);
                    out.events.push(
                        Exp::new(Kind::Trade, lower_side(s(t, "side")), inst, px, qty)
                            .at(ms(t, "ts"))
                            .id(uint(t, "tradeId")),
                    );
                }
            }
            "open-interest" => {
                for t in data {
                    // No price in the frame: optional.
                    out.events.push(Exp::oi(
                        s(t, "instId"),
                        f(t, "oiCcy"),
                        Some(ms(t, "ts")),
                        Need::Optional,
                    ));
                }
            }
            "liquidation-orders" => {
                for item in data {
                    let inst = s(item, "instId");
                    for d in item["details"].as_array().unwrap() {
                        let px = f(d, "bkPx");
                        let qty = base(inst, f(d, "sz"), px, &mut out);
                        out.events.push(
                            Exp::new(Kind::Liquidation, lower_side(s(d, "side")), inst, px, qty)
                                .at(ms(d, "ts")),
                        );
                    }
                }
            }
            _ => {}
        }
        out
    }

    fn bitmex(&self, v: &Value) -> FrameExp {
        let mut out = FrameExp::none();
        let (Some(table), Some(action)) = (
            v.get("table").and_then(Value::as_str),
            v.get("action").and_then(Value::as_str),
        ) else {
            return out;
        };
        let Some(data) = v.get("data").and_then(Value::as_array) else {
            return out;
        };
        match (table, action) {
            ("trade", "partial" | "insert") => {
                for t in data {
                    out.events.push(
                        Exp::new(
                            Kind::Trade,
                            lower_side(s(t, "side")),
                            s(t, "symbol"),
                            f(t, "price"),
                            Some(f(t, "homeNotional")),
                        )
                        .at(iso_us(s(t, "timestamp")))
                        .optional(action == "partial"),
                    );
                }
            }
            ("liquidation", "insert") => {
                for t in data {
                    let (sym, p) = (s(t, "symbol"), f(t, "price"));
                    let qty = match self.bundle.get("bitmex", sym) {
                        Some(spec) if spec.inverse => Some(f(t, "leavesQty") * spec.size / p),
                        Some(spec) => Some(f(t, "leavesQty") * spec.size),
                        None => {
                            out.missing.push(sym.to_string());
                            None
                        }
                    };
                    // No time in a liquidation message: `ts_us` not compared.
                    out.events.push(Exp::new(
                        Kind::Liquidation,
                        lower_side(s(t, "side")),
                        sym,
                        p,
                        qty,
                    ));
                }
            }
            _ => {}
        }
        out
    }

    fn bitfinex(&mut self, v: &Value) -> FrameExp {
        let mut out = FrameExp::none();
        if let Some(event) = v.get("event").and_then(Value::as_str) {
            if event == "subscribed" {
                let id = v["chanId"].as_i64().unwrap();
                let name = v
                    .get("symbol")
                    .or_else(|| v.get("key"))
                    .and_then(Value::as_str)
                    .unwrap();
                self.bitfinex_channels.insert(id, name.to_string());
            }
            return out;
        }
        let Some(arr) = v.as_array() else {
            return out;
        };
        let chan = arr[0].as_i64().unwrap();
        let Some(name) = self.bitfinex_channels.get(&chan).cloned() else {
            return out;
        };
        // [ID, MTS, AMOUNT, PRICE]: the sign of AMOUNT is the taker side.
        let trade = |t: &Value| {
            let t = t.as_array().unwrap();
            let amount = t[2].as_f64().unwrap();
            Exp::new(
                Kind::Trade,
                if amount > 0.0 { "buy" } else { "sell" },
                &name,
                t[3].as_f64().unwrap(),
                Some(amount.abs()),
            )
            .at(t[1].as_i64().unwrap() * 1000)
            .id(t[0].as_u64())
        };
        if name == "liq:global" {
            // [[ "pos", POS_ID, MTS, _, SYMBOL, AMOUNT, BASE_PRICE, _, IS_MATCH, IS_MARKET_SOLD,
            //    _, PRICE_ACQUIRED ]]: triggers (IS_MATCH 0) and executions (1) are optional,
            // and a position's liquidation order sells a long (AMOUNT > 0).
            if let Some(list) = arr[1].as_array() {
                for l in list {
                    let l = l.as_array().unwrap();
                    let amount = l[5].as_f64().unwrap();
                    let mut e = Exp::new(
                        Kind::Liquidation,
                        if amount > 0.0 { "sell" } else { "buy" },
                        l[4].as_str().unwrap(),
                        0.0,
                        Some(amount.abs()),
                    )
                    .at(l[2].as_i64().unwrap() * 1000)
                    .optional(true);
                    // The price acquired when the frame has it, else the base price; either
                    // is the liquidation's price.
                    let (base, acquired) = (l[6].as_f64(), l.get(11).and_then(Value::as_f64));
                    e.price = acquired.or(base);
                    e.price_alts.extend(base);
                    out.events.push(e);
                }
            }
            return out;
        }
        match &arr[1] {
            Value::Array(list) => {
                // Snapshot of recent trades, sent on subscribing.
                for t in list {
                    out.events.push(trade(t).optional(true));
                }
            }
            Value::String(k) if k == "te" || k == "tu" => {
                let mut e = trade(&arr[2]).optional(true);
                e.once = e.id;
                out.events.push(e);
            }
            _ => {}
        }
        out
    }

    fn gate(&self, v: &Value) -> FrameExp {
        let mut out = FrameExp::none();
        if v.get("event").and_then(Value::as_str) != Some("update") {
            return out;
        }
        let Some(list) = v.get("result").and_then(Value::as_array) else {
            return out;
        };
        match v.get("channel").and_then(Value::as_str) {
            Some("futures.trades") => {
                for t in list {
                    let c = s(t, "contract");
                    let size = f(t, "size");
                    let qty = match self.bundle.get("gate-futures", c) {
                        Some(spec) => Some(size.abs() * spec.size),
                        None => {
                            out.missing.push(c.to_string());
                            None
                        }
                    };
                    let ts = match uint(t, "create_time_ms") {
                        Some(ms) => ms as i64 * 1000,
                        None => {
                            out.outdated = Some("futures.trades without create_time_ms (2020)");
                            ms(t, "create_time") * 1000
                        }
                    };
                    out.events.push(
                        Exp::new(
                            Kind::Trade,
                            if size > 0.0 { "buy" } else { "sell" },
                            c,
                            f(t, "price"),
                            qty,
                        )
                        .at(ts)
                        .id(uint(t, "id")),
                    );
                }
            }
            Some("futures.tickers") => {
                // `total_size` = open interest in contracts; printed OI is checked against it.
                for t in list {
                    let c = s(t, "contract");
                    if let Some(spec) = self.bundle.get("gate-futures", c) {
                        let ts = uint(v, "time_ms").map(|x| x as i64 * 1000);
                        out.events.push(Exp::oi(
                            c,
                            f(t, "total_size") * spec.size,
                            ts,
                            Need::Optional,
                        ));
                    }
                }
            }
            _ => {}
        }
        out
    }
}

fn coinbase_exchange(v: &Value) -> FrameExp {
    let mut out = FrameExp::none();
    let kind = v.get("type").and_then(Value::as_str);
    if let Some(k @ ("match" | "last_match")) = kind {
        // `side` is the maker order's side.
        out.events.push(
            Exp::new(
                Kind::Trade,
                flip(lower_side(s(v, "side"))),
                s(v, "product_id"),
                f(v, "price"),
                Some(f(v, "size")),
            )
            .at(iso_us(s(v, "time")))
            .id(uint(v, "trade_id"))
            .optional(k == "last_match"),
        );
    }
    out
}

fn coinbase_advanced(v: &Value) -> FrameExp {
    let mut out = FrameExp::none();
    if v.get("channel").and_then(Value::as_str) != Some("market_trades") {
        return out;
    }
    for ev in v["events"].as_array().unwrap() {
        let snapshot = s(ev, "type") == "snapshot";
        for t in ev["trades"].as_array().unwrap() {
            // Maker's side (measured on this recording, see the README).
            out.events.push(
                Exp::new(
                    Kind::Trade,
                    flip(lower_side(s(t, "side"))),
                    s(t, "product_id"),
                    f(t, "price"),
                    Some(f(t, "size")),
                )
                .at(iso_us(s(t, "time")))
                .id(uint(t, "trade_id"))
                .optional(snapshot),
            );
        }
    }
    out
}

fn kraken_spot(v: &Value) -> FrameExp {
    let mut out = FrameExp::none();
    if let Some(arr) = v.as_array() {
        // v1: [channelID, [[price, volume, time, side, type, misc], …], "trade", pair]
        if arr.len() == 4 && arr[2] == "trade" {
            let pair = arr[3].as_str().unwrap();
            out.outdated = Some("WebSocket v1 trade array (the feed speaks v2)");
            for t in arr[1].as_array().unwrap() {
                let t = t.as_array().unwrap();
                let txt = |i: usize| t[i].as_str().unwrap();
                out.events.push(
                    Exp::new(
                        Kind::Trade,
                        lower_side(txt(3)),
                        pair,
                        txt(0).parse().unwrap(),
                        Some(txt(1).parse().unwrap()),
                    )
                    .at(seconds_text_us(txt(2))),
                );
            }
        }
        return out;
    }
    if v.get("channel").and_then(Value::as_str) == Some("trade") {
        let snapshot = s(v, "type") == "snapshot";
        for t in v["data"].as_array().unwrap() {
            out.events.push(
                Exp::new(
                    Kind::Trade,
                    lower_side(s(t, "side")),
                    s(t, "symbol"),
                    f(t, "price"),
                    Some(f(t, "qty")),
                )
                .at(iso_us(s(t, "timestamp")))
                .id(uint(t, "trade_id"))
                .optional(snapshot),
            );
        }
    }
    out
}

fn kraken_futures(v: &Value) -> FrameExp {
    let mut out = FrameExp::none();
    let one = |t: &Value, optional: bool| {
        let (sym, p, q) = (s(t, "product_id"), f(t, "price"), f(t, "qty"));
        // PI_/FI_ inverse: 1-USD contracts; PF_/FF_ linear: base units.
        let qty = if sym.starts_with("PI_") || sym.starts_with("FI_") {
            q / p
        } else {
            q
        };
        let kind = if t.get("type").and_then(Value::as_str) == Some("liquidation") {
            Kind::Liquidation
        } else {
            Kind::Trade
        };
        Exp::new(kind, lower_side(s(t, "side")), sym, p, Some(qty))
            .at(ms(t, "time"))
            .optional(optional)
    };
    match v.get("feed").and_then(Value::as_str) {
        Some("trade") if v.get("event").is_none() => out.events.push(one(v, false)),
        Some("trade_snapshot") => {
            for t in v["trades"].as_array().unwrap() {
                out.events.push(one(t, true));
            }
        }
        _ => {}
    }
    out
}

fn deribit(v: &Value) -> FrameExp {
    let mut out = FrameExp::none();
    let Some(params) = v.get("params") else {
        return out;
    };
    if !s(params, "channel").starts_with("trades.") {
        return out;
    }
    for t in params["data"].as_array().unwrap() {
        let (sym, p, amount) = (s(t, "instrument_name"), f(t, "price"), f(t, "amount"));
        // BTC-/ETH- instruments are inverse (USD amounts); `_USDC` ones are linear.
        let qty = if sym.contains("_USDC") || sym.contains("_USDT") {
            amount
        } else {
            amount / p
        };
        let direction = lower_side(s(t, "direction"));
        let (kind, side) = match t.get("liquidation").and_then(Value::as_str) {
            None => (Kind::Trade, direction),
            Some("T") => (Kind::Liquidation, direction),
            Some("M") => (Kind::Liquidation, flip(direction)),
            Some(other) => panic!("checker: Deribit liquidation {other:?} not in the captures"),
        };
        let combo = t.get("combo_trade_id").is_some() || t.get("combo_id").is_some();
        out.events.push(
            Exp::new(kind, side, sym, p, Some(qty))
                .at(ms(t, "timestamp"))
                .id(uint(t, "trade_id"))
                .optional(combo),
        );
    }
    out
}

fn huobi(venue: Venue, v: &Value) -> FrameExp {
    let mut out = FrameExp::none();
    let Some(ch) = v.get("ch").and_then(Value::as_str) else {
        return out;
    };
    let Some(sym) = ch
        .strip_prefix("market.")
        .and_then(|r| r.strip_suffix(".trade.detail"))
    else {
        return out;
    };
    for t in v["tick"]["data"].as_array().unwrap() {
        // Spot `amount` is base; USDT swaps' `amount` is contracts, `quantity` base.
        let qty = if venue == Venue::HuobiSwap {
            f(t, "quantity")
        } else {
            f(t, "amount")
        };
        // Spot's `id` is a 27-digit number; its trade id is `tradeId`. Swaps have `id` only.
        let id = uint(t, "tradeId").or_else(|| uint(t, "id"));
        out.events.push(
            Exp::new(
                Kind::Trade,
                lower_side(s(t, "direction")),
                sym,
                f(t, "price"),
                Some(qty),
            )
            .at(ms(t, "ts"))
            .id(id),
        );
    }
    out
}

fn bitget(venue: Venue, v: &Value) -> FrameExp {
    let mut out = FrameExp::none();
    let (Some(arg), Some(data)) = (v.get("arg"), v.get("data").and_then(Value::as_array)) else {
        return out;
    };
    let inst_type = s(arg, "instType");
    // Spot on the spot decoder; USDT-M futures on the futures one; anything else is an
    // out-of-scope family (checked when printed).
    let in_scope = match venue {
        Venue::BitgetSpot => inst_type == "SPOT",
        _ => inst_type == "USDT-FUTURES",
    };
    let snapshot = v.get("action").and_then(Value::as_str) == Some("snapshot");
    match s(arg, "channel") {
        "trade" => {
            for t in data {
                out.events.push(
                    Exp::new(
                        Kind::Trade,
                        lower_side(s(t, "side")),
                        s(arg, "instId"),
                        f(t, "price"),
                        Some(f(t, "size")),
                    )
                    .at(ms(t, "ts"))
                    .id(uint(t, "tradeId"))
                    .optional(snapshot || !in_scope),
                );
            }
        }
        "ticker" if inst_type != "SPOT" => {
            for t in data {
                let priced = t.get("markPrice").is_some() || t.get("lastPr").is_some();
                let ts = uint(t, "ts").map(|x| x as i64 * 1000);
                let need = if priced && ts.is_some() && in_scope {
                    Need::Required
                } else {
                    Need::Optional
                };
                out.events
                    .push(Exp::oi(s(t, "instId"), f(t, "holdingAmount"), ts, need));
            }
        }
        _ => {}
    }
    out
}

fn hyperliquid(v: &Value) -> FrameExp {
    let mut out = FrameExp::none();
    match v.get("channel").and_then(Value::as_str) {
        Some("trades") => {
            for t in v["data"].as_array().unwrap() {
                out.events.push(
                    Exp::new(
                        Kind::Trade,
                        lower_side(s(t, "side")),
                        s(t, "coin"),
                        f(t, "px"),
                        Some(f(t, "sz")),
                    )
                    .at(ms(t, "time"))
                    .id(uint(t, "tid")),
                );
            }
        }
        Some("activeAssetCtx") => {
            // No time in the frame: optional.
            let d = &v["data"];
            out.events.push(Exp::oi(
                s(d, "coin"),
                f(&d["ctx"], "openInterest"),
                None,
                Need::Optional,
            ));
        }
        _ => {}
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Comparison.

fn kind_of(e: &Event) -> Option<Kind> {
    match e.kind {
        EventKind::Trade => Some(Kind::Trade),
        EventKind::Liquidation => Some(Kind::Liquidation),
        EventKind::OpenInterest => Some(Kind::OpenInterest),
        EventKind::NonMarket => Some(Kind::NonMarket),
        _ => None,
    }
}

fn close(a: f64, b: f64) -> bool {
    a == b || ((a - b) / b).abs() <= 1e-12
}

#[derive(Debug, Default)]
struct Tally {
    frames: usize,
    events: usize,
    matched: usize,
    optional_skipped: usize,
    not_checkable: usize,
    notes: Vec<String>,
    mismatches: Vec<String>,
    unchecked_instruments: BTreeSet<String>,
}

/// `Ok(note)` if `ours` is the event `want` describes.
fn same(ours: &Event, want: &Exp) -> Result<Option<String>, String> {
    let kind = kind_of(ours);
    if kind != Some(want.kind) {
        return Err(format!("kind {:?}, expected {:?}", ours.kind, want.kind));
    }
    if ours.symbol.as_str() != want.symbol {
        return Err(format!(
            "symbol {}, expected {}",
            ours.symbol.as_str(),
            want.symbol
        ));
    }
    // A non-market record stands only for the trade id it consumes.
    let market = want.kind != Kind::NonMarket;
    if let Some(side) = want.side.filter(|_| market) {
        if ours.side.as_str() != side {
            return Err(format!("side {}, expected {side}", ours.side.as_str()));
        }
    }
    if let Some(p) = want.price.filter(|_| market) {
        let got = ours.price.to_f64();
        if !close(got, p) && !want.price_alts.iter().any(|&alt| close(got, alt)) {
            return Err(format!("price {}, expected {p}", ours.price));
        }
    }
    if let Some(ts) = want.ts_us {
        if ours.ts_us != ts {
            return Err(format!("ts_us {}, expected {ts}", ours.ts_us));
        }
    }
    if let (Some(id), Some(want_id)) = (ours.trade_id, want.id) {
        if id != want_id {
            return Err(format!("trade id {id}, expected {want_id}"));
        }
    } else if ours.trade_id.is_some() && want.id.is_none() && !want.id_opaque {
        return Err(format!(
            "trade id {:?}, but the frame has no numeric id",
            ours.trade_id
        ));
    }
    if let Some(fills) = want.fills {
        if ours.fills != fills {
            return Err(format!("fills {}, expected {fills}", ours.fills));
        }
    }
    let mut note = None;
    if let Some(q) = want.qty.filter(|_| market) {
        let got = ours.qty.to_f64();
        if !close(got, q) && !want.qty_alts.iter().any(|&alt| close(got, alt)) {
            if (got - q).abs() <= 1e-12 * (1.0 + 1e-9) {
                note = Some(format!(
                    "{} qty {} vs {q}: within 1e-12 coin (inverse rounding)",
                    want.symbol, ours.qty
                ));
            } else {
                return Err(format!("qty {}, expected {q}", ours.qty));
            }
        }
    }
    Ok(note)
}

fn describe(e: &Event) -> String {
    format!(
        "{} {} {} {} @ {} ts {} id {:?}",
        e.kind.as_str(),
        e.side.as_str(),
        e.symbol.as_str(),
        e.qty,
        e.price,
        e.ts_us,
        e.trade_id
    )
}

/// One frame: our decoder's answer against the checker's.
fn check_frame(
    decoder: &mut dyn feeds::Decode,
    raw: &[u8],
    want: FrameExp,
    where_: &str,
    tally: &mut Tally,
    once_seen: &mut BTreeMap<u64, usize>,
) {
    tally.frames += 1;
    let mut bytes = raw.to_vec();
    let mut ours: Vec<Event> = Vec::new();
    let got = decoder.decode(&mut bytes, &mut |e| ours.push(e));
    tally.events += ours.len();
    let required = want
        .events
        .iter()
        .filter(|e| e.need == Need::Required)
        .count();
    if let Err(err) = got {
        if err == DecodeError::Instrument && !want.missing.is_empty() {
            tally.not_checkable += 1;
            tally.unchecked_instruments.extend(want.missing);
        } else if let Some(why) = want.outdated {
            tally.not_checkable += 1;
            tally
                .notes
                .push(format!("{where_}: outdated capture refused ({why}): {err}"));
        } else if required == 0 {
            // A frame with no market data for us; refusing it is the decoder's business.
            if !want.events.is_empty() {
                tally.optional_skipped += want.events.len();
            }
            tally
                .notes
                .push(format!("{where_}: no event required, decoder says: {err}"));
        } else {
            tally.mismatches.push(format!(
                "{where_}: decoder refused the frame ({err}); expected {required} events"
            ));
        }
        return;
    }
    if let (true, Some(why), 0) = (ours.is_empty(), want.outdated, required) {
        tally.not_checkable += 1;
        tally.notes.push(format!(
            "{where_}: outdated capture printed nothing ({why})"
        ));
        return;
    }
    // Ordered match: every printed event must be the next expected one (optional expected
    // events may be skipped); required ones must all be printed.
    let mut next = 0;
    let mut wanted = want.events.into_iter();
    'ours: while next < ours.len() {
        let o = &ours[next];
        for w in wanted.by_ref() {
            match same(o, &w) {
                Ok(note) => {
                    tally.matched += 1;
                    if let Some(n) = note {
                        tally.notes.push(format!("{where_}: {n}"));
                    }
                    if w.qty.is_none() {
                        tally.unchecked_instruments.insert(w.symbol.clone());
                    }
                    if let Some(id) = w.once {
                        *once_seen.entry(id).or_default() += 1;
                    }
                    next += 1;
                    continue 'ours;
                }
                Err(why) if w.need == Need::Required => {
                    tally
                        .mismatches
                        .push(format!("{where_}: event {next} [{}]: {why}", describe(o)));
                    return;
                }
                Err(_) => {
                    tally.optional_skipped += 1;
                    if let Some(id) = w.once {
                        once_seen.entry(id).or_default();
                    }
                }
            }
        }
        tally.mismatches.push(format!(
            "{where_}: unexpected event {next} [{}]",
            describe(o)
        ));
        return;
    }
    for w in wanted {
        if w.need == Need::Required {
            tally.mismatches.push(format!(
                "{where_}: expected {:?} {} {:?} @ {:?} not printed",
                w.kind, w.symbol, w.qty, w.price
            ));
            return;
        }
        tally.optional_skipped += 1;
        if let Some(id) = w.once {
            once_seen.entry(id).or_default();
        }
    }
}

/// The frames of a file: lines of JSON text, or raw gzip frames one per line (`.gzlines`).
fn frames_of(path: &Path) -> Vec<(usize, Vec<u8>, String)> {
    let bytes = std::fs::read(path).unwrap();
    let gz = path.extension().and_then(|e| e.to_str()) == Some("gzlines");
    let mut out = Vec::new();
    for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let text = if gz {
            let mut s = String::new();
            flate2::read::GzDecoder::new(line)
                .read_to_string(&mut s)
                .unwrap_or_else(|e| panic!("{}:{}: not a gzip frame: {e}", path.display(), n + 1));
            s
        } else {
            String::from_utf8(line.to_vec()).unwrap()
        };
        out.push((n + 1, line.to_vec(), text));
    }
    out
}

#[test]
fn real_captured_frames_decode_as_the_venues_document() {
    let dir = realframes_dir();
    if !dir.is_dir() {
        println!("SKIPPED: ../shared/realframes not found (optional conformance test)");
        return;
    }
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".jsonl") || n.ends_with(".gzlines"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no frame files in {}", dir.display());
    let mut checker = Checker {
        bundle: Bundle::load(),
        bitfinex_channels: BTreeMap::new(),
    };
    let mut total = Tally::default();
    let mut failures = Vec::new();
    println!(
        "{:<34} {:>6} {:>6} {:>7} {:>8} {:>9}",
        "file", "frames", "events", "matched", "optional", "uncheck."
    );
    for file in &files {
        let venue = venue_of(file)
            .unwrap_or_else(|| panic!("realframes: no venue known for {file}: add it to venue_of"));
        let mut decoder = venue.decoder();
        checker.bitfinex_channels.clear();
        let mut tally = Tally::default();
        let mut once_seen = BTreeMap::new();
        for (line, raw, text) in frames_of(&dir.join(file)) {
            let want = checker.expect(venue, &text);
            let where_ = format!("{file}:{line}");
            check_frame(
                &mut *decoder,
                &raw,
                want,
                &where_,
                &mut tally,
                &mut once_seen,
            );
        }
        for (id, n) in once_seen {
            if n != 1 {
                tally.mismatches.push(format!(
                    "{file}: trade {id} printed {n} times (te/tu: exactly once)"
                ));
            }
        }
        println!(
            "{:<34} {:>6} {:>6} {:>7} {:>8} {:>9}",
            file,
            tally.frames,
            tally.events,
            tally.matched,
            tally.optional_skipped,
            tally.not_checkable
        );
        if !tally.unchecked_instruments.is_empty() {
            println!(
                "    not checkable (no size in the bundle): {}",
                tally
                    .unchecked_instruments
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        for n in &tally.notes {
            println!("    note: {n}");
        }
        for m in &tally.mismatches {
            println!("    MISMATCH: {m}");
        }
        failures.extend(tally.mismatches.iter().cloned());
        total.frames += tally.frames;
        total.events += tally.events;
        total.matched += tally.matched;
        total.optional_skipped += tally.optional_skipped;
        total.not_checkable += tally.not_checkable;
    }
    println!(
        "{:<34} {:>6} {:>6} {:>7} {:>8} {:>9}",
        "total",
        total.frames,
        total.events,
        total.matched,
        total.optional_skipped,
        total.not_checkable
    );
    assert!(total.matched > 0, "nothing was compared");
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The checker is not trivially satisfied: a flipped side and a shifted quantity are caught.
#[test]
fn checker_catches_a_wrong_event() {
    let frame = r#"{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1,"a":7,"s":"BTCUSDT","p":"100.5","q":"2","f":10,"l":12,"T":1700000000000,"m":true}}"#;
    let mut checker = Checker {
        bundle: Bundle::load(),
        bitfinex_channels: BTreeMap::new(),
    };
    let want = checker.expect(Venue::BinanceUsdm, frame);
    let mut ours = Vec::new();
    Venue::BinanceUsdm
        .decoder()
        .decode(&mut frame.as_bytes().to_vec(), &mut |e| ours.push(e))
        .unwrap();
    assert_eq!(ours.len(), 1);
    assert!(same(&ours[0], &want.events[0]).unwrap().is_none());
    let mut flipped = ours[0];
    flipped.side = feeds::Side::Buy;
    assert!(same(&flipped, &want.events[0]).is_err());
    let mut bigger = ours[0];
    bigger.qty = feeds::Decimal::new(2001, 3);
    assert!(same(&bigger, &want.events[0]).is_err());
    let mut fewer = ours[0];
    fewer.fills = 1;
    assert!(same(&fewer, &want.events[0]).is_err());
}
