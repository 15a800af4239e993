//! Coinbase Exchange (`ws-feed.exchange.coinbase.com`, channels `matches` + `heartbeat`) and
//! Coinbase Advanced Trade (`advanced-trade-ws.coinbase.com`, channels `market_trades` +
//! `heartbeats`), both served on `/`.
//!
//! Both feeds report the **maker** order's side, so a print whose taker bought is sent with
//! `side` `sell` / `SELL`. Neither has public liquidations; only trade prints are formatted.
//!
//! - Exchange: `subscribe` with `product_ids` and `channels` (names, or `{name, product_ids}`
//!   objects) answers `subscriptions` listing everything the connection follows, then one
//!   `last_match` per newly followed product; one `match` per fill; `heartbeat` once a second
//!   per product with `last_trade_id`. A request naming an unknown product or channel is
//!   refused whole: `{"type":"error","message":"Failed to subscribe","reason":…}`.
//! - Advanced Trade: one channel per `subscribe`; `market_trades` answers with a `snapshot`
//!   event per product (the recent trades, newest first) and a `subscriptions` message;
//!   trades then arrive as `update` events, newest first; `heartbeats` sends one message a
//!   second with `heartbeat_counter`. Every message carries the connection-wide
//!   `sequence_num` (0, 1, 2, …) and a nanosecond `timestamp`.

use super::proto::{Out, Print, PrintKind, Protocol, Session};
use super::wirefmt::{self, guid, json_str, json_strs, rfc3339};
use feeds::Venue;
use serde_json::Value;

/// The Exchange `last_match`/`heartbeat` `sequence` of a product after trade `id` (the
/// product's order-book sequence advances several steps per fill).
fn sequence(id: u64) -> u64 {
    id.saturating_mul(4).saturating_add(10_000_000_000)
}

/// Trades in an Advanced Trade `snapshot` event: the recent trades (Coinbase's
/// `market_trades` reference, docs.cdp.coinbase.com, read 2026-12-07, gives no count; 100 as
/// recorded by our feeds reference, `feeds/src/coinbase.rs`). The market's history makes sure
/// even the first subscriber gets them (`VenueSimConfig::backlog`).
const SNAPSHOT_TRADES: usize = 100;

/// Either Coinbase feed, one value per connection.
#[derive(Debug)]
pub struct Coinbase {
    advanced: bool,
    /// Products (market indices) with heartbeats, in subscription order.
    heartbeats: Vec<usize>,
    /// Advanced Trade: subscribed to the `heartbeats` channel.
    heartbeats_channel: bool,
    /// The last trade id seen per market (Exchange heartbeats).
    last_trade: Vec<Option<u64>>,
    /// Next heartbeat time (µs); 0 until the first timer tick.
    next_beat_us: i64,
    /// Advanced Trade: the next `sequence_num`.
    seq: u64,
    /// Advanced Trade: the next `heartbeat_counter`.
    counter: u64,
}

/// The protocol of `venue` (`Venue::Coinbase` or `Venue::CoinbaseAdvanced`).
pub fn new(venue: Venue) -> Coinbase {
    Coinbase {
        advanced: venue == Venue::CoinbaseAdvanced,
        heartbeats: Vec::new(),
        heartbeats_channel: false,
        last_trade: Vec::new(),
        next_beat_us: 0,
        seq: 0,
        counter: 1,
    }
}

fn error(reason: &str) -> Out {
    Out::Text(format!(
        r#"{{"type":"error","message":"Failed to subscribe","reason":{}}}"#,
        json_str(reason)
    ))
}

/// Strings of a JSON array field (`None` when absent; `Err` when not an array of strings).
fn strings(v: Option<&Value>) -> Result<Option<Vec<String>>, ()> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned).ok_or(()))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(()),
    }
}

impl Coinbase {
    fn ensure(&mut self, s: &Session<'_>) {
        if self.last_trade.len() != s.markets.len() {
            self.last_trade = s
                .recent
                .iter()
                .map(|r| r.last().map(|p| p.id))
                .chain(std::iter::repeat(None))
                .take(s.markets.len())
                .collect();
        }
    }

    fn stamp(&mut self, now_us: i64) -> (u64, String) {
        let seq = self.seq;
        self.seq += 1;
        (seq, rfc3339(now_us, 9))
    }

    // ---- Exchange ----

    fn exchange_match(s: &Session<'_>, p: &Print, kind: &str) -> Option<String> {
        let m = s.markets.get(p.market)?;
        Some(format!(
            r#"{{"type":"{kind}","trade_id":{},"maker_order_id":"{}","taker_order_id":"{}","side":"{}","size":"{}","price":"{}","product_id":{},"sequence":{},"time":"{}"}}"#,
            p.id,
            guid(p.id, 1),
            guid(p.id, 2),
            if p.buy { "sell" } else { "buy" },
            wirefmt::qty(m, p.qty),
            wirefmt::price(m, p.price),
            json_str(&m.symbol),
            sequence(p.id),
            rfc3339(p.ts_us, 6)
        ))
    }

    fn exchange_subscriptions(&self, s: &Session<'_>) -> Out {
        let names = |pick: &dyn Fn(usize) -> bool| -> String {
            let list: Vec<&str> = (0..s.markets.len())
                .filter(|&i| pick(i))
                .filter_map(|i| s.markets.get(i).map(|m| m.symbol.as_str()))
                .collect();
            json_strs(&list)
        };
        let mut channels = Vec::new();
        if s.subs.iter().any(|x| x.trades) {
            let list = names(&|i| s.subs.get(i).is_some_and(|x| x.trades));
            channels.push(format!(r#"{{"name":"matches","product_ids":{list}}}"#));
        }
        if !self.heartbeats.is_empty() {
            let list = names(&|i| self.heartbeats.contains(&i));
            channels.push(format!(r#"{{"name":"heartbeat","product_ids":{list}}}"#));
        }
        Out::Text(format!(
            r#"{{"type":"subscriptions","channels":[{}]}}"#,
            channels.join(",")
        ))
    }

    fn exchange_request(&mut self, req: &Value, s: &mut Session<'_>, out: &mut Vec<Out>) {
        let subscribe = match req.get("type").and_then(Value::as_str) {
            Some("subscribe") => true,
            Some("unsubscribe") => false,
            _ => {
                out.push(error("Type has to be either subscribe or unsubscribe"));
                return;
            }
        };
        let Ok(top) = strings(req.get("product_ids")) else {
            out.push(error("product_ids must be a list of strings"));
            return;
        };
        let top = top.unwrap_or_default();
        // (channel, products) pairs.
        let mut wanted: Vec<(String, Vec<String>)> = Vec::new();
        if let Some(Value::Array(items)) = req.get("channels") {
            {
                for item in items {
                    match item {
                        Value::String(name) => wanted.push((name.clone(), top.clone())),
                        Value::Object(_) => {
                            let name = item.get("name").and_then(Value::as_str);
                            let ids = strings(item.get("product_ids"));
                            match (name, ids) {
                                (Some(name), Ok(ids)) => {
                                    wanted.push((name.to_owned(), ids.unwrap_or(top.clone())))
                                }
                                _ => {
                                    out.push(error("Malformed channel"));
                                    return;
                                }
                            }
                        }
                        _ => {
                            out.push(error("Malformed channel"));
                            return;
                        }
                    }
                }
            }
        }
        if wanted.is_empty() {
            out.push(error("No channels provided"));
            return;
        }
        // Validate everything first: Coinbase ignores the whole request on any error.
        let mut resolved: Vec<(bool, Vec<usize>)> = Vec::new();
        for (name, ids) in &wanted {
            let matches = match name.as_str() {
                "matches" => true,
                "heartbeat" => false,
                other => {
                    out.push(error(&format!("{other} is not a valid channel")));
                    return;
                }
            };
            if ids.is_empty() {
                out.push(error("No product ids provided"));
                return;
            }
            let mut markets = Vec::new();
            for id in ids {
                match s.find(id) {
                    Some(i) => markets.push(i),
                    None => {
                        out.push(error(&format!("{id} is not a valid product")));
                        return;
                    }
                }
            }
            resolved.push((matches, markets));
        }
        let mut fresh = Vec::new();
        for (matches, markets) in resolved {
            for i in markets {
                if matches {
                    if let Some(sub) = s.subs.get_mut(i) {
                        if subscribe && !sub.trades {
                            fresh.push(i);
                        }
                        sub.trades = subscribe;
                    }
                } else if subscribe {
                    if !self.heartbeats.contains(&i) {
                        self.heartbeats.push(i);
                    }
                } else {
                    self.heartbeats.retain(|&h| h != i);
                }
            }
        }
        out.push(self.exchange_subscriptions(s));
        for i in fresh {
            let last = s.recent.get(i).and_then(|r| r.last());
            if let Some(text) = last.and_then(|p| Self::exchange_match(s, p, "last_match")) {
                s.sent_snapshot(i, 1);
                out.push(Out::Text(text));
            }
        }
    }

    fn exchange_heartbeats(&self, s: &Session<'_>, out: &mut Vec<Out>) {
        for &i in &self.heartbeats {
            let Some(m) = s.markets.get(i) else {
                continue;
            };
            // A product that never traded reports trade id 0.
            let last = self.last_trade.get(i).copied().flatten().unwrap_or(0);
            out.push(Out::Text(format!(
                r#"{{"type":"heartbeat","last_trade_id":{last},"product_id":{},"sequence":{},"time":"{}"}}"#,
                json_str(&m.symbol),
                sequence(last),
                rfc3339(s.now_us, 6)
            )));
        }
    }

    // ---- Advanced Trade ----

    fn advanced_trade(s: &Session<'_>, p: &Print) -> Option<String> {
        let m = s.markets.get(p.market)?;
        Some(format!(
            r#"{{"product_id":{},"trade_id":"{}","price":"{}","size":"{}","time":"{}","side":"{}"}}"#,
            json_str(&m.symbol),
            p.id,
            wirefmt::price(m, p.price),
            wirefmt::qty(m, p.qty),
            rfc3339(p.ts_us, 6),
            if p.buy { "SELL" } else { "BUY" }
        ))
    }

    /// A `market_trades` message with one event of `kind` holding `prints` newest first.
    fn market_trades(&mut self, s: &Session<'_>, kind: &str, prints: &[&Print]) -> Out {
        let trades: Vec<String> = prints
            .iter()
            .rev()
            .filter_map(|p| Self::advanced_trade(s, p))
            .collect();
        let (seq, ts) = self.stamp(s.now_us);
        Out::Text(format!(
            r#"{{"channel":"market_trades","timestamp":"{ts}","sequence_num":{seq},"events":[{{"type":"{kind}","trades":[{}]}}]}}"#,
            trades.join(",")
        ))
    }

    fn advanced_subscriptions(&mut self, s: &Session<'_>) -> Out {
        let mut parts = Vec::new();
        let trades: Vec<&str> = s
            .markets
            .iter()
            .zip(s.subs.iter())
            .filter(|(_, x)| x.trades)
            .map(|(m, _)| m.symbol.as_str())
            .collect();
        if !trades.is_empty() {
            parts.push(format!(r#""market_trades":{}"#, json_strs(&trades)));
        }
        if self.heartbeats_channel {
            parts.push(r#""heartbeats":["heartbeats"]"#.to_owned());
        }
        let (seq, ts) = self.stamp(s.now_us);
        Out::Text(format!(
            r#"{{"channel":"subscriptions","timestamp":"{ts}","sequence_num":{seq},"events":[{{"subscriptions":{{{}}}}}]}}"#,
            parts.join(",")
        ))
    }

    fn advanced_request(&mut self, req: &Value, s: &mut Session<'_>, out: &mut Vec<Out>) {
        let subscribe = match req.get("type").and_then(Value::as_str) {
            Some("subscribe") => true,
            Some("unsubscribe") => false,
            _ => {
                out.push(error("type must be subscribe or unsubscribe"));
                return;
            }
        };
        let Ok(ids) = strings(req.get("product_ids")) else {
            out.push(error("product_ids must be a list of strings"));
            return;
        };
        let ids = ids.unwrap_or_default();
        match req.get("channel").and_then(Value::as_str) {
            Some("heartbeats") => {
                self.heartbeats_channel = subscribe;
                out.push(self.advanced_subscriptions(s));
            }
            Some("market_trades") => {
                if ids.is_empty() {
                    out.push(error("product_ids is required for market_trades"));
                    return;
                }
                let mut markets = Vec::new();
                for id in &ids {
                    match s.find(id) {
                        Some(i) => markets.push(i),
                        None => {
                            out.push(error(&format!("{id} is not a valid product")));
                            return;
                        }
                    }
                }
                let mut snapshots = Vec::new();
                for &i in &markets {
                    if let Some(sub) = s.subs.get_mut(i) {
                        if subscribe && !sub.trades {
                            let recent = s.recent.get(i).map_or(&[][..], Vec::as_slice);
                            let from = recent.len().saturating_sub(SNAPSHOT_TRADES);
                            let prints: Vec<&Print> = recent.iter().skip(from).collect();
                            snapshots.push((i, prints));
                        }
                        sub.trades = subscribe;
                    }
                }
                // `subscriptions` first, then the snapshots: in a real capture (cryptofeed,
                // 2026-08-09, ../shared/realframes/coinbase-advanced.jsonl) the subscriptions
                // message has sequence_num 5 and the snapshot that follows it 7.
                out.push(self.advanced_subscriptions(s));
                for (i, prints) in snapshots {
                    s.sent_snapshot(i, prints.len());
                    let msg = self.market_trades(s, "snapshot", &prints);
                    out.push(msg);
                }
            }
            Some(other) => out.push(error(&format!("{other} is not a valid channel"))),
            None => out.push(error("channel is required")),
        }
    }
}

impl Protocol for Coinbase {
    fn route(&mut self, target: &str, s: &mut Session<'_>) -> Result<(), (u16, String)> {
        self.ensure(s);
        if wirefmt::path(target) == "/" {
            Ok(())
        } else {
            Err((404, "Not Found".to_owned()))
        }
    }

    fn on_message(&mut self, msg: &[u8], binary: bool, s: &mut Session<'_>, out: &mut Vec<Out>) {
        self.ensure(s);
        let req = match serde_json::from_slice::<Value>(msg) {
            Ok(v) if !binary && v.is_object() => v,
            _ => {
                out.push(error("Malformed JSON"));
                return;
            }
        };
        if self.advanced {
            self.advanced_request(&req, s, out);
        } else {
            self.exchange_request(&req, s, out);
        }
    }

    /// Fault injection: a `subscribe` is refused whole with the reply Coinbase gives for a
    /// product it does not list (`{"type":"error","message":"Failed to subscribe","reason":
    /// "<id> is not a valid product"}`; Exchange WebSocket docs "Subscribe" / errors,
    /// docs.cdp.coinbase.com/exchange/websocket-feed, as this simulator already answered an
    /// unknown product; not re-read on 2026-12-07; Advanced Trade answers
    /// the same way here).
    fn reject_subscribe(
        &mut self,
        msg: &[u8],
        binary: bool,
        _s: &mut Session<'_>,
        out: &mut Vec<Out>,
    ) -> bool {
        let req = match serde_json::from_slice::<Value>(msg) {
            Ok(v) if !binary && v.is_object() => v,
            _ => return false,
        };
        if req.get("type").and_then(Value::as_str) != Some("subscribe") {
            return false;
        }
        // The first product named: top-level, or inside a channel object.
        let first = |v: Option<&Value>| {
            v.and_then(Value::as_array)
                .and_then(|a| a.first())
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let id = first(req.get("product_ids"))
            .or_else(|| {
                req.get("channels")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .find_map(|c| first(c.get("product_ids")))
            })
            .unwrap_or_default();
        if id.is_empty() {
            out.push(error("No product ids provided"));
        } else {
            out.push(error(&format!("{id} is not a valid product")));
        }
        true
    }

    fn on_prints(&mut self, prints: &[Print], s: &mut Session<'_>, out: &mut Vec<Out>) {
        self.ensure(s);
        let trades = prints.iter().filter(|p| p.kind == PrintKind::Trade);
        if !self.advanced {
            for p in trades {
                if let Some(slot) = self.last_trade.get_mut(p.market) {
                    *slot = Some(p.id);
                }
                if let Some(text) = Self::exchange_match(s, p, "match") {
                    out.push(Out::Text(text));
                }
            }
            return;
        }
        // One `update` per product, in the order products first appear.
        let trades: Vec<&Print> = trades.collect();
        let mut done: Vec<usize> = Vec::new();
        for p in &trades {
            if done.contains(&p.market) {
                continue;
            }
            done.push(p.market);
            let group: Vec<&Print> = trades
                .iter()
                .copied()
                .filter(|q| q.market == p.market)
                .collect();
            let msg = self.market_trades(s, "update", &group);
            out.push(msg);
        }
    }

    fn on_timer(
        &mut self,
        s: &mut Session<'_>,
        out: &mut Vec<Out>,
    ) -> Result<(), super::proto::Hangup> {
        self.ensure(s);
        if self.next_beat_us == 0 {
            self.next_beat_us = s.now_us + 1_000_000;
        }
        if s.now_us < self.next_beat_us {
            return Ok(());
        }
        self.next_beat_us += 1_000_000;
        if self.next_beat_us <= s.now_us {
            self.next_beat_us = s.now_us + 1_000_000;
        }
        if !self.advanced {
            self.exchange_heartbeats(s, out);
        } else if self.heartbeats_channel {
            let (seq, ts) = self.stamp(s.now_us);
            let counter = self.counter;
            self.counter += 1;
            out.push(Out::Text(format!(
                r#"{{"channel":"heartbeats","timestamp":"{ts}","sequence_num":{seq},"events":[{{"current_time":"{}","heartbeat_counter":{counter}}}]}}"#,
                wirefmt::go_time(s.now_us)
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::wirefmt::testkit::*;
    use super::*;
    use feeds::coinbase::subscribe_messages;
    use feeds::Frame;

    fn fixture(venue: Venue) -> Fixture {
        let mut f = Fixture::new(vec![
            market(venue, "BTC-USD", "BTC", None, 0.01, 0.00000001),
            market(venue, "ETH-USD", "ETH", None, 0.01, 0.00000001),
        ]);
        f.recent[0] = vec![
            trade(0, 41, true, 65083.66, 0.00100346, T0 - 3_000_000),
            trade(0, 42, false, 65083.67, 0.5, T0 - 2_000_000),
        ];
        f
    }

    #[test]
    fn routes_only_the_root() {
        for venue in [Venue::Coinbase, Venue::CoinbaseAdvanced] {
            let mut f = fixture(venue);
            let mut p = new(venue);
            assert_eq!(p.route("/", &mut f.session()), Ok(()));
            assert_eq!(p.route("/ws", &mut f.session()).unwrap_err().0, 404);
        }
    }

    #[test]
    fn exchange_subscribe_last_match_matches_and_heartbeats() {
        let venue = Venue::Coinbase;
        let mut f = fixture(venue);
        let mut p = new(venue);
        let mut dec = venue.decoder();
        let mut out = Vec::new();
        for req in subscribe_messages(venue, &["BTC-USD", "ETH-USD"]) {
            p.on_message(req.as_bytes(), false, &mut f.session(), &mut out);
        }
        let got = decode_all(dec.as_mut(), &out);
        assert_eq!(got.len(), 2, "{out:?}");
        assert_eq!(got[0].0, Ok(Frame::SubscribeAck));
        // last_match: the last recent trade of BTC-USD (ETH-USD has none).
        assert_eq!(got[1].0, Ok(Frame::Data(1)));
        assert_event(&got[1].1[0], &f.recent[0][1], "BTC-USD", 1, 0.0);
        assert_eq!(got[1].1[0].trade_id, Some(42));
        assert!(f.subs.iter().all(|x| x.trades && !x.liquidations));
        let wire = texts(&out);
        assert!(wire[0].contains(r#"{"name":"heartbeat","product_ids":["BTC-USD","ETH-USD"]}"#));
        // The maker side is on the wire.
        assert!(wire[1].contains(r#""side":"buy""#), "{}", wire[1]);

        let prints = [
            trade(1, 7, true, 1919.49, 0.00430148, T0 + 10),
            trade(0, 43, false, 65083.6, 1.25, T0 + 20),
            liq(0, 1, true, 65000.0, 1.0, T0 + 30),
        ];
        let mut out = Vec::new();
        p.on_prints(&prints, &mut f.session(), &mut out);
        let ev = events(dec.as_mut(), &out);
        assert_eq!(ev.len(), 2);
        assert_event(&ev[0], &prints[0], "ETH-USD", 1, 0.0);
        assert_event(&ev[1], &prints[1], "BTC-USD", 1, 0.0);
        assert_eq!(ev[1].trade_id, Some(43));

        // Heartbeats once a second per product, with the last trade id.
        let mut out = Vec::new();
        p.on_timer(&mut f.session(), &mut out).unwrap();
        f.now_us += 1_000_000;
        p.on_timer(&mut f.session(), &mut out).unwrap();
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(texts(&out)[0].contains(r#""last_trade_id":43,"product_id":"BTC-USD""#));
        assert!(texts(&out)[1].contains(r#""last_trade_id":7,"product_id":"ETH-USD""#));
        assert!(decode_all(dec.as_mut(), &out)
            .iter()
            .all(|d| d.0 == Ok(Frame::Other)));
        f.now_us += 500_000;
        let mut out = Vec::new();
        p.on_timer(&mut f.session(), &mut out).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn exchange_refuses_unknown_products_whole() {
        let venue = Venue::Coinbase;
        let mut f = fixture(venue);
        let mut p = new(venue);
        let mut out = Vec::new();
        let req = &subscribe_messages(venue, &["BTC-USD", "DOGE-USD"])[0];
        p.on_message(req.as_bytes(), false, &mut f.session(), &mut out);
        p.on_message(b"{not json", false, &mut f.session(), &mut out);
        let got = decode_all(venue.decoder().as_mut(), &out);
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|d| d.0 == Ok(Frame::VenueError { code: 0 })));
        assert!(texts(&out)[0].contains("DOGE-USD is not a valid product"));
        assert!(f.subs.iter().all(|x| !x.any()));
    }

    #[test]
    fn advanced_snapshot_updates_and_heartbeats() {
        let venue = Venue::CoinbaseAdvanced;
        let mut f = fixture(venue);
        let mut p = new(venue);
        let mut dec = venue.decoder();
        let mut out = Vec::new();
        for req in subscribe_messages(venue, &["BTC-USD", "ETH-USD"]) {
            p.on_message(req.as_bytes(), false, &mut f.session(), &mut out);
        }
        let got = decode_all(dec.as_mut(), &out);
        // The subscriptions ack, snapshots of both products (BTC newest first, ETH empty),
        // then the heartbeats ack.
        assert_eq!(got.len(), 4, "{out:?}");
        assert_eq!(got[0].0, Ok(Frame::SubscribeAck));
        assert_eq!(got[1].0, Ok(Frame::Data(2)));
        assert_event(&got[1].1[0], &f.recent[0][1], "BTC-USD", 1, 0.0);
        assert_event(&got[1].1[1], &f.recent[0][0], "BTC-USD", 1, 0.0);
        assert_eq!(got[2].0, Ok(Frame::Data(0)));
        assert_eq!(got[3].0, Ok(Frame::SubscribeAck));
        assert_eq!(f.snapshot_sent, [2, 0]);
        assert!(texts(&out)[3]
            .contains(r#""market_trades":["BTC-USD","ETH-USD"],"heartbeats":["heartbeats"]"#));
        assert!(f.subs.iter().all(|x| x.trades));

        let prints = [
            trade(0, 43, true, 65083.66, 0.00100346, T0 + 1),
            trade(0, 44, false, 65083.67, 0.00322434, T0 + 2),
            trade(1, 9, true, 1919.49, 0.00430148, T0 + 3),
        ];
        let mut out = Vec::new();
        p.on_prints(&prints, &mut f.session(), &mut out);
        assert_eq!(out.len(), 2);
        let ev = events(dec.as_mut(), &out);
        // Newest first within a message.
        assert_event(&ev[0], &prints[1], "BTC-USD", 1, 0.0);
        assert_event(&ev[1], &prints[0], "BTC-USD", 1, 0.0);
        assert_event(&ev[2], &prints[2], "ETH-USD", 1, 0.0);
        assert_eq!(ev[0].trade_id, Some(44));
        assert!(texts(&out)[0].contains(r#""side":"BUY""#));

        let mut out2 = Vec::new();
        p.on_timer(&mut f.session(), &mut out2).unwrap();
        f.now_us += 1_000_000;
        p.on_timer(&mut f.session(), &mut out2).unwrap();
        assert_eq!(out2.len(), 1);
        assert_eq!(decode_all(dec.as_mut(), &out2)[0].0, Ok(Frame::Other));
        assert!(texts(&out2)[0].contains(r#""heartbeat_counter":1"#));
        // sequence_num counts every message of the connection: 4 + 2 + 1.
        assert!(texts(&out2)[0].contains(r#""sequence_num":6"#), "{out2:?}");

        let mut out = Vec::new();
        let bad = &subscribe_messages(venue, &["NOPE-USD"])[0];
        p.on_message(bad.as_bytes(), false, &mut f.session(), &mut out);
        assert_eq!(
            decode_all(dec.as_mut(), &out)[0].0,
            Ok(Frame::VenueError { code: 0 })
        );
    }

    #[test]
    fn frames_have_the_real_shape() {
        let ex = |needle: &str| vector("feeds/coinbase_exchange.jsonl", needle);
        let adv = |needle: &str| vector("feeds/coinbase_advanced.jsonl", needle);
        let venue = Venue::Coinbase;
        let mut f = fixture(venue);
        let mut p = new(venue);
        let mut out = Vec::new();
        let req = &subscribe_messages(venue, &["BTC-USD"])[0];
        p.on_message(req.as_bytes(), false, &mut f.session(), &mut out);
        p.on_prints(
            &[trade(0, 43, true, 65083.6, 1.25, T0)],
            &mut f.session(),
            &mut out,
        );
        p.on_timer(&mut f.session(), &mut out).unwrap();
        f.now_us += 1_000_000;
        p.on_timer(&mut f.session(), &mut out).unwrap();
        p.on_message(b"[]", false, &mut f.session(), &mut out);
        let wire = texts(&out);
        assert_eq!(wire.len(), 5);
        assert_same_shape(wire[0], &ex(r#""type":"subscriptions""#));
        assert_same_shape(wire[1], &ex(r#""type":"last_match""#));
        assert_same_shape(wire[2], &ex(r#""type":"match""#));
        assert_same_shape(wire[3], &ex(r#""type":"heartbeat""#));
        assert_same_shape(wire[4], &ex(r#""type":"error""#));

        let venue = Venue::CoinbaseAdvanced;
        let mut f = fixture(venue);
        let mut p = new(venue);
        let mut out = Vec::new();
        for req in subscribe_messages(venue, &["BTC-USD"]) {
            p.on_message(req.as_bytes(), false, &mut f.session(), &mut out);
        }
        p.on_prints(
            &[trade(0, 43, true, 65083.6, 1.25, T0)],
            &mut f.session(),
            &mut out,
        );
        p.on_timer(&mut f.session(), &mut out).unwrap();
        f.now_us += 1_000_000;
        p.on_timer(&mut f.session(), &mut out).unwrap();
        let wire = texts(&out);
        assert_eq!(wire.len(), 5);
        assert_same_shape(wire[0], &adv(r#""channel":"subscriptions""#));
        assert_same_shape(wire[1], &adv(r#""type":"snapshot""#));
        assert_same_shape(wire[3], &adv(r#""type":"update""#));
        assert_same_shape(wire[4], &adv(r#""channel":"heartbeats""#));
    }

    #[test]
    fn unsubscribe_stops_matches_and_heartbeats() {
        for venue in [Venue::Coinbase, Venue::CoinbaseAdvanced] {
            let mut f = fixture(venue);
            let mut p = new(venue);
            let mut out = Vec::new();
            for req in subscribe_messages(venue, &["BTC-USD", "ETH-USD"]) {
                p.on_message(req.as_bytes(), false, &mut f.session(), &mut out);
            }
            let mut out = Vec::new();
            let req = if venue == Venue::Coinbase {
                r#"{"type":"unsubscribe","product_ids":["BTC-USD"],"channels":["matches","heartbeat"]}"#
            } else {
                r#"{"type":"unsubscribe","product_ids":["BTC-USD"],"channel":"market_trades"}"#
            };
            p.on_message(req.as_bytes(), false, &mut f.session(), &mut out);
            assert_eq!(
                decode_all(venue.decoder().as_mut(), &out)[0].0,
                Ok(Frame::SubscribeAck)
            );
            assert!(!texts(&out)[0].contains("BTC-USD"), "{out:?}");
            assert!(!f.subs[0].trades && f.subs[1].trades);
        }
    }
}
