//! The simulator for every venue besides Binance spot and USDⓈ-M: one loopback listener per
//! venue speaking its real protocol (paths, subscribe requests and acks, keepalive, batching,
//! snapshots, compression), fed by venue-neutral prints that each [`proto::Protocol`] formats.
//!
//! - `proto`: the sans-IO interface between the runtime and one venue's protocol.
//! - `runtime`: listeners, connection threads, the print generator, counters, the tape
//!   ([`VenueSim`], [`VenueSimConfig`]).
//! - `gen`: the seeded per-market generator and the market specs.
//! - one module per venue family: the protocol itself.

pub mod bitfinex;
pub mod bitget;
pub mod bitmex;
pub mod bybit;
pub mod coinbase;
pub mod coinm;
pub mod deribit;
pub mod gate;
pub mod gen;
pub mod htx;
pub mod hyperliquid;
pub mod kraken;
pub mod okx;
pub mod proto;
pub mod runtime;
pub(crate) mod wirefmt;

pub use runtime::{default_markets, ws_path, MarketStats, VenueSim, VenueSimConfig, VenueStats};

use feeds::Venue;
use proto::Protocol;

/// A fresh protocol (one per connection) for `venue`, or `None` if the simulator does not
/// speak it (Binance spot and USDⓈ-M are served by [`crate::sim::Simulator`]).
pub fn protocol(venue: Venue) -> Option<Box<dyn Protocol>> {
    match venue {
        Venue::BybitLinear | Venue::BybitInverse | Venue::BybitSpot => {
            Some(Box::new(bybit::new(venue)))
        }
        Venue::OkxSpot | Venue::OkxSwap | Venue::OkxFutures => Some(Box::new(okx::new(venue))),
        Venue::Bitget | Venue::BitgetSpot => Some(Box::new(bitget::new(venue))),
        Venue::GateFutures => Some(Box::new(gate::new(venue))),
        Venue::Hyperliquid => Some(Box::new(hyperliquid::new(venue))),
        Venue::Huobi | Venue::HuobiSwap => Some(Box::new(htx::new(venue))),
        Venue::BinanceCoinm => Some(Box::new(coinm::new(venue))),
        Venue::Coinbase | Venue::CoinbaseAdvanced => Some(Box::new(coinbase::new(venue))),
        Venue::KrakenSpot | Venue::KrakenFutures => Some(Box::new(kraken::new(venue))),
        Venue::Bitmex => Some(Box::new(bitmex::new(venue))),
        Venue::Deribit => Some(Box::new(deribit::new(venue))),
        Venue::Bitfinex => Some(Box::new(bitfinex::new(venue))),
        _ => None,
    }
}
