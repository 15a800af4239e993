//! Binance spot, USDⓈ-M and COIN-M futures adapters: which streams to open ([`combined_urls`],
//! [`subscribe_message`]) and how their frames become normalized events ([`Decoder`]).
//!
//! All three speak the same JSON dialect, so one decoder serves them; on COIN-M it converts
//! quantities (contracts of `contractSize` USD) to base units, `q × contractSize / price`
//! as aggr-server does:
//! - `subscribe`: stream names, combined-stream URLs sharded to the 1024-stream limit,
//!   `SUBSCRIBE` requests, request-rate limits;
//! - `wire`: the fields of trade and liquidation payloads and their normalization;
//! - `decode`: frame shapes (raw, combined, acks, errors, shutdown notices) and the
//!   allocation-free simd-json parse.

mod decode;
mod subscribe;
mod wire;

pub use decode::Decoder;

/// The server sends WebSocket pings (answered by the socket layer); the client sends nothing.
pub const KEEPALIVE: crate::venue::Keepalive = crate::venue::Keepalive::SERVER_PINGS;
pub use subscribe::{
    combined_urls, max_msgs_per_sec, max_streams_per_conn, stream_names, subscribe_message,
    usdm_route, UsdmRoute, COINM_BASE, MAX_MSGS_PER_SEC_SPOT, MAX_MSGS_PER_SEC_USDM,
    MAX_STREAMS_PER_CONN, MAX_STREAMS_PER_CONN_COINM, SPOT_BASE, USDM_BASE,
};

/// BinanceSpot's entry in the venue registry ([`crate::registry`]).
pub const SPOT_SPEC: crate::venue::VenueSpec = crate::venue::VenueSpec {
    perp: false,
    upper_case_symbols: true,
    url: SPOT_BASE,
    keepalive: KEEPALIVE,
    max_symbols_per_conn: max_streams_per_conn(crate::venue::Venue::BinanceSpot) / 2,
    max_msgs_per_sec: MAX_MSGS_PER_SEC_SPOT,
    max_lifetime: Some(std::time::Duration::from_secs(24 * 3600)),
    trade_ids: crate::venue::TradeIds::Contiguous { per_fill: true },
    rest_pace: crate::venue::RestPace {
        per_sec: 5.0,
        burst: 5.0,
    },
    rest_host: Some("https://api.binance.com"),
    streams_in_url: true,
    ..crate::venue::VenueSpec::new(crate::venue::Venue::BinanceSpot, "binance", "BINANCE")
};

/// BinanceUsdm's entry in the venue registry ([`crate::registry`]).
pub const USDM_SPEC: crate::venue::VenueSpec = crate::venue::VenueSpec {
    perp: true,
    upper_case_symbols: true,
    url: USDM_BASE,
    keepalive: KEEPALIVE,
    max_symbols_per_conn: max_streams_per_conn(crate::venue::Venue::BinanceUsdm) / 2,
    max_msgs_per_sec: MAX_MSGS_PER_SEC_USDM,
    max_lifetime: Some(std::time::Duration::from_secs(24 * 3600)),
    trade_ids: crate::venue::TradeIds::Contiguous { per_fill: false },
    rest_pace: crate::venue::RestPace {
        per_sec: 1.0,
        burst: 3.0,
    },
    rest_host: Some("https://fapi.binance.com"),
    streams_in_url: true,
    ..crate::venue::VenueSpec::new(
        crate::venue::Venue::BinanceUsdm,
        "binance-usdm",
        "BINANCE_FUTURES",
    )
};

/// BinanceCoinm's entry in the venue registry ([`crate::registry`]): USDⓈ-M's rules on its own
/// host and stream limit.
pub const COINM_SPEC: crate::venue::VenueSpec = crate::venue::VenueSpec {
    venue: crate::venue::Venue::BinanceCoinm,
    name: "binance-coinm",
    url: COINM_BASE,
    max_symbols_per_conn: max_streams_per_conn(crate::venue::Venue::BinanceCoinm) / 2,
    rest_host: Some("https://dapi.binance.com"),
    ..USDM_SPEC
};
