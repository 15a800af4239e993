//! Deribit JSON-RPC 2.0 over WebSocket (`www.deribit.com/ws/api/v2`): `trades.<inst>.100ms`.
//!
//! - Replies carry the request's `id`, `result` or `error`, `usIn`/`usOut`/`usDiff` (µs) and
//!   `testnet:false`. Errors use Deribit's codes: 11050 `bad_request` for text that is not
//!   JSON, -32601 for an unknown method, -32602 for bad params, 13778 for `raw` trade
//!   channels (they need `public/auth`).
//! - `public/subscribe` answers with the list of channels actually subscribed: channels of
//!   instruments Deribit does not list, or kinds the simulator does not serve, are left out
//!   silently, as the real server does (reference/exchanges.md, probe report 2026-09).
//! - `public/set_heartbeat` (`interval` ≥ 10 s) starts `{"params":{"type":"test_request"},
//!   "method":"heartbeat","jsonrpc":"2.0"}` notices every interval; a notice not answered by
//!   `public/test` within 10 s drops the connection ([`Hangup::PingTimeout`]).
//! - Trades arrive as `subscription` notifications, one per channel per step, `data` an
//!   array in time order: `amount` is USD for inverse instruments (`BTC-PERPETUAL`: 10 USD
//!   contracts, other bare-currency instruments 1 USD, unless the market's spec says
//!   otherwise) and base units for linear ones (`BTC_USDC-PERPETUAL`); `direction` is the
//!   taker side; `trade_seq`, `tick_direction` (0 plus … 3 zero-minus), `contracts`,
//!   `index_price`, `mark_price`, and a string `trade_id` (`ETH-…` outside BTC).
//! - Liquidations are trades with a `liquidation` field: `T` (the taker's order was the
//!   forced one, `direction` = its side), `M` (the maker's: `direction` is the opposite) or
//!   `MT` (both), rotating by print id.

use super::proto::{Hangup, Out, Print, PrintKind, Protocol, Session, SimMarket};
use super::wirefmt::{self, json_str, millis};
use feeds::Venue;
use serde_json::Value;

/// A `test_request` must be answered within this long.
const TEST_DEADLINE_US: i64 = 10_000_000;

/// Smallest heartbeat interval Deribit accepts (s).
const MIN_INTERVAL_S: u64 = 10;

/// The Deribit protocol, one value per connection.
#[derive(Debug)]
pub struct Deribit {
    /// Heartbeat interval (µs), once set.
    interval_us: Option<i64>,
    /// When the next `test_request` goes out.
    next_test_us: i64,
    /// Deadline of the unanswered `test_request`, if any.
    deadline_us: Option<i64>,
    /// Per market: the interval of the subscribed trades channel (`100ms`, `agg2`).
    channels: Vec<Option<&'static str>>,
    /// Per market: last price and tick direction sent.
    ticks: Vec<Option<(f64, u8)>>,
    /// Keepalive time scale (1.0 = Deribit's timings).
    scale: f64,
}

/// The Deribit protocol (`venue` is `Venue::Deribit`).
pub fn new(_venue: Venue) -> Deribit {
    Deribit {
        interval_us: None,
        next_test_us: 0,
        deadline_us: None,
        channels: Vec::new(),
        ticks: Vec::new(),
        scale: 1.0,
    }
}

/// How an instrument's `amount` is denominated.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Amount {
    /// USD, in contracts of this many USD.
    Usd(f64),
    /// Base units, contracts of this many base units.
    Base(f64),
}

fn amount_kind(m: &SimMarket) -> Amount {
    let currency = m.symbol.split('-').next().unwrap_or("");
    match m.spec {
        Some(spec) if spec.inverse => Amount::Usd(spec.size.to_f64()),
        Some(spec) => Amount::Base(spec.size.to_f64()),
        None if currency.contains('_') => Amount::Base(m.lot),
        None if currency == "BTC" => Amount::Usd(10.0),
        None => Amount::Usd(1.0),
    }
}

/// `tick_direction` of a trade at `price` after `prev` (last price and its direction):
/// 0 plus, 1 zero-plus, 2 minus, 3 zero-minus.
pub(crate) fn next_tick(prev: Option<(f64, u8)>, price: f64) -> u8 {
    match prev {
        None => 1,
        Some((last, _)) if price > last => 0,
        Some((last, _)) if price < last => 2,
        Some((_, 0 | 1)) => 1,
        Some(_) => 3,
    }
}

/// One trade object as Deribit writes it (WebSocket `trades.*` data and REST `trades`).
pub(crate) fn trade_json(m: &SimMarket, p: &Print, tick: u8) -> String {
    let (amount, contracts) = match amount_kind(m) {
        Amount::Usd(size) => {
            let contracts = (p.qty * p.price / size).round().max(1.0);
            (
                wirefmt::float(contracts * size, wirefmt::decimals(size)),
                contracts,
            )
        }
        Amount::Base(size) => (
            wirefmt::float(p.qty, wirefmt::decimals(m.lot)),
            (p.qty / size).round().max(1.0),
        ),
    };
    let (direction, liquidation) = match p.kind {
        PrintKind::Liquidation => match p.id % 3 {
            0 => (p.buy, r#","liquidation":"T""#),
            1 => (!p.buy, r#","liquidation":"M""#),
            _ => (p.buy, r#","liquidation":"MT""#),
        },
        _ => (p.buy, ""),
    };
    let trade_id = if m.base == "BTC" {
        p.id.to_string()
    } else {
        format!("{}-{}", m.base, p.id)
    };
    let price = wirefmt::float(p.price, wirefmt::decimals(m.tick));
    format!(
        r#"{{"timestamp":{},"price":{price},"amount":{amount},"direction":"{}","index_price":{price},"instrument_name":{},"trade_seq":{},"mark_price":{price},"tick_direction":{tick}{liquidation},"contracts":{},"trade_id":"{trade_id}"}}"#,
        millis(p.ts_us),
        if direction { "buy" } else { "sell" },
        json_str(&m.symbol),
        p.id,
        wirefmt::float(contracts, 0),
    )
}

impl Deribit {
    fn ensure(&mut self, s: &Session<'_>) {
        if self.channels.len() != s.markets.len() {
            self.channels = vec![None; s.markets.len()];
            self.ticks = vec![None; s.markets.len()];
        }
    }

    fn stamps(s: &Session<'_>) -> String {
        format!(
            r#""usIn":{},"usOut":{},"usDiff":1,"testnet":false"#,
            s.now_us - 1,
            s.now_us
        )
    }

    fn result(id: &str, result: &str, s: &Session<'_>) -> Out {
        Out::Text(format!(
            r#"{{"jsonrpc":"2.0","id":{id},"result":{result},{}}}"#,
            Self::stamps(s)
        ))
    }

    fn error(id: Option<&str>, code: i64, message: &str, data: &str, s: &Session<'_>) -> Out {
        let id = id.map_or(String::new(), |id| format!(r#""id":{id},"#));
        let data = if data.is_empty() {
            String::new()
        } else {
            format!(r#""data":{data},"#)
        };
        Out::Text(format!(
            r#"{{"jsonrpc":"2.0",{id}"error":{{"code":{code},{data}"message":{}}},{}}}"#,
            json_str(message),
            Self::stamps(s)
        ))
    }

    fn trade(&mut self, m: &SimMarket, p: &Print) -> String {
        let tick = next_tick(self.ticks.get(p.market).copied().flatten(), p.price);
        if let Some(slot) = self.ticks.get_mut(p.market) {
            *slot = Some((p.price, tick));
        }
        trade_json(m, p, tick)
    }

    /// `public/subscribe` / `public/unsubscribe`.
    fn subscribe(
        &mut self,
        subscribe: bool,
        id: &str,
        params: Option<&Value>,
        s: &mut Session<'_>,
        out: &mut Vec<Out>,
    ) {
        let channels: Option<Vec<&str>> = params
            .and_then(|p| p.get("channels"))
            .and_then(Value::as_array)
            .and_then(|a| a.iter().map(Value::as_str).collect());
        let Some(channels) = channels else {
            out.push(Self::error(
                Some(id),
                -32602,
                "Invalid params",
                r#"{"reason":"value must be a list","param":"channels"}"#,
                s,
            ));
            return;
        };
        if subscribe
            && channels
                .iter()
                .any(|c| c.starts_with("trades.") && c.ends_with(".raw"))
        {
            out.push(Self::error(
                Some(id),
                13778,
                "raw_subscriptions_not_available_for_unauthorized",
                "",
                s,
            ));
            return;
        }
        let mut done = Vec::new();
        for channel in channels {
            let mut parts = channel.split('.');
            let (Some("trades"), Some(inst), Some(interval), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let interval = match interval {
                "100ms" => "100ms",
                "agg2" => "agg2",
                _ => continue,
            };
            let Some(i) = s.find(inst) else { continue };
            let current = self.channels.get(i).copied().flatten();
            if subscribe {
                if let Some(slot) = self.channels.get_mut(i) {
                    *slot = Some(interval);
                }
            } else if current == Some(interval) {
                if let Some(slot) = self.channels.get_mut(i) {
                    *slot = None;
                }
            } else {
                continue;
            }
            if let Some(sub) = s.subs.get_mut(i) {
                sub.trades = subscribe;
                sub.liquidations = subscribe;
            }
            done.push(channel);
        }
        out.push(Self::result(id, &wirefmt::json_strs(&done), s));
    }
}

impl Protocol for Deribit {
    fn route(&mut self, target: &str, s: &mut Session<'_>) -> Result<(), (u16, String)> {
        self.ensure(s);
        if wirefmt::path(target) == "/ws/api/v2" {
            Ok(())
        } else {
            Err((404, "Not Found".to_owned()))
        }
    }

    fn set_keepalive_scale(&mut self, scale: f64) {
        self.scale = scale;
    }

    fn is_pong(&self, msg: &[u8], _binary: bool) -> bool {
        serde_json::from_slice::<Value>(msg)
            .is_ok_and(|v| v.get("method").and_then(Value::as_str) == Some("public/test"))
    }

    fn on_message(&mut self, msg: &[u8], binary: bool, s: &mut Session<'_>, out: &mut Vec<Out>) {
        self.ensure(s);
        let req = match serde_json::from_slice::<Value>(msg) {
            Ok(v) if !binary && v.is_object() => v,
            _ => {
                out.push(Self::error(
                    None,
                    11050,
                    "bad_request",
                    r#""invalid json""#,
                    s,
                ));
                return;
            }
        };
        let id = req
            .get("id")
            .map_or_else(|| "null".to_owned(), Value::to_string);
        let params = req.get("params");
        match req.get("method").and_then(Value::as_str) {
            Some("public/set_heartbeat") => {
                match params
                    .and_then(|p| p.get("interval"))
                    .and_then(Value::as_u64)
                {
                    Some(secs) if secs >= MIN_INTERVAL_S => {
                        let us = secs.min(86_400) as i64 * 1_000_000;
                        let us = (us as f64 * self.scale) as i64;
                        self.interval_us = Some(us);
                        self.next_test_us = s.now_us + us;
                        out.push(Self::result(&id, r#""ok""#, s));
                    }
                    _ => out.push(Self::error(
                        Some(&id),
                        -32602,
                        "Invalid params",
                        r#"{"reason":"must be integer >= 10","param":"interval"}"#,
                        s,
                    )),
                }
            }
            Some("public/disable_heartbeat") => {
                self.interval_us = None;
                self.deadline_us = None;
                out.push(Self::result(&id, r#""ok""#, s));
            }
            Some("public/test") | Some("public/hello") => {
                self.deadline_us = None;
                out.push(Self::result(&id, r#"{"version":"1.2.26"}"#, s));
            }
            Some("public/get_time") => {
                out.push(Self::result(&id, &millis(s.now_us).to_string(), s));
            }
            Some("public/subscribe") => self.subscribe(true, &id, params, s, out),
            Some("public/unsubscribe") => self.subscribe(false, &id, params, s, out),
            _ => out.push(Self::error(Some(&id), -32601, "Method not found", "", s)),
        }
    }

    /// Fault injection: Deribit has no error for a channel it will not serve; its
    /// `public/subscribe` answer lists only the channels subscribed and leaves the others out
    /// (reference/exchanges.md, probe 2026-09; docs.deribit.com `public/subscribe`, read
    /// 2026-12-07). A rejected subscribe therefore answers an empty list and subscribes
    /// nothing.
    fn reject_subscribe(
        &mut self,
        msg: &[u8],
        binary: bool,
        s: &mut Session<'_>,
        out: &mut Vec<Out>,
    ) -> bool {
        let req = match serde_json::from_slice::<Value>(msg) {
            Ok(v) if !binary && v.is_object() => v,
            _ => return false,
        };
        if req.get("method").and_then(Value::as_str) != Some("public/subscribe") {
            return false;
        }
        let id = req
            .get("id")
            .map_or_else(|| "null".to_owned(), Value::to_string);
        out.push(Self::result(&id, "[]", s));
        true
    }

    fn on_prints(&mut self, prints: &[Print], s: &mut Session<'_>, out: &mut Vec<Out>) {
        self.ensure(s);
        // One notification per channel, in the order channels first appear.
        let mut done: Vec<usize> = Vec::new();
        for p in prints {
            if p.kind == PrintKind::OpenInterest || done.contains(&p.market) {
                continue;
            }
            done.push(p.market);
            let (Some(m), Some(Some(interval))) = (
                s.markets.get(p.market),
                self.channels.get(p.market).copied(),
            ) else {
                continue;
            };
            let data: Vec<String> = prints
                .iter()
                .filter(|q| q.market == p.market && q.kind != PrintKind::OpenInterest)
                .map(|q| self.trade(m, q))
                .collect();
            out.push(Out::Text(format!(
                r#"{{"jsonrpc":"2.0","method":"subscription","params":{{"channel":"trades.{}.{interval}","data":[{}]}}}}"#,
                m.symbol,
                data.join(",")
            )));
        }
    }

    fn on_timer(&mut self, s: &mut Session<'_>, out: &mut Vec<Out>) -> Result<(), Hangup> {
        if self.deadline_us.is_some_and(|d| s.now_us >= d) {
            return Err(Hangup::PingTimeout);
        }
        let Some(interval) = self.interval_us else {
            return Ok(());
        };
        if s.now_us >= self.next_test_us {
            self.next_test_us = s.now_us + interval;
            out.push(Out::Text(
                r#"{"params":{"type":"test_request"},"method":"heartbeat","jsonrpc":"2.0"}"#
                    .to_owned(),
            ));
            if self.deadline_us.is_none() {
                self.deadline_us = Some(s.now_us + (TEST_DEADLINE_US as f64 * self.scale) as i64);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::wirefmt::testkit::*;
    use super::*;
    use feeds::deribit::{subscribe_messages, TEST_REPLY};
    use feeds::{EventKind, Frame};

    fn fixture() -> Fixture {
        let v = Venue::Deribit;
        Fixture::new(vec![
            market(v, "BTC-PERPETUAL", "BTC", None, 0.5, 0.0001),
            market(v, "ETH-PERPETUAL", "ETH", None, 0.05, 0.001),
            market(v, "BTC_USDC-PERPETUAL", "BTC", None, 1.0, 0.0001),
        ])
    }

    fn open() -> (Fixture, Deribit, Box<dyn feeds::Decode + Send>) {
        let mut f = fixture();
        let mut p = new(Venue::Deribit);
        let mut dec = Venue::Deribit.decoder();
        let mut out = Vec::new();
        p.route("/ws/api/v2", &mut f.session()).unwrap();
        let reqs = subscribe_messages(
            1,
            &[
                "BTC-PERPETUAL",
                "ETH-PERPETUAL",
                "BTC_USDC-PERPETUAL",
                "XRP-PERPETUAL",
            ],
        );
        for req in &reqs {
            p.on_message(req.as_bytes(), false, &mut f.session(), &mut out);
        }
        let got = decode_all(dec.as_mut(), &out);
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|d| d.0 == Ok(Frame::SubscribeAck)));
        let wire = texts(&out);
        assert!(wire[0].starts_with(r#"{"jsonrpc":"2.0","id":1,"result":"ok","usIn":"#));
        // The unknown instrument is left out of the ack.
        assert!(wire[1].starts_with(
            r#"{"jsonrpc":"2.0","id":2,"result":["trades.BTC-PERPETUAL.100ms","trades.ETH-PERPETUAL.100ms","trades.BTC_USDC-PERPETUAL.100ms"],"#
        ));
        assert!(f.subs.iter().all(|x| x.trades && x.liquidations));
        (f, p, dec)
    }

    #[test]
    fn routes() {
        let mut f = fixture();
        let mut p = new(Venue::Deribit);
        assert_eq!(p.route("/ws/api/v2", &mut f.session()), Ok(()));
        assert_eq!(p.route("/ws/api/v1", &mut f.session()).unwrap_err().0, 404);
    }

    #[test]
    fn trades_and_liquidations() {
        let (mut f, mut p, mut dec) = open();
        let prints = [
            trade(0, 291801232, true, 64345.0, 0.000466, T0 + 1_500),
            trade(1, 162145843, false, 1919.45, 1.5, T0 + 2_000),
            trade(0, 291801233, false, 64344.5, 0.25, T0 + 2_500),
            trade(2, 77, true, 64350.0, 0.0123, T0 + 3_000),
            liq(0, 3, false, 64300.0, 1.2, T0 + 3_500),
            liq(0, 4, true, 64310.0, 0.5, T0 + 4_000),
            liq(1, 5, false, 1900.0, 2.0, T0 + 4_500),
        ];
        let mut out = Vec::new();
        p.on_prints(&prints, &mut f.session(), &mut out);
        assert_eq!(out.len(), 3);
        let wire = texts(&out);
        assert!(wire[0].contains(
            r#""price":64345.0,"amount":30.0,"direction":"buy","index_price":64345.0,"instrument_name":"BTC-PERPETUAL","trade_seq":291801232,"mark_price":64345.0,"tick_direction":1,"contracts":3.0,"trade_id":"291801232"}"#
        ), "{}", wire[0]);
        assert!(wire[1].contains(r#""trade_id":"ETH-162145843""#));
        // Liquidation flags rotate; "M" reports the taker (opposite) direction.
        assert!(wire[0].contains(r#""direction":"sell","index_price":64300.0"#));
        assert!(wire[0].contains(r#""liquidation":"T""#));
        assert!(wire[0].contains(r#""direction":"sell","index_price":64310.0"#));
        assert!(wire[0].contains(r#""liquidation":"M""#));
        assert!(wire[1].contains(r#""liquidation":"MT""#));
        let got = decode_all(dec.as_mut(), &out);
        assert_eq!(got[0].0, Ok(Frame::Data(4)));
        let btc = &got[0].1;
        assert_event(&btc[0], &prints[0], "BTC-PERPETUAL", 1000, 5.0 / 64345.0);
        assert_event(&btc[1], &prints[2], "BTC-PERPETUAL", 1000, 5.0 / 64344.5);
        assert_event(&btc[2], &prints[4], "BTC-PERPETUAL", 1000, 5.0 / 64300.0);
        assert_event(&btc[3], &prints[5], "BTC-PERPETUAL", 1000, 5.0 / 64310.0);
        assert_eq!(btc[3].kind, EventKind::Liquidation);
        assert_eq!(btc[0].trade_id, Some(291801232));
        let eth = &got[1].1;
        assert_event(&eth[0], &prints[1], "ETH-PERPETUAL", 1000, 0.5 / 1919.45);
        assert_event(&eth[1], &prints[6], "ETH-PERPETUAL", 1000, 0.5 / 1900.0);
        assert_eq!(eth[0].trade_id, Some(162145843));
        assert_event(&got[2].1[0], &prints[3], "BTC_USDC-PERPETUAL", 1000, 0.0);
    }

    #[test]
    fn test_requests_must_be_answered() {
        let (mut f, mut p, mut dec) = open();
        let mut out = Vec::new();
        f.now_us += 29_000_000;
        assert_eq!(p.on_timer(&mut f.session(), &mut out), Ok(()));
        assert!(out.is_empty());
        f.now_us += 1_000_000;
        assert_eq!(p.on_timer(&mut f.session(), &mut out), Ok(()));
        let got = decode_all(dec.as_mut(), &out);
        assert_eq!(got[0].0, Ok(Frame::Reply(TEST_REPLY)));
        // Answered: no hang-up, and the reply is a result.
        let mut replies = Vec::new();
        p.on_message(TEST_REPLY.as_bytes(), false, &mut f.session(), &mut replies);
        assert!(texts(&replies)[0].starts_with(r#"{"jsonrpc":"2.0","id":9001,"result":{"version""#));
        f.now_us += 15_000_000;
        assert_eq!(p.on_timer(&mut f.session(), &mut out), Ok(()));
        // The next one goes unanswered: dropped 10 s later.
        f.now_us += 15_000_000;
        assert_eq!(p.on_timer(&mut f.session(), &mut out), Ok(()));
        assert_eq!(out.len(), 2);
        f.now_us += 9_900_000;
        assert_eq!(p.on_timer(&mut f.session(), &mut out), Ok(()));
        f.now_us += 100_000;
        assert_eq!(
            p.on_timer(&mut f.session(), &mut out),
            Err(Hangup::PingTimeout)
        );
    }

    #[test]
    fn errors_carry_deribit_codes() {
        let (mut f, mut p, mut dec) = open();
        let mut out = Vec::new();
        for req in [
            r#"{"jsonrpc":"2.0","id":5,"method":"public/subscribe","params":{"channels":["trades.BTC-PERPETUAL.raw"]}}"#,
            r#"{"jsonrpc":"2.0","id":6,"method":"public/nope","params":{}}"#,
            r#"{"jsonrpc":"2.0","id":7,"method":"public/set_heartbeat","params":{"interval":5}}"#,
            "not json",
        ] {
            p.on_message(req.as_bytes(), false, &mut f.session(), &mut out);
        }
        let codes: Vec<_> = decode_all(dec.as_mut(), &out)
            .into_iter()
            .map(|d| d.0)
            .collect();
        assert_eq!(
            codes,
            [
                Ok(Frame::VenueError { code: 13778 }),
                Ok(Frame::VenueError { code: -32601 }),
                Ok(Frame::VenueError { code: -32602 }),
                Ok(Frame::VenueError { code: 11050 }),
            ]
        );
        assert!(texts(&out)[3].starts_with(
            r#"{"jsonrpc":"2.0","error":{"code":11050,"data":"invalid json","message":"bad_request"},"usIn":"#
        ));
        // Unsubscribing drops the market.
        let mut out = Vec::new();
        let req = r#"{"jsonrpc":"2.0","id":8,"method":"public/unsubscribe","params":{"channels":["trades.ETH-PERPETUAL.100ms"]}}"#;
        p.on_message(req.as_bytes(), false, &mut f.session(), &mut out);
        assert!(texts(&out)[0].contains(r#""result":["trades.ETH-PERPETUAL.100ms"]"#));
        assert!(!f.subs[1].any() && f.subs[0].trades);
    }

    #[test]
    fn frames_have_the_real_shape() {
        let real = |needle: &str| vector("feeds/deribit.jsonl", needle);
        let (mut f, mut p, _) = open();
        let mut out = Vec::new();
        p.on_prints(
            &[trade(0, 291801232, true, 64345.0, 0.000466, T0)],
            &mut f.session(),
            &mut out,
        );
        f.now_us += 30_000_000;
        p.on_timer(&mut f.session(), &mut out).unwrap();
        let raw = r#"{"jsonrpc":"2.0","id":5,"method":"public/subscribe","params":{"channels":["trades.BTC-PERPETUAL.raw"]}}"#;
        p.on_message(raw.as_bytes(), false, &mut f.session(), &mut out);
        p.on_message(b"{", false, &mut f.session(), &mut out);
        let sub = r#"{"jsonrpc":"2.0","id":3,"method":"public/subscribe","params":{"channels":["trades.ETH-PERPETUAL.100ms"]}}"#;
        p.on_message(sub.as_bytes(), false, &mut f.session(), &mut out);
        let wire = texts(&out);
        assert_eq!(wire.len(), 5);
        assert_same_shape(wire[0], &real(r#""contracts":"#));
        assert_same_shape(wire[1], &real(r#""type":"test_request""#));
        assert_same_shape(wire[2], &real(r#""code":13778"#));
        assert_same_shape(wire[3], &real(r#""code":11050"#));
        assert_same_shape(wire[4], &real(r#""result":["#));
    }
}
