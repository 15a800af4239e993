//! Bitget v2 public streams (USDT/USDC futures, spot): URL, subscribe requests, limits,
//! keepalive and the [`Decoder`]. Protocol facts: reference/exchanges.md §11.
//!
//! The same `instId` (`BTCUSDT`) exists under SPOT and USDT-FUTURES and both map to the
//! market id `BITGET:BTCUSDT`, so each decoder serves one family and refuses the other's
//! frames ([`DecodeError::OtherMarket`](crate::DecodeError::OtherMarket)).

mod decode;

pub use decode::Decoder;

use crate::json::push_string;
use crate::venue::{Keepalive, Venue};
use std::time::Duration;

/// The public WebSocket (both families).
pub const URL: &str = "wss://ws.bitget.com/v2/ws/public";

/// Channels one connection may carry.
pub const MAX_CHANNELS_PER_CONN: usize = 1000;

/// Subscribe requests allowed per connection per hour; we put many channels in one request.
pub const MAX_SUBSCRIBE_REQUESTS_PER_HOUR: u32 = 240;

/// Messages per second a connection may send (pings included).
pub const MAX_MSGS_PER_SEC: u32 = 10;

/// Channels per subscribe request we send (well below the per-connection limit, so a few
/// requests cover a full connection without nearing the hourly request limit).
pub const MAX_ARGS_PER_REQUEST: usize = 100;

/// Send the text `ping` every 30 s (the server disconnects after 2 minutes without one);
/// the reply `pong` decodes as `Frame::Other`. The server also drops every connection after
/// 24 h.
pub const KEEPALIVE: Keepalive = Keepalive::text("ping", Duration::from_secs(30));

/// `instType` of the venue's subscriptions.
pub fn inst_type(venue: Venue) -> &'static str {
    match venue {
        Venue::BitgetSpot => "SPOT",
        _ => "USDT-FUTURES",
    }
}

/// Subscribe requests for the trades (and, on futures, the ticker, which carries open interest)
/// of `symbols`: `{"op":"subscribe","args":[{"instType":"USDT-FUTURES","channel":"trade","instId":"BTCUSDT"},…]}`.
pub fn subscribe_messages(venue: Venue, symbols: &[&str]) -> Vec<String> {
    let channels: &[&str] = match venue {
        Venue::BitgetSpot => &["trade"],
        _ => &["trade", "ticker"],
    };
    let mut args = Vec::new();
    for symbol in symbols {
        for channel in channels {
            let mut a = format!(
                r#"{{"instType":"{}","channel":"{channel}","instId":"#,
                inst_type(venue)
            );
            push_string(&mut a, symbol);
            a.push('}');
            args.push(a);
        }
    }
    args.chunks(MAX_ARGS_PER_REQUEST)
        .map(|chunk| format!(r#"{{"op":"subscribe","args":[{}]}}"#, chunk.join(",")))
        .collect()
}

/// Bitget's entry in the venue registry ([`crate::registry`]).
pub const FUTURES_SPEC: crate::venue::VenueSpec = crate::venue::VenueSpec {
    perp: true,
    url: URL,
    keepalive: KEEPALIVE,
    max_symbols_per_conn: MAX_CHANNELS_PER_CONN / 2,
    max_msgs_per_sec: MAX_MSGS_PER_SEC,
    max_lifetime: Some(std::time::Duration::from_secs(24 * 3600)),
    subscribe: plan_subscribe,
    ..crate::venue::VenueSpec::new(crate::venue::Venue::Bitget, "bitget", "BITGET")
};

/// BitgetSpot's entry in the venue registry ([`crate::registry`]).
pub const SPOT_SPEC: crate::venue::VenueSpec = crate::venue::VenueSpec {
    url: URL,
    keepalive: KEEPALIVE,
    max_symbols_per_conn: MAX_CHANNELS_PER_CONN / 2,
    max_msgs_per_sec: MAX_MSGS_PER_SEC,
    max_lifetime: Some(std::time::Duration::from_secs(24 * 3600)),
    subscribe: plan_subscribe,
    ..crate::venue::VenueSpec::new(crate::venue::Venue::BitgetSpot, "bitget-spot", "BITGET")
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
    fn subscribe_messages_per_family() {
        assert_eq!(
            subscribe_messages(Venue::BitgetSpot, &["BTCUSDT"]),
            [
                r#"{"op":"subscribe","args":[{"instType":"SPOT","channel":"trade","instId":"BTCUSDT"}]}"#
            ]
        );
        let names: Vec<String> = (0..120).map(|i| format!("C{i}USDT")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let msgs = subscribe_messages(Venue::Bitget, &refs);
        assert_eq!(msgs.len(), 3, "240 channels in requests of 100");
        let v: serde_json::Value = serde_json::from_str(&msgs[0]).unwrap();
        assert_eq!(v["args"][0]["instType"], "USDT-FUTURES");
        assert_eq!(v["args"][1]["channel"], "ticker");
        assert_eq!(KEEPALIVE, Keepalive::text("ping", Duration::from_secs(30)));
    }
}
