//! Connection plans: for a venue and the instruments to follow, which WebSocket connections to
//! open, what to send on each once it is open (paced under the venue's request limit), and
//! how to keep it alive. One uniform shape over the venue modules' URL constants, subscribe
//! builders, per-connection limits and keepalive rules, so the feed thread needs no
//! per-venue code besides [`pong`].

use crate::venue::{Keepalive, Venue};
use crate::{binance, bybit};
#[cfg(test)]
use crate::{bitfinex, deribit};
use std::fmt;
use std::time::Duration;

/// The client's keepalive of one connection: the venue's [`Keepalive`] (one type; the old
/// name is kept for callers).
pub use crate::venue::Keepalive as Ping;

/// One connection to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnPlan {
    pub venue: Venue,
    /// Full URL (Binance: with the combined-stream query that subscribes).
    pub url: String,
    /// The instruments this connection carries, as the venue spells them.
    pub symbols: Vec<String>,
    /// Text messages to send once the connection is open, in order (again after a reconnect).
    pub subscribe: Vec<String>,
    /// Least time between two of those messages (the venue's request rate limit).
    pub send_gap: Duration,
    /// The client's own keepalive.
    pub ping: Keepalive,
}

/// A plan that cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// The URL override is not `ws://` or `wss://`.
    BadUrl(String),
    /// No instruments.
    Empty,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::BadUrl(u) => write!(f, "url {u:?} is not a ws:// or wss:// URL"),
            PlanError::Empty => f.write_str("no instruments to follow"),
        }
    }
}

impl std::error::Error for PlanError {}

/// The venue's production WebSocket URL (Binance: the host; the path carries the streams).
pub fn default_url(venue: Venue) -> &'static str {
    venue.spec().url
}

/// The URL to connect to: the venue's own, or `base` (a simulator, a proxy). A `base` with
/// no path (`ws://127.0.0.1:9001`) gets the venue's path appended (`/v5/public/linear`); a
/// base with a path is taken as it is.
pub fn url_for(venue: Venue, base: Option<&str>) -> Result<String, PlanError> {
    let Some(base) = base else {
        return Ok(default_url(venue).to_owned());
    };
    let rest = base
        .strip_prefix("ws://")
        .or_else(|| base.strip_prefix("wss://"))
        .ok_or_else(|| PlanError::BadUrl(base.to_owned()))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(PlanError::BadUrl(base.to_owned()));
    }
    if rest.trim_end_matches('/').contains('/') || venue.spec().streams_in_url {
        return Ok(base.to_owned());
    }
    Ok(format!(
        "{}{}",
        base.trim_end_matches('/'),
        path_of(default_url(venue))
    ))
}

#[cfg(test)]
fn is_binance(venue: Venue) -> bool {
    matches!(
        venue,
        Venue::BinanceSpot | Venue::BinanceUsdm | Venue::BinanceCoinm
    )
}

/// `/v5/public/linear` of `wss://stream.bybit.com/v5/public/linear` (`/` when there is none).
fn path_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find('/').map_or("/", |i| &rest[i..])
}

/// Instruments on one connection, per venue: the venue's documented limit, or ours where it
/// documents none (so that one lost connection never loses every market).
pub fn max_symbols_per_conn(venue: Venue) -> usize {
    venue.spec().max_symbols_per_conn
}

/// Least time between two requests we send on one connection.
fn send_gap(venue: Venue) -> Duration {
    let per_sec = venue.spec().max_msgs_per_sec;
    // One request fewer than the limit allows, so a ping in the same second still fits.
    Duration::from_millis(1000 / u64::from(per_sec.saturating_sub(1).max(1)))
}

/// How long the venue keeps one connection before closing it itself, where it says so
/// (Binance: 24 h; Bitget: "forced disconnect every 24 h"). A feed opens a replacement before
/// this runs out.
pub fn max_lifetime(venue: Venue) -> Option<Duration> {
    venue.spec().max_lifetime
}

/// The keepalive of `venue` (its module's `KEEPALIVE`).
pub fn ping(venue: Venue) -> Keepalive {
    venue.spec().keepalive
}

/// The answer to a server's application ping `n` ([`crate::Frame::Ping`]): HTX only.
pub fn pong(venue: Venue, n: u64) -> Option<String> {
    let mut out = Vec::new();
    write_pong(venue, n, &mut out).then(|| String::from_utf8_lossy(&out).into_owned())
}

/// [`pong`] written into `out` (cleared first) without allocating once `out` has room;
/// false when the venue expects no answer.
pub fn write_pong(venue: Venue, n: u64, out: &mut Vec<u8>) -> bool {
    out.clear();
    venue.spec().pong.is_some_and(|pong| pong(n, out))
}

/// The connections for `symbols` on `venue`, at `base` (see [`url_for`]) or the venue's own
/// URL. `now_s` is the wall clock (Gate stamps its requests).
pub fn plan(
    venue: Venue,
    base: Option<&str>,
    symbols: &[&str],
    now_s: u64,
) -> Result<Vec<ConnPlan>, PlanError> {
    if symbols.is_empty() {
        return Err(PlanError::Empty);
    }
    let url = url_for(venue, base)?;
    let groups: Vec<Vec<&str>> = match venue {
        Venue::BybitLinear | Venue::BybitInverse | Venue::BybitSpot => {
            let cap = max_symbols_per_conn(venue);
            bybit::connections(venue, symbols)
                .into_iter()
                .flat_map(|g| g.chunks(cap).map(<[&str]>::to_vec).collect::<Vec<_>>())
                .collect()
        }
        _ => symbols
            .chunks(max_symbols_per_conn(venue))
            .map(<[&str]>::to_vec)
            .collect(),
    };
    let mut out = Vec::with_capacity(groups.len());
    for (i, group) in groups.iter().enumerate() {
        let (url, subscribe) = match venue {
            Venue::BinanceSpot | Venue::BinanceUsdm | Venue::BinanceCoinm => {
                let lower: Vec<String> = group.iter().map(|s| s.to_ascii_lowercase()).collect();
                let refs: Vec<&str> = lower.iter().map(String::as_str).collect();
                let mut urls = binance::combined_urls(venue, &url, &refs);
                // The group fits one URL by construction.
                (urls.swap_remove(0), Vec::new())
            }
            _ => (url.clone(), subscribe_messages(venue, group, i == 0, now_s)),
        };
        out.push(ConnPlan {
            venue,
            url,
            symbols: group.iter().map(|s| (*s).to_owned()).collect(),
            subscribe,
            send_gap: send_gap(venue),
            ping: ping(venue),
        });
    }
    Ok(out)
}

/// The requests that subscribe one connection of a non-Binance venue to `symbols`; `first`
/// is the venue's first connection (Bitfinex's global liquidation feed goes there).
fn subscribe_messages(venue: Venue, symbols: &[&str], first: bool, now_s: u64) -> Vec<String> {
    (venue.spec().subscribe)(venue, symbols, first, now_s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_override_keeps_or_appends_the_path() {
        let u = |v, b| url_for(v, Some(b)).unwrap();
        assert_eq!(
            u(Venue::BybitLinear, "ws://127.0.0.1:9000"),
            "ws://127.0.0.1:9000/v5/public/linear"
        );
        assert_eq!(
            u(Venue::HuobiSwap, "ws://127.0.0.1:9000/"),
            "ws://127.0.0.1:9000/linear-swap-ws"
        );
        assert_eq!(u(Venue::Coinbase, "ws://h:1"), "ws://h:1/");
        assert_eq!(u(Venue::OkxSwap, "wss://proxy/x/y"), "wss://proxy/x/y");
        assert_eq!(u(Venue::BinanceSpot, "ws://h:1"), "ws://h:1");
        assert_eq!(url_for(Venue::Deribit, None).unwrap(), deribit::URL);
        assert!(matches!(
            url_for(Venue::Deribit, Some("http://h")),
            Err(PlanError::BadUrl(_))
        ));
        assert!(url_for(Venue::Deribit, Some("ws://")).is_err());
    }

    #[test]
    fn every_venue_plans_and_splits_by_its_limit() {
        let many: Vec<String> = (0..300).map(|i| format!("S{i}USDT")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        for &v in Venue::ALL {
            let plans = plan(v, None, &refs, 1_700_000_000).unwrap();
            let total: usize = plans.iter().map(|p| p.symbols.len()).sum();
            assert_eq!(total, 300, "{v}");
            for p in &plans {
                assert!(p.symbols.len() <= max_symbols_per_conn(v), "{v}");
                assert!(p.url.starts_with("wss://"), "{v}: {}", p.url);
                if is_binance(v) {
                    assert!(p.subscribe.is_empty() && p.url.contains("?streams="), "{v}");
                } else {
                    assert!(!p.subscribe.is_empty(), "{v}");
                }
                assert!(p.send_gap >= Duration::from_millis(50), "{v}");
            }
        }
        assert!(plan(Venue::Bitmex, None, &[], 0).is_err());
    }

    #[test]
    fn bitfinex_liquidations_ride_the_first_connection_only() {
        let syms: Vec<String> = (0..30).map(|i| format!("tS{i}USD")).collect();
        let refs: Vec<&str> = syms.iter().map(String::as_str).collect();
        let plans = plan(Venue::Bitfinex, None, &refs, 0).unwrap();
        assert_eq!(plans.len(), 2);
        let liq = |p: &ConnPlan| p.subscribe.iter().any(|m| m.contains("liq:global"));
        assert!(liq(&plans[0]) && !liq(&plans[1]));
        assert!(plans[0].subscribe.len() <= bitfinex::MAX_CHANNELS_PER_CONN);
    }

    #[test]
    fn keepalives_match_the_venue_rules() {
        // HTX: the server pings, the client only answers.
        assert!(!ping(Venue::Huobi).client_pings() && ping(Venue::Huobi).server_pings);
        assert!(!ping(Venue::BinanceSpot).client_pings());
        assert_eq!(pong(Venue::Huobi, 7).as_deref(), Some(r#"{"pong":7}"#));
        assert_eq!(pong(Venue::BybitLinear, 7), None);
        let kf = ping(Venue::KrakenFutures);
        assert!(kf.ws_ping && kf.text.is_none() && kf.every < Duration::from_secs(60));
        assert_eq!(ping(Venue::OkxSwap).text, Some("ping"));
        assert!(ping(Venue::GateFutures)
            .text
            .unwrap()
            .contains("futures.ping"));
    }
}
