//! Gate USDT-margined futures (Futures WebSocket v4): URL, subscribe requests, keepalive and
//! the [`Decoder`].
//!
//! Source: Gate Futures WebSocket v4 docs, <https://www.gate.com/docs/developers/futures/ws/en/>
//! (sections "Server URL", "Application ping pong", "Trades API"). Facts used:
//! - requests are `{"time":<unix s>,"channel":…,"event":"subscribe","payload":[…]}`; replies
//!   echo `channel`/`event` with `"result":{"status":"success"}` or an `"error":{"code","message"}`;
//! - `futures.trades` updates carry `result: [{size, id, create_time, create_time_ms, price,
//!   contract}]` where `size` is in **contracts**, negative when the taker sold;
//! - a contract is `quanto_multiplier` base units (from `/futures/usdt/contracts`), e.g.
//!   0.0001 BTC for `BTC_USDT`;
//! - `futures.ping` requests are answered by `futures.pong`.
//!
//! Liquidations (`futures.public_liquidates`) and open interest are not decoded yet: no
//! recorded frame or verified doc example was available to test them against.

mod decode;

pub use decode::Decoder;

use crate::json::push_string;
use crate::venue::Keepalive;
use std::time::Duration;

/// USDT-settled contracts.
pub const URL: &str = "wss://fx-ws.gateio.ws/v4/ws/usdt";

/// Contracts per subscribe request we send (Gate takes a list of contracts per channel in
/// one request; it documents no per-connection count, this is our bound).
pub const MAX_CONTRACTS_PER_REQUEST: usize = 100;

/// How often to send [`ping_message`] (the docs' demo pings every 10 s).
pub const PING_INTERVAL: Duration = Duration::from_secs(10);

/// Send `{"time":0,"channel":"futures.ping"}` every [`PING_INTERVAL`]. Its `time` field is
/// informational (the server echoes it), so a fixed value keeps the message static.
pub const KEEPALIVE: Keepalive =
    Keepalive::text(r#"{"time":0,"channel":"futures.ping"}"#, PING_INTERVAL);

/// The application ping at unix time `now_s`; the reply (`futures.pong`) decodes as
/// `Frame::Other`.
pub fn ping_message(now_s: u64) -> String {
    format!(r#"{{"time":{now_s},"channel":"futures.ping"}}"#)
}

/// `futures.trades` subscriptions for `contracts` (`BTC_USDT`, …) at unix time `now_s`.
pub fn subscribe_messages(contracts: &[&str], now_s: u64) -> Vec<String> {
    contracts
        .chunks(MAX_CONTRACTS_PER_REQUEST)
        .map(|chunk| {
            let mut s = format!(
                r#"{{"time":{now_s},"channel":"futures.trades","event":"subscribe","payload":["#
            );
            for (i, c) in chunk.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                push_string(&mut s, c);
            }
            s.push_str("]}");
            s
        })
        .collect()
}

/// GateFutures's entry in the venue registry ([`crate::registry`]).
pub const SPEC: crate::venue::VenueSpec = crate::venue::VenueSpec {
    perp: true,
    url: URL,
    keepalive: KEEPALIVE,
    subscribe: plan_subscribe,
    ..crate::venue::VenueSpec::new(crate::venue::Venue::GateFutures, "gate-futures", "GATEIO")
};

/// [`crate::venue::VenueSpec::subscribe`] of this module's venues.
fn plan_subscribe(
    _venue: crate::venue::Venue,
    symbols: &[&str],
    _first: bool,
    now_s: u64,
) -> Vec<String> {
    subscribe_messages(symbols, now_s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        assert_eq!(
            subscribe_messages(&["BTC_USDT", "ETH_USDT"], 1545404023),
            [
                r#"{"time":1545404023,"channel":"futures.trades","event":"subscribe","payload":["BTC_USDT","ETH_USDT"]}"#
            ]
        );
        let many: Vec<String> = (0..150).map(|i| format!("C{i}_USDT")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(subscribe_messages(&refs, 1).len(), 2);
        assert_eq!(ping_message(7), r#"{"time":7,"channel":"futures.ping"}"#);
    }
}
