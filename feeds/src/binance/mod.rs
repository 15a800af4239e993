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
