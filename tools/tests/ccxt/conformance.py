#!/usr/bin/env python3
"""ccxt conformance suite: ccxt.pro (a client we did not write) against `squeezeflow sim`.

Starts `squeezeflow sim` with every simulated venue (`--record DIR --keepalive-scale 0.02`),
points one ccxt.pro exchange per venue API at it — ccxt's OWN urls with only scheme, host and
port replaced, so a path the simulator does not serve fails — and judges three checks per venue:

- `markets`: `fetch_markets` against the simulator's REST server returns the two markets (when
  it fails, the stream is still checked, on unified markets given here: "given markets");
- `stream`: `watch_trades` on two markets for STREAM_SECONDS, over at least two ping rounds
  (ccxt's `keepAlive` pongs, and the venue's own pings where it pings), with no exception in
  ccxt's handlers, no error callback, no reconnect, no wrong `req_id` echo; every trade ccxt
  parsed has the id, price, amount, side and timestamp the simulator sent (its tape, decoded
  here from each venue's documented layout, independently of ccxt and of our feeds);
- `trades`: `fetch_trades` over REST overlaps the stream with equal fields.

One process, venues concurrently, a hard overall timeout. Prints per venue a `PASS name (…):
markets=ok stream=ok trades=ok` or `FAIL …` line, `    [check] reasons` lines under a failure
and a `    notes:` line, then a final `ccxt: N passed, N failed`.

Usage: conformance.py --sim /path/to/squeezeflow [--only venue,venue] [--keep DIR] [-v]
Needs ccxt (pinned: tools/tests/ccxt.rs installs ccxt==4.5.90 into a virtualenv).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

import ccxt  # noqa: F401  (the REST base classes; ccxt.pro subclasses them)
import ccxt.pro as ccxtpro

# Keepalive: the simulator's server pings and pong deadlines run at this fraction of the
# venues' real timings (Binance USDⓈ-M and COIN-M ping every 180 s → 3.6 s), and ccxt pings
# every KEEPALIVE_MS instead of its per-exchange default (6-180 s).
KEEPALIVE_SCALE = 0.02
KEEPALIVE_MS = 1000
# How long each venue streams: two rounds of the slowest server ping (3.6 s) plus margin.
STREAM_SECONDS = 10.0
MIN_PINGS = 2
MIN_TRADES = 5
OVERALL_TIMEOUT = 100.0
VERBOSE = False


class Venue:
    """One venue API of the simulator and the ccxt exchange that speaks it."""

    def __init__(self, name, ccxt_id, symbols, ids, options=None, server_pings=False, fixture=None,
                 rest_trades=True, watch_params=None):
        self.name = name  # the simulator's venue name (`sim --venues`)
        self.ccxt_id = ccxt_id
        self.symbols = symbols  # ccxt unified symbols subscribed
        self.ids = ids  # the same markets as the simulator spells them
        self.options = options or {}
        # The venue itself pings (Binance: ping frames; HTX: {"ping":…}); else only ccxt pings.
        self.server_pings = server_pings
        self.fixture = fixture or {}  # extra keys of the markets given when REST markets fail
        # ccxt has a public fetch_trades for the venue (Hyperliquid's is the user's fills).
        self.rest_trades = rest_trades
        # watch_trades params per symbol; Binance: the second market on `aggTrade`, whose ids
        # are those of the REST `aggTrades` ccxt's fetch_trades reads (the first stays on ccxt's
        # default `trade`, a different id space, so it is not compared with REST).
        self.watch_params = watch_params or {}
        self.rest_skip = {s for s in symbols if self.ccxt_id.startswith("binance") and s not in self.watch_params}


# Our venues → ccxt exchange ids. BitMEX is not here: it ceased operations on 2026-09-23
# (exchanges.md §7; issue 16 §3), so there is no venue for ccxt to conform to.
VENUES = [
    Venue("binance", "binance", ["BTC/USDT", "ETH/USDT"], ["BTCUSDT", "ETHUSDT"],
          {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]}}, server_pings=True,
          watch_params={"ETH/USDT": {"name": "aggTrade"}}),
    Venue("binance-usdm", "binanceusdm", ["BTC/USDT:USDT", "ETH/USDT:USDT"], ["BTCUSDT", "ETHUSDT"],
          {"defaultType": "future", "fetchMarkets": {"types": ["linear"]}}, server_pings=True,
          watch_params={"ETH/USDT:USDT": {"name": "aggTrade"}}),
    Venue("binance-coinm", "binancecoinm", ["BTC/USD:BTC", "ETH/USD:ETH"], ["BTCUSD_PERP", "ETHUSD_PERP"],
          {"defaultType": "delivery", "fetchMarkets": {"types": ["inverse"]}}, server_pings=True,
          watch_params={"ETH/USD:ETH": {"name": "aggTrade"}}),
    Venue("bybit-spot", "bybit", ["BTC/USDT", "ETH/USDT"], ["BTCUSDT", "ETHUSDT"],
          {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]}}),
    Venue("bybit-linear", "bybit", ["BTC/USDT:USDT", "ETH/USDT:USDT"], ["BTCUSDT", "ETHUSDT"],
          {"defaultType": "swap", "defaultSubType": "linear", "fetchMarkets": {"types": ["linear"]}}),
    Venue("bybit-inverse", "bybit", ["BTC/USD:BTC", "ETH/USD:ETH"], ["BTCUSD", "ETHUSD"],
          {"defaultType": "swap", "defaultSubType": "inverse", "fetchMarkets": {"types": ["inverse"]}}),
    Venue("okx-spot", "okx", ["BTC/USDT", "ETH/USDT"], ["BTC-USDT", "ETH-USDT"],
          {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]}}),
    Venue("okx-swap", "okx", ["BTC/USDT:USDT", "ETH/USDT:USDT"], ["BTC-USDT-SWAP", "ETH-USDT-SWAP"],
          {"defaultType": "swap", "fetchMarkets": {"types": ["swap"]}}),
    Venue("bitget", "bitget", ["BTC/USDT:USDT", "ETH/USDT:USDT"], ["BTCUSDT", "ETHUSDT"],
          {"defaultType": "swap", "fetchMarkets": {"types": ["swap"]}}),
    Venue("bitget-spot", "bitget", ["BTC/USDT", "ETH/USDT"], ["BTCUSDT", "ETHUSDT"],
          {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]}}),
    Venue("gate-futures", "gate", ["BTC/USDT:USDT", "ETH/USDT:USDT"], ["BTC_USDT", "ETH_USDT"],
          {"defaultType": "swap", "fetchMarkets": {"types": ["swap"]}},
          fixture={s: {"settleId": "usdt", "quoteId": "usdt"} for s in ("BTC/USDT:USDT", "ETH/USDT:USDT")}),
    Venue("hyperliquid", "hyperliquid", ["BTC/USDC:USDC", "ETH/USDC:USDC"], ["BTC", "ETH"],
          {"defaultType": "swap", "fetchMarkets": {"types": ["swap"]}}, rest_trades=False),
    Venue("kraken", "kraken", ["BTC/USD", "ETH/USD"], ["BTC/USD", "ETH/USD"]),
    Venue("kraken-futures", "krakenfutures", ["BTC/USD:USD", "ETH/USD:USD"], ["PF_XBTUSD", "PF_ETHUSD"],
          {"defaultType": "swap"}),
    Venue("coinbase", "coinbaseexchange", ["BTC/USD", "ETH/USD"], ["BTC-USD", "ETH-USD"]),
    Venue("coinbase-advanced", "coinbase", ["BTC/USD", "ETH/USD"], ["BTC-USD", "ETH-USD"]),
    Venue("deribit", "deribit", ["BTC/USD:BTC", "ETH/USD:ETH"], ["BTC-PERPETUAL", "ETH-PERPETUAL"]),
    Venue("bitfinex", "bitfinex", ["BTC/USD", "ETH/USD"], ["tBTCUSD", "tETHUSD"]),
    Venue("huobi", "htx", ["BTC/USDT", "ETH/USDT"], ["btcusdt", "ethusdt"],
          {"defaultType": "spot", "fetchMarkets": {"types": {"spot": True, "linear": False, "inverse": False}}},
          server_pings=True),
    Venue("huobi-swap", "htx", ["BTC/USDT:USDT", "ETH/USDT:USDT"], ["BTC-USDT", "ETH-USDT"],
          {"defaultType": "swap", "defaultSubType": "linear",
           "fetchMarkets": {"types": {"spot": False, "linear": True, "inverse": False}}}, server_pings=True),
]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# The simulator process


class Sim:
    """`squeezeflow sim --venues … --record DIR`: its URLs from what it prints."""

    LINE = re.compile(r"^\s+(\S+)\s+((?:ws|http)://127\.0\.0\.1:\d+)")

    def __init__(self, binary, venues, record_dir, seconds):
        names = [v.name for v in venues if v.name not in ("binance", "binance-usdm")]
        cmd = [binary, "sim", "--spot-port", "0", "--futures-port", "0", "--rate", "20",
               "--record", record_dir, "--keepalive-scale", str(KEEPALIVE_SCALE),
               "--seconds", str(int(seconds))]
        if names:
            cmd += ["--venues", ",".join(names)]
        self.cmd = cmd
        self.stderr_path = os.path.join(record_dir, "sim.stderr")
        self.err = open(self.stderr_path, "w+")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.err)
        self.urls = {}  # venue name (binance spot: "spot", USDⓈ-M: "usdⓈ-m", "REST") → base URL

    def wait_ready(self, want, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.stderr_path) as f:
                text = f.read()
            for line in text.splitlines():
                m = self.LINE.match(line)
                if m:
                    u = urlsplit(m.group(2))
                    self.urls[m.group(1)] = f"{u.scheme}://{u.netloc}"
            if all(w in self.urls for w in want):
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"sim exited with {self.proc.returncode}:\n{text}")
            time.sleep(0.1)
        raise RuntimeError(f"sim did not print its URLs within {timeout} s: {self.cmd}")

    def ws_base(self, venue):
        key = {"binance": "spot", "binance-usdm": "usdⓈ-m"}.get(venue, venue)
        return self.urls.get(key)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.flush()
        with open(self.stderr_path) as f:
            return f.read()


# --------------------------------------------------------------------------------------------
# Pointing ccxt at the simulator


def rewrite_urls(node, hostname, ws_base, rest_base):
    """ccxt's `urls['api']` with every ws(s) URL on `ws_base` and every http(s) URL on
    `rest_base`: scheme, host and port replaced, ccxt's own path and query kept."""
    if isinstance(node, dict):
        return {k: rewrite_urls(v, hostname, ws_base, rest_base) for k, v in node.items()}
    if isinstance(node, list):
        return [rewrite_urls(v, hostname, ws_base, rest_base) for v in node]
    if not isinstance(node, str) or "://" not in node:
        return node
    url = node.replace("{hostname}", hostname or "")
    parts = urlsplit(url)
    base = ws_base if parts.scheme in ("ws", "wss") else rest_base
    if base is None or parts.scheme not in ("ws", "wss", "http", "https"):
        return node
    b = urlsplit(base)
    return urlunsplit((b.scheme, b.netloc, parts.path, parts.query, parts.fragment))


class Probe:
    """What happened on one venue's ccxt instance: errors, pings, pongs, reconnects."""

    def __init__(self):
        self.errors = []
        self.server_pings = 0  # ping frames or application pings from the venue
        self.pongs = {}  # client url → distinct `lastPong` values seen (ccxt's own keepalive)
        self.connects = {}  # client url → connections opened
        self.closes = []
        self.sent = []  # what ccxt sent (for reports)
        self.closing = False  # the harness is closing the connections
        self.rest = []  # REST requests ccxt made ("GET /path?query")
        # Request ids (`req_id`) ccxt sent, and those replies carried.
        self.req_ids_sent = []
        self.req_ids_received = []

    def error(self, what):
        if len(self.errors) < 20:
            self.errors.append(what)


CLIENT_OWNER = {}  # id(ccxt ws client) → its venue's Probe


def instrument(ex, probe, verbose):
    """Wraps ccxt's message/error/close paths so nothing it raises or reports goes unseen."""
    handle = ex.handle_message
    client_of = ex.client
    on_error = ex.on_error
    on_close = ex.on_close
    on_connected = ex.on_connected

    def handle_message(client, message):
        if isinstance(message, dict) and ("ping" in message or message.get("method") == "heartbeat"):
            probe.server_pings += 1
        if isinstance(message, dict) and "req_id" in message:
            probe.req_ids_received.append(message["req_id"])
        if verbose:
            log(f"  [{ex.id}] <- {str(message)[:300]}")
        try:
            return handle(client, message)
        except Exception as e:  # ccxt's handler crashed on a frame: the receive loop dies too
            probe.error(f"ccxt handler raised {type(e).__name__}: {e} on {str(message)[:200]}")
            raise

    def client(url):
        c = client_of(url)
        if not getattr(c, "_probed", False):
            c._probed = True
            CLIENT_OWNER[id(c)] = probe
            raw = c.handle_message
            send = c.send

            def raw_message(m):
                from aiohttp import WSMsgType
                if m.type == WSMsgType.PING:
                    probe.server_pings += 1
                return raw(m)

            async def send_(message):
                if isinstance(message, dict) and "req_id" in message:
                    probe.req_ids_sent.append(message["req_id"])
                if len(probe.sent) < 50:
                    probe.sent.append(str(message)[:200])
                if verbose:
                    log(f"  [{ex.id}] -> {str(message)[:300]}")
                return await send(message)

            c.handle_message = raw_message
            c.send = send_
        return c

    def on_error_(client, error):
        probe.error(f"ccxt on_error {type(error).__name__}: {error} ({client.url})")
        return on_error(client, error)

    def on_close_(client, error):
        if not probe.closing:
            probe.closes.append(f"{client.url} closed ({error})")
        return on_close(client, error)

    def on_connected_(client, message=None):
        probe.connects[client.url] = probe.connects.get(client.url, 0) + 1
        return on_connected(client, message)

    fetch = ex.fetch

    async def fetch_(url, method="GET", headers=None, body=None):
        u = urlsplit(url)
        probe.rest.append(f"{method} {u.path}" + (f"?{u.query}" if u.query else ""))
        return await fetch(url, method, headers, body)

    ex.fetch = fetch_
    ex.handle_message = handle_message
    ex.client = client
    ex.on_error = on_error_
    ex.on_close = on_close_
    ex.on_connected = on_connected_


def fixture_markets(v):
    """Markets for the stream check when `load_markets` cannot load them from the simulator:
    ccxt's unified structure for the simulated instruments."""
    out = []
    for sym, mid in zip(v.symbols, v.ids):
        base, rest = sym.split("/")
        quote, _, settle = rest.partition(":")
        contract = bool(settle)
        m = {
            "id": mid, "symbol": sym, "base": base, "quote": quote, "settle": settle or None,
            "baseId": base, "quoteId": quote, "settleId": settle or None,
            "lowercaseId": mid.lower(), "baseName": base, "stock": False,
            "type": "swap" if contract else "spot", "spot": not contract, "margin": False,
            "swap": contract, "future": False, "option": False, "active": True,
            "contract": contract, "linear": (settle == quote) if contract else None,
            "inverse": (settle == base) if contract else None,
            "contractSize": 1.0 if contract else None,
            "precision": {"amount": 1e-8, "price": 1e-8},
            "limits": {"amount": {}, "price": {}, "cost": {}, "leverage": {}},
            "info": {},
        }
        m.update(v.fixture.get(sym, {}))
        out.append(m)
    return out


# --------------------------------------------------------------------------------------------
# What the simulator sent, decoded from the tape by each venue's documented layout.
# Each decoder yields (market id, trade id, price string, amount string, side, ms).


def _ms_iso(s):
    """RFC 3339 with up to nanoseconds → ms (truncated, as the venues' ms fields are)."""
    s = s.rstrip("Z")
    frac = ""
    if "." in s:
        s, frac = s.split(".", 1)
    t = datetime.strptime(s, "%Y-%m-%dT%H:%M:%S")
    secs = int((t - datetime(1970, 1, 1)).total_seconds())
    return secs * 1000 + int((frac + "000")[:3])


def dec_binance(f):
    # {"e":"trade","E":…,"s":"BTCUSDT","t":id,"p":"…","q":"…","T":ms,"m":buyer-is-maker}
    # (combined streams wrap it in {"stream":…,"data":…}).
    d = f.get("data", f) if isinstance(f, dict) else None
    if isinstance(d, dict) and d.get("e") in ("trade", "aggTrade"):
        tid = d["t"] if d["e"] == "trade" else d["a"]
        yield d["s"], str(tid), d["p"], d["q"], "sell" if d["m"] else "buy", d["T"]


def dec_bybit(f):
    # {"topic":"publicTrade.BTCUSDT","data":[{"T":ms,"s":…,"S":"Buy","v":"…","p":"…","i":id}]}
    if isinstance(f, dict) and str(f.get("topic", "")).startswith("publicTrade."):
        for t in f["data"]:
            yield t["s"], t["i"], t["p"], t["v"], t["S"].lower(), t["T"]


def dec_okx(f):
    # {"arg":{"channel":"trades","instId":…},"data":[{"instId","tradeId","px","sz","side","ts"}]}
    if isinstance(f, dict) and f.get("arg", {}).get("channel") in ("trades", "trades-all") and "data" in f:
        for t in f["data"]:
            yield t["instId"], t["tradeId"], t["px"], t["sz"], t["side"], int(t["ts"])


def dec_bitget(f):
    # {"action":"snapshot"|"update","arg":{"channel":"trade","instId":…},
    #  "data":[{"ts":"ms","price":"…","size":"…","side":"buy","tradeId":"…"}]}
    if isinstance(f, dict) and f.get("arg", {}).get("channel") == "trade" and "data" in f:
        for t in f["data"]:
            yield f["arg"]["instId"], t["tradeId"], t["price"], t["size"], t["side"], int(t["ts"])


def dec_gate(f):
    # {"channel":"futures.trades","event":"update","result":[{"size":±contracts,"id":…,
    #  "create_time_ms":…,"price":"…","contract":…}]}: size < 0 is a sell.
    if isinstance(f, dict) and f.get("channel") == "futures.trades" and f.get("event") == "update":
        for t in f["result"]:
            size = str(t["size"])
            side = "sell" if size.startswith("-") else "buy"
            yield t["contract"], str(t["id"]), str(t["price"]), size.lstrip("-"), side, int(t["create_time_ms"])


def dec_hyperliquid(f):
    # {"channel":"trades","data":[{"coin","side":"B"|"A","px","sz","time","tid"}]}: A = sell.
    if isinstance(f, dict) and f.get("channel") == "trades":
        for t in f["data"]:
            yield t["coin"], str(t["tid"]), t["px"], t["sz"], "buy" if t["side"] == "B" else "sell", t["time"]


def dec_kraken(f):
    # v2: {"channel":"trade","type":"snapshot"|"update","data":[{"symbol","side","price","qty",
    #  "ord_type","trade_id","timestamp"}]} (numbers, not strings).
    if isinstance(f, dict) and f.get("channel") == "trade" and "data" in f:
        for t in f["data"]:
            yield t["symbol"], str(t["trade_id"]), num(t["price"]), num(t["qty"]), t["side"], _ms_iso(t["timestamp"])


def dec_krakenfutures(f):
    # {"feed":"trade"|"trade_snapshot","product_id":…,"uid":…,"side":"buy","qty":…,"price":…,"time":ms}
    if isinstance(f, dict) and f.get("feed") == "trade" and "event" not in f:
        yield f["product_id"], f["uid"], num(f["price"]), num(f["qty"]), f["side"], f["time"]
    if isinstance(f, dict) and f.get("feed") == "trade_snapshot":
        for t in f.get("trades", []):
            yield t["product_id"], t["uid"], num(t["price"]), num(t["qty"]), t["side"], t["time"]


def dec_coinbase(f):
    # Exchange: {"type":"match"|"last_match","trade_id","side": the MAKER's side,"size","price",
    # "product_id","time"}; the taker took the other side.
    if isinstance(f, dict) and f.get("type") in ("match", "last_match"):
        taker = "sell" if f["side"] == "buy" else "buy"
        yield f["product_id"], str(f["trade_id"]), f["price"], f["size"], taker, _ms_iso(f["time"])


def dec_coinbase_adv(f):
    # Advanced Trade: {"channel":"market_trades","events":[{"type":"snapshot"|"update","trades":[
    #  {"trade_id","product_id","price","size","side","time"}]}]}. ccxt reports `side` as it is
    # (lower-cased); the project's reference finds it is the MAKER's side on real frames
    # (shared/reference/exchanges.md §5, recorded 2026-08-09), so ccxt's side is not the
    # aggressor here: compared with the field as sent.
    if isinstance(f, dict) and f.get("channel") == "market_trades":
        for ev in f.get("events", []):
            for t in ev.get("trades", []):
                yield t["product_id"], str(t["trade_id"]), t["price"], t["size"], t["side"].lower(), _ms_iso(t["time"])


def dec_deribit(f):
    # {"method":"subscription","params":{"channel":"trades.BTC-PERPETUAL.100ms","data":[
    #  {"trade_id","instrument_name","price","amount","direction","timestamp"}]}}
    if isinstance(f, dict) and f.get("method") == "subscription":
        ch = f["params"]["channel"]
        if ch.startswith("trades."):
            for t in f["params"]["data"]:
                yield t["instrument_name"], str(t["trade_id"]), num(t["price"]), num(t["amount"]), t["direction"], t["timestamp"]


def dec_bitfinex(f, chans):
    # {"event":"subscribed","channel":"trades","chanId":N,"symbol":"tBTCUSD"}, then
    # [N,[[ID,MTS,AMOUNT,PRICE],…]] (snapshot) and [N,"te",[ID,MTS,AMOUNT,PRICE]]; AMOUNT < 0 sells.
    if isinstance(f, dict) and f.get("event") == "subscribed" and f.get("channel") == "trades":
        chans[f["chanId"]] = f["symbol"]
    elif isinstance(f, list) and len(f) >= 2 and f[0] in chans:
        rows = []
        if isinstance(f[1], list):
            rows = f[1]
        elif f[1] in ("te", "tu") and len(f) >= 3:
            rows = [f[2]] if f[1] == "te" else []
        for r in rows:
            amt = num(r[2])
            side = "sell" if amt.startswith("-") else "buy"
            yield chans[f[0]], str(r[0]), num(r[3]), amt.lstrip("-"), side, r[1]


def dec_htx(f):
    # {"ch":"market.btcusdt.trade.detail","tick":{"data":[{"id","tradeId","amount","price",
    #  "direction","ts"}]}}; ccxt's trade id is `tradeId`.
    if isinstance(f, dict) and str(f.get("ch", "")).endswith(".trade.detail") and "tick" in f:
        mid = f["ch"].split(".")[1]
        for t in f["tick"]["data"]:
            yield (mid, str(t.get("tradeId", t["id"])), num(t["price"]), num(t["amount"]), t["direction"], t["ts"],
                   str(t["id"]))


def num(x):
    """A JSON number or string as the string the venue wrote (JSON numbers via repr)."""
    return x if isinstance(x, str) else repr(x)


DECODERS = {
    "binance": dec_binance, "binance-usdm": dec_binance, "binance-coinm": dec_binance,
    "bybit-spot": dec_bybit, "bybit-linear": dec_bybit, "bybit-inverse": dec_bybit,
    "okx-spot": dec_okx, "okx-swap": dec_okx, "bitget": dec_bitget, "bitget-spot": dec_bitget,
    "gate-futures": dec_gate, "hyperliquid": dec_hyperliquid, "kraken": dec_kraken,
    "kraken-futures": dec_krakenfutures, "coinbase": dec_coinbase, "coinbase-advanced": dec_coinbase_adv,
    "deribit": dec_deribit, "huobi": dec_htx, "huobi-swap": dec_htx,
}


def read_tapes(record_dir):
    """venue → {(market id, trade id): (price, amount, side, ms)} from the `--record` tapes."""
    sent = {}
    bitfinex_chans = {}
    for name in ("binance.jsonl", "venues.jsonl"):
        path = os.path.join(record_dir, name)
        if not os.path.exists(path):
            continue
        with open(path) as fh:
            for line in fh:
                try:
                    rec = json.loads(line)
                    frame = json.loads(rec["frame"])
                except (ValueError, KeyError):
                    continue
                venue = rec.get("venue")
                if venue == "bitfinex":
                    rows = dec_bitfinex(frame, bitfinex_chans.setdefault(rec.get("conn"), {}))
                elif venue in DECODERS:
                    rows = DECODERS[venue](frame)
                else:
                    continue
                try:
                    # (market id, key, price, amount, side, ms[, the id ccxt reports if not the key])
                    for row in rows:
                        mid, key, px, qty, side, ms = row[:6]
                        tid = row[6] if len(row) > 6 else str(key)
                        sent.setdefault(venue, {})[(mid, str(key))] = (px, qty, side, int(ms), tid)
                except (KeyError, TypeError, IndexError, ValueError) as e:
                    sent.setdefault(venue, {})[("?", "?")] = (repr(e), rec["frame"][:200])
    return sent


def same_number(ccxt_value, sent):
    try:
        return ccxt_value is not None and float(ccxt_value) == float(sent)
    except (TypeError, ValueError):
        return False


# --------------------------------------------------------------------------------------------
# One venue


class Result:
    """One venue's outcome: problems per check (`markets`, `stream`, `trades`)."""

    CHECKS = ("markets", "stream", "trades")

    def __init__(self, venue):
        self.venue = venue
        self.problems = {c: [] for c in self.CHECKS}
        self.notes = []
        self.stream = []  # ccxt's parsed trades
        self.rest_trades = []
        self.rest_symbols = None
        self.id_of = {}  # unified symbol → market id ccxt used
        self.probe = Probe()
        self.skipped = set()  # checks that could not be judged (e.g. REST trades when nothing streamed)
        self.ex = None
        self.urls = []

    def fail(self, check, what):
        if what not in self.problems[check]:
            self.problems[check].append(what)

    def failed(self):
        return any(self.problems.values())


async def run_venue(v, sim):
    r = Result(v)
    probe = r.probe
    ws_base = sim.ws_base(v.name)
    if ws_base is None:
        r.fail("stream", f"the simulator printed no URL for venue {v.name}")
        return r
    cls = getattr(ccxtpro, v.ccxt_id)
    ex = cls({
        "enableRateLimit": False,
        "options": dict(v.options),
        "streaming": {"keepAlive": KEEPALIVE_MS},
        "timeout": 10000,
    })
    ex.urls["api"] = rewrite_urls(ex.urls["api"], getattr(ex, "hostname", None), ws_base, sim.urls["REST"])
    instrument(ex, probe, VERBOSE)
    r.ex = ex
    try:
        # 1. Markets from the simulator's REST server (fetch_markets alone: currencies are not
        #    part of the check).
        try:
            markets = await asyncio.wait_for(ex.fetch_markets(), 20)
            ex.set_markets(markets)
            r.rest_symbols = {m["symbol"] for m in markets}
            missing = [s for s in v.symbols if s not in r.rest_symbols]
            if missing:
                r.fail("markets", f"fetch_markets: {missing} not among the {len(markets)} markets returned")
        except Exception as e:
            r.fail("markets", f"fetch_markets: {type(e).__name__}: {short(e)} (on {last(probe.rest)})")
            if VERBOSE:
                traceback.print_exc()
        if any(s not in (ex.markets or {}) for s in v.symbols):
            ex.set_markets(fixture_markets(v))
            r.notes.append("stream checked on given markets")
        for s in v.symbols:
            r.id_of[s] = WIRE_NAME.get(v.name, lambda m: m["id"])(ex.markets[s])
        # 2. Stream: watch_trades on each market, for STREAM_SECONDS.
        await stream(ex, v, r, probe)
        # 3. REST trades (after the stream, so the history overlaps it).
        if v.rest_trades:
            for s in v.symbols:
                try:
                    got = await asyncio.wait_for(ex.fetch_trades(s, limit=100), 15)
                    r.rest_trades += got
                except Exception as e:
                    r.fail("trades", f"fetch_trades({s}): {type(e).__name__}: {short(e)} (on {last(probe.rest)})")
                    break
        else:
            r.notes.append("no public fetch_trades in ccxt")
            r.skipped.add("trades")
    except Exception as e:
        r.fail("stream", f"harness: {type(e).__name__}: {short(e)}")
        if VERBOSE:
            traceback.print_exc()
    finally:
        probe.closing = True
        r.urls = sorted(probe.connects)
        try:
            await asyncio.wait_for(ex.close(), 5)
        except Exception:
            pass
    return r


def last(requests):
    return requests[-1] if requests else "no request"


def short(e, n=300):
    s = str(e).replace("\n", " ")
    return s if len(s) <= n else s[:n] + "…"


async def stream(ex, v, r, probe):
    deadline = time.monotonic() + STREAM_SECONDS
    seen = {}

    async def watch(symbol):
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                params = v.watch_params.get(symbol, {})
                trades = await asyncio.wait_for(ex.watch_trades(symbol, None, None, params), max(left, 0.1))
            except asyncio.TimeoutError:
                return
            except Exception as e:
                r.fail("stream", f"watch_trades({symbol}) raised {type(e).__name__}: {short(e)}")
                if VERBOSE:
                    traceback.print_exc()
                return
            for t in trades:
                seen[(t["symbol"], t["id"])] = t

    async def pongs():
        # ccxt's own keepalive: `lastPong` advances when a pong (frame or application reply)
        # arrives; count the distinct values per connection.
        while time.monotonic() < deadline:
            for url, c in list((ex.clients or {}).items()):
                if c.lastPong is not None:
                    probe.pongs.setdefault(url, set()).add(c.lastPong)
            await asyncio.sleep(0.05)

    await asyncio.gather(pongs(), *(watch(s) for s in v.symbols))
    r.stream = list(seen.values())


def judge(r, sent):
    """Compares what ccxt parsed with what the simulator sent, and the REST answers."""
    v, probe = r.venue, r.probe
    if r.ex is None:
        return
    for e in probe.errors:
        r.fail("stream", e)
    for url, n in probe.connects.items():
        if n > 1:
            r.fail("stream", f"{n} connections to {url} (reconnected)")
    if probe.closes:
        r.fail("stream", "connection closed while streaming: " + "; ".join(probe.closes[:3]))
    tape = sent.get(v.name, {})
    if ("?", "?") in tape:
        r.fail("stream", f"a frame on the tape does not have the venue's documented layout: {tape[('?', '?')]}")
    if not probe.connects:
        r.fail("stream", "ccxt never connected")
        r.skipped.add("trades")
        return
    # A reply's `req_id` is the request's, as sent: a number stays a number (Bybit v5 "How to
    # subscribe": the response echoes `req_id`; Kraken v2 likewise). Replies without one are
    # not judged.
    sent_ids = probe.req_ids_sent
    wrong = [x for x in probe.req_ids_received if not any(x == y and type(x) is type(y) for y in sent_ids)]
    if wrong:
        r.fail("stream", f"replies carry req_id {sorted({repr(x) for x in wrong})[:3]}, not one ccxt sent "
                         f"(sent {sent_ids[:3]}…)")
    # Keepalive: two ccxt ping rounds answered (and two server pings where the venue pings).
    pong_rounds = min((len(p) for p in probe.pongs.values()), default=0) - 1  # minus ccxt's start value
    if pong_rounds < MIN_PINGS:
        r.fail("stream", f"ccxt keepalive: {max(pong_rounds, 0)} pongs answered in {STREAM_SECONDS:.0f} s "
                         f"(want ≥ {MIN_PINGS})")
    if v.server_pings and probe.server_pings < MIN_PINGS:
        r.fail("stream", f"{probe.server_pings} server pings in {STREAM_SECONDS:.0f} s (want ≥ {MIN_PINGS})")
    # Trades: every parsed trade equals one the simulator sent.
    by_symbol = {}
    bad = []
    for t in r.stream:
        by_symbol[t["symbol"]] = by_symbol.get(t["symbol"], 0) + 1
        mid = r.id_of.get(t["symbol"])
        key = TRADE_KEY.get(v.name, lambda t: str(t["id"]))(t)
        want = tape.get((mid, key))
        if want is None:
            bad.append(f"{t['symbol']} id {t['id']}: not on the tape as {mid!r}")
            continue
        px, qty, side, ms, tid = want
        diffs = []
        if str(t["id"]) != tid and not (v.name in FLOAT_IDS and same_number(t["id"], tid)):
            diffs.append(f"id {t['id']} != {tid}")
        if not same_number(t["price"], px):
            diffs.append(f"price {t['price']} != {px}")
        if not same_number(t["amount"], qty):
            diffs.append(f"amount {t['amount']} != {qty}")
        if t["side"] != side:
            diffs.append(f"side {t['side']} != {side}")
        if t["timestamp"] != ms:
            diffs.append(f"timestamp {t['timestamp']} != {ms}")
        if diffs:
            bad.append(f"{t['symbol']} id {t['id']}: " + ", ".join(diffs))
    if bad:
        r.fail("stream", f"{len(bad)} of {len(r.stream)} trades differ from what was sent: " + "; ".join(bad[:3]))
    for s in v.symbols:
        if by_symbol.get(s, 0) < MIN_TRADES:
            r.fail("stream", f"watch_trades({s}): {by_symbol.get(s, 0)} trades parsed (want ≥ {MIN_TRADES}; "
                             f"{sum(1 for k in tape if k[0] == r.id_of.get(s))} sent)")
    # REST: fetch_trades overlaps the stream with equal fields; symbols agree. Nothing
    # streamed: there is nothing to compare with (the stream check has failed already).
    if r.rest_trades and not r.stream:
        r.skipped.add("trades")
    elif r.rest_trades:
        stream_id, rest_id = REST_IDS.get(v.name, (lambda t: str(t["id"]),) * 2)
        streamed = {(t["symbol"], stream_id(t)): t for t in r.stream}
        overlap = 0
        for t in r.rest_trades:
            if t["symbol"] in v.rest_skip:
                continue
            s = streamed.get((t["symbol"], rest_id(t)))
            if s is None:
                continue
            overlap += 1
            for k in ("price", "amount", "side", "timestamp"):
                if s[k] != t[k]:
                    r.fail("trades", f"fetch_trades {t['symbol']} id {t['id']}: {k} {t[k]} != stream's {s[k]}")
                    break
        if overlap == 0:
            ids = sorted(str(t["id"]) for t in r.rest_trades)[:3]
            r.fail("trades", f"fetch_trades: none of {len(r.rest_trades)} REST trades (ids {ids}…) is among "
                             f"the {len(r.stream)} streamed")
        else:
            r.notes.append(f"{overlap} REST trades = stream")
    elif v.rest_trades and not r.problems["trades"]:
        if r.stream:
            r.fail("trades", "fetch_trades returned no trades")
        else:
            r.skipped.add("trades")
    if r.rest_symbols is not None and not r.problems["markets"]:
        extra = {t["symbol"] for t in r.stream} - r.rest_symbols
        if extra:
            r.fail("markets", f"streamed symbols {sorted(extra)} not in fetch_markets")
    r.notes.append(f"{len(r.stream)} trades" + (" equal to the tape" if not bad else ""))
    r.notes.append(f"pongs {max(pong_rounds, 0)}, server pings {probe.server_pings}")


# How the harness finds a ccxt trade on the tape (default: its id) and venues whose ccxt ids
# are floats. HTX spot sends a 28-digit `id` beside `tradeId`; ccxt reports `id`, which its
# JSON parser (orjson) reads as a float beyond 64 bits, so several trades share one ccxt id:
# the tape is keyed by `tradeId` (in ccxt's `info`) and the ids compare as numbers.
TRADE_KEY = {"huobi": lambda t: str(t["info"].get("tradeId"))}
FLOAT_IDS = {"huobi"}
# How the stream's and REST's trades are matched: (stream trade → key, REST trade → key),
# default ccxt's id for both. HTX spot: ccxt's REST id is `trade-id` (`/market/history/trade`),
# its stream id the 28-digit `id`; the stream's `tradeId` is the same number as `trade-id`.
REST_IDS = {"huobi": (lambda t: str(t["info"].get("tradeId")), lambda t: str(t["info"].get("trade-id")))}
# The market name the venue's frames use, from ccxt's market: Hyperliquid's ccxt market id is
# the asset index (ccxt 4.5.90 hyperliquid.parse_market: 'id': baseId, the index in `meta`'s
# universe); the wire names the coin, ccxt's `baseName`.
WIRE_NAME = {
    "hyperliquid": lambda m: m.get("baseName") or m["id"],
    # Kraken's WebSocket v2 names pairs `BTC/USD` (not the REST key `XXBTZUSD` ccxt keeps as the
    # market id): the same spelling as ccxt's unified symbol.
    "kraken": lambda m: m["symbol"],
}


# --------------------------------------------------------------------------------------------


async def main_async(venues, sim):
    loop = asyncio.get_running_loop()
    loop_errors = []

    def on_loop_error(loop, context):
        msg = context.get("message", "")
        exc = context.get("exception")
        text = f"{msg} {type(exc).__name__ + ': ' + short(exc) if exc else ''}".strip()
        # ccxt's receive loop runs in loop callbacks: attribute the error to its venue.
        cb = getattr(context.get("handle"), "_callback", None)
        objs = [getattr(cb, "__self__", None)]
        objs += [c.cell_contents for c in (getattr(cb, "__closure__", None) or ()) if c.cell_contents is not None]
        owner = next((CLIENT_OWNER[id(o)] for o in objs if id(o) in CLIENT_OWNER), None)
        if owner is not None:
            owner.error(f"asyncio: {text}")
        else:
            loop_errors.append(text)

    loop.set_exception_handler(on_loop_error)
    results = await asyncio.gather(*(run_venue(v, sim) for v in venues))
    return results, loop_errors


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sim", default=os.environ.get("SQUEEZEFLOW_BIN"),
                    help="the squeezeflow binary (default: $SQUEEZEFLOW_BIN)")
    ap.add_argument("--only", default="", help="comma-separated venue names")
    ap.add_argument("--keep", help="keep the tapes and the simulator's log in this directory")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    global VERBOSE
    VERBOSE = args.verbose
    if not args.sim:
        ap.error("--sim (or SQUEEZEFLOW_BIN) is required")
    venues = [v for v in VENUES if not args.only or v.name in args.only.split(",")]
    logging.basicConfig(level=logging.WARNING)
    # ccxt logs through the `ccxt` logger: anything at WARNING or above fails the run.
    ccxt_logged = []

    class Capture(logging.Handler):
        def emit(self, record):
            ccxt_logged.append(f"{record.name}: {record.getMessage()[:300]}")

    logging.getLogger("ccxt").addHandler(Capture(level=logging.WARNING))
    record = args.keep or tempfile.mkdtemp(prefix="ccxt-conformance-")
    os.makedirs(record, exist_ok=True)
    started = time.monotonic()
    print(f"ccxt {ccxt.__version__} against {args.sim}; BitMEX skipped: closed on 2026-09-23")
    sim = Sim(args.sim, venues, record, OVERALL_TIMEOUT + 20)
    results, loop_errors, harness_errors = [], [], []
    try:
        want = ["REST"] + [{"binance": "spot", "binance-usdm": "usdⓈ-m"}.get(v.name, v.name) for v in venues]
        sim.wait_ready(want)
        log(f"simulator: {sim.urls}")
        results, loop_errors = asyncio.run(asyncio.wait_for(main_async(venues, sim), OVERALL_TIMEOUT))
    except asyncio.TimeoutError:
        harness_errors.append(f"the overall timeout of {OVERALL_TIMEOUT:.0f} s ran out")
    except Exception as e:
        harness_errors.append(f"{type(e).__name__}: {e}")
    finally:
        sim_log = sim.stop()
    if VERBOSE:
        log(sim_log)
    sent = read_tapes(record)
    passed = failed = 0
    for r in results:
        judge(r, sent)
        v = r.venue
        checks = " ".join(f"{c}={'FAIL' if r.problems[c] else 'skip' if c in r.skipped else 'ok'}"
                          for c in Result.CHECKS)
        if r.failed():
            failed += 1
        else:
            passed += 1
        print(f"{'FAIL' if r.failed() else 'PASS'} {v.name} ({v.ccxt_id} {','.join(v.symbols)}): {checks}")
        for c, p in r.problems.items():
            if p:
                print(f"    [{c}] " + "; ".join(p))
        print("    notes: " + ", ".join(r.notes))
        if VERBOSE:
            log(f"  urls {r.urls} sent {r.probe.sent[:5]}")
    for e in loop_errors:
        harness_errors.append(f"asyncio (no venue): {e}")
    for e in ccxt_logged:
        harness_errors.append(f"ccxt logged {e}")
    for e in harness_errors:
        print(f"FAIL harness: {e}")
    failed += len(venues) - len(results) + (1 if harness_errors else 0)
    print(f"elapsed {time.monotonic() - started:.1f} s; tapes in {record}")
    print(f"ccxt: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
