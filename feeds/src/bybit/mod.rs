//! Bybit v5 public streams (linear and inverse perpetuals, spot): where to connect, what to
//! subscribe to, how to keep the connection alive ([`KEEPALIVE`]) and how frames become events
//! ([`Decoder`]). Protocol facts: reference/exchanges.md §3 (bybit-exchange/docs v5).

mod decode;

pub use decode::Decoder;

use crate::json::push_string;
use crate::venue::{Keepalive, Venue};
use std::time::Duration;

/// Linear (USDT/USDC) perpetuals and futures.
pub const LINEAR_URL: &str = "wss://stream.bybit.com/v5/public/linear";
/// Inverse (coin-margined) contracts.
pub const INVERSE_URL: &str = "wss://stream.bybit.com/v5/public/inverse";
/// Spot.
pub const SPOT_URL: &str = "wss://stream.bybit.com/v5/public/spot";

/// The `args` of all subscriptions on one connection may total at most this many characters.
pub const MAX_ARGS_CHARS_PER_CONN: usize = 21_000;

/// Spot accepts at most 10 topics per subscribe request (derivatives have no per-request limit;
/// we use the same batch size there, which keeps requests short).
pub const MAX_ARGS_PER_REQUEST: usize = 10;

/// Send `{"op":"ping"}` every 20 s; without ping or data the server cuts the connection after
/// 10 minutes. The pong (`"ret_msg":"pong"`) decodes as `Frame::Other`.
pub const KEEPALIVE: Keepalive = Keepalive::text(r#"{"op":"ping"}"#, Duration::from_secs(20));

/// The connection URL of `venue` (a Bybit venue).
pub fn url(venue: Venue) -> &'static str {
    match venue {
        Venue::BybitInverse => INVERSE_URL,
        Venue::BybitSpot => SPOT_URL,
        _ => LINEAR_URL,
    }
}

/// The topics we read for one symbol: trades everywhere; on derivatives also liquidations
/// (`allLiquidation`) and tickers (open interest).
pub fn topics(venue: Venue, symbol: &str) -> Vec<String> {
    match venue {
        Venue::BybitSpot => vec![format!("publicTrade.{symbol}")],
        _ => vec![
            format!("publicTrade.{symbol}"),
            format!("allLiquidation.{symbol}"),
            format!("tickers.{symbol}"),
        ],
    }
}

/// Split `symbols` into groups that each fit one connection ([`MAX_ARGS_CHARS_PER_CONN`]);
/// a symbol's topics always share a connection.
pub fn connections<'a>(venue: Venue, symbols: &[&'a str]) -> Vec<Vec<&'a str>> {
    let mut out: Vec<Vec<&'a str>> = Vec::new();
    let mut used = 0;
    for &symbol in symbols {
        // Each topic costs its length plus the quotes and comma around it in `args`.
        let cost: usize = topics(venue, symbol).iter().map(|t| t.len() + 3).sum();
        match out.last_mut() {
            Some(group) if used + cost <= MAX_ARGS_CHARS_PER_CONN => group.push(symbol),
            _ => {
                out.push(vec![symbol]);
                used = 0;
            }
        }
        used += cost;
    }
    out
}

/// The subscribe requests for `symbols` on one connection, [`MAX_ARGS_PER_REQUEST`] topics each:
/// `{"req_id":"1","op":"subscribe","args":["publicTrade.BTCUSDT",…]}`.
pub fn subscribe_messages(venue: Venue, symbols: &[&str]) -> Vec<String> {
    let all: Vec<String> = symbols.iter().flat_map(|s| topics(venue, s)).collect();
    all.chunks(MAX_ARGS_PER_REQUEST)
        .enumerate()
        .map(|(i, chunk)| {
            let mut out = format!(r#"{{"req_id":"{}","op":"subscribe","args":["#, i + 1);
            for (j, topic) in chunk.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                push_string(&mut out, topic);
            }
            out.push_str("]}");
            out
        })
        .collect()
}

/// BybitLinear's entry in the venue registry ([`crate::registry`]).
pub const LINEAR_SPEC: crate::venue::VenueSpec = crate::venue::VenueSpec {
    perp: true,
    url: LINEAR_URL,
    keepalive: KEEPALIVE,
    rest_pace: crate::venue::RestPace {
        per_sec: 10.0,
        burst: 10.0,
    },
    rest_host: Some("https://api.bybit.com"),
    rest_recent_only: true,
    subscribe: plan_subscribe,
    ..crate::venue::VenueSpec::new(crate::venue::Venue::BybitLinear, "bybit-linear", "BYBIT")
};

/// BybitInverse's entry in the venue registry ([`crate::registry`]).
pub const INVERSE_SPEC: crate::venue::VenueSpec = crate::venue::VenueSpec {
    perp: true,
    url: INVERSE_URL,
    keepalive: KEEPALIVE,
    rest_pace: crate::venue::RestPace {
        per_sec: 10.0,
        burst: 10.0,
    },
    rest_host: Some("https://api.bybit.com"),
    rest_recent_only: true,
    subscribe: plan_subscribe,
    ..crate::venue::VenueSpec::new(crate::venue::Venue::BybitInverse, "bybit-inverse", "BYBIT")
};

/// BybitSpot's entry in the venue registry ([`crate::registry`]).
pub const SPOT_SPEC: crate::venue::VenueSpec = crate::venue::VenueSpec {
    perp: false,
    url: SPOT_URL,
    keepalive: KEEPALIVE,
    rest_pace: crate::venue::RestPace {
        per_sec: 10.0,
        burst: 10.0,
    },
    rest_host: Some("https://api.bybit.com"),
    rest_recent_only: true,
    subscribe: plan_subscribe,
    ..crate::venue::VenueSpec::new(crate::venue::Venue::BybitSpot, "bybit-spot", "BYBIT")
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
    fn subscribe_messages_batch_ten_topics() {
        let msgs = subscribe_messages(
            Venue::BybitLinear,
            &["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"],
        );
        assert_eq!(msgs.len(), 2, "12 topics → 10 + 2");
        assert_eq!(
            msgs[1],
            r#"{"req_id":"2","op":"subscribe","args":["allLiquidation.XRPUSDT","tickers.XRPUSDT"]}"#
        );
        let spot = subscribe_messages(Venue::BybitSpot, &["BTCUSDT"]);
        assert_eq!(
            spot,
            [r#"{"req_id":"1","op":"subscribe","args":["publicTrade.BTCUSDT"]}"#]
        );
        for m in msgs.iter().chain(&spot) {
            let v: serde_json::Value = serde_json::from_str(m).unwrap();
            assert!(v["args"].as_array().unwrap().len() <= MAX_ARGS_PER_REQUEST);
        }
        assert!(subscribe_messages(Venue::BybitSpot, &[]).is_empty());
    }

    #[test]
    fn connections_respect_the_args_budget() {
        let names: Vec<String> = (0..1000).map(|i| format!("SYM{i}USDT")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let groups = connections(Venue::BybitLinear, &refs);
        assert!(groups.len() > 1);
        let flat: Vec<&str> = groups.iter().flatten().copied().collect();
        assert_eq!(flat, refs, "every symbol once, in order");
        for g in &groups {
            let chars: usize = g
                .iter()
                .flat_map(|s| topics(Venue::BybitLinear, s))
                .map(|t| t.len() + 3)
                .sum();
            assert!(chars <= MAX_ARGS_CHARS_PER_CONN);
        }
    }

    #[test]
    fn urls_and_keepalive() {
        assert_eq!(url(Venue::BybitLinear), LINEAR_URL);
        assert_eq!(url(Venue::BybitInverse), INVERSE_URL);
        assert_eq!(url(Venue::BybitSpot), SPOT_URL);
        let Keepalive {
            text: Some(text),
            every,
            ..
        } = KEEPALIVE
        else {
            panic!("the client pings");
        };
        assert_eq!(every, Duration::from_secs(20));
        // Our own ping is valid JSON with op=ping.
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(v["op"], "ping");
    }
}
