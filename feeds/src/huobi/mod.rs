//! HTX (Huobi) market streams, spot and USDT-margined swaps: URLs, subscribe requests,
//! keepalive and the [`Decoder`].
//!
//! Sources: HTX spot API v1 docs, "Websocket Market Data" (gzip, ping/pong, sub/unsub,
//! `market.$symbol.trade.detail`): <https://huobiapi.github.io/docs/spot/v1/en/#websocket-market-data>;
//! USDT-margined swap docs, "Subscribe Trade Detail Data"
//! (`market.$contract_code.trade.detail`): <https://huobiapi.github.io/docs/usdt_swap/v1/en/#websocket-market-interface>.
//!
//! Every server frame is gzip-compressed binary; the decoder inflates it into a reused buffer.
//! The server pings (`{"ping":N}`, [`Frame::Ping`](crate::Frame::Ping)) every few seconds and
//! closes the connection after two unanswered pings: reply with [`pong_message`]`(N)`.

mod decode;

pub use decode::{Decoder, MAX_INFLATED_BYTES};

use crate::json::push_string;
use crate::venue::{Keepalive, Venue};

/// Spot market data.
pub const SPOT_URL: &str = "wss://api.huobi.pro/ws";

/// USDT-margined swaps market data.
pub const SWAP_URL: &str = "wss://api.hbdm.com/linear-swap-ws";

/// Topics we put on one connection. HTX documents no per-connection topic count for market
/// data; this is our bound, so that one lost connection loses few markets.
pub const MAX_TOPICS_PER_CONN: usize = 100;

/// The server pings; we only answer ([`pong_message`]).
pub const KEEPALIVE: Keepalive = Keepalive::SERVER_PINGS;

/// The connection URL of `venue` (a HTX venue).
pub fn url(venue: Venue) -> &'static str {
    match venue {
        Venue::HuobiSwap => SWAP_URL,
        _ => SPOT_URL,
    }
}

/// The reply to `{"ping":n}`.
pub fn pong_message(n: u64) -> String {
    Pong(n).to_string()
}

/// The reply to `{"ping":n}` as a `Display`, to write it without allocating.
#[derive(Debug, Clone, Copy)]
pub struct Pong(pub u64);

impl std::fmt::Display for Pong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, r#"{{"pong":{}}}"#, self.0)
    }
}

/// One `sub` request per symbol (HTX takes one topic per request):
/// `{"sub":"market.btcusdt.trade.detail","id":"btcusdt"}`. Spot symbols are lower case
/// (`btcusdt`), swap contract codes upper case with a dash (`BTC-USDT`).
pub fn subscribe_messages(symbols: &[&str]) -> Vec<String> {
    symbols
        .iter()
        .map(|symbol| {
            let mut s = String::from(r#"{"sub":"#);
            push_string(&mut s, &format!("market.{symbol}.trade.detail"));
            s.push_str(r#","id":"#);
            push_string(&mut s, symbol);
            s.push('}');
            s
        })
        .collect()
}

/// Huobi's entry in the venue registry ([`crate::registry`]).
pub const SPOT_SPEC: crate::venue::VenueSpec = crate::venue::VenueSpec {
    url: SPOT_URL,
    keepalive: KEEPALIVE,
    max_symbols_per_conn: MAX_TOPICS_PER_CONN,
    subscribe: plan_subscribe,
    pong: Some(write_pong),
    ..crate::venue::VenueSpec::new(crate::venue::Venue::Huobi, "huobi", "HUOBI")
};

/// HuobiSwap's entry in the venue registry ([`crate::registry`]).
pub const SWAP_SPEC: crate::venue::VenueSpec = crate::venue::VenueSpec {
    perp: true,
    url: SWAP_URL,
    keepalive: KEEPALIVE,
    max_symbols_per_conn: MAX_TOPICS_PER_CONN,
    subscribe: plan_subscribe,
    pong: Some(write_pong),
    ..crate::venue::VenueSpec::new(crate::venue::Venue::HuobiSwap, "huobi-swap", "HUOBI")
};

/// [`crate::venue::VenueSpec::subscribe`] of this module's venues.
fn plan_subscribe(
    _venue: crate::venue::Venue,
    symbols: &[&str],
    _first: bool,
    _now_s: u64,
) -> Vec<String> {
    subscribe_messages(symbols)
}

/// [`crate::venue::VenueSpec::pong`]: `{"pong":n}` into `out`.
fn write_pong(n: u64, out: &mut Vec<u8>) -> bool {
    use std::io::Write as _;
    write!(out, "{}", Pong(n)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        assert_eq!(
            subscribe_messages(&["btcusdt", "BTC-USDT"]),
            [
                r#"{"sub":"market.btcusdt.trade.detail","id":"btcusdt"}"#,
                r#"{"sub":"market.BTC-USDT.trade.detail","id":"BTC-USDT"}"#
            ]
        );
        assert_eq!(pong_message(1492420473027), r#"{"pong":1492420473027}"#);
        assert_eq!(url(Venue::Huobi), SPOT_URL);
        assert_eq!(url(Venue::HuobiSwap), SWAP_URL);
        assert_eq!(KEEPALIVE, Keepalive::SERVER_PINGS);
    }
}
