//! Binance's market-stream protocol as the simulator serves it, without I/O: which URL paths
//! exist on each listener, what a stream name means, and how JSON requests (`SUBSCRIBE`,
//! `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`) are parsed and answered.
//!
//! Replies are written by hand rather than through `serde_json::Value` because Binance puts
//! `result` before `id` and `serde_json` (without `preserve_order`) would sort the keys.

use super::market::{StreamKind, SymbolSpec};
use super::SimVenue;
use serde_json::Value;

/// Binance refuses more than this many streams on one connection.
pub(crate) const MAX_STREAMS: usize = 1024;

/// Index of a stream in the [`Catalog`]: `symbol × 3 + kind`. The same id names the same
/// stream on both venues (a `forceOrder` id is simply invalid on spot).
pub(crate) type StreamId = usize;

/// The streams the simulator serves: every configured symbol × every [`StreamKind`].
#[derive(Debug)]
pub(crate) struct Catalog {
    symbols: Vec<String>,
    names: Vec<String>,
}

impl Catalog {
    pub(crate) fn new(specs: &[SymbolSpec]) -> Catalog {
        let symbols: Vec<String> = specs.iter().map(|s| s.lower.clone()).collect();
        let names = symbols
            .iter()
            .flat_map(|s| StreamKind::ALL.map(|k| format!("{s}@{}", k.suffix())))
            .collect();
        Catalog { symbols, names }
    }

    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    pub(crate) fn id(symbol: usize, kind: StreamKind) -> StreamId {
        symbol * StreamKind::ALL.len() + kind as usize
    }

    /// `btcusdt@trade`.
    pub(crate) fn name(&self, id: StreamId) -> &str {
        &self.names[id]
    }

    /// The kind of stream `id` is.
    pub(crate) fn kind(id: StreamId) -> StreamKind {
        StreamKind::ALL[id % StreamKind::ALL.len()]
    }

    /// The stream a name refers to on `venue`, if it is one we serve. Symbols are lower case in
    /// stream names, as Binance documents; anything else is an invalid stream.
    pub(crate) fn parse(&self, venue: SimVenue, name: &str) -> Option<StreamId> {
        let (symbol, suffix) = name.split_once('@')?;
        let kind = StreamKind::ALL.into_iter().find(|k| k.suffix() == suffix)?;
        if !kind.served_on(venue) {
            return None;
        }
        let symbol = self.symbols.iter().position(|s| s == symbol)?;
        Some(Catalog::id(symbol, kind))
    }
}

/// The USDⓈ-M routes (tiers) since Binance split `fstream.binance.com` on 2026-03-06 (docs
/// "Important WebSocket Change Notice"; the unrouted root was retired 2026-04-23).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tier {
    /// `/public`: high-frequency data (`@depth*`, `@bookTicker`, `@trade`). Also what an
    /// unrouted `/ws` or `/stream` connection gets (maxt 0.2.1 docs, measured 2026-07-30).
    Public,
    /// `/market`: regular market data (`@aggTrade`, `@forceOrder`, `@markPrice`, klines,
    /// tickers).
    Market,
}

impl StreamKind {
    /// The USDⓈ-M tier this stream is published on: `@trade` on `/public` (ccxt's routing
    /// table, ccxt #28083 2026-08-01; rustrade-data 0.5; maxt measured it there 2026-07-30),
    /// `@aggTrade` and `@forceOrder` on `/market` (Binance's own `/market` examples).
    pub(crate) fn tier(self) -> Tier {
        match self {
            StreamKind::Trade => Tier::Public,
            StreamKind::AggTrade | StreamKind::ForceOrder => Tier::Market,
        }
    }
}

/// Whether a connection on `tier` (`None`: spot, which is not routed) receives `kind`'s
/// frames. A stream of the other tier is still acknowledged and listed, and then never sends
/// a frame: Binance does not refuse it (maxt 0.2.1 docs: "Nothing rejects a mismatch").
pub(crate) fn delivers(tier: Option<Tier>, kind: StreamKind) -> bool {
    tier.is_none_or(|t| kind.tier() == t)
}

/// What a connection asked for in its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    /// `/stream` wraps payloads as `{"stream":…,"data":…}`; `/ws` sends them raw.
    pub(crate) combined: bool,
    /// Streams subscribed from the URL, in order, without duplicates (misrouted ones too:
    /// the connection decides what it delivers).
    pub(crate) streams: Vec<StreamId>,
    /// The USDⓈ-M tier of the connection's path; `None` on spot.
    pub(crate) tier: Option<Tier>,
}

/// Why the HTTP upgrade is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RouteError {
    /// No such path on this listener (including the retired futures root paths): 404.
    NotFound,
    /// The path exists but the request is wrong (bad stream, unsupported parameter): 400.
    BadRequest(String),
}

/// Routes an upgrade request's path and query (`/market/stream?streams=a/b`).
///
/// Shapes, as Binance serves them: `/ws` (raw, subscribe later), `/ws/<stream>[/<stream>…]`
/// (raw), `/stream` and `/stream?streams=a/b` (combined). A `/ws/` segment that is not a stream
/// name (ccxt connects to `/ws/<n>`, `n` its own connection counter, then sends `SUBSCRIBE`)
/// names nothing and is accepted. On USDⓈ-M each shape exists under `/public` and `/market`,
/// and unrouted it behaves as `/public`; `/private` (user data) is not served: 404.
pub(crate) fn route(catalog: &Catalog, venue: SimVenue, uri: &str) -> Result<Route, RouteError> {
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let (tier, path) = match venue {
        SimVenue::Spot => (None, path),
        SimVenue::Futures => {
            let routed = [("/public", Tier::Public), ("/market", Tier::Market)]
                .into_iter()
                .find_map(|(prefix, tier)| {
                    let rest = path.strip_prefix(prefix)?;
                    rest.starts_with('/').then_some((tier, rest))
                });
            match routed {
                Some((tier, rest)) => (Some(tier), rest),
                None => (Some(Tier::Public), path),
            }
        }
    };
    let (combined, mut names): (bool, Vec<String>) = if path == "/stream" {
        (true, Vec::new())
    } else if path == "/ws" {
        (false, Vec::new())
    } else if let Some(rest) = path.strip_prefix("/ws/") {
        let names = rest
            .split('/')
            .map(percent_decode)
            .filter(|s| s.contains('@'))
            .collect();
        (false, names)
    } else {
        return Err(RouteError::NotFound);
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value);
        match key {
            "streams" if combined => names.extend(
                value
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            ),
            // Only the default time unit: a client asking for µs must not get ms silently.
            "timeUnit" if value.eq_ignore_ascii_case("millisecond") => {}
            _ => {
                return Err(RouteError::BadRequest(format!(
                    "Invalid request: unsupported parameter '{key}'"
                )))
            }
        }
    }
    let mut streams = Vec::with_capacity(names.len());
    for name in &names {
        let id = catalog
            .parse(venue, name)
            .ok_or_else(|| RouteError::BadRequest("Invalid request: invalid stream".into()))?;
        if !streams.contains(&id) {
            streams.push(id);
        }
    }
    if streams.len() > MAX_STREAMS {
        return Err(RouteError::BadRequest(
            "Invalid request: too many streams".into(),
        ));
    }
    Ok(Route {
        combined,
        streams,
        tier,
    })
}

/// Decodes `%XX` escapes (clients may send `%40` for `@` and `%2F` for `/`); invalid escapes
/// are kept as they are and then fail stream validation.
fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// A valid request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Method {
    Subscribe(Vec<StreamId>),
    Unsubscribe(Vec<StreamId>),
    ListSubscriptions,
    SetCombined(bool),
    GetCombined,
}

/// A request's `id` (echoed in the reply) and what it asks, or the complete error reply.
pub(crate) fn parse_request(
    catalog: &Catalog,
    venue: SimVenue,
    text: &str,
) -> Result<(Value, Method), String> {
    let request: Value = serde_json::from_str(text)
        .map_err(|e| error_reply(3, &format!("Invalid JSON: {e}"), &Value::Null))?;
    let Some(fields) = request.as_object() else {
        return Err(error_reply(
            3,
            "Invalid JSON: expected an object",
            &Value::Null,
        ));
    };
    let id = fields.get("id").cloned().unwrap_or(Value::Null);
    let id_ok = match &id {
        Value::Null => true,
        Value::Number(n) => n.is_i64() || n.is_u64(),
        Value::String(s) => s.len() <= 36 && s.bytes().all(|b| b.is_ascii_alphanumeric()),
        _ => false,
    };
    if !id_ok {
        return Err(error_reply(2, "Invalid request: invalid id", &Value::Null));
    }
    let invalid = |msg: &str| error_reply(2, &format!("Invalid request: {msg}"), &id);
    let params = fields.get("params");
    let streams = || -> Result<Vec<StreamId>, String> {
        let Some(Value::Array(list)) = params else {
            return Err(invalid("params must be an array of stream names"));
        };
        let mut ids = Vec::with_capacity(list.len());
        for name in list {
            let id = name
                .as_str()
                .and_then(|n| catalog.parse(venue, n))
                .ok_or_else(|| invalid("invalid stream"))?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        Ok(ids)
    };
    let method = match fields.get("method").and_then(Value::as_str) {
        Some("SUBSCRIBE") => Method::Subscribe(streams()?),
        Some("UNSUBSCRIBE") => Method::Unsubscribe(streams()?),
        Some("LIST_SUBSCRIPTIONS") => Method::ListSubscriptions,
        Some("SET_PROPERTY") => match params.and_then(Value::as_array).map(Vec::as_slice) {
            Some([Value::String(p), Value::Bool(on)]) if p == "combined" => {
                Method::SetCombined(*on)
            }
            Some([Value::String(p), _]) if p == "combined" => {
                return Err(error_reply(1, "Invalid value type: expected Boolean", &id))
            }
            _ => return Err(error_reply(0, "Unknown property", &id)),
        },
        Some("GET_PROPERTY") => match params.and_then(Value::as_array).map(Vec::as_slice) {
            Some([Value::String(p)]) if p == "combined" => Method::GetCombined,
            _ => return Err(error_reply(0, "Unknown property", &id)),
        },
        _ => return Err(invalid("unknown method")),
    };
    Ok((id, method))
}

/// `{"result":<result>,"id":<id>}`.
pub(crate) fn result_reply(result: &Value, id: &Value) -> String {
    format!(r#"{{"result":{result},"id":{id}}}"#)
}

/// `{"error":{"code":<code>,"msg":"<msg>"},"id":<id>}`.
pub(crate) fn error_reply(code: i64, msg: &str, id: &Value) -> String {
    let msg = Value::from(msg);
    format!(r#"{{"error":{{"code":{code},"msg":{msg}}},"id":{id}}}"#)
}

/// A payload wrapped for a combined-stream connection.
pub(crate) fn combined_frame(stream: &str, payload: &str) -> String {
    let mut out = String::with_capacity(stream.len() + payload.len() + 22);
    out.push_str(r#"{"stream":""#);
    out.push_str(stream);
    out.push_str(r#"","data":"#);
    out.push_str(payload);
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::new(&[SymbolSpec::new("BTCUSDT"), SymbolSpec::new("ETHUSDT")])
    }

    /// `(combined, "stream,stream")` for a URI.
    fn routed(venue: SimVenue, uri: &str) -> Result<(bool, String), RouteError> {
        routed_on(venue, uri).map(|(combined, names, _)| (combined, names))
    }

    /// [`routed`] with the connection's tier.
    fn routed_on(venue: SimVenue, uri: &str) -> Result<(bool, String, Option<Tier>), RouteError> {
        let c = catalog();
        let r = route(&c, venue, uri)?;
        let names: Vec<&str> = r.streams.iter().map(|&id| c.name(id)).collect();
        Ok((r.combined, names.join(","), r.tier))
    }

    #[test]
    fn spot_paths() {
        use SimVenue::Spot;
        assert_eq!(routed_on(Spot, "/ws"), Ok((false, "".into(), None)));
        assert_eq!(
            routed(Spot, "/ws/btcusdt@trade"),
            Ok((false, "btcusdt@trade".into()))
        );
        assert_eq!(
            routed(Spot, "/ws/btcusdt@trade/ethusdt@aggTrade"),
            Ok((false, "btcusdt@trade,ethusdt@aggTrade".into()))
        );
        // ccxt's shape: `/ws/<its connection counter>`, then SUBSCRIBE.
        assert_eq!(routed(Spot, "/ws/0"), Ok((false, "".into())));
        assert_eq!(routed(Spot, "/ws/"), Ok((false, "".into())));
        assert_eq!(
            routed(
                Spot,
                "/stream?streams=btcusdt@trade/ethusdt@trade/btcusdt@trade"
            ),
            Ok((true, "btcusdt@trade,ethusdt@trade".into()))
        );
        assert_eq!(
            routed(
                Spot,
                "/stream?streams=btcusdt%40trade%2Fethusdt%40trade&timeUnit=MILLISECOND"
            ),
            Ok((true, "btcusdt@trade,ethusdt@trade".into()))
        );
        assert_eq!(routed(Spot, "/stream"), Ok((true, "".into())));
        // Spot is not routed.
        for missing in ["/market/ws", "/public/ws/0", "/public/stream", "/", "/wsx"] {
            assert_eq!(
                routed(Spot, missing),
                Err(RouteError::NotFound),
                "{missing}"
            );
        }
        assert!(matches!(
            routed(Spot, "/ws/btcusdt@forceOrder"),
            Err(RouteError::BadRequest(_))
        ));
        assert!(matches!(
            routed(Spot, "/ws/BTCUSDT@trade"),
            Err(RouteError::BadRequest(_))
        ));
        assert!(matches!(
            routed(Spot, "/ws/dogeusdt@trade"),
            Err(RouteError::BadRequest(_))
        ));
        assert!(matches!(
            routed(Spot, "/stream?streams=btcusdt@trade&timeUnit=MICROSECOND"),
            Err(RouteError::BadRequest(_))
        ));
    }

    /// Every path shape Binance serves on USDⓈ-M, on each route and unrouted, with the tier
    /// the connection gets.
    #[test]
    fn futures_paths_on_every_route() {
        use SimVenue::Futures;
        let public = Some(Tier::Public);
        let market = Some(Tier::Market);
        for (prefix, tier) in [("/public", public), ("/market", market), ("", public)] {
            let at = |rest: &str| routed_on(Futures, &format!("{prefix}{rest}"));
            assert_eq!(at("/ws"), Ok((false, "".into(), tier)), "{prefix}");
            assert_eq!(at("/ws/0"), Ok((false, "".into(), tier)), "{prefix}");
            assert_eq!(at("/ws/17/"), Ok((false, "".into(), tier)), "{prefix}");
            assert_eq!(at("/stream"), Ok((true, "".into(), tier)), "{prefix}");
            assert_eq!(
                at("/ws/btcusdt@aggTrade/ethusdt@forceOrder"),
                Ok((false, "btcusdt@aggTrade,ethusdt@forceOrder".into(), tier)),
                "{prefix}"
            );
            // Streams of either tier are accepted in the URL on any route (the connection
            // then delivers only its own tier's).
            assert_eq!(
                at("/stream?streams=btcusdt@trade/btcusdt@forceOrder"),
                Ok((true, "btcusdt@trade,btcusdt@forceOrder".into(), tier)),
                "{prefix}"
            );
            assert!(matches!(
                at("/ws/dogeusdt@trade"),
                Err(RouteError::BadRequest(_))
            ));
        }
        for missing in [
            "/market",
            "/public",
            "/marketplace/ws",
            "/private/ws",
            "/private/ws?listenKey=x",
            "/market/stream/x",
            "/",
        ] {
            assert_eq!(
                routed(Futures, missing),
                Err(RouteError::NotFound),
                "{missing}"
            );
        }
    }

    /// The routing table: each stream only on its tier's route; spot delivers everything.
    #[test]
    fn each_stream_is_delivered_on_its_tier_only() {
        use StreamKind::*;
        assert!(delivers(Some(Tier::Public), Trade));
        assert!(!delivers(Some(Tier::Public), AggTrade));
        assert!(!delivers(Some(Tier::Public), ForceOrder));
        assert!(!delivers(Some(Tier::Market), Trade));
        assert!(delivers(Some(Tier::Market), AggTrade));
        assert!(delivers(Some(Tier::Market), ForceOrder));
        assert!(StreamKind::ALL.into_iter().all(|k| delivers(None, k)));
        for id in 0..catalog().len() {
            let c = catalog();
            assert_eq!(
                Some(Catalog::kind(id).suffix()),
                c.name(id).split('@').nth(1),
                "{}",
                c.name(id)
            );
        }
    }

    fn request(text: &str) -> Result<(Value, Method), String> {
        parse_request(&catalog(), SimVenue::Futures, text)
    }

    #[test]
    fn requests() {
        let btc_trade = Catalog::id(0, StreamKind::Trade);
        let eth_liq = Catalog::id(1, StreamKind::ForceOrder);
        assert_eq!(
            request(
                r#"{"method":"SUBSCRIBE","params":["btcusdt@trade","ethusdt@forceOrder"],"id":1}"#
            ),
            Ok((Value::from(1), Method::Subscribe(vec![btc_trade, eth_liq])))
        );
        assert_eq!(
            request(r#"{"method":"UNSUBSCRIBE","params":["btcusdt@trade"],"id":"abc"}"#),
            Ok((Value::from("abc"), Method::Unsubscribe(vec![btc_trade])))
        );
        assert_eq!(
            request(r#"{"method":"LIST_SUBSCRIPTIONS","id":null}"#),
            Ok((Value::Null, Method::ListSubscriptions))
        );
        assert_eq!(
            request(r#"{"method":"SET_PROPERTY","params":["combined",true],"id":5}"#),
            Ok((Value::from(5), Method::SetCombined(true)))
        );
        assert_eq!(
            request(r#"{"method":"GET_PROPERTY","params":["combined"],"id":6}"#),
            Ok((Value::from(6), Method::GetCombined))
        );
    }

    #[test]
    fn request_errors_are_binance_shaped() {
        assert_eq!(
            request(r#"{"method":"SUBSCRIBE","params":["btcusdt@nope"],"id":1}"#),
            Err(r#"{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":1}"#.into())
        );
        assert_eq!(
            parse_request(
                &catalog(),
                SimVenue::Spot,
                r#"{"method":"SUBSCRIBE","params":["btcusdt@forceOrder"],"id":2}"#
            ),
            Err(r#"{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":2}"#.into())
        );
        let bad_json = request("{nope").unwrap_err();
        assert!(
            bad_json.starts_with(r#"{"error":{"code":3,"msg":"Invalid JSON: "#),
            "{bad_json}"
        );
        assert!(bad_json.ends_with(r#""id":null}"#));
        assert_eq!(
            request(r#"{"method":"SET_PROPERTY","params":["combined","yes"],"id":3}"#),
            Err(
                r#"{"error":{"code":1,"msg":"Invalid value type: expected Boolean"},"id":3}"#
                    .into()
            )
        );
        assert_eq!(
            request(r#"{"method":"FROB","id":4}"#),
            Err(r#"{"error":{"code":2,"msg":"Invalid request: unknown method"},"id":4}"#.into())
        );
        assert!(request(r#"{"method":"LIST_SUBSCRIPTIONS","id":[1]}"#).is_err());
    }

    #[test]
    fn replies_put_result_first() {
        assert_eq!(
            result_reply(&Value::Null, &Value::from(1)),
            r#"{"result":null,"id":1}"#
        );
        assert_eq!(
            result_reply(&Value::from(vec!["btcusdt@trade"]), &Value::from("x")),
            r#"{"result":["btcusdt@trade"],"id":"x"}"#
        );
        assert_eq!(
            combined_frame("a@trade", "{}"),
            r#"{"stream":"a@trade","data":{}}"#
        );
    }
}
