//! Binance spot and USDⓈ-M futures adapters: which streams to open ([`combined_urls`],
//! [`subscribe_message`]) and how their frames become normalized events ([`Decoder`]).
//!
//! Both venues speak the same JSON dialect, so one decoder serves both:
//! - `subscribe`: stream names, combined-stream URLs sharded to the 1024-stream limit,
//!   `SUBSCRIBE` requests, request-rate limits;
//! - `wire`: the fields of trade and liquidation payloads and their normalization;
//! - `decode`: frame shapes (raw, combined, acks, errors, shutdown notices) and the
//!   allocation-free simd-json parse.

mod decode;
mod subscribe;
mod wire;

pub use decode::Decoder;
pub use subscribe::{
    combined_urls, max_msgs_per_sec, stream_names, subscribe_message, MAX_MSGS_PER_SEC_SPOT,
    MAX_MSGS_PER_SEC_USDM, MAX_STREAMS_PER_CONN, SPOT_BASE, USDM_BASE,
};
