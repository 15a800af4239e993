//! Backtest report artifacts: PNG charts decode with the documented sizes and real content,
//! trades.csv and result.json round-trip, and report.html renders in headless Chromium with
//! its four charts, its trade rows and no console error.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use engine::backtest::{BacktestResult, EquityPoint, Metrics, SymbolSeries, Trade};
use tools::report::{
    write_artifacts, CHART_WIDTH, CSV_HEADER, EQUITY_HEIGHT, FILES, LONG_ENTRY_RGB, PANEL_HEIGHT,
    SHORT_ENTRY_RGB, TRADES_HEIGHT,
};

const T0: i64 = 1_795_478_400; // 2026-11-24T00:00:00Z

fn trade(
    symbol: &str,
    side: &str,
    entry: (i64, f64),
    exit: (i64, f64),
    pnl: f64,
    reason: &str,
) -> Trade {
    Trade {
        symbol: symbol.into(),
        side: side.into(),
        entry_time: entry.0,
        exit_time: exit.0,
        entry_price: entry.1,
        exit_price: exit.1,
        quantity: 0.0123,
        leverage: 5.0,
        margin: 200.0,
        fees: 0.4321,
        pnl,
        pnl_pct: pnl / 200.0 * 100.0,
        score: 6.25,
        exit_reason: reason.into(),
    }
}

/// Two symbols over one day of minute bars, four trades (a short, two losses), equity that
/// rises, falls 8 % and recovers.
fn sample() -> BacktestResult {
    let n = 1440;
    let mut series = Vec::new();
    for (symbol, base) in [("BTCUSDT", 95_000.0), ("ETHUSDT", 3_400.0)] {
        let mut s = SymbolSeries {
            symbol: symbol.into(),
            ..SymbolSeries::default()
        };
        let (mut spot, mut perp) = (0.0, 0.0);
        for i in 0..n {
            let x = i as f64;
            s.time.push(T0 + 60 * i);
            s.close
                .push(base * (1.0 + 0.01 * (x / 90.0).sin() + 0.00002 * x));
            spot += 5.0 * (x / 70.0).cos();
            perp += 7.0 * (x / 50.0).sin();
            s.spot_cvd.push(spot);
            s.perp_cvd.push(perp);
            s.divergence.push(spot - perp);
        }
        series.push(s);
    }
    let mut equity = Vec::new();
    let mut peak = f64::MIN;
    for i in 0..n {
        let x = i as f64 / n as f64;
        let e = 10_000.0 * (1.0 + 0.05 * x - 0.09 * (-((x - 0.6) * 12.0).powi(2)).exp());
        peak = peak.max(e);
        equity.push(EquityPoint {
            time: T0 + 60 * i,
            equity: e,
            drawdown: e / peak - 1.0,
        });
    }
    let trades = vec![
        trade(
            "BTCUSDT",
            "LONG",
            (T0 + 3_600, 95_400.5),
            (T0 + 9_000, 96_100.25),
            14.2,
            "FLOW_REVERSAL",
        ),
        trade(
            "BTCUSDT",
            "SHORT",
            (T0 + 30_000, 95_900.0),
            (T0 + 36_000, 96_300.0),
            -9.75,
            "RANGE_BREAK",
        ),
        trade(
            "ETHUSDT",
            "SHORT",
            (T0 + 20_000, 3_430.12),
            (T0 + 26_000, 3_390.5),
            22.5,
            "a \"quoted\", reason",
        ),
        trade(
            "ETHUSDT",
            "LONG",
            (T0 + 60_000, 3_410.0),
            (T0 + 86_000, 3_395.0),
            -4.4,
            "END_OF_PERIOD",
        ),
    ];
    BacktestResult {
        period: "2026-11-24..2026-11-24".into(),
        from: T0,
        to: T0 + 86_400,
        params: vec![
            "min_score=5".into(),
            "note=<script>alert(1)</script>&".into(),
        ],
        metrics: Metrics {
            initial_balance: 10_000.0,
            final_balance: 10_022.55,
            total_return_pct: 0.2255,
            total_return: 22.55,
            trades: 4,
            wins: 2,
            win_rate_pct: 50.0,
            avg_trade_pct: 2.819,
            best_trade_pct: 11.25,
            worst_trade_pct: -4.875,
            avg_duration_s: 10_850.0,
            trades_per_day: 4.0,
            max_drawdown_pct: 8.1,
            sharpe: 1.3,
            sortino: 2.1,
            profit_factor: Some(2.58),
            exposure_pct: 47.0,
        },
        trades,
        equity,
        series,
        signals: vec!["{\"signal\":1}".into()],
        bars: 172_800,
        wall_seconds: 1.25,
    }
}

struct Png {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

fn read_png(path: &Path) -> Png {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap_or_else(|e| panic!("{} is not a PNG: {e}", path.display()));
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("PNG frame");
    assert_eq!(info.color_type, png::ColorType::Rgb, "{}", path.display());
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    buf.truncate(info.buffer_size());
    Png {
        width: info.width,
        height: info.height,
        rgb: buf,
    }
}

fn colours(p: &Png) -> HashSet<[u8; 3]> {
    p.rgb.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect()
}

fn count_rgb(p: &Png, rgb: (u8, u8, u8)) -> usize {
    p.rgb
        .chunks_exact(3)
        .filter(|c| (c[0], c[1], c[2]) == rgb)
        .count()
}

/// The image is not blank: anti-aliased text and lines give many colours, and a real share of
/// the pixels is not white.
fn assert_non_trivial(p: &Png, name: &str, min_share: f64) {
    let distinct = colours(p).len();
    assert!(distinct >= 16, "{name}: only {distinct} distinct colours");
    let non_white = p
        .rgb
        .chunks_exact(3)
        .filter(|c| c != &[255, 255, 255])
        .count();
    let share = non_white as f64 / (p.width as f64 * p.height as f64);
    assert!(
        share > min_share,
        "{name}: only {:.3} % of pixels drawn",
        share * 100.0
    );
}

/// RFC 4180 parser (quoted fields, doubled quotes, CRLF records).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => quoted = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' => {
                assert_eq!(chars.next(), Some('\n'), "CR not followed by LF");
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            '\n' => panic!("bare LF record separator"),
            _ => field.push(c),
        }
    }
    assert!(
        field.is_empty() && row.is_empty(),
        "last record not CRLF-terminated"
    );
    rows
}

fn check_files(result: &BacktestResult, dir: &Path, written: &[PathBuf]) {
    let expected: Vec<PathBuf> = FILES.iter().map(|f| dir.join(f)).collect();
    assert_eq!(written, expected.as_slice());
    for p in written {
        assert!(p.is_file(), "{} missing", p.display());
    }
    // PNG sizes.
    let panels = result.series.len().max(1) as u32;
    for (name, h) in [
        ("equity.png", EQUITY_HEIGHT),
        ("price.png", PANEL_HEIGHT * panels),
        ("cvd.png", PANEL_HEIGHT * panels),
        ("trades.png", TRADES_HEIGHT),
    ] {
        let p = read_png(&dir.join(name));
        assert_eq!((p.width, p.height), (CHART_WIDTH, h), "{name}");
        // A chart draws lines and text; an empty one at least its title and message.
        let min_share = if result.equity.is_empty() {
            0.001
        } else {
            0.01
        };
        assert_non_trivial(&p, name, min_share);
    }
    // result.json is the whole result. Both sides go through the same text → Value parse
    // (serde_json's default float parsing may differ from the f64 by an ulp).
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("result.json")).unwrap()).unwrap();
    let expected: serde_json::Value =
        serde_json::from_str(&serde_json::to_string(result).unwrap()).unwrap();
    assert_eq!(json, expected, "result.json differs from the result");
    assert_eq!(
        json["trades"].as_array().map(Vec::len),
        Some(result.trades.len())
    );
    assert_eq!(
        json["equity"].as_array().map(Vec::len),
        Some(result.equity.len())
    );
    // trades.csv round-trips every field.
    let rows = parse_csv(&std::fs::read_to_string(dir.join("trades.csv")).unwrap());
    assert_eq!(
        rows.first().map(Vec::as_slice),
        Some(&CSV_HEADER.map(String::from)[..])
    );
    assert_eq!(rows.len(), result.trades.len() + 1);
    for (row, t) in rows.iter().skip(1).zip(&result.trades) {
        let f = |i: usize| row[i].parse::<f64>().unwrap();
        let back = Trade {
            symbol: row[0].clone(),
            side: row[1].clone(),
            entry_time: row[2].parse().unwrap(),
            exit_time: row[3].parse().unwrap(),
            entry_price: f(4),
            exit_price: f(5),
            quantity: f(6),
            leverage: f(7),
            margin: f(8),
            fees: f(9),
            pnl: f(10),
            pnl_pct: f(11),
            score: f(12),
            exit_reason: row[13].clone(),
        };
        assert_eq!(&back, t);
    }
}

// ---------------------------------------------------------------- headless Chromium

fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "headless Chromium is needed for the report.html test: install it with \
         `apt-get install -y chromium` (Debian; .ci/run does this)"
    );
}

struct Rendered {
    dom: String,
    console_errors: Vec<String>,
}

/// Load a file in headless Chromium; the DOM after load and the console/JS error lines logged.
fn render(html: &Path, profile: &Path) -> Rendered {
    let out = Command::new("timeout")
        .arg("120")
        .arg(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("running chromium");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "chromium failed: {:?}\n{stderr}",
        out.status
    );
    let console_errors = stderr
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught"))
        .map(String::from)
        .collect();
    Rendered {
        dom: String::from_utf8_lossy(&out.stdout).into_owned(),
        console_errors,
    }
}

fn attr(tag: &str, name: &str) -> Option<u32> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let end = start + tag[start..].find('"')?;
    tag[start..end].parse().ok()
}

/// `(width, height)` of every `<svg>` element in the DOM.
fn svg_sizes(dom: &str) -> Vec<(u32, u32)> {
    dom.match_indices("<svg")
        .map(|(i, _)| {
            let tag = &dom[i..i + dom[i..].find('>').unwrap()];
            (
                attr(tag, "width").unwrap_or(0),
                attr(tag, "height").unwrap_or(0),
            )
        })
        .collect()
}

fn check_html(result: &BacktestResult, dir: &Path) -> String {
    let r = render(&dir.join("report.html"), &dir.join("chromium-profile"));
    assert!(
        r.console_errors.is_empty(),
        "console errors: {:#?}",
        r.console_errors
    );
    assert!(r.dom.contains("<h1>SqueezeFlow backtest"), "{}", r.dom);
    let sizes = svg_sizes(&r.dom);
    assert_eq!(sizes.len(), 4, "charts: {sizes:?}");
    for id in ["equity", "price", "cvd", "trades"] {
        assert!(r.dom.contains(&format!("id=\"chart-{id}\"")), "chart {id}");
    }
    for (w, h) in sizes {
        assert!(w > 0 && h > 0, "svg {w}×{h}");
    }
    // Nothing from the result was interpreted as markup, nothing external is loaded.
    assert!(!r.dom.contains("<script"), "a script element in the DOM");
    assert!(!r.dom.contains("src=\""), "external resource in the DOM");
    let rows =
        r.dom.matches("<tr class=\"win\"").count() + r.dom.matches("<tr class=\"loss\"").count();
    assert_eq!(rows, result.trades.len());
    // Every metric row is there.
    assert!(r.dom.matches("<th scope=\"row\">").count() >= 16);
    r.dom
}

#[test]
fn artifacts_of_a_result_with_trades() {
    let result = sample();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let written = write_artifacts(&result, &out).unwrap();
    check_files(&result, &out, &written);

    // Entry markers are drawn: ▲ and ▼ fills in the price and CVD charts.
    for name in ["price.png", "cvd.png"] {
        let p = read_png(&out.join(name));
        assert!(
            count_rgb(&p, LONG_ENTRY_RGB) > 40,
            "{name}: no long-entry markers"
        );
        assert!(
            count_rgb(&p, SHORT_ENTRY_RGB) > 40,
            "{name}: no short-entry markers"
        );
    }

    let dom = check_html(&result, &out);
    for t in &result.trades {
        assert!(
            dom.contains(&format!("<td>{}</td>", t.exit_reason)),
            "{}",
            t.exit_reason
        );
    }
    assert!(dom.contains("<td>SHORT</td>"));
    assert!(
        dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;&amp;"),
        "params not escaped"
    );
    assert!(dom.contains("2026-11-24 00:00:00 UTC → 2026-11-25 00:00:00 UTC"));
    assert!(!dom.contains("id=\"no-trades\""));
    // To look at the output: REPORT_TEST_OUT=/some/dir cargo test --release -p tools --test report
    if let Some(keep) = std::env::var_os("REPORT_TEST_OUT") {
        write_artifacts(&result, Path::new(&keep)).unwrap();
    }
}

#[test]
fn artifacts_of_an_empty_result() {
    let result = BacktestResult::default();
    let dir = tempfile::tempdir().unwrap();
    let written = write_artifacts(&result, dir.path()).unwrap();
    check_files(&result, dir.path(), &written);
    for name in ["price.png", "cvd.png"] {
        let p = read_png(&dir.path().join(name));
        assert_eq!(
            count_rgb(&p, LONG_ENTRY_RGB) + count_rgb(&p, SHORT_ENTRY_RGB),
            0
        );
    }
    let dom = check_html(&result, dir.path());
    assert!(dom.contains("id=\"no-trades\""), "{dom}");
    if let Some(keep) = std::env::var_os("REPORT_TEST_OUT") {
        write_artifacts(&result, &Path::new(&keep).join("empty")).unwrap();
    }
}

#[test]
fn non_finite_values_and_single_points_do_not_break_the_charts() {
    let mut result = sample();
    result.equity.truncate(1);
    result.equity.push(EquityPoint {
        time: T0 + 120,
        equity: f64::NAN,
        drawdown: f64::NEG_INFINITY,
    });
    result.series[0].close[10] = f64::INFINITY;
    result.series[1].time.truncate(1);
    result.trades[0].pnl_pct = f64::NAN;
    result.metrics.profit_factor = None;
    let dir = tempfile::tempdir().unwrap();
    let written = write_artifacts(&result, dir.path()).unwrap();
    assert_eq!(written.len(), FILES.len());
    let p = read_png(&dir.path().join("equity.png"));
    assert_non_trivial(&p, "equity.png", 0.01);
}

#[test]
fn the_console_error_check_can_fail() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("bad.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><head><title>x</title></head><body>\
         <script>no_such_function();</script></body></html>",
    )
    .unwrap();
    let r = render(&page, &dir.path().join("profile"));
    assert!(
        r.console_errors
            .iter()
            .any(|l| l.contains("no_such_function")),
        "a page with an uncaught error logged nothing: {:?}",
        r.console_errors
    );
}
