//! Bitfinex WebSocket v2 (`api-pub.bitfinex.com/ws/2`): the `trades` channels and the
//! global liquidation feed (`status`, key `liq:global`).
//!
//! - On open: `{"event":"info","version":2,"serverId":…,"platform":{"status":1}}`.
//! - `subscribe` to `trades` answers `subscribed` with a channel id of this connection
//!   (`chanId`, `symbol`, `pair`), then the snapshot `[chanId,[[ID,MTS,AMOUNT,PRICE],…]]`
//!   (the last 30 trades, newest first); each trade then arrives as `te` followed by its
//!   `tu`. AMOUNT is signed by the taker side.
//! - `status`/`liq:global` answers `subscribed` with the `key`; each liquidation is sent as
//!   the position's trigger entry (IS_MATCH 0, carrying the liquidation price) and then its
//!   market execution (IS_MATCH 1): `["pos",POS_ID,MTS,null,SYMBOL,AMOUNT,BASE_PRICE,null,
//!   IS_MATCH,IS_MARKET_SOLD,null,LIQUIDATION_PRICE]`, AMOUNT the position (positive = a
//!   long, liquidated by a sell), MTS a float of milliseconds.
//! - Idle channels get `[chanId,"hb"]` every 15 s; `{"event":"ping","cid":…}` answers
//!   `pong`; `conf` with flag SEQ_ALL (65536) appends a sequence number to every array
//!   message; `unsubscribe` by `chanId`.
//! - Errors are `{"event":"error","msg":…,"code":…}` with Bitfinex's codes: 10300 (bad
//!   symbol or key), 10301 (already subscribed), 10302 (unknown channel), 10305 (more than
//!   25 channels), 10401 (not subscribed), 10000 (unknown event or bad JSON).

use super::proto::{Hangup, Out, Print, PrintKind, Protocol, Session, SimMarket};
use super::wirefmt::{self, guid, json_str, millis};
use feeds::Venue;
use serde_json::Value;

/// Channels per connection (docs: 25).
const MAX_CHANNELS: usize = 25;
/// Trades in the snapshot after subscribing.
const SNAPSHOT_TRADES: usize = 30;
/// Heartbeat on an idle channel.
const HEARTBEAT_US: i64 = 15_000_000;
/// `conf` flag: a sequence number on every array message.
const SEQ_ALL: u64 = 65_536;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chan {
    Trades(usize),
    Liquidations,
}

/// The Bitfinex protocol, one value per connection.
#[derive(Debug)]
pub struct Bitfinex {
    /// (chanId, what, last frame time µs).
    channels: Vec<(u64, Chan, i64)>,
    next_chan: u64,
    seq_all: bool,
    seq: u64,
}

/// The Bitfinex protocol (`venue` is `Venue::Bitfinex`).
pub fn new(_venue: Venue) -> Bitfinex {
    Bitfinex {
        channels: Vec::new(),
        next_chan: 0,
        seq_all: false,
        seq: 1,
    }
}

fn error(msg: &str, code: i64, extra: &str) -> Out {
    Out::Text(format!(
        r#"{{"event":"error","msg":{},"code":{code}{extra}}}"#,
        json_str(msg)
    ))
}

/// `[ID,MTS,AMOUNT,PRICE]`.
pub(crate) fn trade_row(m: &SimMarket, p: &Print) -> String {
    let sign = if p.buy { "" } else { "-" };
    format!(
        "[{},{},{sign}{},{}]",
        p.id,
        millis(p.ts_us),
        wirefmt::qty(m, p.qty),
        wirefmt::price(m, p.price)
    )
}

/// Milliseconds as a float literal with the sub-millisecond part (`1574697680828.123`).
fn float_ms(ts_us: i64) -> String {
    let frac = ts_us.rem_euclid(1000);
    if frac == 0 {
        millis(ts_us).to_string()
    } else {
        let text = format!("{}.{frac:03}", millis(ts_us));
        text.trim_end_matches('0').to_owned()
    }
}

impl Bitfinex {
    /// An array message `body` (without its closing bracket) on `chan`.
    fn array(&mut self, body: &str) -> Out {
        if self.seq_all {
            let seq = self.seq;
            self.seq += 1;
            Out::Text(format!("{body},{seq}]"))
        } else {
            Out::Text(format!("{body}]"))
        }
    }

    fn touch(&mut self, chan: u64, now_us: i64) {
        if let Some(c) = self.channels.iter_mut().find(|c| c.0 == chan) {
            c.2 = now_us;
        }
    }

    fn open_channel(&mut self, what: Chan, s: &Session<'_>) -> Result<u64, Out> {
        if self.channels.iter().any(|c| c.1 == what) {
            return Err(error("subscribe: dup", 10301, ""));
        }
        if self.channels.len() >= MAX_CHANNELS {
            return Err(error("subscribe: limit", 10305, ""));
        }
        if self.next_chan == 0 {
            self.next_chan = 17_470 + (s.conn % 4096) * 1_000;
        }
        let id = self.next_chan;
        self.next_chan += 1;
        self.channels.push((id, what, s.now_us));
        Ok(id)
    }

    fn subscribe(&mut self, req: &Value, s: &mut Session<'_>, out: &mut Vec<Out>) {
        match req.get("channel").and_then(Value::as_str) {
            Some("trades") => {
                let symbol = req.get("symbol").and_then(Value::as_str).unwrap_or("");
                let pair = symbol.strip_prefix('t').unwrap_or(symbol);
                let Some(i) = s.find(symbol) else {
                    let extra = format!(
                        r#","channel":"trades","symbol":{},"pair":{}"#,
                        json_str(symbol),
                        json_str(pair)
                    );
                    out.push(error("symbol: invalid", 10300, &extra));
                    return;
                };
                let chan = match self.open_channel(Chan::Trades(i), s) {
                    Ok(c) => c,
                    Err(e) => {
                        out.push(e);
                        return;
                    }
                };
                if let Some(sub) = s.subs.get_mut(i) {
                    sub.trades = true;
                }
                out.push(Out::Text(format!(
                    r#"{{"event":"subscribed","channel":"trades","chanId":{chan},"symbol":{},"pair":{}}}"#,
                    json_str(symbol),
                    json_str(pair)
                )));
                let rows: Vec<String> = match (s.markets.get(i), s.recent.get(i)) {
                    (Some(m), Some(recent)) => recent
                        .iter()
                        .rev()
                        .take(SNAPSHOT_TRADES)
                        .map(|p| trade_row(m, p))
                        .collect(),
                    _ => Vec::new(),
                };
                s.sent_snapshot(i, rows.len());
                let msg = self.array(&format!("[{chan},[{}]", rows.join(",")));
                out.push(msg);
            }
            Some("status") => {
                let key = req.get("key").and_then(Value::as_str).unwrap_or("");
                if key != "liq:global" {
                    let extra = format!(r#","channel":"status","key":{}"#, json_str(key));
                    out.push(error("key: invalid", 10300, &extra));
                    return;
                }
                let chan = match self.open_channel(Chan::Liquidations, s) {
                    Ok(c) => c,
                    Err(e) => {
                        out.push(e);
                        return;
                    }
                };
                for sub in s.subs.iter_mut() {
                    sub.liquidations = true;
                }
                out.push(Out::Text(format!(
                    r#"{{"event":"subscribed","channel":"status","chanId":{chan},"key":"liq:global"}}"#
                )));
            }
            other => {
                let extra = format!(r#","channel":{}"#, json_str(other.unwrap_or("")));
                out.push(error("channel: unknown", 10302, &extra));
            }
        }
    }

    fn unsubscribe(&mut self, req: &Value, s: &mut Session<'_>, out: &mut Vec<Out>) {
        let id = req.get("chanId").and_then(Value::as_u64);
        let Some(pos) = id.and_then(|id| self.channels.iter().position(|c| c.0 == id)) else {
            let extra = format!(r#","chanId":{}"#, id.unwrap_or(0));
            out.push(error("unsubscribe: invalid", 10401, &extra));
            return;
        };
        let (chan, what, _) = self.channels.remove(pos);
        match what {
            Chan::Trades(i) => {
                if let Some(sub) = s.subs.get_mut(i) {
                    sub.trades = false;
                }
            }
            Chan::Liquidations => {
                for sub in s.subs.iter_mut() {
                    sub.liquidations = false;
                }
            }
        }
        out.push(Out::Text(format!(
            r#"{{"event":"unsubscribed","status":"OK","chanId":{chan}}}"#
        )));
    }

    fn liquidation(&mut self, chan: u64, m: &SimMarket, p: &Print, out: &mut Vec<Out>) {
        // The position: a forced sell closes a long (positive amount) entered above the price.
        let (amount, base) = if p.buy {
            (format!("-{}", wirefmt::qty(m, p.qty)), p.price * 0.98)
        } else {
            (wirefmt::qty(m, p.qty), p.price * 1.02)
        };
        let dec = wirefmt::decimals(m.tick);
        for (is_match, sold) in [(0, 0), (1, 1)] {
            let body = format!(
                r#"[{chan},[["pos",{},{},null,{},{amount},{},null,{is_match},{sold},null,{}]]"#,
                p.id.saturating_add(142_397_657),
                float_ms(p.ts_us),
                json_str(&m.symbol),
                wirefmt::short(base, dec + 4),
                wirefmt::price(m, p.price)
            );
            let msg = self.array(&body);
            out.push(msg);
        }
    }
}

impl Protocol for Bitfinex {
    fn route(&mut self, target: &str, _s: &mut Session<'_>) -> Result<(), (u16, String)> {
        if wirefmt::path(target) == "/ws/2" {
            Ok(())
        } else {
            Err((404, "Not Found".to_owned()))
        }
    }

    fn on_open(&mut self, s: &mut Session<'_>, out: &mut Vec<Out>) {
        out.push(Out::Text(format!(
            r#"{{"event":"info","version":2,"serverId":"{}","platform":{{"status":1}}}}"#,
            guid(s.conn, 0xb17f)
        )));
    }

    fn on_message(&mut self, msg: &[u8], binary: bool, s: &mut Session<'_>, out: &mut Vec<Out>) {
        let req = match serde_json::from_slice::<Value>(msg) {
            Ok(v) if !binary && v.is_object() => v,
            _ => {
                out.push(error("Invalid JSON", 10000, ""));
                return;
            }
        };
        match req.get("event").and_then(Value::as_str) {
            Some("subscribe") => self.subscribe(&req, s, out),
            Some("unsubscribe") => self.unsubscribe(&req, s, out),
            Some("ping") => {
                let cid = req
                    .get("cid")
                    .map_or_else(String::new, |c| format!(r#","cid":{c}"#));
                out.push(Out::Text(format!(
                    r#"{{"event":"pong","ts":{}{cid}}}"#,
                    millis(s.now_us)
                )));
            }
            Some("conf") => {
                let flags = req.get("flags").and_then(Value::as_u64).unwrap_or(0);
                self.seq_all = flags & SEQ_ALL != 0;
                out.push(Out::Text(format!(
                    r#"{{"event":"conf","status":"OK","flags":{flags}}}"#
                )));
            }
            _ => out.push(error("Unknown event", 10000, "")),
        }
    }

    fn on_prints(&mut self, prints: &[Print], s: &mut Session<'_>, out: &mut Vec<Out>) {
        for p in prints {
            let Some(m) = s.markets.get(p.market) else {
                continue;
            };
            let what = match p.kind {
                PrintKind::Trade => Chan::Trades(p.market),
                PrintKind::Liquidation => Chan::Liquidations,
                PrintKind::OpenInterest => continue,
            };
            let Some(chan) = self.channels.iter().find(|c| c.1 == what).map(|c| c.0) else {
                continue;
            };
            self.touch(chan, s.now_us);
            if p.kind == PrintKind::Liquidation {
                self.liquidation(chan, m, p, out);
                continue;
            }
            let row = trade_row(m, p);
            for tag in ["te", "tu"] {
                let msg = self.array(&format!(r#"[{chan},"{tag}",{row}"#));
                out.push(msg);
            }
        }
    }

    fn on_timer(&mut self, s: &mut Session<'_>, out: &mut Vec<Out>) -> Result<(), Hangup> {
        let idle: Vec<u64> = self
            .channels
            .iter()
            .filter(|c| s.now_us - c.2 >= HEARTBEAT_US)
            .map(|c| c.0)
            .collect();
        for chan in idle {
            self.touch(chan, s.now_us);
            let msg = self.array(&format!(r#"[{chan},"hb""#));
            out.push(msg);
        }
        Ok(())
    }

    /// Fault injection: a `subscribe` gets Bitfinex's "subscription failed" error (`10300`,
    /// with the request's channel and symbol or key echoed, as for a symbol it does not list;
    /// Bitfinex WebSocket v2 docs, "Error codes": 10300 subscription failed, 10302 unknown
    /// channel; docs.bitfinex.com/docs/ws-general — the codes as this simulator already used them
    /// for unknown symbols, not re-read on 2026-12-07).
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
        if req.get("event").and_then(Value::as_str) != Some("subscribe") {
            return false;
        }
        let field = |k: &str| req.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let channel = field("channel");
        match channel.as_str() {
            "trades" => {
                let symbol = field("symbol");
                let pair = symbol.strip_prefix('t').unwrap_or(&symbol);
                let extra = format!(
                    r#","channel":"trades","symbol":{},"pair":{}"#,
                    json_str(&symbol),
                    json_str(pair)
                );
                out.push(error("symbol: invalid", 10300, &extra));
            }
            "status" => {
                let extra = format!(r#","channel":"status","key":{}"#, json_str(&field("key")));
                out.push(error("key: invalid", 10300, &extra));
            }
            other => {
                let extra = format!(r#","channel":{}"#, json_str(other));
                out.push(error("channel: unknown", 10302, &extra));
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::wirefmt::testkit::*;
    use super::*;
    use feeds::bitfinex::subscribe_messages;
    use feeds::{EventKind, Frame};

    fn fixture() -> Fixture {
        let v = Venue::Bitfinex;
        let mut f = Fixture::new(vec![
            market(v, "tBTCUSD", "BTC", None, 1.0, 0.00000001),
            market(v, "tBTCF0:USTF0", "BTC", None, 1.0, 0.00001),
        ]);
        f.recent[0] = vec![
            trade(0, 1936037537, false, 64243.0, 0.0002, T0 - 3_000_000),
            trade(0, 1936037542, true, 64255.0, 0.01352295, T0 - 2_000_000),
            trade(0, 1936037547, true, 64256.0, 0.00000064, T0 - 1_000_000),
        ];
        f
    }

    /// Opens a connection subscribed to both markets and the liquidation feed.
    fn open() -> (Fixture, Bitfinex, Box<dyn feeds::Decode + Send>, Vec<Out>) {
        let v = Venue::Bitfinex;
        let mut f = fixture();
        let mut p = new(v);
        let mut dec = v.decoder();
        let mut out = Vec::new();
        p.route("/ws/2", &mut f.session()).unwrap();
        p.on_open(&mut f.session(), &mut out);
        for req in subscribe_messages(&["tBTCUSD", "tBTCF0:USTF0"], true) {
            p.on_message(req.as_bytes(), false, &mut f.session(), &mut out);
        }
        let got = decode_all(dec.as_mut(), &out);
        let frames: Vec<_> = got.iter().map(|d| d.0).collect();
        assert_eq!(
            frames,
            [
                Ok(Frame::Other),
                Ok(Frame::SubscribeAck),
                Ok(Frame::Data(3)),
                Ok(Frame::SubscribeAck),
                Ok(Frame::Data(0)),
                Ok(Frame::SubscribeAck),
            ]
        );
        // Snapshot newest first.
        assert_event(&got[2].1[0], &f.recent[0][2], "tBTCUSD", 1000, 0.0);
        assert_event(&got[2].1[2], &f.recent[0][0], "tBTCUSD", 1000, 0.0);
        assert_eq!(got[2].1[0].trade_id, Some(1936037547));
        assert!(f.subs.iter().all(|x| x.trades && x.liquidations));
        (f, p, dec, out)
    }

    #[test]
    fn routes() {
        let mut f = fixture();
        let mut p = new(Venue::Bitfinex);
        assert_eq!(p.route("/ws/2", &mut f.session()), Ok(()));
        assert_eq!(p.route("/ws/1", &mut f.session()).unwrap_err().0, 404);
    }

    #[test]
    fn subscribe_trades_and_liquidations() {
        let (mut f, mut p, mut dec, out) = open();
        let wire = texts(&out);
        assert!(wire[2].starts_with("[24470,[[1936037547,"), "{}", wire[2]);
        assert!(wire[2].contains(",0.00000064,64256]"));
        assert!(wire[3].contains(r#""chanId":24471,"symbol":"tBTCF0:USTF0","pair":"BTCF0:USTF0"}"#));

        let prints = [
            trade(0, 401597395, true, 7245.0, 0.005, T0 + 1_808),
            trade(1, 12, false, 64200.0, 0.25, T0 + 2_000),
            liq(1, 3, false, 64100.0, 2.62932, T0 + 2_828_200),
            liq(1, 4, true, 64300.0, 0.5, T0 + 3_000_000),
        ];
        let mut out = Vec::new();
        p.on_prints(&prints, &mut f.session(), &mut out);
        let wire = texts(&out);
        assert_eq!(wire.len(), 8);
        assert_eq!(
            wire[0],
            format!(
                r#"[24470,"te",[401597395,{},0.005,7245]]"#,
                (T0 + 1_808) / 1000
            )
        );
        assert_eq!(
            wire[1],
            format!(
                r#"[24470,"tu",[401597395,{},0.005,7245]]"#,
                (T0 + 1_808) / 1000
            )
        );
        assert!(wire[2].contains(",-0.25,64200]"));
        assert!(wire[4].starts_with(r#"[24472,[["pos",142397660,"#));
        assert!(
            wire[4].contains(r#","tBTCF0:USTF0",2.62932,65382,null,0,0,null,64100]]]"#),
            "{}",
            wire[4]
        );
        let got = decode_all(dec.as_mut(), &out);
        let frames: Vec<_> = got.iter().map(|d| d.0).collect();
        assert_eq!(
            frames,
            [
                Ok(Frame::Data(1)),
                Ok(Frame::Data(0)),
                Ok(Frame::Data(1)),
                Ok(Frame::Data(0)),
                Ok(Frame::Data(1)),
                Ok(Frame::Data(0)),
                Ok(Frame::Data(1)),
                Ok(Frame::Data(0)),
            ]
        );
        assert_event(&got[0].1[0], &prints[0], "tBTCUSD", 1000, 0.0);
        assert_eq!(got[0].1[0].trade_id, Some(401597395));
        assert_event(&got[2].1[0], &prints[1], "tBTCF0:USTF0", 1000, 0.0);
        // Liquidation times keep their sub-millisecond part.
        assert_event(&got[4].1[0], &prints[2], "tBTCF0:USTF0", 1, 0.0);
        assert_eq!(got[4].1[0].kind, EventKind::Liquidation);
        assert_event(&got[6].1[0], &prints[3], "tBTCF0:USTF0", 1, 0.0);
    }

    #[test]
    fn keepalive_conf_and_errors() {
        let (mut f, mut p, mut dec, _) = open();
        let mut out = Vec::new();
        f.now_us += 14_900_000;
        p.on_timer(&mut f.session(), &mut out).unwrap();
        assert!(out.is_empty());
        f.now_us += 100_000;
        p.on_timer(&mut f.session(), &mut out).unwrap();
        assert_eq!(
            texts(&out),
            [r#"[24470,"hb"]"#, r#"[24471,"hb"]"#, r#"[24472,"hb"]"#]
        );
        p.on_message(
            br#"{"event":"ping","cid":1234}"#,
            false,
            &mut f.session(),
            &mut out,
        );
        assert!(texts(&out)[3].ends_with(r#","cid":1234}"#));
        p.on_message(
            br#"{"event":"conf","flags":65536}"#,
            false,
            &mut f.session(),
            &mut out,
        );
        f.now_us += 15_000_000;
        p.on_timer(&mut f.session(), &mut out).unwrap();
        assert_eq!(texts(&out)[5], r#"[24470,"hb",1]"#);
        assert!(decode_all(dec.as_mut(), &out)
            .iter()
            .all(|d| matches!(d.0, Ok(Frame::Other) | Ok(Frame::SubscribeAck))));

        let mut out = Vec::new();
        for req in [
            r#"{"event":"subscribe","channel":"trades","symbol":"tNOPE"}"#,
            r#"{"event":"subscribe","channel":"trades","symbol":"tBTCUSD"}"#,
            r#"{"event":"subscribe","channel":"book","symbol":"tBTCUSD"}"#,
            r#"{"event":"unsubscribe","chanId":1}"#,
            "[",
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
                Ok(Frame::VenueError { code: 10300 }),
                Ok(Frame::VenueError { code: 10301 }),
                Ok(Frame::VenueError { code: 10302 }),
                Ok(Frame::VenueError { code: 10401 }),
                Ok(Frame::VenueError { code: 10000 }),
            ]
        );
        let mut out = Vec::new();
        p.on_message(
            br#"{"event":"unsubscribe","chanId":24472}"#,
            false,
            &mut f.session(),
            &mut out,
        );
        assert_eq!(
            texts(&out),
            [r#"{"event":"unsubscribed","status":"OK","chanId":24472}"#]
        );
        assert!(f.subs.iter().all(|x| x.trades && !x.liquidations));
    }

    #[test]
    fn frames_have_the_real_shape() {
        let real = |needle: &str| vector("feeds/bitfinex.jsonl", needle);
        let (mut f, mut p, _, open_out) = open();
        let wire = texts(&open_out);
        assert_same_shape(wire[0], &real(r#""event":"info""#));
        assert_same_shape(wire[1], &real(r#""symbol":"tBTCUSD""#));
        // A trade snapshot without a sequence number: the first line ending `]]]`.
        assert_same_shape(wire[2], &real("]]]"));
        let mut out = Vec::new();
        let prints = [
            trade(0, 401597395, true, 7245.3, 0.005, T0),
            liq(1, 3, false, 64100.0, 2.62932, T0),
        ];
        p.on_prints(&prints, &mut f.session(), &mut out);
        p.on_message(
            br#"{"event":"conf","flags":65536}"#,
            false,
            &mut f.session(),
            &mut out,
        );
        f.now_us += 15_000_000;
        p.on_timer(&mut f.session(), &mut out).unwrap();
        let wire = texts(&out);
        assert_same_shape(wire[0], &real(r#""te""#));
        assert_same_shape(wire[1], &real(r#""tu""#));
        // The docs' liquidation example (reference/exchanges.md).
        let docs = r#"[91684,[["pos",142397657,1574697680828.2002,null,"tBTCF0:USTF0",-2.62932,91.583875238719,null,1,1,null,112.27]]]"#;
        assert_same_shape(wire[2], docs);
        assert_same_shape(wire[3], docs);
        assert_same_shape(wire[4], &real(r#""event":"conf""#));
        assert_same_shape(wire[5], &real(r#""hb""#));
    }
}
