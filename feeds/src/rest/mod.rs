//! Sans-IO REST trade history: the request path of each page of a backfill window, and the
//! parse of each page's response body into the same [`Event`]s the venue's WebSocket decoder
//! makes of the same trades.
//!
//! A [`Pager`] walks one window `[from_us, to_us]` (optionally bounded by the trade ids seen
//! around a gap) on one market: [`Pager::request`] gives the path and query of the next page
//! (to be appended to the venue's REST host, [`default_host`]), [`Pager::on_body`] parses the
//! body of a `200` response, appends its trades and decides the next page. No I/O, no clock.
//!
//! Endpoints and formats (the venues' public docs; one file per family):
//! - `binance`: `GET /api/v3|/fapi/v1|/dapi/v1/aggTrades` by `startTime`/`endTime` (≤ 1 h),
//!   then `fromId`; ascending. Spot: `trade_id` = `l`, `fills` = `l − f + 1` (the `@trade` ids
//!   the WebSocket feed follows). USDⓈ-M and COIN-M: `trade_id` = `a` (their WebSocket feeds
//!   follow `@aggTrade` ids), `fills` = `l − f + 1`, a gap between known ids fetched by
//!   `fromId`; COIN-M contracts → base as the WS decoder does.
//! - `bybit`: `GET /v5/market/recent-trade`: the most recent trades only (newest first), so a
//!   window older than the venue's last page is not covered.
//! - `okx`: `GET /api/v5/market/history-trades`, paged backwards by `tradeId` (`type=1`); the
//!   first page of a window with no known later id is found by time (`type=2`).
//! - `coinbase`: `GET /products/{id}/trades`, paged backwards by `after` = trade id; `side` is
//!   the maker side, as on the WebSocket feed.
//! - `kraken`: `GET /0/public/Trades` from `since` (ns), ascending, cursor `last`.
//! - `bitmex`: `GET /api/v1/trade` by `startTime`/`endTime`, paged by `start` offset.
//! - `deribit`: `GET /api/v2/public/get_last_trades_by_instrument_and_time`, ascending, paged
//!   by time while `has_more`.
//! - `bitfinex`: `GET /v2/trades/{symbol}/hist` with `sort=1` (ascending), paged by time.
//!
//! Venue error bodies (rate limits included) are typed [`RestError`]s, never panics; a page
//! with one bad record is refused whole (no partial pages).

mod binance;
mod bitfinex;
mod bitmex;
mod bybit;
mod coinbase;
mod deribit;
mod kraken;
mod okx;

use crate::event::{Event, Symbol};
use crate::instruments::{Instruments, Specs};
use crate::json;
use crate::venue::{DecodeError, Venue};
use std::fmt::Write as _;
use std::sync::Arc;

/// The part of a market's history one backfill job wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Window start, inclusive, µs since the epoch (exchange time).
    pub from_us: i64,
    /// Window end, inclusive.
    pub to_us: i64,
    /// Last trade id seen before the gap; 0 = unknown.
    pub after_id: u64,
    /// First trade id seen after the gap; 0 = unknown.
    pub before_id: u64,
}

/// Why a page could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RestError {
    /// The venue has no public trade-history endpoint here.
    #[error("{0}: no REST trade history")]
    Unsupported(Venue),
    /// The body is not what the venue documents (bad JSON, missing or mistyped field).
    #[error("bad response: {0}")]
    Decode(#[from] DecodeError),
    /// The venue said to slow down (in its own error format).
    #[error("rate limited by the venue (code {code}): {msg}")]
    RateLimited { code: i64, msg: String },
    /// The venue refused the request (unknown symbol, bad parameter, …).
    #[error("venue error {code}: {msg}")]
    Venue { code: i64, msg: String },
}

/// Parse buffers and instrument metadata, reused across pages (one per worker thread).
pub struct RestParser {
    instruments: Arc<Instruments>,
    /// COIN-M contract sizes, keyed as the Binance WS decoder keys them.
    coinm: Specs,
    json: json::Parser,
}

impl RestParser {
    /// `instruments` gives contract sizes (COIN-M, Bybit inverse, OKX swaps/futures), the
    /// same metadata the WebSocket decoders are built with.
    pub fn new(instruments: Arc<Instruments>) -> RestParser {
        RestParser {
            coinm: Specs::of(Venue::BinanceCoinm, &instruments),
            instruments,
            json: json::Parser::new(),
        }
    }
}

impl std::fmt::Debug for RestParser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestParser").finish_non_exhaustive()
    }
}

/// Whether `venue` has a REST trade-history backfill here.
pub fn supported(venue: Venue) -> bool {
    default_host(venue).is_some()
}

/// The venue's public REST host (`https://…`, no trailing slash).
pub fn default_host(venue: Venue) -> Option<&'static str> {
    venue.spec().rest_host
}

/// Whether the venue's trade ids (as the WS decoders set `Event::trade_id`) grow with time
/// within a market, so that a gap's bounding ids can filter recovered trades. Bybit (UUIDs)
/// and BitMEX (no ids) have none.
pub fn ids_monotonic(venue: Venue) -> bool {
    // Among the venues with REST history, every id model but `None` grows with time.
    let spec = venue.spec();
    spec.rest_host.is_some() && spec.trade_ids != crate::venue::TradeIds::None
}

/// The venue trade ids `first..=last` a recovered event stands for, on venues with
/// monotonic ids: `(trade_id − fills, trade_id]`, except Binance USDⓈ-M and COIN-M whose
/// `trade_id` is the aggregate id `a` (one id per event, `fills` counting the underlying fills).
pub fn id_span(venue: Venue, event: &Event) -> Option<(u64, u64)> {
    let id = event.trade_id?;
    if binance::follows_agg_ids(venue) {
        return Some((id, id));
    }
    let fills = u64::from(event.fills.max(1));
    Some((id.saturating_sub(fills - 1), id))
}

/// Recognize a venue error body (as sent with a non-`200` status, or in a `200` body on
/// venues that do so). `None` when the body is not one of the venue's error shapes.
pub fn venue_error(parser: &mut RestParser, venue: Venue, body: &mut [u8]) -> Option<RestError> {
    match venue {
        Venue::BinanceSpot | Venue::BinanceUsdm | Venue::BinanceCoinm => parser
            .json
            .parse(body, |root| Ok(binance::error(root)))
            .ok()?,
        Venue::BybitLinear | Venue::BybitInverse | Venue::BybitSpot => parser
            .json
            .parse(body, |root| Ok(bybit::error(root)))
            .ok()?,
        Venue::OkxSpot | Venue::OkxSwap | Venue::OkxFutures => {
            parser.json.parse(body, |root| Ok(okx::error(root))).ok()?
        }
        Venue::Coinbase => parser
            .json
            .parse(body, |root| Ok(coinbase::error(root)))
            .ok()?,
        Venue::KrakenSpot => parser
            .json
            .parse(body, |root| Ok(kraken::error(root)))
            .ok()?,
        Venue::Bitmex => parser
            .json
            .parse(body, |root| Ok(bitmex::error(root)))
            .ok()?,
        Venue::Deribit => parser
            .json
            .parse(body, |root| Ok(deribit::error(root)))
            .ok()?,
        Venue::Bitfinex => parser
            .json
            .parse(body, |root| Ok(bitfinex::error(root)))
            .ok()?,
        _ => None,
    }
}

/// Where the next page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cursor {
    /// The venue's default page: its most recent trades.
    Latest,
    /// A time range in ms, both ends inclusive (Binance `startTime`/`endTime`).
    Range { start_ms: i64, end_ms: i64 },
    /// A trade id: Binance `fromId` (inclusive); OKX `type=1` and Coinbase `after` (older
    /// than it).
    Id(u64),
    /// A time in ms: OKX `type=2` `after` (older than it); Deribit and Bitfinex start.
    Ms(i64),
    /// Kraken `since`, ns.
    Ns(u64),
    /// BitMEX `start`: rows of the window already read.
    Offset(u64),
}

/// What one page decided.
#[derive(Debug, Clone, Copy)]
struct Step {
    /// The next page, `None` when the window is done.
    next: Option<Cursor>,
    /// False when part of the window cannot be served (Bybit: older than its recent trades;
    /// a page of trades all in one millisecond that a time cursor cannot step through).
    covered: bool,
}

impl Step {
    fn done() -> Step {
        Step {
            next: None,
            covered: true,
        }
    }
    fn more(next: Cursor) -> Step {
        Step {
            next: Some(next),
            covered: true,
        }
    }
}

/// One market's walk through a window, page by page.
#[derive(Debug, Clone)]
pub struct Pager {
    venue: Venue,
    symbol: Symbol,
    window: Window,
    next: Option<Cursor>,
    covered: bool,
    pages: u32,
}

impl Pager {
    /// A walk of `window` on `symbol` (spelt as the venue's WebSocket frames spell it, i.e.
    /// the market's `Symbol`). [`RestError::Unsupported`] for venues without REST history.
    pub fn new(venue: Venue, symbol: Symbol, window: Window) -> Result<Pager, RestError> {
        let first = match venue {
            Venue::BinanceSpot | Venue::BinanceUsdm | Venue::BinanceCoinm => {
                binance::first(venue, &window)
            }
            Venue::BybitLinear | Venue::BybitInverse | Venue::BybitSpot => Cursor::Latest,
            Venue::OkxSpot | Venue::OkxSwap | Venue::OkxFutures => okx::first(&window),
            Venue::Coinbase => coinbase::first(&window),
            Venue::KrakenSpot => kraken::first(&window),
            Venue::Bitmex => Cursor::Offset(0),
            Venue::Deribit | Venue::Bitfinex => Cursor::Ms(window.from_us.div_euclid(1000)),
            _ => return Err(RestError::Unsupported(venue)),
        };
        Ok(Pager {
            venue,
            symbol,
            window,
            next: Some(first),
            covered: true,
            pages: 0,
        })
    }

    pub fn venue(&self) -> Venue {
        self.venue
    }

    /// The path and query of the next page (`/api/v3/aggTrades?symbol=…`), `None` once the
    /// window is done.
    pub fn request(&self) -> Option<String> {
        let cursor = self.next?;
        let sym = self.symbol.as_str();
        let w = &self.window;
        Some(match self.venue {
            Venue::BinanceSpot | Venue::BinanceUsdm | Venue::BinanceCoinm => {
                binance::path(self.venue, sym, cursor)
            }
            Venue::BybitLinear | Venue::BybitInverse | Venue::BybitSpot => {
                bybit::path(self.venue, sym)
            }
            Venue::OkxSpot | Venue::OkxSwap | Venue::OkxFutures => okx::path(sym, cursor),
            Venue::Coinbase => coinbase::path(sym, cursor),
            Venue::KrakenSpot => kraken::path(sym, cursor),
            Venue::Bitmex => bitmex::path(sym, w, cursor),
            Venue::Deribit => deribit::path(sym, w, cursor),
            Venue::Bitfinex => bitfinex::path(sym, w, cursor),
            _ => return None,
        })
    }

    /// Parse the body of a `200` response to [`Pager::request`]: append its trades to `out`
    /// (in the venue's page order, unfiltered) and move to the next page. On error nothing
    /// is appended and the page stays current (it may be requested again).
    pub fn on_body(
        &mut self,
        parser: &mut RestParser,
        body: &mut [u8],
        out: &mut Vec<Event>,
    ) -> Result<usize, RestError> {
        let Some(cursor) = self.next else {
            return Ok(0);
        };
        let start = out.len();
        let (venue, symbol, w) = (self.venue, self.symbol, self.window);
        // The outer result is the JSON parse (malformed body), the inner one the page's.
        let step = match venue {
            Venue::BinanceSpot | Venue::BinanceUsdm | Venue::BinanceCoinm => {
                let coinm = &parser.coinm;
                parser.json.parse(body, |root| {
                    Ok(binance::page(venue, coinm, symbol, &w, cursor, root, out))
                })
            }
            Venue::BybitLinear | Venue::BybitInverse | Venue::BybitSpot => {
                let instruments: &Instruments = &parser.instruments;
                parser.json.parse(body, |root| {
                    Ok(bybit::page(venue, instruments, &w, root, out))
                })
            }
            Venue::OkxSpot | Venue::OkxSwap | Venue::OkxFutures => {
                let instruments: &Instruments = &parser.instruments;
                parser
                    .json
                    .parse(body, |root| Ok(okx::page(instruments, &w, root, out)))
            }
            Venue::Coinbase => parser
                .json
                .parse(body, |root| Ok(coinbase::page(symbol, &w, root, out))),
            Venue::KrakenSpot => parser
                .json
                .parse(body, |root| Ok(kraken::page(symbol, &w, root, out))),
            Venue::Bitmex => parser
                .json
                .parse(body, |root| Ok(bitmex::page(cursor, root, out))),
            Venue::Deribit => parser
                .json
                .parse(body, |root| Ok(deribit::page(cursor, root, out))),
            Venue::Bitfinex => parser.json.parse(body, |root| {
                Ok(bitfinex::page(symbol, &w, cursor, root, out))
            }),
            _ => Ok(Err(RestError::Unsupported(venue).into())),
        };
        let step = match step {
            Ok(inner) => inner.map_err(PageError::into_rest),
            Err(e) => Err(RestError::Decode(e)),
        };
        match step {
            Ok(step) => {
                self.pages += 1;
                self.covered &= step.covered;
                // A cursor that does not move would ask for the same page forever: stop, and
                // say the rest of the window was not walked.
                self.next = step.next.filter(|n| *n != cursor);
                if step.next.is_some() && self.next.is_none() {
                    self.covered = false;
                }
                Ok(out.len() - start)
            }
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }

    /// The window has been walked to its end.
    pub fn is_done(&self) -> bool {
        self.next.is_none()
    }

    /// Whether pages come newest first (Bybit, OKX, Coinbase): trades can then only be put
    /// in ascending order once the walk is done.
    pub fn newest_first(&self) -> bool {
        matches!(
            self.venue,
            Venue::BybitLinear
                | Venue::BybitInverse
                | Venue::BybitSpot
                | Venue::OkxSpot
                | Venue::OkxSwap
                | Venue::OkxFutures
                | Venue::Coinbase
        )
    }

    /// False when the venue could not serve part of the window (see the module docs).
    pub fn covered(&self) -> bool {
        self.covered
    }

    /// Pages parsed so far.
    pub fn pages(&self) -> u32 {
        self.pages
    }
}

/// The page parsers' error: a decode error, or a venue error body found in a `200` page.
#[derive(Debug)]
enum PageError {
    Decode(DecodeError),
    Rest(RestError),
}

impl From<DecodeError> for PageError {
    fn from(e: DecodeError) -> PageError {
        PageError::Decode(e)
    }
}

impl From<RestError> for PageError {
    fn from(e: RestError) -> PageError {
        PageError::Rest(e)
    }
}

impl PageError {
    fn into_rest(self) -> RestError {
        match self {
            PageError::Decode(e) => RestError::Decode(e),
            PageError::Rest(e) => e,
        }
    }
}

/// Append `text` percent-encoded for a URL path segment or query value (configured symbols
/// are plain ASCII names, but a stray `&` or space must not change the request).
fn push_encoded(out: &mut String, text: &str) {
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// `2026-11-24T10:00:00.000Z` for µs since the epoch (ms precision, truncated).
fn iso_ms(us: i64) -> String {
    crate::civil::Rfc3339::new(us, 3).to_string()
}

/// A JSON error message as an owned string (bounded, for logs).
fn message(text: &str) -> String {
    text.chars().take(200).collect()
}

#[cfg(test)]
pub(crate) mod test_util;
