//! The venues' public REST market lists and the trade endpoints `rest_trades` does not serve,
//! for the markets the running simulators generate (their [`TradeHistory`]s), as ccxt 4.5.90's
//! `fetch_markets` / `fetch_trades` call them:
//!
//! | venue | markets | trades |
//! |---|---|---|
//! | Binance spot / USDⓈ-M | `/api/v3/exchangeInfo`, `/fapi/v1/exchangeInfo` | (`rest_trades`) |
//! | Bitget | `/api/v2/mix/market/contracts`, `/api/v2/spot/public/symbols`, `/api/v2/margin/currencies` | `/api/v2/{mix,spot}/market/fills-history` |
//! | Gate futures | `/api/v4/futures/btc/contracts` (no BTC-settled market: `[]`) | `/api/v4/futures/usdt/trades` |
//! | Hyperliquid | `POST /info` `meta`, `metaAndAssetCtxs`, `spotMeta`, `spotMetaAndAssetCtxs` | — |
//! | Kraken | `/0/public/AssetPairs` | (`rest_trades`) |
//! | Kraken Futures | `/derivatives/api/v3/instruments` | `/api/history/v3/market/<symbol>/executions` |
//! | Coinbase Exchange | `/products`, `/products/<id>` | (`rest_trades`) |
//! | Coinbase Advanced | `/api/v3/brokerage/market/products` | `/api/v3/brokerage/market/products/<id>/ticker` |
//! | Deribit | `/api/v2/public/get_instruments` | (`rest_trades`, both `get_last_trades_by_instrument*`) |
//! | Bitfinex | `/v2/conf/pub:info:pair,…` | (`rest_trades`) |
//! | HTX | `/v1/common/symbols`, `/linear-swap-api/v1/swap_contract_info` | `/market/history/trade`, `/linear-swap-ex/market/history/trade` |
//!
//! Sources (read 2026-12-07): the request each ccxt 4.5.90 exchange class makes and the
//! fields its `fetch_markets` / `parse_trade` read (`ccxt/<id>.py`, with the response
//! examples in its comments), and the venues' API references those methods cite (Binance
//! "Exchange Information" spot + USDⓈ-M, Bitget v2 "Get All Symbols – Contracts" / "Get
//! Symbol Info" / "Get Market Trades", Gate APIv4 "List all futures contracts" / "Futures
//! trading history", Hyperliquid info endpoint "Perpetuals" / "Spot", Kraken "Get Tradable
//! Asset Pairs", Kraken Futures "Get instruments" / "Get public execution events", Coinbase
//! Exchange "Get all known trading pairs", Advanced Trade "List Public Products" / "Get Public
//! Market Trades", Deribit "public/get_instruments" / "public/get_last_trades_by_instrument",
//! Bitfinex "Configs", HTX "Get all Supported Trading Symbol" / "Get the Most Recent Trades" /
//! USDT-margined "Query Swap Info" / "The Last Trade of a Contract").
//!
//! Trades carry the values of the WebSocket frames of the same trades (ids, prices, sizes,
//! sides, exchange times): each venue's formatting is the one its simulator protocol uses.

use super::history::TradeHistory;
use super::market::SymbolSpec;
use super::rest_trades::{find, num, prints, Query, Reply};
use super::venues::proto::{Print, SimMarket};
use super::venues::wirefmt::{self, decimals, guid, json_str, rfc3339};
use super::venues::{htx, kraken};
use feeds::Venue;
use serde_json::{json, Value};
use std::io::Read;
use std::net::TcpStream;

/// Largest request body read (Hyperliquid's info requests are a few dozen bytes).
const MAX_BODY: usize = 64 << 10;

fn now_ms() -> i64 {
    (feeds::clock::wall_us() / 1000) as i64
}

/// `Content-Length` of a request (0 without one; `None` if it is not a number).
pub(crate) fn content_length(headers: &[httparse::Header<'_>]) -> Option<usize> {
    match headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
    {
        None => Some(0),
        Some(h) => std::str::from_utf8(h.value).ok()?.trim().parse().ok(),
    }
}

/// The request body after the `head_len` bytes of head in `buf`, reading the rest of
/// `len` bytes from `conn`; `None` for a bad or too large length.
pub(crate) fn read_body(
    conn: &mut TcpStream,
    buf: &[u8],
    head_len: usize,
    len: Option<usize>,
) -> Option<Vec<u8>> {
    let len = len.filter(|&l| l <= MAX_BODY)?;
    let mut body: Vec<u8> = buf.get(head_len..).unwrap_or(&[]).to_vec();
    let mut chunk = [0u8; 2048];
    while body.len() < len {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    body.truncate(len);
    Some(body)
}

/// The 404 of a path no endpoint serves, with the body the venue family answers it with
/// (Coinbase Exchange: `{"message":"NotFound"}`, its documented error shape; ccxt's
/// coinbaseexchange reads `message`).
pub(crate) fn not_found(path: &str) -> Reply {
    if path == "/products" || path.starts_with("/products/") {
        Reply::status(404, r#"{"message":"NotFound"}"#.to_owned())
    } else {
        Reply::status(404, r#"{"error":"not found"}"#.to_owned())
    }
}

// ---- the simulated markets ----

/// The multi-venue markets of `venue` in the histories, in registration order.
fn markets(hs: &[TradeHistory], venue: Venue) -> Vec<SimMarket> {
    hs.iter()
        .flat_map(|h| {
            h.symbols(venue)
                .into_iter()
                .filter_map(move |s| h.with(venue, &s, |m, _| m.cloned()).flatten())
        })
        .collect()
}

/// The Binance simulator's symbols of `venue` (spot or USDⓈ-M).
fn binance_symbols(hs: &[TradeHistory], venue: Venue) -> Vec<String> {
    hs.iter().flat_map(|h| h.symbols(venue)).collect()
}

/// The quote asset a market's symbol names (`BTC-USDT-SWAP` → `USDT`, `tBTCUSD` → `USD`,
/// `btcusdt` → `USDT`); `USD` for a Deribit perpetual.
fn quote_of(m: &SimMarket) -> String {
    let mut s = m.symbol.as_str();
    if m.venue == Venue::Bitfinex {
        s = s.strip_prefix('t').unwrap_or(s);
    }
    for p in ["PF_", "PI_", "FI_", "FF_"] {
        s = s.strip_prefix(p).unwrap_or(s);
    }
    if m.venue == Venue::Deribit {
        return "USD".to_owned();
    }
    let up = s.to_ascii_uppercase();
    if let Some(q) = up.split(['-', '_', '/', ':']).nth(1) {
        return q.to_owned();
    }
    let rest = up
        .strip_prefix(m.base.as_str())
        .or_else(|| up.strip_prefix("XBT"))
        .unwrap_or("");
    if rest.is_empty() {
        "USD".to_owned()
    } else {
        rest.to_owned()
    }
}

/// `step` as text with its own decimals (`0.1`, `0.001`, `1`).
fn step_text(step: f64) -> String {
    wirefmt::fixed(step, decimals(step))
}

/// The last traded price of a market (its first price level when nothing traded yet).
fn last_price(hs: &[TradeHistory], m: &SimMarket) -> f64 {
    find(hs, m.venue, &m.symbol)
        .and_then(|h| h.with(m.venue, &m.symbol, |_, t| prints(t).last().map(|p| p.price)))
        .flatten()
        .unwrap_or(0.0)
}

/// The trades of a market, oldest first.
fn trades_of(hs: &[TradeHistory], venue: Venue, symbol: &str) -> Option<(SimMarket, Vec<Print>)> {
    let h = find(hs, venue, symbol)?;
    h.with(venue, symbol, |m, t| {
        m.cloned()
            .map(|m| (m, prints(t).copied().collect::<Vec<_>>()))
    })
    .flatten()
}

/// The answer for a GET path served here, `None` if it is not one.
pub(crate) fn answer(path: &str, q: &Query, hs: &[TradeHistory]) -> Option<Reply> {
    Some(match path {
        "/api/v3/exchangeInfo" => binance_info(hs, false, q),
        "/fapi/v1/exchangeInfo" => binance_info(hs, true, q),
        "/api/v2/mix/market/contracts" => bitget_contracts(hs, q),
        "/api/v2/spot/public/symbols" => bitget_spot_symbols(hs, q),
        "/api/v2/margin/currencies" => bitget_margin_currencies(hs),
        "/api/v2/mix/market/fills-history" => bitget_fills(hs, q, true),
        "/api/v2/spot/market/fills-history" => bitget_fills(hs, q, false),
        // Gate: the simulated futures all settle in USDT; ccxt also lists BTC-settled ones.
        "/api/v4/futures/btc/contracts" => Reply::ok("[]".to_owned()),
        "/api/v4/futures/usdt/trades" => gate_trades(hs, q),
        "/0/public/AssetPairs" => kraken_pairs(hs, q),
        "/derivatives/api/v3/instruments" => kraken_futures_instruments(hs),
        "/products" => coinbase_products(hs),
        "/api/v3/brokerage/market/products" => advanced_products(hs, q),
        "/api/v2/public/get_instruments" => deribit_instruments(hs, q),
        "/v1/common/symbols" => htx_symbols(hs),
        "/market/history/trade" => htx_spot_trades(hs, q),
        "/linear-swap-api/v1/swap_contract_info" => htx_swap_info(hs, q),
        "/linear-swap-ex/market/history/trade" => htx_swap_trades(hs, q),
        _ => {
            if let Some(sym) = path
                .strip_prefix("/api/history/v3/market/")
                .and_then(|r| r.strip_suffix("/executions"))
            {
                kraken_futures_executions(hs, sym, q)
            } else if let Some(id) = path
                .strip_prefix("/api/v3/brokerage/market/products/")
                .and_then(|r| r.strip_suffix("/ticker"))
            {
                advanced_ticker(hs, id, q)
            } else if let Some(id) = path.strip_prefix("/products/").filter(|r| !r.contains('/')) {
                coinbase_product(hs, id)
            } else if let Some(keys) = path.strip_prefix("/v2/conf/") {
                bitfinex_conf(hs, &super::rest_trades::pct_decode(keys))
            } else {
                return None;
            }
        }
    })
}

/// The answer for a POST path served here (Hyperliquid's `/info`), `None` if it is not one.
pub(crate) fn answer_post(path: &str, body: &[u8], hs: &[TradeHistory]) -> Option<Reply> {
    match path {
        "/info" => Some(hyperliquid_info(hs, body)),
        _ => None,
    }
}

// ---- Binance ----

/// `BTCUSDT` → (`BTC`, `USDT`).
fn binance_split(symbol: &str) -> (String, String) {
    for q in [
        "USDT", "USDC", "FDUSD", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR",
    ] {
        if let Some(b) = symbol.strip_suffix(q).filter(|b| !b.is_empty()) {
            return (b.to_owned(), q.to_owned());
        }
    }
    (symbol.to_owned(), String::new())
}

fn binance_info(hs: &[TradeHistory], futures: bool, q: &Query) -> Reply {
    let venue = if futures {
        Venue::BinanceUsdm
    } else {
        Venue::BinanceSpot
    };
    let mut symbols = binance_symbols(hs, venue);
    if let Some(want) = q.get("symbol").filter(|s| !s.is_empty()) {
        let want = want.to_ascii_uppercase();
        if !symbols.contains(&want) {
            // Binance answers an unknown `symbol` with -1121 (HTTP 400).
            return Reply::status(400, r#"{"code":-1121,"msg":"Invalid symbol."}"#.to_owned());
        }
        symbols = vec![want];
    }
    let list: Vec<Value> = symbols
        .iter()
        .map(|s| {
            let spec = SymbolSpec::new(s);
            let (tick, step) = spec.exchange_filters(futures);
            let (base, quote) = binance_split(s);
            let price_dec = tick.split('.').nth(1).map_or(0, str::len);
            let qty_dec = step.split('.').nth(1).map_or(0, str::len);
            if futures {
                json!({
                    "symbol": s, "pair": s, "contractType": "PERPETUAL",
                    "deliveryDate": 4_133_404_800_000i64, "onboardDate": 1_569_398_400_000i64,
                    "status": "TRADING", "maintMarginPercent": "2.5000",
                    "requiredMarginPercent": "5.0000", "baseAsset": base, "quoteAsset": quote,
                    "marginAsset": quote, "pricePrecision": price_dec,
                    "quantityPrecision": qty_dec, "baseAssetPrecision": 8, "quotePrecision": 8,
                    "underlyingType": "COIN", "underlyingSubType": ["PoW"], "settlePlan": 0,
                    "triggerProtect": "0.0500", "liquidationFee": "0.012500",
                    "marketTakeBound": "0.05", "maxMoveOrderLimit": 10000,
                    "filters": [
                        {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "4529764",
                         "tickSize": tick},
                        {"filterType": "LOT_SIZE", "minQty": step, "maxQty": "1000", "stepSize": step},
                        {"filterType": "MARKET_LOT_SIZE", "minQty": step, "maxQty": "120",
                         "stepSize": step},
                        {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                        {"filterType": "MIN_NOTIONAL", "notional": "100"},
                    ],
                    "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT",
                                   "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"],
                    "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
                    "permissionSets": ["GRID", "COPY"],
                })
            } else {
                json!({
                    "symbol": s, "status": "TRADING", "baseAsset": base,
                    "baseAssetPrecision": 8, "quoteAsset": quote, "quotePrecision": 8,
                    "quoteAssetPrecision": 8, "baseCommissionPrecision": 8,
                    "quoteCommissionPrecision": 8,
                    "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT",
                                   "TAKE_PROFIT_LIMIT"],
                    "icebergAllowed": true, "ocoAllowed": true, "otoAllowed": true,
                    "quoteOrderQtyMarketAllowed": true, "allowTrailingStop": true,
                    "cancelReplaceAllowed": true, "amendAllowed": true,
                    "isSpotTradingAllowed": true, "isMarginTradingAllowed": true,
                    "filters": [
                        {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "1000000.00000000",
                         "tickSize": tick},
                        {"filterType": "LOT_SIZE", "minQty": step, "maxQty": "9000.00000000",
                         "stepSize": step},
                        {"filterType": "NOTIONAL", "minNotional": "5.00000000",
                         "applyMinToMarket": true, "maxNotional": "9000000.00000000",
                         "applyMaxToMarket": false, "avgPriceMins": 5},
                    ],
                    "permissions": [], "permissionSets": [["SPOT", "MARGIN"]],
                    "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
                    "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
                })
            }
        })
        .collect();
    let mut body = json!({
        "timezone": "UTC",
        "serverTime": now_ms(),
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
             "limit": if futures { 2400 } else { 6000 }},
        ],
        "exchangeFilters": [],
        "symbols": list,
    });
    if futures {
        body["futuresType"] = json!("U_MARGINED");
        body["assets"] =
            json!([{"asset": "USDT", "marginAvailable": true, "autoAssetExchange": "-10000"}]);
    }
    Reply::ok(body.to_string())
}

// ---- Bitget ----

fn bitget_ok(data: Value) -> Reply {
    Reply::ok(
        json!({"code": "00000", "msg": "success", "requestTime": now_ms(), "data": data})
            .to_string(),
    )
}

fn bitget_error(code: &str, msg: &str) -> Reply {
    Reply::status(
        400,
        json!({"code": code, "msg": msg, "requestTime": now_ms(), "data": null}).to_string(),
    )
}

/// Bitget v2 product types (ccxt asks for each of them).
const BITGET_PRODUCTS: [&str; 6] = [
    "USDT-FUTURES",
    "COIN-FUTURES",
    "USDC-FUTURES",
    "SUSDT-FUTURES",
    "SCOIN-FUTURES",
    "SUSDC-FUTURES",
];

fn bitget_contracts(hs: &[TradeHistory], q: &Query) -> Reply {
    let pt = q.get("productType").map(|s| s.to_ascii_uppercase());
    let Some(pt) = pt.filter(|p| BITGET_PRODUCTS.contains(&p.as_str())) else {
        return bitget_error("40019", "Parameter productType cannot be empty or invalid");
    };
    // The simulated Bitget futures are USDT-margined perpetuals.
    let list: Vec<Value> =
        if pt == "USDT-FUTURES" {
            markets(hs, Venue::Bitget)
            .iter()
            .filter(|m| q.get("symbol").is_none_or(|s| s.eq_ignore_ascii_case(&m.symbol)))
            .map(|m| {
                let quote = quote_of(m);
                let pd = decimals(m.tick);
                json!({
                    "symbol": m.symbol, "baseCoin": m.base, "quoteCoin": quote,
                    "buyLimitPriceRatio": "0.05", "sellLimitPriceRatio": "0.05",
                    "feeRateUpRatio": "0.005", "makerFeeRate": "0.0002", "takerFeeRate": "0.0006",
                    "openCostUpRatio": "0.01", "supportMarginCoins": [quote],
                    "minTradeNum": step_text(m.lot),
                    "priceEndStep": format!("{:.0}", m.tick * 10f64.powi(pd as i32)),
                    "volumePlace": decimals(m.lot).to_string(), "pricePlace": pd.to_string(),
                    "sizeMultiplier": step_text(m.lot), "symbolType": "perpetual",
                    "minTradeUSDT": "5", "maxSymbolOrderNum": "200", "maxProductOrderNum": "400",
                    "maxPositionNum": "150", "symbolStatus": "normal", "offTime": "-1",
                    "limitOpenTime": "-1", "deliveryTime": "", "deliveryStartTime": "",
                    "deliveryPeriod": "", "launchTime": "", "fundInterval": "8",
                    "minLever": "1", "maxLever": "125", "posLimit": "0.1", "maintainTime": "",
                    "maxMarketOrderQty": "220", "maxOrderQty": "1200", "openTime": "",
                    "isRwa": "NO",
                })
            })
            .collect()
        } else {
            Vec::new()
        };
    bitget_ok(Value::Array(list))
}

fn bitget_spot_symbols(hs: &[TradeHistory], q: &Query) -> Reply {
    let list: Vec<Value> = markets(hs, Venue::BitgetSpot)
        .iter()
        .filter(|m| {
            q.get("symbol")
                .is_none_or(|s| s.eq_ignore_ascii_case(&m.symbol))
        })
        .map(|m| {
            json!({
                "symbol": m.symbol, "baseCoin": m.base, "quoteCoin": quote_of(m),
                "minTradeAmount": "0", "maxTradeAmount": "900000000000000000000",
                "takerFeeRate": "0.001", "makerFeeRate": "0.001",
                "pricePrecision": decimals(m.tick).to_string(),
                "quantityPrecision": decimals(m.lot).to_string(), "quotePrecision": "8",
                "status": "online", "minTradeUSDT": "1", "buyLimitPriceRatio": "0.05",
                "sellLimitPriceRatio": "0.05", "areaSymbol": "no", "orderQuantity": "200",
                "openTime": "1532454360000", "offTime": "",
            })
        })
        .collect();
    bitget_ok(Value::Array(list))
}

fn bitget_margin_currencies(hs: &[TradeHistory]) -> Reply {
    let list: Vec<Value> = markets(hs, Venue::BitgetSpot)
        .iter()
        .map(|m| {
            json!({
                "symbol": m.symbol, "baseCoin": m.base, "quoteCoin": quote_of(m),
                "maxCrossedLeverage": "3", "maxIsolatedLeverage": "10",
                "warningRiskRatio": "0.8", "liquidationRiskRatio": "1",
                "minTradeAmount": "0", "maxTradeAmount": "10000000",
                "takerFeeRate": "0.001", "makerFeeRate": "0.001",
                "priceScale": decimals(m.tick).to_string(),
                "quantityScale": decimals(m.lot).to_string(), "minTradeUSDT": "5",
                "isBorrowable": true, "userMinBorrow": "0.00001", "status": "1",
                "isIsolatedBaseBorrowable": true, "isIsolatedQuoteBorrowable": true,
                "isCrossBorrowable": true,
            })
        })
        .collect();
    bitget_ok(Value::Array(list))
}

/// `fills-history`: newest first; `limit` default 500, at most 1000; `idLessThan`,
/// `startTime`, `endTime` (ms) narrow it. Sizes in base units, as the `trade` channel's.
fn bitget_fills(hs: &[TradeHistory], q: &Query, mix: bool) -> Reply {
    let Some(symbol) = q.get("symbol").filter(|s| !s.is_empty()) else {
        return bitget_error("40019", "Parameter symbol cannot be empty");
    };
    if mix
        && !q
            .get("productType")
            .is_some_and(|p| BITGET_PRODUCTS.contains(&p.to_ascii_uppercase().as_str()))
    {
        return bitget_error("40019", "Parameter productType cannot be empty or invalid");
    }
    let (Ok(limit), Ok(before), Ok(start), Ok(end)) = (
        num::<usize>(q, "limit"),
        num::<u64>(q, "idLessThan"),
        num::<i64>(q, "startTime"),
        num::<i64>(q, "endTime"),
    ) else {
        return bitget_error("400172", "Parameter verification failed");
    };
    let limit = limit.unwrap_or(500).clamp(1, 1000);
    let venue = if mix {
        Venue::Bitget
    } else {
        Venue::BitgetSpot
    };
    let symbol = symbol.to_ascii_uppercase();
    let Some((m, trades)) = trades_of(hs, venue, &symbol) else {
        return bitget_error("40034", "Parameter does not exist");
    };
    let rows: Vec<Value> = trades
        .iter()
        .rev()
        .filter(|p| {
            let ms = p.ts_us.div_euclid(1000);
            before.is_none_or(|b| p.id < b)
                && start.is_none_or(|s| ms >= s)
                && end.is_none_or(|e| ms <= e)
        })
        .take(limit)
        .map(|p| {
            json!({
                "symbol": m.symbol, "tradeId": p.id.to_string(),
                "side": if p.buy { "Buy" } else { "Sell" },
                "price": m.price_str(p.price), "size": m.qty_str(p.qty),
                "ts": p.ts_us.div_euclid(1000).to_string(),
            })
        })
        .collect();
    bitget_ok(Value::Array(rows))
}

// ---- Gate ----

fn gate_error(status: u16, label: &str, msg: &str) -> Reply {
    Reply::status(status, json!({"label": label, "message": msg}).to_string())
}

/// `GET /futures/usdt/trades?contract=…`: newest first; `limit` default 100, at most 1000;
/// `last_id` pages back, `from`/`to` (seconds) bound the time. `size` in contracts, negative
/// for a taker sell, as in `futures.trades`.
fn gate_trades(hs: &[TradeHistory], q: &Query) -> Reply {
    let Some(contract) = q.get("contract").filter(|s| !s.is_empty()) else {
        return gate_error(
            400,
            "MISSING_REQUIRED_PARAM",
            "Missing required parameter: contract",
        );
    };
    let (Ok(limit), Ok(last_id), Ok(from), Ok(to)) = (
        num::<usize>(q, "limit"),
        num::<u64>(q, "last_id"),
        num::<f64>(q, "from"),
        num::<f64>(q, "to"),
    ) else {
        return gate_error(400, "INVALID_PARAM_VALUE", "Invalid parameter value");
    };
    let limit = limit.unwrap_or(100).clamp(1, 1000);
    let Some((m, trades)) = trades_of(hs, Venue::GateFutures, contract) else {
        return gate_error(
            400,
            "CONTRACT_NOT_FOUND",
            &format!("contract {contract} not found"),
        );
    };
    let rows: Vec<String> = trades
        .iter()
        .rev()
        .filter(|p| {
            let s = p.ts_us as f64 / 1e6;
            last_id.is_none_or(|l| p.id < l)
                && from.is_none_or(|f| s >= f)
                && to.is_none_or(|t| s <= t)
        })
        .take(limit)
        .map(|p| {
            let contracts = m.contracts(p.qty, p.price) as i64;
            let size = if p.buy { contracts } else { -contracts };
            let ms = p.ts_us.div_euclid(1000);
            let secs = format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000));
            format!(
                r#"{{"id":{},"create_time":{secs},"create_time_ms":{secs},"contract":"{}","size":{size},"price":"{}","is_internal":false}}"#,
                p.id,
                m.symbol,
                m.price_str(p.price)
            )
        })
        .collect();
    Reply::ok(format!("[{}]", rows.join(",")))
}

// ---- Hyperliquid ----

fn hyperliquid_meta(hs: &[TradeHistory]) -> (Value, Value) {
    let ms = markets(hs, Venue::Hyperliquid);
    let universe: Vec<Value> = ms
        .iter()
        .map(|m| {
            json!({"szDecimals": decimals(m.lot), "name": m.symbol, "maxLeverage": 40,
                   "marginTableId": 56})
        })
        .collect();
    let ctxs: Vec<Value> = ms
        .iter()
        .map(|m| {
            let px = m.price_str(last_price(hs, m));
            json!({"funding": "0.0000125", "openInterest": "1000.0", "prevDayPx": px,
                   "dayNtlVlm": "0.0", "premium": "0.0", "oraclePx": px, "markPx": px,
                   "midPx": px, "impactPxs": [px, px], "dayBaseVlm": "0.0"})
        })
        .collect();
    (
        json!({"universe": universe, "marginTables": [[56, {"description": "", "marginTiers":
            [{"lowerBound": "0.0", "maxLeverage": 40}]}]]}),
        Value::Array(ctxs),
    )
}

/// `POST /info` with `{"type": …}`. An unknown or missing type is HTTP 422 with the plain
/// text the venue answers a body it cannot deserialize with.
fn hyperliquid_info(hs: &[TradeHistory], body: &[u8]) -> Reply {
    let bad = || {
        Reply::status(
            422,
            "Failed to deserialize the JSON body into the target type".to_owned(),
        )
    };
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        return bad();
    };
    let (meta, ctxs) = hyperliquid_meta(hs);
    // The simulated Hyperliquid markets are perpetuals: no spot pairs.
    let spot_meta = json!({"universe": [], "tokens": []});
    let out = match req.get("type").and_then(Value::as_str) {
        Some("meta") => meta,
        Some("metaAndAssetCtxs") => json!([meta, ctxs]),
        Some("spotMeta") => spot_meta,
        Some("spotMetaAndAssetCtxs") => json!([spot_meta, []]),
        Some("perpDexs") => json!([null]),
        _ => return bad(),
    };
    Reply::ok(out.to_string())
}

// ---- Kraken ----

/// Kraken's asset names of a pair's base and quote (`XXBT`, `ZUSD`; newer assets as they are).
fn kraken_assets(base: &str, quote: &str) -> (String, String) {
    let base = match base {
        "BTC" => "XBT",
        "DOGE" => "XDG",
        b => b,
    };
    let legacy = [
        "XBT", "ETH", "LTC", "XRP", "XLM", "ETC", "ZEC", "XMR", "MLN", "REP", "XDG",
    ];
    let fiat = ["USD", "EUR", "GBP", "JPY", "CAD"];
    let b = if legacy.contains(&base) {
        format!("X{base}")
    } else {
        base.to_owned()
    };
    let q = if fiat.contains(&quote) {
        format!("Z{quote}")
    } else {
        quote.to_owned()
    };
    (b, q)
}

fn kraken_pairs(hs: &[TradeHistory], q: &Query) -> Reply {
    let want: Option<Vec<String>> = q
        .get("pair")
        .filter(|s| !s.is_empty())
        .map(|s| s.split(',').map(str::to_owned).collect());
    let mut result = serde_json::Map::new();
    for m in markets(hs, Venue::KrakenSpot) {
        let (alt, canon) = super::rest_trades::kraken_names(&m.symbol);
        if want
            .as_ref()
            .is_some_and(|w| !w.iter().any(|p| p == &alt || p == &canon || p == &m.symbol))
        {
            continue;
        }
        let quote = quote_of(&m);
        let (b, qa) = kraken_assets(&m.base, &quote);
        let ws_base = if m.base == "BTC" {
            "XBT"
        } else {
            m.base.as_str()
        };
        result.insert(
            canon,
            json!({
                "altname": alt, "wsname": format!("{ws_base}/{quote}"),
                "aclass_base": "currency", "base": b, "aclass_quote": "currency", "quote": qa,
                "lot": "unit", "cost_decimals": 5, "pair_decimals": decimals(m.tick),
                "lot_decimals": decimals(m.lot).max(8), "lot_multiplier": 1,
                "leverage_buy": [2, 3, 4, 5], "leverage_sell": [2, 3, 4, 5],
                "fees": [[0, 0.4], [10000, 0.35]], "fees_maker": [[0, 0.25], [10000, 0.2]],
                "fee_volume_currency": "ZUSD", "margin_call": 80, "margin_stop": 40,
                "ordermin": step_text(m.lot), "costmin": "0.5",
                "tick_size": step_text(m.tick), "status": "online",
                "long_position_limit": 270, "short_position_limit": 180,
            }),
        );
    }
    if want.is_some() && result.is_empty() {
        return Reply::ok(r#"{"error":["EQuery:Unknown asset pair"]}"#.to_owned());
    }
    Reply::ok(json!({"error": [], "result": result}).to_string())
}

// ---- Kraken Futures ----

fn kraken_futures_instruments(hs: &[TradeHistory]) -> Reply {
    let list: Vec<Value> = markets(hs, Venue::KrakenFutures)
        .iter()
        .map(|m| {
            let inverse = m.symbol.starts_with("PI_") || m.spec.is_some_and(|s| s.inverse);
            let size = m.spec.map_or(1.0, |s| s.size.to_f64());
            let mut v = json!({
                "symbol": m.symbol,
                "type": if inverse { "futures_inverse" } else { "flexible_futures" },
                "tickSize": m.tick, "contractSize": size, "tradeable": true,
                "impactMidSize": 1.0, "maxPositionSize": 1_000_000.0,
                "openingDate": "2022-01-01T00:00:00.000Z",
                "marginLevels": [{"numNonContractUnits": 0, "initialMargin": 0.02,
                                  "maintenanceMargin": 0.01}],
                "fundingRateCoefficient": 8, "maxRelativeFundingRate": 0.001,
                "isin": "", "contractValueTradePrecision": if inverse { 0 } else { decimals(m.lot) as i64 },
                "postOnly": false, "feeScheduleUid": guid(7, 7),
                "mtf": false, "base": m.base, "quote": "USD", "pair": format!("{}:USD", m.base),
                "category": "Layer 1", "tags": [], "tradfi": false,
            });
            if inverse {
                // Inverse futures name their index (`rr_xbtusd`); multi-collateral ones do not.
                let tail = m.symbol.get(3..).unwrap_or("").to_ascii_lowercase();
                v["underlying"] = json!(format!("rr_{tail}"));
            }
            v
        })
        .collect();
    Reply::ok(
        json!({"result": "success", "instruments": list,
               "serverTime": rfc3339(feeds::clock::wall_us() as i64, 3)})
        .to_string(),
    )
}

/// Public execution events, newest first (`sort=asc`: oldest first); `count` default and
/// most 1000 here; `since`/`before` (ms) bound the time. Each execution's `uid` is the
/// `trade` feed's `uid`, `quantity` its `qty`, `takerOrder.direction` its `side`.
fn kraken_futures_executions(hs: &[TradeHistory], symbol: &str, q: &Query) -> Reply {
    let (Ok(count), Ok(since), Ok(before)) = (
        num::<usize>(q, "count"),
        num::<i64>(q, "since"),
        num::<i64>(q, "before"),
    ) else {
        return Reply::status(
            400,
            r#"{"result":"error","error":"invalidArgument"}"#.to_owned(),
        );
    };
    let asc = match q.get("sort").map(String::as_str) {
        None | Some("") | Some("desc") => false,
        Some("asc") => true,
        Some(_) => {
            return Reply::status(
                400,
                r#"{"result":"error","error":"invalidArgument"}"#.to_owned(),
            )
        }
    };
    let count = count.unwrap_or(1000).clamp(1, 1000);
    let Some((m, trades)) = trades_of(hs, Venue::KrakenFutures, symbol) else {
        return Reply::status(404, r#"{"result":"error","error":"notFound"}"#.to_owned());
    };
    let within = trades.iter().filter(|p| {
        let ms = p.ts_us.div_euclid(1000);
        since.is_none_or(|s| ms >= s) && before.is_none_or(|b| ms < b)
    });
    let page: Vec<&Print> = if asc {
        within.take(count).collect()
    } else {
        within.rev().take(count).collect()
    };
    let elements: Vec<Value> = page
        .iter()
        .map(|p| {
            let ms = p.ts_us.div_euclid(1000).to_string();
            let qty = kraken::futures_qty_text(&m, p);
            let price = wirefmt::price(&m, p.price);
            let order = |salt: u64, dir: &str, kind: &str| {
                json!({"uid": guid(p.id, salt), "tradeable": m.symbol, "direction": dir,
                       "quantity": qty, "timestamp": ms, "limitPrice": price,
                       "orderType": kind, "reduceOnly": false, "lastUpdateTimestamp": ms})
            };
            let (taker, maker) = if p.buy {
                ("Buy", "Sell")
            } else {
                ("Sell", "Buy")
            };
            json!({
                "uid": guid(p.id, 9 + p.market as u64),
                "timestamp": p.ts_us.div_euclid(1000),
                "event": {"Execution": {"execution": {
                    // The `trade` feed's uid of this trade.
                    "uid": guid(p.id, p.market as u64),
                    "makerOrder": order(3, maker, "Post"),
                    "takerOrder": order(4, taker, "IoC"),
                    "timestamp": ms, "quantity": qty, "price": price, "markPrice": price,
                    "limitFilled": false,
                    "usdValue": wirefmt::fixed(p.qty * p.price, 2),
                }}},
            })
        })
        .collect();
    let len = elements.len();
    Reply::ok(json!({"elements": elements, "len": len}).to_string())
}

// ---- Coinbase ----

fn coinbase_product_json(m: &SimMarket) -> Value {
    json!({
        "id": m.symbol, "base_currency": m.base, "quote_currency": quote_of(m),
        "quote_increment": step_text(m.tick), "base_increment": "0.00000001",
        "display_name": m.symbol.replace('-', "/"), "min_market_funds": "1",
        "margin_enabled": false, "post_only": false, "limit_only": false,
        "cancel_only": false, "status": "online", "status_message": "",
        "trading_disabled": false, "fx_stablecoin": false,
        "max_slippage_percentage": "0.02000000", "auction_mode": false,
        "high_bid_limit_percentage": "",
    })
}

fn coinbase_products(hs: &[TradeHistory]) -> Reply {
    let list: Vec<Value> = markets(hs, Venue::Coinbase)
        .iter()
        .map(coinbase_product_json)
        .collect();
    Reply::ok(Value::Array(list).to_string())
}

fn coinbase_product(hs: &[TradeHistory], id: &str) -> Reply {
    match markets(hs, Venue::Coinbase).iter().find(|m| m.symbol == id) {
        Some(m) => Reply::ok(coinbase_product_json(m).to_string()),
        None => not_found("/products"),
    }
}

fn advanced_product_json(hs: &[TradeHistory], m: &SimMarket) -> Value {
    let px = wirefmt::price(m, last_price(hs, m));
    let quote = quote_of(m);
    json!({
        "product_id": m.symbol, "price": px, "price_percentage_change_24h": "0",
        "volume_24h": "0", "volume_percentage_change_24h": "0",
        "base_increment": "0.00000001", "quote_increment": step_text(m.tick),
        "quote_min_size": "1", "quote_max_size": "150000000", "base_min_size": "0.00000001",
        "base_max_size": "3400", "base_name": m.base, "quote_name": quote,
        "watched": false, "is_disabled": false, "new": false, "status": "online",
        "cancel_only": false, "limit_only": false, "post_only": false,
        "trading_disabled": false, "auction_mode": false, "product_type": "SPOT",
        "quote_currency_id": quote, "base_currency_id": m.base,
        "fcm_trading_session_details": null, "mid_market_price": "",
        "alias": "", "alias_to": [], "base_display_symbol": m.base,
        "quote_display_symbol": quote, "view_only": false,
        "price_increment": step_text(m.tick), "display_name": m.symbol,
        "product_venue": "CBE", "approximate_quote_24h_volume": "0",
        "new_at": "2023-01-01T00:00:00Z",
    })
}

/// `product_type` `SPOT` (or none): the simulated products; `FUTURE`: none simulated.
fn advanced_products(hs: &[TradeHistory], q: &Query) -> Reply {
    let kind = q.get("product_type").map(|s| s.to_ascii_uppercase());
    let list: Vec<Value> = match kind.as_deref() {
        None | Some("") | Some("SPOT") | Some("UNKNOWN_PRODUCT_TYPE") => {
            markets(hs, Venue::CoinbaseAdvanced)
                .iter()
                .map(|m| advanced_product_json(hs, m))
                .collect()
        }
        Some("FUTURE") => Vec::new(),
        Some(_) => {
            return Reply::status(
                400,
                r#"{"error":"INVALID_ARGUMENT","code":3,"message":"invalid product_type","details":[]}"#
                    .to_owned(),
            )
        }
    };
    let n = list.len();
    Reply::ok(json!({"products": list, "num_products": n}).to_string())
}

/// Public market trades, newest first; `limit` (required by the venue, at most 1000 here);
/// `start`/`end` (seconds) bound the time. `side` is the `market_trades` channel's field.
fn advanced_ticker(hs: &[TradeHistory], id: &str, q: &Query) -> Reply {
    let bad = |msg: &str| {
        Reply::status(
            400,
            json!({"error": "INVALID_ARGUMENT", "code": 3, "message": msg, "details": []})
                .to_string(),
        )
    };
    let (Ok(limit), Ok(start), Ok(end)) = (
        num::<usize>(q, "limit"),
        num::<i64>(q, "start"),
        num::<i64>(q, "end"),
    ) else {
        return bad("invalid limit, start or end");
    };
    let limit = limit.unwrap_or(100).clamp(1, 1000);
    let Some((m, trades)) = trades_of(hs, Venue::CoinbaseAdvanced, id) else {
        return Reply::status(
            404,
            r#"{"error":"NOT_FOUND","code":5,"message":"ProductID is invalid","details":[]}"#
                .to_owned(),
        );
    };
    let rows: Vec<Value> = trades
        .iter()
        .rev()
        .filter(|p| {
            let s = p.ts_us.div_euclid(1_000_000);
            start.is_none_or(|x| s >= x) && end.is_none_or(|x| s <= x)
        })
        .take(limit)
        .map(|p| {
            json!({
                "trade_id": p.id.to_string(), "product_id": m.symbol,
                "price": wirefmt::price(&m, p.price), "size": wirefmt::qty(&m, p.qty),
                "time": rfc3339(p.ts_us, 6),
                // As the `market_trades` channel writes it for this trade.
                "side": if p.buy { "SELL" } else { "BUY" },
                "exchange": "", "bid": "", "ask": "",
            })
        })
        .collect();
    let last = trades.last().map_or(0.0, |p| p.price);
    Reply::ok(
        json!({"trades": rows, "best_bid": wirefmt::price(&m, last - m.tick),
               "best_ask": wirefmt::price(&m, last)})
        .to_string(),
    )
}

// ---- Deribit ----

fn deribit_stamps(mut v: Value) -> String {
    let us = feeds::clock::wall_us();
    v["usIn"] = json!(us.saturating_sub(1));
    v["usOut"] = json!(us);
    v["usDiff"] = json!(1);
    v["testnet"] = json!(false);
    v.to_string()
}

fn deribit_invalid(param: &str, reason: &str) -> Reply {
    Reply::status(
        400,
        deribit_stamps(
            json!({"jsonrpc": "2.0", "error": {"message": "Invalid params",
            "data": {"reason": reason, "param": param}, "code": -32602}}),
        ),
    )
}

/// `public/get_instruments`: every simulated instrument, or those of `currency` (`any`:
/// all) and `kind` (`future`; other kinds have none here).
fn deribit_instruments(hs: &[TradeHistory], q: &Query) -> Reply {
    let currency = q.get("currency").map(|c| c.to_ascii_uppercase());
    let kind = q.get("kind").map(String::as_str);
    if kind.is_some_and(|k| {
        !matches!(
            k,
            "future" | "option" | "spot" | "future_combo" | "option_combo" | ""
        )
    }) {
        return deribit_invalid("kind", "wrong format");
    }
    let list: Vec<Value> = markets(hs, Venue::Deribit)
        .iter()
        .filter(|m| {
            currency
                .as_deref()
                .is_none_or(|c| c == "ANY" || c.is_empty() || c == m.base)
                && kind.is_none_or(|k| k.is_empty() || k == "future")
        })
        .enumerate()
        .map(|(i, m)| {
            let inverse = m.spec.is_none_or(|s| s.inverse);
            let size = m.spec.map_or(10.0, |s| s.size.to_f64());
            let quote = quote_of(m);
            json!({
                "tick_size": m.tick, "tick_size_steps": [], "taker_commission": 0.0005,
                "settlement_period": "perpetual",
                "settlement_currency": if inverse { m.base.clone() } else { quote.clone() },
                "rfq": false, "quote_currency": quote,
                "price_index": format!("{}_{}", m.base.to_ascii_lowercase(), quote.to_ascii_lowercase()),
                "min_trade_amount": size, "max_liquidation_commission": 0.0075,
                "max_leverage": 50, "maker_commission": 0.0, "kind": "future",
                "is_active": true, "instrument_name": m.symbol,
                "instrument_id": 210_838 + i as u64,
                "expiration_timestamp": 32_503_708_800_000i64,
                "creation_timestamp": 1_534_242_287_000i64, "counter_currency": quote,
                "contract_size": size, "block_trade_tick_size": 0.01,
                "block_trade_min_trade_amount": 200_000, "block_trade_commission": 0.00025,
                "base_currency": m.base, "instrument_type": if inverse { "reversed" } else { "linear" },
            })
        })
        .collect();
    Reply::ok(deribit_stamps(json!({"jsonrpc": "2.0", "result": list})))
}

// ---- Bitfinex ----

/// `/v2/conf/<key>,<key>…`: one array per key, in order.
fn bitfinex_conf(hs: &[TradeHistory], keys: &str) -> Reply {
    let pairs: Vec<String> = markets(hs, Venue::Bitfinex)
        .iter()
        .map(|m| m.symbol.trim_start_matches('t').to_owned())
        .collect();
    let mut out = Vec::new();
    for key in keys.split(',') {
        out.push(match key {
            // [PAIR, [_, _, _, MIN_ORDER_SIZE, MAX_ORDER_SIZE, _, _, _, INITIAL_MARGIN, MIN_MARGIN]]
            "pub:info:pair" => Value::Array(
                pairs
                    .iter()
                    .map(|p| {
                        json!([
                            p,
                            [null, null, null, "0.0001", "2000.0", null, null, null, 0.2, 0.1]
                        ])
                    })
                    .collect(),
            ),
            "pub:list:pair:exchange" | "pub:list:pair:margin" => json!(pairs),
            "pub:info:pair:futures" | "pub:list:pair:futures" | "pub:list:pair:securities" => {
                json!([])
            }
            _ => {
                return Reply::status(
                    500,
                    format!(r#"["error",10020,{}]"#, json_str("config: invalid")),
                )
            }
        });
    }
    Reply::ok(Value::Array(out).to_string())
}

// ---- HTX ----

fn htx_spot_error(code: &str, msg: &str) -> Reply {
    Reply::ok(
        json!({"status": "error", "err-code": code, "err-msg": msg, "data": null}).to_string(),
    )
}

fn htx_swap_error(code: u32, msg: &str) -> Reply {
    Reply::ok(
        json!({"status": "error", "err_code": code, "err_msg": msg, "ts": now_ms()}).to_string(),
    )
}

fn htx_symbols(hs: &[TradeHistory]) -> Reply {
    let list: Vec<Value> = markets(hs, Venue::Huobi)
        .iter()
        .map(|m| {
            let quote = quote_of(m).to_ascii_lowercase();
            json!({
                "base-currency": m.base.to_ascii_lowercase(), "quote-currency": quote,
                "price-precision": decimals(m.tick), "amount-precision": decimals(m.lot),
                "symbol-partition": "main", "symbol": m.symbol, "state": "online",
                "value-precision": 8, "min-order-amt": m.lot, "max-order-amt": 1000,
                "min-order-value": 5, "limit-order-min-order-amt": m.lot,
                "limit-order-max-order-amt": 1000, "sell-market-min-order-amt": m.lot,
                "sell-market-max-order-amt": 100, "buy-market-max-order-value": 1_000_000,
                "leverage-ratio": 5, "super-margin-leverage-ratio": 3,
                "funding-leverage-ratio": 3, "api-trading": "enabled", "tags": "",
            })
        })
        .collect();
    Reply::ok(json!({"status": "ok", "data": list}).to_string())
}

fn htx_swap_info(hs: &[TradeHistory], q: &Query) -> Reply {
    let list: Vec<Value> = markets(hs, Venue::HuobiSwap)
        .iter()
        .filter(|m| {
            q.get("contract_code")
                .is_none_or(|c| c.is_empty() || c.eq_ignore_ascii_case(&m.symbol))
        })
        .map(|m| {
            let quote = quote_of(m);
            json!({
                "symbol": m.base, "contract_code": m.symbol,
                "contract_size": htx::contract_size(m), "price_tick": m.tick,
                "delivery_date": "", "delivery_time": "", "create_date": "20201021",
                "contract_status": 1, "settlement_date": "1795536000000",
                "support_margin_mode": "all", "business_type": "swap",
                "pair": m.symbol, "contract_type": "swap", "trade_partition": quote,
            })
        })
        .collect();
    Reply::ok(json!({"status": "ok", "data": list, "ts": now_ms()}).to_string())
}

/// Trades newest first in groups of one exchange time (HTX groups a match's trades under
/// one tick `id`); `size` groups, default 1, at most 2000.
fn htx_groups(trades: &[Print], size: usize) -> Vec<Vec<&Print>> {
    let mut groups: Vec<Vec<&Print>> = Vec::new();
    for p in trades.iter().rev() {
        let ms = p.ts_us.div_euclid(1000);
        match groups.last_mut() {
            Some(g) if g.first().is_some_and(|f| f.ts_us.div_euclid(1000) == ms) => g.push(p),
            _ => {
                if groups.len() == size {
                    break;
                }
                groups.push(vec![p]);
            }
        }
    }
    groups
}

/// `GET /market/history/trade?symbol=…&size=…`. Each trade's `trade-id` is the stream's
/// `tradeId`; `id` is a 28-digit id like the stream's (the stream's tick part is per
/// connection, so the REST one uses the group's time instead).
fn htx_spot_trades(hs: &[TradeHistory], q: &Query) -> Reply {
    let Some(symbol) = q.get("symbol").filter(|s| !s.is_empty()) else {
        return htx_spot_error("invalid-parameter", "invalid symbol");
    };
    let Ok(size) = num::<usize>(q, "size") else {
        return htx_spot_error("invalid-parameter", "invalid size, valid range: [1, 2000]");
    };
    let size = size.unwrap_or(1).clamp(1, 2000);
    let Some((m, trades)) = trades_of(hs, Venue::Huobi, symbol) else {
        return htx_spot_error("invalid-parameter", "invalid symbol");
    };
    let data: Vec<String> = htx_groups(&trades, size)
        .into_iter()
        .map(|g| {
            let ts = g.first().map_or(0, |p| p.ts_us.div_euclid(1000));
            let rows: Vec<String> = g
                .iter()
                .map(|p| {
                    format!(
                        r#"{{"id":{ts}{:015},"ts":{},"trade-id":{},"amount":{},"price":{},"direction":"{}"}}"#,
                        p.id,
                        p.ts_us.div_euclid(1000),
                        p.id,
                        m.qty_str(p.qty),
                        m.price_str(p.price),
                        if p.buy { "buy" } else { "sell" }
                    )
                })
                .collect();
            format!(r#"{{"id":{ts},"ts":{ts},"data":[{}]}}"#, rows.join(","))
        })
        .collect();
    Reply::ok(format!(
        r#"{{"ch":"market.{}.trade.detail","status":"ok","ts":{},"data":[{}]}}"#,
        m.symbol,
        now_ms(),
        data.join(",")
    ))
}

/// `GET /linear-swap-ex/market/history/trade?contract_code=…&size=…`: `amount` in
/// contracts and `quantity` in base units, as the swap stream writes them.
fn htx_swap_trades(hs: &[TradeHistory], q: &Query) -> Reply {
    let Some(code) = q.get("contract_code").filter(|s| !s.is_empty()) else {
        return htx_swap_error(1014, "This contract doesnt exist.");
    };
    let Ok(size) = num::<usize>(q, "size") else {
        return htx_swap_error(1067, "The size is invalid.");
    };
    let size = size.unwrap_or(1).clamp(1, 2000);
    let code = code.to_ascii_uppercase();
    let Some((m, trades)) = trades_of(hs, Venue::HuobiSwap, &code) else {
        return htx_swap_error(1014, "This contract doesnt exist.");
    };
    let cs = htx::contract_size(&m);
    let quote = quote_of(&m);
    let data: Vec<String> = htx_groups(&trades, size)
        .into_iter()
        .map(|g| {
            let ts = g.first().map_or(0, |p| p.ts_us.div_euclid(1000));
            let rows: Vec<String> = g
                .iter()
                .map(|p| {
                    let contracts = (p.qty / cs).round().max(1.0);
                    let quantity = contracts * cs;
                    format!(
                        r#"{{"amount":"{contracts}","quantity":"{}","trade_turnover":"{:.4}","ts":{},"id":{},"price":"{}","direction":"{}","contract_code":"{}","business_type":"swap","trade_partition":"{quote}"}}"#,
                        super::venues::proto::fmt_step(quantity, cs),
                        quantity * p.price,
                        p.ts_us.div_euclid(1000),
                        p.id,
                        m.price_str(p.price),
                        if p.buy { "buy" } else { "sell" },
                        m.symbol
                    )
                })
                .collect();
            format!(r#"{{"id":{ts},"ts":{ts},"data":[{}]}}"#, rows.join(","))
        })
        .collect();
    Reply::ok(format!(
        r#"{{"ch":"market.{}.trade.detail","status":"ok","ts":{},"data":[{}]}}"#,
        m.symbol,
        now_ms(),
        data.join(",")
    ))
}

#[cfg(test)]
mod tests {
    use super::super::history::HistoryConfig;
    use super::super::venues::proto::Protocol;
    use super::super::venues::wirefmt::testkit::{events, trade, Fixture, T0};
    use super::super::venues::{bitget, coinbase, gate, gen};
    use super::*;
    use feeds::{EventKind, Instruments, Side};
    use std::collections::BTreeMap;
    use std::io::Write as _;

    /// A venue's simulated markets with five trades each, recorded in a history.
    struct Setup {
        venue: Venue,
        h: TradeHistory,
        markets: Vec<SimMarket>,
        prints: Vec<Print>,
    }

    fn setup(venue: Venue, symbols: &[&str]) -> Setup {
        let h = TradeHistory::new(HistoryConfig::default());
        let inst = Instruments::bundled();
        let markets: Vec<SimMarket> = symbols
            .iter()
            .map(|s| gen::market(venue, s, &inst))
            .collect();
        let base = markets
            .iter()
            .map(|m| h.register(venue, &m.symbol, Some(m.clone())))
            .min()
            .unwrap();
        let mut prints = Vec::new();
        for (i, m) in markets.iter().enumerate() {
            let start = if m.base == "BTC" { 65_000.0 } else { 3_200.0 };
            for k in 0..5u64 {
                let price = (start / m.tick).round() * m.tick + k as f64 * m.tick;
                let qty = m.lot * (k + 1) as f64;
                let ts = T0 + (k as i64 * 1_500 + i as i64 * 10) * 1_000;
                // Ids 1000.. on the first market, 1100.. on the second.
                prints.push(trade(
                    i,
                    1_000 + 100 * i as u64 + k,
                    k % 2 == 0,
                    price,
                    qty,
                    ts,
                ));
            }
        }
        h.record_prints(base, &prints);
        Setup {
            venue,
            h,
            markets,
            prints,
        }
    }

    impl Setup {
        fn hs(&self) -> Vec<TradeHistory> {
            vec![self.h.clone()]
        }

        fn get(&self, path: &str, query: &[(&str, &str)]) -> Value {
            let q: Query = query
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            // In the server's order: the trade-history endpoints first (`rest_trades`).
            let hs = self.hs();
            let r = super::super::rest_trades::answer(path, &q, &hs)
                .or_else(|| answer(path, &q, &hs))
                .unwrap_or_else(|| panic!("{path} not served"));
            assert_eq!(r.status, 200, "{path}: {}", r.body);
            serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{path}: {e}: {}", r.body))
        }

        /// The trades the venue's stream sends for these prints, decoded by `feeds`:
        /// trade id → (price, taker buys, ms).
        fn stream(
            &self,
            proto: &mut dyn Protocol,
            subscribe: &[String],
        ) -> BTreeMap<u64, (f64, bool, i64)> {
            let mut f = Fixture::new(self.markets.clone());
            let mut out = Vec::new();
            proto.on_open(&mut f.session(), &mut out);
            for m in subscribe {
                proto.on_message(m.as_bytes(), false, &mut f.session(), &mut out);
            }
            out.clear();
            proto.on_prints(&self.prints, &mut f.session(), &mut out);
            let mut dec = self.venue.decoder();
            events(dec.as_mut(), &out)
                .into_iter()
                .filter(|e| e.kind == EventKind::Trade)
                .map(|e| {
                    (
                        e.trade_id.expect("trade id"),
                        (
                            e.price.to_f64(),
                            e.side == Side::Buy,
                            e.ts_us.div_euclid(1000),
                        ),
                    )
                })
                .collect()
        }

        /// The recorded trades: id → (price, buy, ms, base qty) per symbol.
        fn expected(&self, symbol: &str) -> Vec<(u64, f64, bool, i64, f64)> {
            self.h
                .trades(self.venue, symbol)
                .into_iter()
                .map(|t| (t.id, t.price, t.buy, t.ts_us.div_euclid(1000), t.qty))
                .collect()
        }
    }

    fn f(v: &Value) -> f64 {
        match v {
            Value::String(s) => s.parse().unwrap_or(f64::NAN),
            other => other.as_f64().unwrap_or(f64::NAN),
        }
    }

    fn s(v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
    }

    /// Each REST row `(id, price, buy, ms)` equals the stream's trade of that id, and every
    /// recorded trade is among the rows once.
    fn assert_same(
        rows: &[(u64, f64, bool, i64)],
        stream: &BTreeMap<u64, (f64, bool, i64)>,
        n: usize,
    ) {
        assert_eq!(rows.len(), n, "{rows:?}");
        for (id, px, buy, ms) in rows {
            let (spx, sbuy, sms) = stream
                .get(id)
                .unwrap_or_else(|| panic!("id {id} not streamed"));
            assert!(close(*px, *spx), "id {id}: price {px} vs stream {spx}");
            assert_eq!((buy, ms), (sbuy, sms), "id {id}");
        }
    }

    #[test]
    fn bitget_lists_and_fills_match_the_stream() {
        let st = setup(Venue::Bitget, &["BTCUSDT", "ETHUSDT"]);
        let v = st.get(
            "/api/v2/mix/market/contracts",
            &[("productType", "USDT-FUTURES")],
        );
        let syms: Vec<String> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| s(&c["symbol"]))
            .collect();
        assert_eq!(syms, ["BTCUSDT", "ETHUSDT"]);
        assert_eq!(v["code"], "00000");
        let btc = &v["data"][0];
        assert_eq!(
            (
                s(&btc["symbolType"]),
                s(&btc["pricePlace"]),
                s(&btc["priceEndStep"])
            ),
            ("perpetual".into(), "1".into(), "1".into())
        );
        assert_eq!(btc["supportMarginCoins"], json!(["USDT"]));
        let coin = st.get(
            "/api/v2/mix/market/contracts",
            &[("productType", "COIN-FUTURES")],
        );
        assert_eq!(coin["data"], json!([]));
        let q: Query = [("productType".to_owned(), "NOPE".to_owned())].into();
        assert_eq!(
            answer("/api/v2/mix/market/contracts", &q, &st.hs())
                .unwrap()
                .status,
            400
        );

        let stream = st.stream(
            &mut bitget::new(Venue::Bitget),
            &feeds::bitget::subscribe_messages(Venue::Bitget, &["BTCUSDT", "ETHUSDT"]),
        );
        for (i, sym) in ["BTCUSDT", "ETHUSDT"].into_iter().enumerate() {
            let v = st.get(
                "/api/v2/mix/market/fills-history",
                &[
                    ("symbol", sym),
                    ("productType", "USDT-FUTURES"),
                    ("limit", "100"),
                ],
            );
            let rows: Vec<(u64, f64, bool, i64)> = v["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| {
                    (
                        s(&t["tradeId"]).parse().unwrap(),
                        f(&t["price"]),
                        s(&t["side"]) == "Buy",
                        f(&t["ts"]) as i64,
                    )
                })
                .collect();
            assert!(rows.windows(2).all(|w| w[0].3 >= w[1].3), "newest first");
            let stream_sym: BTreeMap<u64, _> = stream
                .iter()
                .filter(|(id, _)| rows.iter().any(|r| r.0 == **id))
                .map(|(k, v)| (*k, *v))
                .collect();
            assert_same(&rows, &stream_sym, 5);
            for (t, e) in v["data"]
                .as_array()
                .unwrap()
                .iter()
                .rev()
                .zip(st.expected(sym))
            {
                assert!(close(f(&t["size"]), e.4), "size {t} vs {e:?}");
            }
            // Paging back by id.
            let older = st.get(
                "/api/v2/mix/market/fills-history",
                &[
                    ("symbol", sym),
                    ("productType", "USDT-FUTURES"),
                    ("idLessThan", &(1003 + 100 * i).to_string()),
                ],
            );
            assert_eq!(older["data"].as_array().unwrap().len(), 3);
        }
        let unknown: Query = [
            ("symbol".to_owned(), "XYZUSDT".to_owned()),
            ("productType".to_owned(), "USDT-FUTURES".to_owned()),
        ]
        .into();
        assert_eq!(
            answer("/api/v2/mix/market/fills-history", &unknown, &st.hs())
                .unwrap()
                .status,
            400
        );

        let spot = setup(Venue::BitgetSpot, &["BTCUSDT"]);
        let v = spot.get("/api/v2/spot/public/symbols", &[]);
        assert_eq!(
            (
                s(&v["data"][0]["symbol"]),
                s(&v["data"][0]["quoteCoin"]),
                s(&v["data"][0]["status"])
            ),
            ("BTCUSDT".into(), "USDT".into(), "online".into())
        );
        let v = spot.get(
            "/api/v2/spot/market/fills-history",
            &[("symbol", "BTCUSDT"), ("limit", "2")],
        );
        let ids: Vec<String> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| s(&t["tradeId"]))
            .collect();
        assert_eq!(ids, ["1004", "1003"]);
    }

    #[test]
    fn gate_trades_match_the_stream_in_contracts() {
        let st = setup(Venue::GateFutures, &["BTC_USDT", "ETH_USDT"]);
        assert_eq!(st.get("/api/v4/futures/btc/contracts", &[]), json!([]));
        let stream = st.stream(
            &mut gate::new(Venue::GateFutures),
            &feeds::gate::subscribe_messages(&["BTC_USDT", "ETH_USDT"], (T0 / 1_000_000) as u64),
        );
        for (i, sym) in ["BTC_USDT", "ETH_USDT"].into_iter().enumerate() {
            let v = st.get(
                "/api/v4/futures/usdt/trades",
                &[("contract", sym), ("limit", "100")],
            );
            let list = v.as_array().unwrap();
            let rows: Vec<(u64, f64, bool, i64)> = list
                .iter()
                .map(|t| {
                    let ms = (f(&t["create_time_ms"]) * 1000.0).round() as i64;
                    (
                        t["id"].as_u64().unwrap(),
                        f(&t["price"]),
                        t["size"].as_i64().unwrap() > 0,
                        ms,
                    )
                })
                .collect();
            let mine: BTreeMap<u64, _> = stream
                .iter()
                .filter(|(id, _)| rows.iter().any(|r| r.0 == **id))
                .map(|(k, v)| (*k, *v))
                .collect();
            assert_same(&rows, &mine, 5);
            let m = &st.markets[i];
            for (t, e) in list.iter().rev().zip(st.expected(sym)) {
                let contracts = t["size"].as_i64().unwrap().unsigned_abs();
                assert_eq!(contracts, m.contracts(e.4, e.1), "{t}");
            }
            let last_id = (1002 + 100 * i).to_string();
            let paged = st.get(
                "/api/v4/futures/usdt/trades",
                &[("contract", sym), ("last_id", &last_id)],
            );
            assert_eq!(paged.as_array().unwrap().len(), 2);
        }
        let q: Query = [("contract".to_owned(), "NOPE_USDT".to_owned())].into();
        let r = answer("/api/v4/futures/usdt/trades", &q, &st.hs()).unwrap();
        assert_eq!(r.status, 400);
        assert!(r.body.contains("CONTRACT_NOT_FOUND"));
    }

    #[test]
    fn coinbase_advanced_products_and_ticker_match_the_stream() {
        let st = setup(Venue::CoinbaseAdvanced, &["BTC-USD", "ETH-USD"]);
        let v = st.get("/api/v3/brokerage/market/products", &[]);
        assert_eq!(v["num_products"], 2);
        assert_eq!(s(&v["products"][0]["product_id"]), "BTC-USD");
        assert_eq!(s(&v["products"][0]["base_currency_id"]), "BTC");
        assert_eq!(s(&v["products"][0]["quote_currency_id"]), "USD");
        let fut = st.get(
            "/api/v3/brokerage/market/products",
            &[("product_type", "FUTURE")],
        );
        assert_eq!(fut["products"], json!([]));
        // The stream's `side` is the maker's (exchanges.md §5): the same field on REST.
        let mut proto = coinbase::new(Venue::CoinbaseAdvanced);
        let subs =
            feeds::coinbase::subscribe_messages(Venue::CoinbaseAdvanced, &["BTC-USD", "ETH-USD"]);
        let mut fx = Fixture::new(st.markets.clone());
        let mut out = Vec::new();
        proto.on_open(&mut fx.session(), &mut out);
        for m in &subs {
            proto.on_message(m.as_bytes(), false, &mut fx.session(), &mut out);
        }
        out.clear();
        proto.on_prints(&st.prints, &mut fx.session(), &mut out);
        let mut sent: BTreeMap<String, Value> = BTreeMap::new();
        for o in &out {
            if let super::super::venues::proto::Out::Text(t) = o {
                let v: Value = serde_json::from_str(t).unwrap();
                for ev in v["events"].as_array().into_iter().flatten() {
                    for t in ev["trades"].as_array().into_iter().flatten() {
                        sent.insert(s(&t["trade_id"]) + &s(&t["product_id"]), t.clone());
                    }
                }
            }
        }
        assert_eq!(sent.len(), 10);
        for sym in ["BTC-USD", "ETH-USD"] {
            let v = st.get(
                &format!("/api/v3/brokerage/market/products/{sym}/ticker"),
                &[("limit", "100")],
            );
            let trades = v["trades"].as_array().unwrap();
            assert_eq!(trades.len(), 5);
            for t in trades {
                let w = &sent[&(s(&t["trade_id"]) + sym)];
                for k in ["trade_id", "product_id", "price", "size", "time", "side"] {
                    assert_eq!(t[k], w[k], "{k}: {t} vs {w}");
                }
            }
        }
        let q = Query::new();
        let r = answer(
            "/api/v3/brokerage/market/products/NOPE-USD/ticker",
            &q,
            &st.hs(),
        )
        .unwrap();
        assert_eq!(r.status, 404);
    }

    #[test]
    fn kraken_futures_instruments_and_executions_carry_the_feed_uid() {
        let st = setup(Venue::KrakenFutures, &["PF_XBTUSD", "PF_ETHUSD"]);
        let v = st.get("/derivatives/api/v3/instruments", &[]);
        assert_eq!(v["result"], "success");
        let ins = v["instruments"].as_array().unwrap();
        assert_eq!(ins.len(), 2);
        assert_eq!(s(&ins[0]["symbol"]), "PF_XBTUSD");
        assert_eq!(s(&ins[0]["type"]), "flexible_futures");
        assert_eq!(ins[0]["tradeable"], true);
        let mut proto = super::super::venues::kraken::new(Venue::KrakenFutures);
        let mut fx = Fixture::new(st.markets.clone());
        let mut out = Vec::new();
        proto.on_open(&mut fx.session(), &mut out);
        for m in
            feeds::kraken::subscribe_messages(Venue::KrakenFutures, &["PF_XBTUSD", "PF_ETHUSD"])
        {
            proto.on_message(m.as_bytes(), false, &mut fx.session(), &mut out);
        }
        out.clear();
        proto.on_prints(&st.prints, &mut fx.session(), &mut out);
        let mut sent: BTreeMap<String, Value> = BTreeMap::new();
        for o in &out {
            if let super::super::venues::proto::Out::Text(t) = o {
                let v: Value = serde_json::from_str(t).unwrap();
                if v["feed"] == "trade" {
                    sent.insert(s(&v["uid"]), v);
                }
            }
        }
        assert_eq!(sent.len(), 10);
        for sym in ["PF_XBTUSD", "PF_ETHUSD"] {
            let v = st.get(
                &format!("/api/history/v3/market/{sym}/executions"),
                &[("count", "100")],
            );
            let els = v["elements"].as_array().unwrap();
            assert_eq!((els.len(), v["len"].as_u64()), (5, Some(5)));
            for e in els {
                let x = &e["event"]["Execution"]["execution"];
                let w = &sent[&s(&x["uid"])];
                assert_eq!(w["product_id"], sym);
                assert!(close(f(&x["price"]), f(&w["price"])));
                assert!(close(f(&x["quantity"]), f(&w["qty"])));
                assert_eq!(f(&x["timestamp"]) as i64, w["time"].as_i64().unwrap());
                assert_eq!(
                    s(&x["takerOrder"]["direction"]).to_lowercase(),
                    s(&w["side"])
                );
            }
            let asc = st.get(
                &format!("/api/history/v3/market/{sym}/executions"),
                &[("sort", "asc"), ("count", "2")],
            );
            let ts: Vec<i64> = asc["elements"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["timestamp"].as_i64().unwrap())
                .collect();
            assert!(ts.len() == 2 && ts[0] < ts[1]);
        }
    }

    #[test]
    fn deribit_instruments_and_last_trades_match_history() {
        let st = setup(Venue::Deribit, &["BTC-PERPETUAL", "ETH-PERPETUAL"]);
        let v = st.get("/api/v2/public/get_instruments", &[]);
        let names: Vec<String> = v["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| s(&i["instrument_name"]))
            .collect();
        assert_eq!(names, ["BTC-PERPETUAL", "ETH-PERPETUAL"]);
        assert_eq!(s(&v["result"][0]["settlement_period"]), "perpetual");
        assert_eq!(s(&v["result"][0]["settlement_currency"]), "BTC");
        let eth = st.get(
            "/api/v2/public/get_instruments",
            &[("currency", "ETH"), ("kind", "future")],
        );
        assert_eq!(eth["result"].as_array().unwrap().len(), 1);
        let opt = st.get(
            "/api/v2/public/get_instruments",
            &[("currency", "BTC"), ("kind", "option")],
        );
        assert_eq!(opt["result"], json!([]));
        let v = st.get(
            "/api/v2/public/get_last_trades_by_instrument",
            &[("instrument_name", "BTC-PERPETUAL"), ("count", "3")],
        );
        let trades = v["result"]["trades"].as_array().unwrap();
        assert_eq!(v["result"]["has_more"], true);
        let ids: Vec<String> = trades.iter().map(|t| s(&t["trade_id"])).collect();
        assert_eq!(ids, ["1004", "1003", "1002"]);
        let want = st.expected("BTC-PERPETUAL");
        for t in trades {
            let e = want
                .iter()
                .find(|e| e.0.to_string() == s(&t["trade_id"]))
                .unwrap();
            assert!(close(f(&t["price"]), e.1));
            assert_eq!(s(&t["direction"]) == "buy", e.2);
            assert_eq!(t["timestamp"].as_i64(), Some(e.3));
        }
        let q: Query = [("instrument_name".to_owned(), "NOPE".to_owned())].into();
        assert_eq!(
            super::super::rest_trades::answer(
                "/api/v2/public/get_last_trades_by_instrument",
                &q,
                &st.hs()
            )
            .unwrap()
            .status,
            400
        );
    }

    #[test]
    fn htx_lists_and_history_trades() {
        let st = setup(Venue::Huobi, &["btcusdt"]);
        let v = st.get("/v1/common/symbols", &[]);
        assert_eq!(
            (
                s(&v["data"][0]["base-currency"]),
                s(&v["data"][0]["quote-currency"]),
                s(&v["data"][0]["state"])
            ),
            ("btc".into(), "usdt".into(), "online".into())
        );
        let v = st.get(
            "/market/history/trade",
            &[("symbol", "btcusdt"), ("size", "100")],
        );
        assert_eq!(v["status"], "ok");
        let rows: Vec<&Value> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["data"].as_array().unwrap())
            .collect();
        let want = st.expected("btcusdt");
        assert_eq!(rows.len(), want.len());
        for (t, e) in rows.iter().rev().zip(&want) {
            assert_eq!(t["trade-id"].as_u64(), Some(e.0));
            assert!(close(f(&t["price"]), e.1) && close(f(&t["amount"]), e.4));
            assert_eq!(
                (s(&t["direction"]) == "buy", t["ts"].as_i64()),
                (e.2, Some(e.3))
            );
        }
        // The 28-digit `id`: the group's ms and the trade id in 15 digits.
        let q: Query = [
            ("symbol".to_owned(), "btcusdt".to_owned()),
            ("size".to_owned(), "1".to_owned()),
        ]
        .into();
        let raw = answer("/market/history/trade", &q, &st.hs()).unwrap().body;
        let newest = want.last().unwrap();
        assert!(
            raw.contains(&format!(r#""id":{}{:015},"#, newest.3, newest.0)),
            "{raw}"
        );
        let one = st.get("/market/history/trade", &[("symbol", "btcusdt")]);
        assert_eq!(
            one["data"].as_array().unwrap().len(),
            1,
            "size defaults to 1"
        );

        let sw = setup(Venue::HuobiSwap, &["BTC-USDT"]);
        let v = sw.get(
            "/linear-swap-api/v1/swap_contract_info",
            &[("business_type", "all")],
        );
        assert_eq!(
            (
                s(&v["data"][0]["contract_code"]),
                s(&v["data"][0]["business_type"])
            ),
            ("BTC-USDT".into(), "swap".into())
        );
        assert!(close(f(&v["data"][0]["contract_size"]), 0.001));
        let v = sw.get(
            "/linear-swap-ex/market/history/trade",
            &[("contract_code", "BTC-USDT"), ("size", "100")],
        );
        let rows: Vec<&Value> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["data"].as_array().unwrap())
            .collect();
        for (t, e) in rows.iter().rev().zip(sw.expected("BTC-USDT")) {
            assert_eq!(t["id"].as_u64(), Some(e.0));
            assert!(close(f(&t["quantity"]), e.4), "{t} vs {e:?}");
            assert!(close(f(&t["amount"]) * 0.001, e.4));
        }
    }

    #[test]
    fn market_lists_name_the_simulated_markets() {
        let h = TradeHistory::new(HistoryConfig::default());
        for s in ["BTCUSDT", "ETHUSDT"] {
            h.register(Venue::BinanceSpot, s, None);
            h.register(Venue::BinanceUsdm, s, None);
        }
        let hs = vec![h];
        let q = Query::new();
        let spot: Value =
            serde_json::from_str(&answer("/api/v3/exchangeInfo", &q, &hs).unwrap().body).unwrap();
        let usdm: Value =
            serde_json::from_str(&answer("/fapi/v1/exchangeInfo", &q, &hs).unwrap().body).unwrap();
        for (v, tick) in [(&spot, "0.01000000"), (&usdm, "0.10")] {
            let syms: Vec<String> = v["symbols"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| s(&x["symbol"]))
                .collect();
            assert_eq!(syms, ["BTCUSDT", "ETHUSDT"]);
            assert_eq!(v["symbols"][0]["filters"][0]["tickSize"], tick);
            assert_eq!(
                (
                    s(&v["symbols"][0]["baseAsset"]),
                    s(&v["symbols"][0]["quoteAsset"])
                ),
                ("BTC".into(), "USDT".into())
            );
        }
        assert_eq!(usdm["symbols"][0]["contractType"], "PERPETUAL");
        assert_eq!(usdm["symbols"][0]["marginAsset"], "USDT");
        assert!(spot["symbols"][0].get("contractType").is_none());
        let bad: Query = [("symbol".to_owned(), "NOPE".to_owned())].into();
        assert_eq!(
            answer("/api/v3/exchangeInfo", &bad, &hs).unwrap().status,
            400
        );

        let kr = setup(Venue::KrakenSpot, &["BTC/USD", "ETH/USD"]);
        let v = kr.get("/0/public/AssetPairs", &[]);
        assert_eq!(v["result"]["XXBTZUSD"]["altname"], "XBTUSD");
        assert_eq!(v["result"]["XXBTZUSD"]["base"], "XXBT");
        assert_eq!(v["result"]["XETHZUSD"]["quote"], "ZUSD");
        let one = kr.get("/0/public/AssetPairs", &[("pair", "XBTUSD")]);
        assert_eq!(one["result"].as_object().unwrap().len(), 1);
        let none = kr.get("/0/public/AssetPairs", &[("pair", "NOPE")]);
        assert_eq!(none["error"], json!(["EQuery:Unknown asset pair"]));

        let cb = setup(Venue::Coinbase, &["BTC-USD"]);
        let v = cb.get("/products", &[]);
        assert_eq!(
            (
                s(&v[0]["id"]),
                s(&v[0]["status"]),
                s(&v[0]["quote_currency"])
            ),
            ("BTC-USD".into(), "online".into(), "USD".into())
        );
        assert_eq!(s(&cb.get("/products/BTC-USD", &[])["id"]), "BTC-USD");
        let r = answer("/products/NOPE-USD", &Query::new(), &cb.hs()).unwrap();
        assert_eq!(
            (r.status, r.body.as_str()),
            (404, r#"{"message":"NotFound"}"#)
        );

        let bf = setup(Venue::Bitfinex, &["tBTCUSD", "tETHUSD"]);
        let v = bf.get("/v2/conf/pub:info:pair,pub:info:pair:futures,pub:list:pair:securities,pub:list:pair:margin", &[]);
        assert_eq!(v[0][0][0], "BTCUSD");
        assert_eq!(v[0][1][0], "ETHUSD");
        assert_eq!((v[1].clone(), v[2].clone()), (json!([]), json!([])));
        assert_eq!(v[3], json!(["BTCUSD", "ETHUSD"]));
        let r = answer("/v2/conf/pub:nope", &Query::new(), &bf.hs()).unwrap();
        assert_eq!(r.status, 500);

        let hl = setup(Venue::Hyperliquid, &["BTC", "ETH"]);
        let r = answer_post("/info", br#"{"type":"metaAndAssetCtxs"}"#, &hl.hs()).unwrap();
        let v: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v[0]["universe"][0]["name"], "BTC");
        assert_eq!(v[0]["universe"][1]["name"], "ETH");
        assert_eq!(v[0]["universe"][0]["szDecimals"], 3);
        // markPx is the last trade's price.
        let last = hl.h.trades(Venue::Hyperliquid, "BTC").last().unwrap().price;
        assert!(close(f(&v[1][0]["markPx"]), last));
        let r = answer_post("/info", br#"{"type":"spotMetaAndAssetCtxs"}"#, &hl.hs()).unwrap();
        assert_eq!(r.body, r#"[{"tokens":[],"universe":[]},[]]"#);
        assert_eq!(
            answer_post("/info", br#"{"type":"nope"}"#, &hl.hs())
                .unwrap()
                .status,
            422
        );
        assert_eq!(
            answer_post("/info", b"not json", &hl.hs()).unwrap().status,
            422
        );
    }

    /// One raw HTTP exchange with the server: (status, body).
    fn http(base: &str, request: &str) -> (u16, String) {
        let addr = base.trim_start_matches("http://");
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(request.as_bytes()).unwrap();
        let mut text = String::new();
        c.read_to_string(&mut text).unwrap();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    #[test]
    fn the_server_answers_posts_with_a_body_and_refuses_other_methods() {
        let hl = setup(Venue::Hyperliquid, &["BTC"]);
        let server = super::super::RestServer::start_with(super::super::RestConfig {
            histories: hl.hs(),
            ..Default::default()
        })
        .unwrap();
        let base = server.base_url();
        let body = r#"{"type":"meta"}"#;
        let (st, b) = http(
            &base,
            &format!("POST /info HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()),
        );
        assert_eq!(st, 200, "{b}");
        let v: Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v["universe"][0]["name"], "BTC");
        let (st, _) = http(&base, "GET /info HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(st, 404);
        let (st, _) = http(
            &base,
            "POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
        );
        assert_eq!(st, 404);
        let (st, _) = http(
            &base,
            "PUT /info HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
        );
        assert_eq!(st, 405);
        let (st, _) = http(
            &base,
            "POST /info HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        );
        assert_eq!(st, 400);
        let (st, b) = http(&base, "GET /products HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!((st, b.as_str()), (200, "[]"));
        let (st, b) = http(
            &base,
            "GET /products/NOPE-USD/candles HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        assert_eq!((st, b.as_str()), (404, r#"{"message":"NotFound"}"#));
    }
}
