//! OKX v5 public streams (spot, perpetual swaps, dated futures): URL, subscribe requests,
//! keepalive and the [`Decoder`]. Protocol facts: reference/exchanges.md §4 (OKX docs-v5).
//!
//! One decoder reads every OKX instrument type: the instrument name says which it is
//! ([`inst_kind`]), and with it whether `sz` is base units (spot, margin) or contracts
//! (swaps, futures: `sz × ctVal`, or `sz × ctVal / px` for inverse ones).

mod decode;

pub(crate) use decode::base as contracts_to_base;
pub use decode::Decoder;

use crate::json::push_string;
use crate::venue::{Keepalive, Venue};
use std::time::Duration;

/// Public channels (`trades`, `liquidation-orders`, `open-interest`).
pub const PUBLIC_URL: &str = "wss://ws.okx.com:8443/ws/v5/public";

/// Total length of the channel list in one request (the docs' 64 KB); requests are split
/// below it. OKX documents no per-connection channel count for public channels, but
/// allows 480 subscribe requests per connection per hour and 3 connection requests/s per IP.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// Send the text `ping` more often than every 30 s (the server drops connections silent for
/// 30 s); the reply is the text `pong`, decoded as `Frame::Other`.
pub const KEEPALIVE: Keepalive = Keepalive::text("ping", Duration::from_secs(20));

/// Which OKX venue an instrument name belongs to: `BTC-USDT` spot, `BTC-USDT-SWAP` swap,
/// `BTC-USD-261225` dated future; `None` for anything else (options, garbage).
pub fn inst_kind(inst_id: &str) -> Option<Venue> {
    if inst_id.ends_with("-SWAP") {
        return Some(Venue::OkxSwap);
    }
    let mut parts = inst_id.split('-');
    let (base, quote) = (parts.next()?, parts.next()?);
    if base.is_empty() || quote.is_empty() {
        return None;
    }
    match (parts.next(), parts.next()) {
        (None, _) => Some(Venue::OkxSpot),
        (Some(date), None) if date.len() == 6 && date.bytes().all(|b| b.is_ascii_digit()) => {
            Some(Venue::OkxFutures)
        }
        _ => None,
    }
}

/// The `args` entries for `venue` and `symbols`: `trades` for every instrument, plus
/// `open-interest` per derivative and one `liquidation-orders` per instrument type.
fn args(venue: Venue, symbols: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let arg = |channel: &str, key: &str, value: &str| {
        let mut s = String::from(r#"{"channel":"#);
        push_string(&mut s, channel);
        s.push_str(&format!(r#","{key}":"#));
        push_string(&mut s, value);
        s.push('}');
        s
    };
    for symbol in symbols {
        out.push(arg("trades", "instId", symbol));
        if venue != Venue::OkxSpot {
            out.push(arg("open-interest", "instId", symbol));
        }
    }
    match venue {
        Venue::OkxSwap => out.push(arg("liquidation-orders", "instType", "SWAP")),
        Venue::OkxFutures => out.push(arg("liquidation-orders", "instType", "FUTURES")),
        _ => {}
    }
    out
}

/// Subscribe requests `{"op":"subscribe","args":[{"channel":"trades","instId":…},…]}`, split
/// so that none exceeds [`MAX_REQUEST_BYTES`].
pub fn subscribe_messages(venue: Venue, symbols: &[&str]) -> Vec<String> {
    const HEAD: &str = r#"{"op":"subscribe","args":["#;
    let mut out = Vec::new();
    let mut current = String::new();
    for arg in args(venue, symbols) {
        if !current.is_empty() && current.len() + arg.len() + 3 > MAX_REQUEST_BYTES {
            current.push_str("]}");
            out.push(std::mem::take(&mut current));
        }
        if current.is_empty() {
            current.push_str(HEAD);
        } else {
            current.push(',');
        }
        current.push_str(&arg);
    }
    if !current.is_empty() {
        current.push_str("]}");
        out.push(current);
    }
    out
}

/// OkxSpot's entry in the venue registry ([`crate::registry`]).
pub const SPOT_SPEC: crate::venue::VenueSpec = crate::venue::VenueSpec {
    perp: false,
    url: PUBLIC_URL,
    keepalive: KEEPALIVE,
    trade_ids: crate::venue::TradeIds::Contiguous { per_fill: true },
    rest_pace: crate::venue::RestPace {
        per_sec: 5.0,
        burst: 5.0,
    },
    rest_host: Some("https://www.okx.com"),
    subscribe: plan_subscribe,
    ..crate::venue::VenueSpec::new(crate::venue::Venue::OkxSpot, "okx-spot", "OKEX")
};

/// OkxSwap's entry in the venue registry ([`crate::registry`]).
pub const SWAP_SPEC: crate::venue::VenueSpec = crate::venue::VenueSpec {
    perp: true,
    url: PUBLIC_URL,
    keepalive: KEEPALIVE,
    trade_ids: crate::venue::TradeIds::Contiguous { per_fill: true },
    rest_pace: crate::venue::RestPace {
        per_sec: 5.0,
        burst: 5.0,
    },
    rest_host: Some("https://www.okx.com"),
    subscribe: plan_subscribe,
    ..crate::venue::VenueSpec::new(crate::venue::Venue::OkxSwap, "okx-swap", "OKEX")
};

/// OkxFutures's entry in the venue registry ([`crate::registry`]).
pub const FUTURES_SPEC: crate::venue::VenueSpec = crate::venue::VenueSpec {
    perp: false,
    url: PUBLIC_URL,
    keepalive: KEEPALIVE,
    trade_ids: crate::venue::TradeIds::Contiguous { per_fill: true },
    rest_pace: crate::venue::RestPace {
        per_sec: 5.0,
        burst: 5.0,
    },
    rest_host: Some("https://www.okx.com"),
    subscribe: plan_subscribe,
    ..crate::venue::VenueSpec::new(crate::venue::Venue::OkxFutures, "okx-futures", "OKEX")
};

/// [`crate::venue::VenueSpec::subscribe`] of this module's venues.
fn plan_subscribe(
    venue: crate::venue::Venue,
    symbols: &[&str],
    _first: bool,
    _now_s: u64,
) -> Vec<String> {
    subscribe_messages(venue, symbols)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instrument_kinds() {
        assert_eq!(inst_kind("BTC-USDT"), Some(Venue::OkxSpot));
        assert_eq!(inst_kind("BTC-USDT-SWAP"), Some(Venue::OkxSwap));
        assert_eq!(inst_kind("BTC-USD-261225"), Some(Venue::OkxFutures));
        assert_eq!(inst_kind("BTC-USD-261225-50000-C"), None);
        assert_eq!(inst_kind("BTC-USD-26122"), None);
        assert_eq!(inst_kind("BTCUSDT"), None);
        assert_eq!(inst_kind("-USDT"), None);
    }

    #[test]
    fn subscribe_messages_per_venue() {
        assert_eq!(
            subscribe_messages(Venue::OkxSwap, &["BTC-USDT-SWAP"]),
            [
                r#"{"op":"subscribe","args":[{"channel":"trades","instId":"BTC-USDT-SWAP"},{"channel":"open-interest","instId":"BTC-USDT-SWAP"},{"channel":"liquidation-orders","instType":"SWAP"}]}"#
            ]
        );
        assert_eq!(
            subscribe_messages(Venue::OkxSpot, &["BTC-USDT", "ETH-USDT"]),
            [
                r#"{"op":"subscribe","args":[{"channel":"trades","instId":"BTC-USDT"},{"channel":"trades","instId":"ETH-USDT"}]}"#
            ]
        );
        assert!(subscribe_messages(Venue::OkxSpot, &[]).is_empty());
    }

    #[test]
    fn large_subscriptions_split_below_64k() {
        let names: Vec<String> = (0..3000).map(|i| format!("C{i}-USDT-SWAP")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let msgs = subscribe_messages(Venue::OkxSwap, &refs);
        assert!(msgs.len() > 1);
        let mut trades = 0;
        for m in &msgs {
            assert!(m.len() <= MAX_REQUEST_BYTES);
            let v: serde_json::Value = serde_json::from_str(m).unwrap();
            trades += v["args"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| a["channel"] == "trades")
                .count();
        }
        assert_eq!(trades, 3000);
        assert_eq!(KEEPALIVE, Keepalive::text("ping", Duration::from_secs(20)));
    }
}
