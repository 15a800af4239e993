//! Portfolio arithmetic on a hand-computed two-trade example (fees, leverage, PnL, drawdown).

use engine::backtest::portfolio::{metrics, simulate, Fill, Mark, PortfolioConfig};

fn fill(time: i64, symbol: usize, direction: i8, price: f64, size: f64, lev: f64) -> Fill {
    Fill {
        time,
        symbol,
        direction,
        price,
        size_factor: size,
        leverage: lev,
        score: 7.0,
        exit_reason: if direction == 0 {
            "FLOW_REVERSAL".into()
        } else {
            String::new()
        },
    }
}

fn close_to(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

#[test]
fn two_trades_by_hand() {
    let cfg = PortfolioConfig::default(); // 10 000, 0.1 % per side, 2 % margin, signal leverage
    let symbols = vec!["BTCUSDT".to_string(), "ETHUSDT".to_string()];
    let fills = vec![
        // LONG BTC at 100, factor 1.0, leverage 2: margin 200, notional 400, 4 BTC, fee 0.40.
        fill(100, 0, 1, 100.0, 1.0, 2.0),
        // CLOSE at 110: gross +40, exit fee 0.44 → pnl 39.16 (19.58 % of the margin).
        fill(200, 0, 0, 110.0, 1.0, 1.0),
        // SHORT ETH at 50, factor 0.5, leverage 3: margin 10 039.16 × 2 % × 0.5 = 100.3916,
        // notional 301.1748, 6.023496 ETH, fee 0.3011748.
        fill(300, 1, -1, 50.0, 0.5, 3.0),
        // CLOSE at 55: gross −30.11748, exit fee 0.33129228 → pnl −30.74994708.
        fill(400, 1, 0, 55.0, 1.0, 1.0),
    ];
    // BTC marked at 90 while long: equity 9 999.60 − 40 = 9 959.60, the deepest drawdown.
    let marks = vec![Mark {
        time: 160,
        symbol: 0,
        price: 90.0,
    }];
    let (trades, equity, balance) = simulate(&cfg, &symbols, &fills, &marks, 1000);

    assert_eq!(trades.len(), 2);
    let (t1, t2) = (&trades[0], &trades[1]);
    assert_eq!((t1.symbol.as_str(), t1.side.as_str()), ("BTCUSDT", "LONG"));
    assert!(close_to(t1.quantity, 4.0));
    assert!(close_to(t1.margin, 200.0));
    assert!(close_to(t1.fees, 0.84));
    assert!(close_to(t1.pnl, 39.16));
    assert!(close_to(t1.pnl_pct, 19.58));
    assert_eq!(t1.exit_reason, "FLOW_REVERSAL");
    assert_eq!((t2.symbol.as_str(), t2.side.as_str()), ("ETHUSDT", "SHORT"));
    assert!(close_to(t2.margin, 100.3916));
    assert!(close_to(t2.quantity, 6.023496));
    assert!(close_to(t2.leverage, 3.0));
    assert!(close_to(t2.fees, 0.3011748 + 0.33129228));
    assert!(close_to(t2.pnl, -30.74994708));
    assert!(close_to(t2.pnl_pct, -30.74994708 / 100.3916 * 100.0));
    assert!(close_to(balance, 10_008.41005292));

    // Equity: 10 000 → 9 999.60 (entry fee) → 9 959.60 (mark) → 10 039.16 → … → 10 008.41.
    let at = |t: i64| equity.iter().find(|p| p.time == t).unwrap();
    assert!(close_to(at(100).equity, 9_999.6));
    assert!(close_to(at(160).equity, 9_959.6));
    assert!(close_to(at(160).drawdown, 9_959.6 / 10_000.0 - 1.0));
    assert!(close_to(at(200).equity, 10_039.16));
    assert_eq!(at(200).drawdown, 0.0);
    assert!(close_to(at(1000).equity, 10_008.41005292));

    let m = metrics(&cfg, &trades, &equity, balance, 0, 1000);
    assert_eq!((m.trades, m.wins), (2, 1));
    assert!(close_to(m.win_rate_pct, 50.0));
    assert!(close_to(m.total_return, 8.41005292));
    assert!(close_to(m.total_return_pct, 0.0841005292));
    assert!(close_to(m.best_trade_pct, 19.58));
    assert!(close_to(m.worst_trade_pct, -30.74994708 / 100.3916 * 100.0));
    assert!(close_to(m.max_drawdown_pct, 0.404));
    assert!(close_to(m.profit_factor.unwrap(), 39.16 / 30.74994708));
    assert!(close_to(m.avg_duration_s, 100.0));
    assert!(close_to(m.exposure_pct, 20.0));
}

#[test]
fn leverage_override_and_end_of_period() {
    let cfg = PortfolioConfig {
        leverage: Some(10.0),
        ..PortfolioConfig::default()
    };
    let symbols = vec!["BTCUSDT".to_string()];
    let fills = vec![fill(0, 0, -1, 200.0, 1.5, 5.0)];
    let marks = vec![Mark {
        time: 50,
        symbol: 0,
        price: 190.0,
    }];
    let (trades, _, balance) = simulate(&cfg, &symbols, &fills, &marks, 100);
    // margin 300, notional 3 000 (leverage 10, not the signal's 5), 15 units short.
    assert_eq!(trades.len(), 1);
    let t = &trades[0];
    assert_eq!(t.exit_reason, "END_OF_PERIOD");
    assert!(close_to(t.quantity, 15.0));
    assert!(close_to(t.exit_price, 190.0));
    // +150 gross, fees 3.0 + 2.85.
    assert!(close_to(t.pnl, 150.0 - 3.0 - 2.85));
    assert!(close_to(balance, 10_000.0 + 150.0 - 5.85));
    let m = metrics(&cfg, &trades, &[], balance, 0, 100);
    assert!(
        m.profit_factor.is_none(),
        "no losing trade: no profit factor"
    );
}
