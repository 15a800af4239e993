//! Where to connect and what to ask for: Binance stream names, combined-stream URLs sharded
//! to the per-connection stream limit, `SUBSCRIBE` requests and the request-rate limits.
//!
//! USDⓈ-M streams are routed by tier since Binance split the futures WebSocket root on
//! 2026-03-06 (docs "Important WebSocket Change Notice"; legacy root URLs retired 2026-04-23):
//! `/public` carries the high-frequency streams (`@depth*`, `@bookTicker` and `@trade` — ccxt's
//! routing table, ccxt #28083 2026-08-01; rustrade-data 0.5), `/market` carries `@aggTrade`,
//! `@forceOrder`, `@markPrice`, klines and tickers. A stream subscribed on the other tier's
//! route is acknowledged and then never sends a frame (maxt 0.2.1 docs, measured 2026-07-30),
//! and an unrouted `/ws` or `/stream` is served as `/public`. So USDⓈ-M reads `@aggTrade` and
//! `@forceOrder`, both `/market`-tier, on one `/market` connection: every stream is on its
//! route, a pair's trades and liquidations share a connection, and aggTrade's `f`/`l` give the
//! fill count (`l − f + 1`) that aggr-server and the REST backfill (`aggTrades`) count too,
//! without the insurance-fund/ADL prints `@trade` carries. Spot (`stream.binance.com`) and
//! COIN-M (`dstream.binance.com`) were not split (ccxt PR #28091, 2026-03-07).

use crate::venue::Venue;
use std::fmt::Write as _;

/// Spot WebSocket host.
pub const SPOT_BASE: &str = "wss://stream.binance.com:9443";

/// USDⓈ-M futures WebSocket host (the streams we read are `/market`-tier: under `/market`).
pub const USDM_BASE: &str = "wss://fstream.binance.com";

/// COIN-M futures WebSocket host (unchanged by the 2026 USDⓈ-M split; no `/market` path).
pub const COINM_BASE: &str = "wss://dstream.binance.com";

/// Streams one connection may carry, on spot and USDⓈ-M.
pub const MAX_STREAMS_PER_CONN: usize = 1024;

/// Streams one COIN-M connection may carry (docs: 200).
pub const MAX_STREAMS_PER_CONN_COINM: usize = 200;

/// The USDⓈ-M route (tier) a stream is served on since the 2026 split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsdmRoute {
    /// `/public`: high-frequency data.
    Public,
    /// `/market`: regular market data.
    Market,
}

impl UsdmRoute {
    /// The path prefix, `/public` or `/market`.
    pub const fn path(self) -> &'static str {
        match self {
            UsdmRoute::Public => "/public",
            UsdmRoute::Market => "/market",
        }
    }
}

/// The route of USDⓈ-M stream `name` (`btcusdt@aggTrade`, `!forceOrder@arr`): `/public` for
/// `@trade`, `@bookTicker`, `@depth*` and `@rpiDepth*`, `/market` for everything else
/// (`@aggTrade`, `@forceOrder`, `@markPrice`, klines, tickers, …). Sources in the module docs.
pub fn usdm_route(name: &str) -> UsdmRoute {
    // `<symbol>@<kind>[@<speed>]`, or `!<kind>[@arr]` for all-market streams.
    let kind = match name.strip_prefix('!') {
        Some(all) => all.split('@').next(),
        None => name.split('@').nth(1),
    }
    .unwrap_or("");
    if kind == "trade"
        || kind == "bookTicker"
        || kind.starts_with("depth")
        || kind.starts_with("rpiDepth")
    {
        UsdmRoute::Public
    } else {
        UsdmRoute::Market
    }
}

/// The per-connection stream limit of `venue`.
pub const fn max_streams_per_conn(venue: Venue) -> usize {
    match venue {
        Venue::BinanceCoinm => MAX_STREAMS_PER_CONN_COINM,
        _ => MAX_STREAMS_PER_CONN,
    }
}

/// Messages per second a spot connection may send (pongs and requests count; more gets the
/// connection closed).
pub const MAX_MSGS_PER_SEC_SPOT: u32 = 5;

/// Messages per second a USDⓈ-M connection may send.
pub const MAX_MSGS_PER_SEC_USDM: u32 = 10;

/// The incoming-message limit of `venue`'s connections.
pub const fn max_msgs_per_sec(venue: Venue) -> u32 {
    match venue {
        Venue::BinanceSpot => MAX_MSGS_PER_SEC_SPOT,
        _ => MAX_MSGS_PER_SEC_USDM,
    }
}

/// The streams we read for one pair (`pair_lower` as Binance spells it in stream names,
/// e.g. `btcusdt`): `@trade` on spot; `@aggTrade` and `@forceOrder` on the futures venues
/// (COIN-M's docs describe `aggTrade` as its trade stream; on USDⓈ-M both are `/market`-tier,
/// see the module docs, while `@trade` is `/public`-tier and would stay silent there).
pub fn stream_names(venue: Venue, pair_lower: &str) -> Vec<String> {
    match venue {
        Venue::BinanceSpot => vec![format!("{pair_lower}@trade")],
        _ => vec![
            format!("{pair_lower}@aggTrade"),
            format!("{pair_lower}@forceOrder"),
        ],
    }
}

/// Combined-stream URLs carrying every stream of `pairs`, as few as the limit of
/// [`MAX_STREAMS_PER_CONN`] streams per connection allows. A pair's streams always share a
/// URL, so one connection loss never leaves a pair with trades but no liquidations (on
/// USDⓈ-M that URL is on the `/market` route, the tier of both streams).
/// `base` is a host such as [`SPOT_BASE`] (or a local simulator's), without a path.
pub fn combined_urls(venue: Venue, base: &str, pairs: &[&str]) -> Vec<String> {
    // USDⓈ-M: the route of our streams (all of one tier; a test checks it).
    let route = match venue {
        Venue::BinanceUsdm => usdm_route(&stream_names(venue, "x")[0]).path(),
        _ => "",
    };
    let path = format!("{route}/stream");
    let base = base.trim_end_matches('/');
    let per_pair = stream_names(venue, "x").len();
    let pairs_per_url = (max_streams_per_conn(venue) / per_pair).max(1);
    pairs
        .chunks(pairs_per_url)
        .map(|chunk| {
            let mut url = format!("{base}{path}?streams=");
            for (i, name) in chunk
                .iter()
                .flat_map(|pair| stream_names(venue, pair))
                .enumerate()
            {
                if i > 0 {
                    url.push('/');
                }
                url.push_str(&name);
            }
            url
        })
        .collect()
}

/// A `SUBSCRIBE` request: `{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1}`.
/// The venue answers `{"result":null,"id":<id>}`.
pub fn subscribe_message(id: u64, streams: &[&str]) -> String {
    let mut msg = String::from(r#"{"method":"SUBSCRIBE","params":["#);
    for (i, stream) in streams.iter().enumerate() {
        if i > 0 {
            msg.push(',');
        }
        push_json_string(&mut msg, stream);
    }
    // Writing to a String cannot fail.
    let _ = write!(msg, r#"],"id":{id}}}"#);
    msg
}

/// Append `text` as a JSON string literal. Stream names are plain ASCII, but names come
/// from configuration, and a stray quote must not produce a broken request.
fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("p{i}usdt")).collect()
    }

    fn streams_in(url: &str) -> Vec<&str> {
        let (_, query) = url.split_once("?streams=").expect("combined-stream URL");
        query.split('/').collect()
    }

    #[test]
    fn stream_names_per_venue() {
        assert_eq!(
            stream_names(Venue::BinanceSpot, "btcusdt"),
            ["btcusdt@trade"]
        );
        assert_eq!(
            stream_names(Venue::BinanceUsdm, "btcusdt"),
            ["btcusdt@aggTrade", "btcusdt@forceOrder"]
        );
    }

    #[test]
    fn urls_use_each_venues_path() {
        assert_eq!(
            combined_urls(Venue::BinanceSpot, SPOT_BASE, &["btcusdt", "ethusdt"]),
            ["wss://stream.binance.com:9443/stream?streams=btcusdt@trade/ethusdt@trade"]
        );
        assert_eq!(
            combined_urls(Venue::BinanceUsdm, "ws://127.0.0.1:9001/", &["btcusdt"]),
            ["ws://127.0.0.1:9001/market/stream?streams=btcusdt@aggTrade/btcusdt@forceOrder"]
        );
        assert!(combined_urls(Venue::BinanceSpot, SPOT_BASE, &[]).is_empty());
    }

    #[test]
    fn spot_shards_at_1024_streams() {
        let owned = pairs(2049);
        let names: Vec<&str> = owned.iter().map(String::as_str).collect();
        let urls = combined_urls(Venue::BinanceSpot, SPOT_BASE, &names);
        let sizes: Vec<usize> = urls.iter().map(|u| streams_in(u).len()).collect();
        assert_eq!(sizes, [1024, 1024, 1]);
        let all: Vec<&str> = urls.iter().flat_map(|u| streams_in(u)).collect();
        let want: Vec<String> = owned.iter().map(|p| format!("{p}@trade")).collect();
        assert_eq!(all, want, "every stream once, in order");
    }

    #[test]
    fn usdm_shards_keep_a_pairs_streams_together() {
        let owned = pairs(1025);
        let names: Vec<&str> = owned.iter().map(String::as_str).collect();
        let urls = combined_urls(Venue::BinanceUsdm, USDM_BASE, &names);
        let sizes: Vec<usize> = urls.iter().map(|u| streams_in(u).len()).collect();
        assert_eq!(sizes, [1024, 1024, 2]);
        for url in &urls {
            assert!(url.starts_with("wss://fstream.binance.com/market/stream?streams="));
            let streams = streams_in(url);
            for pair in streams.chunks(2) {
                let (a, b) = (pair[0], pair[1]);
                assert_eq!(a.strip_suffix("@aggTrade"), b.strip_suffix("@forceOrder"));
            }
        }
        // Exactly at the limit: one URL.
        let urls = combined_urls(Venue::BinanceUsdm, USDM_BASE, &names[..512]);
        assert_eq!(urls.len(), 1);
        assert_eq!(streams_in(&urls[0]).len(), MAX_STREAMS_PER_CONN);
    }

    /// Every USDⓈ-M stream we read is on the route its connection uses: a stream on the
    /// other tier's route would be acknowledged and then silent.
    #[test]
    fn usdm_streams_are_on_their_route() {
        let names = stream_names(Venue::BinanceUsdm, "btcusdt");
        assert!(names.iter().all(|n| usdm_route(n) == UsdmRoute::Market));
        let url = &combined_urls(Venue::BinanceUsdm, USDM_BASE, &["btcusdt"])[0];
        assert!(
            url.starts_with("wss://fstream.binance.com/market/stream?"),
            "{url}"
        );
        // The routing table itself.
        for public in [
            "btcusdt@trade",
            "btcusdt@bookTicker",
            "btcusdt@depth",
            "btcusdt@depth20@100ms",
            "btcusdt@rpiDepth@500ms",
            "!bookTicker",
        ] {
            assert_eq!(usdm_route(public), UsdmRoute::Public, "{public}");
        }
        for market in [
            "btcusdt@aggTrade",
            "btcusdt@forceOrder",
            "!forceOrder@arr",
            "btcusdt@markPrice@1s",
            "btcusdt@kline_1m",
            "btcusdt@ticker",
            "!contractInfo",
        ] {
            assert_eq!(usdm_route(market), UsdmRoute::Market, "{market}");
        }
    }

    #[test]
    fn subscribe_message_is_binance_json() {
        assert_eq!(
            subscribe_message(7, &["btcusdt@trade", "btcusdt@forceOrder"]),
            r#"{"method":"SUBSCRIBE","params":["btcusdt@trade","btcusdt@forceOrder"],"id":7}"#
        );
        assert_eq!(
            subscribe_message(u64::MAX, &[]),
            r#"{"method":"SUBSCRIBE","params":[],"id":18446744073709551615}"#
        );
        assert_eq!(
            subscribe_message(1, &["a\"b\\c\n"]),
            r#"{"method":"SUBSCRIBE","params":["a\"b\\c\u000a"],"id":1}"#
        );
    }

    #[test]
    fn coinm_streams_and_urls() {
        assert_eq!(
            combined_urls(Venue::BinanceCoinm, COINM_BASE, &["btcusd_perp"]),
            ["wss://dstream.binance.com/stream?streams=btcusd_perp@aggTrade/btcusd_perp@forceOrder"]
        );
        let owned = pairs(101);
        let names: Vec<&str> = owned.iter().map(String::as_str).collect();
        let urls = combined_urls(Venue::BinanceCoinm, COINM_BASE, &names);
        let sizes: Vec<usize> = urls.iter().map(|u| streams_in(u).len()).collect();
        assert_eq!(sizes, [200, 2]);
        assert_eq!(max_msgs_per_sec(Venue::BinanceCoinm), 10);
    }

    #[test]
    fn message_rate_limits() {
        assert_eq!(max_msgs_per_sec(Venue::BinanceSpot), 5);
        assert_eq!(max_msgs_per_sec(Venue::BinanceUsdm), 10);
    }
}
