//! The markets `run` and `demo` follow when the configuration lists no `[[feeds]]`: BTC, ETH
//! and SOL, spot and perpetual, on every venue that lists them — 99 markets on 19 venue
//! APIs, spelled as each venue spells them in its requests.
//!
//! Left out on purpose: EUR-quoted spot (it would mix currencies in a symbol's spot CVD),
//! Coinbase Advanced Trade (the same markets as Coinbase Exchange, same market ids), dated
//! futures (FUTURE markets play no part in the strategy) and closed venues
//! ([`feeds::Venue::closed`]: BitMEX, closed 2026-09-23; docs/VENUES.md).

/// `(venue, pairs)`.
pub const DEFAULT_FEEDS: &[(&str, &[&str])] = &[
    (
        "binance",
        &[
            "btcusdt", "ethusdt", "solusdt", "btcfdusd", "ethfdusd", "solfdusd", "btcusdc",
            "ethusdc", "solusdc",
        ],
    ),
    (
        "binance-usdm",
        &[
            "btcusdt", "ethusdt", "solusdt", "btcusdc", "ethusdc", "solusdc",
        ],
    ),
    (
        "binance-coinm",
        &["btcusd_perp", "ethusd_perp", "solusd_perp"],
    ),
    (
        "bybit-linear",
        &[
            "BTCUSDT", "ETHUSDT", "SOLUSDT", "BTCPERP", "ETHPERP", "SOLPERP",
        ],
    ),
    ("bybit-inverse", &["BTCUSD", "ETHUSD", "SOLUSD"]),
    (
        "bybit-spot",
        &[
            "BTCUSDT", "ETHUSDT", "SOLUSDT", "BTCUSDC", "ETHUSDC", "SOLUSDC",
        ],
    ),
    (
        "okx-spot",
        &[
            "BTC-USDT", "ETH-USDT", "SOL-USDT", "BTC-USDC", "ETH-USDC", "SOL-USDC",
        ],
    ),
    (
        "okx-swap",
        &[
            "BTC-USDT-SWAP",
            "ETH-USDT-SWAP",
            "SOL-USDT-SWAP",
            "BTC-USD-SWAP",
            "ETH-USD-SWAP",
            "SOL-USD-SWAP",
        ],
    ),
    (
        "coinbase",
        &[
            "BTC-USD", "ETH-USD", "SOL-USD", "BTC-USDT", "ETH-USDT", "SOL-USDT",
        ],
    ),
    (
        "kraken",
        &[
            "BTC/USD", "ETH/USD", "SOL/USD", "BTC/USDT", "ETH/USDT", "SOL/USDT", "BTC/USDC",
            "ETH/USDC", "SOL/USDC",
        ],
    ),
    (
        "kraken-futures",
        &[
            "PF_XBTUSD",
            "PF_ETHUSD",
            "PF_SOLUSD",
            "PI_XBTUSD",
            "PI_ETHUSD",
        ],
    ),
    (
        "deribit",
        &[
            "BTC-PERPETUAL",
            "ETH-PERPETUAL",
            "BTC_USDC-PERPETUAL",
            "ETH_USDC-PERPETUAL",
            "SOL_USDC-PERPETUAL",
        ],
    ),
    (
        "bitfinex",
        &[
            "tBTCUSD",
            "tETHUSD",
            "tSOLUSD",
            "tBTCUST",
            "tETHUST",
            "tSOLUST",
            "tBTCF0:USTF0",
            "tETHF0:USTF0",
            "tSOLF0:USTF0",
        ],
    ),
    ("huobi", &["btcusdt", "ethusdt", "solusdt"]),
    ("huobi-swap", &["BTC-USDT", "ETH-USDT", "SOL-USDT"]),
    ("bitget", &["BTCUSDT", "ETHUSDT", "SOLUSDT"]),
    (
        "bitget-spot",
        &[
            "BTCUSDT", "ETHUSDT", "SOLUSDT", "BTCUSDC", "ETHUSDC", "SOLUSDC",
        ],
    ),
    // SOL_USDT's contract size is not in the bundled instruments yet.
    ("gate-futures", &["BTC_USDT", "ETH_USDT"]),
    ("hyperliquid", &["BTC", "ETH", "SOL"]),
];
