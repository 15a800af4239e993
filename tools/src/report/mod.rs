//! Backtest report artifacts: charts (PNG), one self-contained HTML page, the trades as CSV
//! and the whole result as JSON.
//!
//! [`write_artifacts`] writes, into one directory:
//! - `equity.png`: equity curve with a drawdown panel below;
//! - `price.png`: reference close per symbol (one panel each) with ▲ long entry, ▼ short
//!   entry and × exit markers (exit green on a profit, red on a loss);
//! - `cvd.png`: per symbol, spot CVD, perp CVD and their divergence, with entry markers;
//! - `trades.png`: per-trade PnL % bars (green profit, red loss);
//! - `report.html`: title, metrics table, the four charts as inline SVG and the trade table,
//!   with no external resource (no script at all);
//! - `trades.csv`: header and one row per trade (RFC 4180, CRLF line ends);
//! - `result.json`: the whole [`BacktestResult`], pretty-printed.
//!
//! Text is drawn with DejaVu Sans embedded from the `dejavu` crate, so no system font is
//! needed. Empty results (no trades, no equity, no series) give the same files with "no
//! trades" / "no data" messages. Non-finite values are left out of the charts.

use std::fmt::Write as _;
use std::fs;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{anyhow, Context, Result};
use engine::backtest::{BacktestResult, Trade};
use engine::strategy::signal::iso_time;
use plotters::coord::combinators::WithKeyPoints;
use plotters::coord::types::{RangedCoordf64, RangedCoordi64};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontStyle};

/// Width of every chart, px.
pub const CHART_WIDTH: u32 = 1200;
/// Height of `equity.png` (equity and drawdown panels), px.
pub const EQUITY_HEIGHT: u32 = 640;
/// Height of one symbol's panel in `price.png` and `cvd.png`, px (one panel when there is no
/// series, for the "no data" message).
pub const PANEL_HEIGHT: u32 = 340;
/// Height of `trades.png`, px.
pub const TRADES_HEIGHT: u32 = 420;

/// The file names [`write_artifacts`] writes, in the order it returns them.
pub const FILES: [&str; 7] = [
    "equity.png",
    "price.png",
    "cvd.png",
    "trades.png",
    "report.html",
    "trades.csv",
    "result.json",
];

/// The `trades.csv` header: the [`Trade`] fields in declaration order.
pub const CSV_HEADER: [&str; 14] = [
    "symbol",
    "side",
    "entry_time",
    "exit_time",
    "entry_price",
    "exit_price",
    "quantity",
    "leverage",
    "margin",
    "fees",
    "pnl",
    "pnl_pct",
    "score",
    "exit_reason",
];

const FONT: &str = "sans-serif";
const GREY: RGBColor = RGBColor(110, 110, 110);
const EQUITY_BLUE: RGBColor = RGBColor(31, 119, 180);
const LOSS_RED: RGBColor = RGBColor(214, 39, 40);
const WIN_GREEN: RGBColor = RGBColor(44, 160, 44);
/// Fill of the ▲ long-entry markers (RGB).
pub const LONG_ENTRY_RGB: (u8, u8, u8) = (0, 110, 200);
/// Fill of the ▼ short-entry markers (RGB).
pub const SHORT_ENTRY_RGB: (u8, u8, u8) = (200, 0, 160);
const LONG_COLOUR: RGBColor = RGBColor(LONG_ENTRY_RGB.0, LONG_ENTRY_RGB.1, LONG_ENTRY_RGB.2);
const SHORT_COLOUR: RGBColor = RGBColor(SHORT_ENTRY_RGB.0, SHORT_ENTRY_RGB.1, SHORT_ENTRY_RGB.2);
const SPOT_COLOUR: RGBColor = RGBColor(31, 119, 180);
const PERP_COLOUR: RGBColor = RGBColor(255, 127, 14);
const DIV_COLOUR: RGBColor = RGBColor(120, 120, 120);

type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// Write the report files for `result` into `out_dir` (created if missing); returns their
/// paths in the order of [`FILES`].
pub fn write_artifacts(result: &BacktestResult, out_dir: &Path) -> Result<Vec<PathBuf>> {
    fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    ensure_font()?;
    let mut written = Vec::with_capacity(FILES.len());
    let mut svgs = Vec::with_capacity(CHARTS.len());
    for chart in CHARTS {
        let size = chart.size(result);
        let path = out_dir.join(chart.file());
        write_png(&path, size, |root| chart.draw(root, result))
            .with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
        svgs.push(render_svg(size, |root| chart.draw(root, result))?);
    }
    let html = out_dir.join("report.html");
    fs::write(&html, render_html(result, &svgs))
        .with_context(|| format!("writing {}", html.display()))?;
    written.push(html);
    let csv = out_dir.join("trades.csv");
    fs::write(&csv, trades_csv(&result.trades))
        .with_context(|| format!("writing {}", csv.display()))?;
    written.push(csv);
    let json = out_dir.join("result.json");
    let mut text = serde_json::to_string_pretty(result).context("serializing the result")?;
    text.push('\n');
    fs::write(&json, text).with_context(|| format!("writing {}", json.display()))?;
    written.push(json);
    Ok(written)
}

/// Register the embedded DejaVu Sans as plotters' `sans-serif` (once per process).
fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok());
    if ok {
        Ok(())
    } else {
        Err(anyhow!("the embedded DejaVu Sans font did not load"))
    }
}

#[derive(Debug, Clone, Copy)]
enum Chart {
    Equity,
    Price,
    Cvd,
    Trades,
}

const CHARTS: [Chart; 4] = [Chart::Equity, Chart::Price, Chart::Cvd, Chart::Trades];

impl Chart {
    fn file(self) -> &'static str {
        match self {
            Chart::Equity => "equity.png",
            Chart::Price => "price.png",
            Chart::Cvd => "cvd.png",
            Chart::Trades => "trades.png",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Chart::Equity => "Equity and drawdown",
            Chart::Price => "Price and trades",
            Chart::Cvd => "Spot / perp CVD and divergence",
            Chart::Trades => "PnL per trade",
        }
    }

    fn size(self, r: &BacktestResult) -> (u32, u32) {
        let panels = u32::try_from(r.series.len().max(1)).unwrap_or(u32::MAX);
        match self {
            Chart::Equity => (CHART_WIDTH, EQUITY_HEIGHT),
            Chart::Price | Chart::Cvd => (CHART_WIDTH, PANEL_HEIGHT.saturating_mul(panels)),
            Chart::Trades => (CHART_WIDTH, TRADES_HEIGHT),
        }
    }

    fn draw<DB: DrawingBackend>(
        self,
        root: &DrawingArea<DB, Shift>,
        r: &BacktestResult,
    ) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        match self {
            Chart::Equity => draw_equity(root, r),
            Chart::Price => draw_per_symbol(root, r, self.title(), draw_price_panel),
            Chart::Cvd => draw_per_symbol(root, r, self.title(), draw_cvd_panel),
            Chart::Trades => draw_trades(root, r),
        }
    }
}

fn write_png(
    path: &Path,
    (w, h): (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> DrawResult,
) -> Result<()> {
    let len = (w as usize)
        .checked_mul(h as usize)
        .and_then(|n| n.checked_mul(3))
        .ok_or_else(|| anyhow!("chart of {w}×{h} px is too large"))?;
    let mut buf = vec![255u8; len];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        draw(&root).map_err(|e| anyhow!("drawing: {e}"))?;
        root.present().map_err(|e| anyhow!("drawing: {e}"))?;
    }
    let file = fs::File::create(path)?;
    let mut enc = png::Encoder::new(BufWriter::new(file), w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header()?;
    writer.write_image_data(&buf)?;
    writer.finish()?;
    Ok(())
}

fn render_svg(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> DrawResult,
) -> Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        draw(&root).map_err(|e| anyhow!("drawing SVG: {e}"))?;
        root.present().map_err(|e| anyhow!("drawing SVG: {e}"))?;
    }
    // Inline in HTML: drop anything before the root element (an XML declaration).
    match out.find("<svg") {
        Some(i) => Ok(out.split_off(i)),
        None => Err(anyhow!("the SVG backend produced no <svg> element")),
    }
}

// ---------------------------------------------------------------- chart helpers

/// `11-24 04:12` (UTC) for an axis label, `11-24` when the ticks are whole days.
fn time_label(t: i64, daily: bool) -> String {
    let iso = iso_time(t);
    let end = if daily { 10 } else { 16 };
    match iso.get(5..end) {
        Some(s) => s.replace('T', " "),
        None => iso,
    }
}

/// The time axis over `[x0, x1]` with at most 9 ticks on round UTC times (minutes, hours,
/// days), and whether the ticks are whole days.
fn time_axis(x0: i64, x1: i64) -> (WithKeyPoints<RangedCoordi64>, bool) {
    const STEPS: [i64; 15] = [
        60, 300, 600, 900, 1_800, 3_600, 7_200, 10_800, 21_600, 43_200, 86_400, 172_800, 345_600,
        604_800, 1_209_600,
    ];
    let span = x1.saturating_sub(x0).max(1);
    let step = STEPS
        .iter()
        .copied()
        .find(|s| span / s <= 8)
        .unwrap_or_else(|| (span / 8 / 86_400).saturating_add(1).saturating_mul(86_400));
    let mut ticks = Vec::with_capacity(10);
    let mut t = x0.div_euclid(step).saturating_mul(step);
    while t <= x1 && ticks.len() < 16 {
        if t >= x0 {
            ticks.push(t);
        }
        match t.checked_add(step) {
            Some(next) => t = next,
            None => break,
        }
    }
    ((x0..x1).with_key_points(ticks), step % 86_400 == 0)
}

/// A non-empty time range (a single instant is widened by a minute each side).
fn time_range(times: impl Iterator<Item = i64>) -> Option<(i64, i64)> {
    let (lo, hi) = times.fold(None, |acc: Option<(i64, i64)>, t| match acc {
        None => Some((t, t)),
        Some((lo, hi)) => Some((lo.min(t), hi.max(t))),
    })?;
    if lo == hi {
        Some((lo.saturating_sub(60), hi.saturating_add(60)))
    } else {
        Some((lo, hi))
    }
}

/// A non-empty, padded value range over the finite values (None when there is none).
fn value_range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold(None, |acc: Option<(f64, f64)>, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })?;
    let span = hi - lo;
    let pad = if span > 0.0 && span.is_finite() {
        span * 0.05
    } else {
        (lo.abs() * 0.01).max(1.0)
    };
    let (lo, hi) = (lo - pad, hi + pad);
    if lo.is_finite() && hi.is_finite() && lo < hi {
        Some((lo, hi))
    } else {
        Some((-1.0, 1.0))
    }
}

fn no_data<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, title: &str, msg: &str) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (w, h) = root.dim_in_pixel();
    root.draw(&Text::new(
        title.to_string(),
        (20, 14),
        (FONT, 22).into_font().color(&BLACK),
    ))?;
    let centred = TextStyle::from((FONT, 22).into_font())
        .color(&GREY)
        .pos(Pos::new(HPos::Center, VPos::Center));
    let at = (
        i32::try_from(w / 2).unwrap_or(0),
        i32::try_from(h / 2).unwrap_or(0),
    );
    root.draw(&Text::new(msg.to_string(), at, centred))?;
    Ok(())
}

// ---------------------------------------------------------------- equity

fn draw_equity<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, r: &BacktestResult) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let pts: Vec<(i64, f64, f64)> = r
        .equity
        .iter()
        .filter(|p| p.equity.is_finite() && p.drawdown.is_finite())
        .map(|p| (p.time, p.equity, p.drawdown * 100.0))
        .collect();
    let (Some((x0, x1)), Some((y0, y1))) = (
        time_range(pts.iter().map(|p| p.0)),
        value_range(pts.iter().map(|p| p.1)),
    ) else {
        return no_data(root, Chart::Equity.title(), "no equity data");
    };
    let dd_low =
        value_range(pts.iter().map(|p| p.2).chain([0.0])).map_or(-1.0, |(lo, _)| lo.min(-0.1));
    let split = root.dim_in_pixel().1.saturating_mul(2) / 3;
    let (top, bottom) = root.split_vertically(split);

    let daily = time_axis(x0, x1).1;
    let mut chart = ChartBuilder::on(&top)
        .caption(format!("Equity — {}", r.period), (FONT, 22).into_font())
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(90)
        .build_cartesian_2d(time_axis(x0, x1).0, y0..y1)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_label_formatter(&|t| time_label(*t, daily))
        .y_desc("equity")
        .label_style((FONT, 14))
        .draw()?;
    chart
        .draw_series(LineSeries::new(
            pts.iter().map(|p| (p.0, p.1)),
            EQUITY_BLUE.stroke_width(2),
        ))?
        .label("equity")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], EQUITY_BLUE.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.85))
        .label_font((FONT, 14))
        .draw()?;

    let mut dd = ChartBuilder::on(&bottom)
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(90)
        .build_cartesian_2d(time_axis(x0, x1).0, dd_low..0.0)?;
    dd.configure_mesh()
        .light_line_style(WHITE)
        .x_label_formatter(&|t| time_label(*t, daily))
        .y_label_formatter(&|v| format!("{v:.1} %"))
        .y_desc("drawdown")
        .label_style((FONT, 14))
        .draw()?;
    dd.draw_series(
        AreaSeries::new(pts.iter().map(|p| (p.0, p.2)), 0.0, LOSS_RED.mix(0.3))
            .border_style(LOSS_RED),
    )?;
    Ok(())
}

// ---------------------------------------------------------------- per symbol

type PanelFn<DB> = fn(&DrawingArea<DB, Shift>, &BacktestResult, usize) -> DrawResult;

fn draw_per_symbol<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    r: &BacktestResult,
    title: &str,
    panel: PanelFn<DB>,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    if r.series.is_empty() {
        let msg = if r.trades.is_empty() {
            "no series, no trades"
        } else {
            "no series"
        };
        return no_data(root, title, msg);
    }
    let areas = root.split_evenly((r.series.len(), 1));
    for (i, area) in areas.iter().enumerate() {
        panel(area, r, i)?;
    }
    Ok(())
}

/// Points `(time, value)` of one series, finite values only.
fn series_points(time: &[i64], values: &[f64]) -> Vec<(i64, f64)> {
    time.iter()
        .zip(values)
        .filter(|(_, v)| v.is_finite())
        .map(|(t, v)| (*t, *v))
        .collect()
}

fn is_long(t: &Trade) -> bool {
    t.side.eq_ignore_ascii_case("LONG")
}

fn draw_price_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    r: &BacktestResult,
    i: usize,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let Some(s) = r.series.get(i) else {
        return Ok(());
    };
    let pts = series_points(&s.time, &s.close);
    let trades: Vec<&Trade> = r.trades.iter().filter(|t| t.symbol == s.symbol).collect();
    let prices = pts
        .iter()
        .map(|p| p.1)
        .chain(trades.iter().flat_map(|t| [t.entry_price, t.exit_price]));
    let times = pts
        .iter()
        .map(|p| p.0)
        .chain(trades.iter().flat_map(|t| [t.entry_time, t.exit_time]));
    let title = format!("{} close", s.symbol);
    let (Some((x0, x1)), Some((y0, y1))) = (time_range(times), value_range(prices)) else {
        return no_data(area, &title, "no data");
    };
    let daily = time_axis(x0, x1).1;
    let mut chart = ChartBuilder::on(area)
        .caption(&title, (FONT, 18).into_font())
        .margin(10)
        .x_label_area_size(26)
        .y_label_area_size(90)
        .build_cartesian_2d(time_axis(x0, x1).0, y0..y1)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_label_formatter(&|t| time_label(*t, daily))
        .label_style((FONT, 13))
        .draw()?;
    chart
        .draw_series(LineSeries::new(pts.iter().copied(), BLACK.stroke_width(1)))?
        .label("close")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], BLACK));
    draw_trade_markers(&mut chart, &trades, |t| (t.entry_price, t.exit_price))?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.85))
        .label_font((FONT, 13))
        .draw()?;
    Ok(())
}

fn draw_cvd_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    r: &BacktestResult,
    i: usize,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let Some(s) = r.series.get(i) else {
        return Ok(());
    };
    let spot = series_points(&s.time, &s.spot_cvd);
    let perp = series_points(&s.time, &s.perp_cvd);
    let div = series_points(&s.time, &s.divergence);
    let title = format!("{} CVD", s.symbol);
    let values = spot.iter().chain(&perp).chain(&div).map(|p| p.1);
    let (Some((x0, x1)), Some((y0, y1))) = (
        time_range(spot.iter().chain(&perp).chain(&div).map(|p| p.0)),
        value_range(values),
    ) else {
        return no_data(area, &title, "no data");
    };
    let daily = time_axis(x0, x1).1;
    let mut chart = ChartBuilder::on(area)
        .caption(&title, (FONT, 18).into_font())
        .margin(10)
        .x_label_area_size(26)
        .y_label_area_size(90)
        .build_cartesian_2d(time_axis(x0, x1).0, y0..y1)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_label_formatter(&|t| time_label(*t, daily))
        .y_label_formatter(&|v| short_number(*v))
        .label_style((FONT, 13))
        .draw()?;
    for (pts, colour, label) in [
        (&spot, SPOT_COLOUR, "spot CVD"),
        (&perp, PERP_COLOUR, "perp CVD"),
        (&div, DIV_COLOUR, "divergence"),
    ] {
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), colour.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2)));
    }
    // Entry markers sit on the divergence line at the entry bar (the last sample at or before).
    let trades: Vec<&Trade> = r
        .trades
        .iter()
        .filter(|t| t.symbol == s.symbol && t.entry_time >= x0 && t.entry_time <= x1)
        .collect();
    let on_div = |t: i64| -> Option<f64> {
        let k = div.partition_point(|p| p.0 <= t);
        div.get(k.checked_sub(1)?).map(|p| p.1)
    };
    let longs: Vec<(i64, f64)> = trades
        .iter()
        .filter(|t| is_long(t))
        .filter_map(|t| Some((t.entry_time, on_div(t.entry_time)?)))
        .collect();
    let shorts: Vec<(i64, f64)> = trades
        .iter()
        .filter(|t| !is_long(t))
        .filter_map(|t| Some((t.entry_time, on_div(t.entry_time)?)))
        .collect();
    draw_triangles(&mut chart, &longs, true)?;
    draw_triangles(&mut chart, &shorts, false)?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.85))
        .label_font((FONT, 13))
        .draw()?;
    Ok(())
}

type TimeChart<'a, DB> =
    ChartContext<'a, DB, Cartesian2d<WithKeyPoints<RangedCoordi64>, RangedCoordf64>>;

/// ▲ long / ▼ short entries (labelled in the legend).
fn draw_triangles<DB: DrawingBackend>(
    chart: &mut TimeChart<'_, DB>,
    pts: &[(i64, f64)],
    long: bool,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (colour, label, shape): (RGBColor, &str, [(i32, i32); 3]) = if long {
        (LONG_COLOUR, "long entry ▲", [(0, -7), (-7, 6), (7, 6)])
    } else {
        (SHORT_COLOUR, "short entry ▼", [(0, 7), (-7, -6), (7, -6)])
    };
    chart
        .draw_series(
            pts.iter()
                .map(move |p| EmptyElement::at(*p) + Polygon::new(shape.to_vec(), colour.filled())),
        )?
        .label(label)
        .legend(move |(x, y)| {
            Polygon::new(
                shape
                    .iter()
                    .map(|(dx, dy)| (x + 9 + dx, y + dy))
                    .collect::<Vec<_>>(),
                colour.filled(),
            )
        });
    Ok(())
}

/// Entry triangles and × exits (green profit, red loss); `prices` gives (entry, exit) price.
fn draw_trade_markers<DB: DrawingBackend>(
    chart: &mut TimeChart<'_, DB>,
    trades: &[&Trade],
    prices: impl Fn(&Trade) -> (f64, f64),
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let entries = |long: bool| -> Vec<(i64, f64)> {
        trades
            .iter()
            .filter(|t| is_long(t) == long)
            .map(|t| (t.entry_time, prices(t).0))
            .filter(|p| p.1.is_finite())
            .collect()
    };
    draw_triangles(chart, &entries(true), true)?;
    draw_triangles(chart, &entries(false), false)?;
    for (win, label, colour) in [
        (true, "exit × (profit)", WIN_GREEN),
        (false, "exit × (loss)", LOSS_RED),
    ] {
        let exits: Vec<(i64, f64)> = trades
            .iter()
            .filter(|t| (t.pnl >= 0.0) == win)
            .map(|t| (t.exit_time, prices(t).1))
            .filter(|p| p.1.is_finite())
            .collect();
        chart
            .draw_series(
                exits
                    .iter()
                    .map(move |p| Cross::new(*p, 6, colour.stroke_width(3))),
            )?
            .label(label)
            .legend(move |(x, y)| Cross::new((x + 9, y), 5, colour.stroke_width(3)));
    }
    Ok(())
}

// ---------------------------------------------------------------- trades

fn draw_trades<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, r: &BacktestResult) -> DrawResult
where
    DB::ErrorType: 'static,
{
    if r.trades.is_empty() {
        return no_data(root, Chart::Trades.title(), "no trades");
    }
    let n = r.trades.len() as f64;
    let (lo, hi) =
        value_range(r.trades.iter().map(|t| t.pnl_pct).chain([0.0])).unwrap_or((-1.0, 1.0));
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("PnL per trade, % of margin ({} trades)", r.trades.len()),
            (FONT, 20).into_font(),
        )
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.5..n - 0.5, lo..hi)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .disable_x_mesh()
        .x_desc("trade #")
        .x_labels(r.trades.len().min(20))
        .x_label_formatter(&|x| {
            // Trade i (0-based) is centred on x = i; other ticks get no label.
            if (x - x.round()).abs() < 1e-6 && *x >= 0.0 {
                format!("{:.0}", x.round() + 1.0)
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|v| format!("{v:.1} %"))
        .label_style((FONT, 14))
        .draw()?;
    chart.draw_series(
        r.trades
            .iter()
            .enumerate()
            .filter(|(_, t)| t.pnl_pct.is_finite())
            .map(|(i, t)| {
                let x = i as f64;
                let colour = if t.pnl_pct >= 0.0 {
                    WIN_GREEN
                } else {
                    LOSS_RED
                };
                Rectangle::new([(x - 0.35, 0.0), (x + 0.35, t.pnl_pct)], colour.filled())
            }),
    )?;
    chart.draw_series(LineSeries::new([(-0.5, 0.0), (n - 0.5, 0.0)], BLACK))?;
    Ok(())
}

/// `12.3k`, `-4.56M`, `87.2` for CVD axis labels.
fn short_number(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.2}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.1}")
    }
}

// ---------------------------------------------------------------- HTML

/// Escape text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn utc(t: i64) -> String {
    let iso = iso_time(t);
    match iso.strip_suffix("+00:00") {
        Some(s) => format!("{} UTC", s.replace('T', " ")),
        None => iso,
    }
}

fn num(v: f64, decimals: usize) -> String {
    if v.is_finite() {
        format!("{v:.decimals$}")
    } else {
        "—".to_string()
    }
}

fn pct(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.2} %")
    } else {
        "—".to_string()
    }
}

/// `2d 3h 04m`, `1h 05m`, `42s`.
fn duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "—".to_string();
    }
    let s = secs.round() as u64;
    let (d, h, m) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
    if d > 0 {
        format!("{d}d {h}h {m:02}m")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {:02}s", s % 60)
    } else {
        format!("{s}s")
    }
}

/// Price-like numbers: enough significant digits for small prices.
fn price(v: f64) -> String {
    let a = v.abs();
    let d = if a >= 1000.0 {
        2
    } else if a >= 1.0 {
        4
    } else {
        6
    };
    num(v, d)
}

fn render_html(r: &BacktestResult, svgs: &[String]) -> String {
    let m = &r.metrics;
    let mut h = String::with_capacity(64 * 1024 + svgs.iter().map(String::len).sum::<usize>());
    let title = if r.period.is_empty() {
        "SqueezeFlow backtest".to_string()
    } else {
        format!("SqueezeFlow backtest — {}", r.period)
    };
    let period = format!("{} → {}", utc(r.from), utc(r.to));
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>\n{}</style>\n</head>\n<body>\n<h1>{}</h1>\n\
         <p class=\"period\">{}</p>\n",
        esc(&title),
        CSS,
        esc(&title),
        esc(&period)
    );
    if !r.params.is_empty() {
        let _ = writeln!(
            h,
            "<p class=\"params\">Parameters: <code>{}</code></p>",
            esc(&r.params.join(" "))
        );
    }
    let profit_factor = match m.profit_factor {
        Some(v) => num(v, 2),
        None if m.trades == 0 => "—".to_string(),
        None => "∞ (no losing trade)".to_string(),
    };
    let rows: [(&str, String); 20] = [
        ("Initial balance", num(m.initial_balance, 2)),
        ("Final balance", num(m.final_balance, 2)),
        (
            "Total return",
            format!("{} ({})", num(m.total_return, 2), pct(m.total_return_pct)),
        ),
        ("Trades", m.trades.to_string()),
        ("Wins", m.wins.to_string()),
        ("Win rate", pct(m.win_rate_pct)),
        ("Average trade", pct(m.avg_trade_pct)),
        ("Best trade", pct(m.best_trade_pct)),
        ("Worst trade", pct(m.worst_trade_pct)),
        ("Average holding time", duration(m.avg_duration_s)),
        ("Trades per day", num(m.trades_per_day, 2)),
        ("Max drawdown", pct(m.max_drawdown_pct)),
        ("Sharpe (annualised)", num(m.sharpe, 2)),
        ("Sortino (annualised)", num(m.sortino, 2)),
        ("Profit factor", profit_factor),
        ("Exposure", pct(m.exposure_pct)),
        ("Signals", r.signals.len().to_string()),
        ("1 s bars read", r.bars.to_string()),
        ("Equity points", r.equity.len().to_string()),
        ("Run time", format!("{} s", num(r.wall_seconds, 2))),
    ];
    h.push_str("<h2>Summary</h2>\n<table class=\"metrics\" id=\"metrics\">\n<tbody>\n");
    for (k, v) in rows {
        let _ = writeln!(
            h,
            "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
            esc(k),
            esc(&v)
        );
    }
    h.push_str("</tbody>\n</table>\n<h2>Charts</h2>\n");
    for (chart, svg) in CHARTS.iter().zip(svgs) {
        let id = chart.file().trim_end_matches(".png");
        let _ = write!(
            h,
            "<figure class=\"chart\" id=\"chart-{id}\">\n{svg}\n<figcaption>{}</figcaption>\n</figure>\n",
            esc(chart.title())
        );
    }
    let _ = writeln!(h, "<h2>Trades ({})</h2>", r.trades.len());
    if r.trades.is_empty() {
        h.push_str("<p class=\"empty\" id=\"no-trades\">No trades in this period.</p>\n");
    } else {
        h.push_str(
            "<table class=\"trades\" id=\"trades\">\n<thead><tr><th>#</th><th>Symbol</th>\
             <th>Side</th><th>Entry (UTC)</th><th>Exit (UTC)</th><th>Entry price</th>\
             <th>Exit price</th><th>Quantity</th><th>Leverage</th><th>Margin</th><th>Fees</th>\
             <th>PnL</th><th>PnL %</th><th>Score</th><th>Exit reason</th></tr></thead>\n<tbody>\n",
        );
        for (i, t) in r.trades.iter().enumerate() {
            let class = if t.pnl >= 0.0 { "win" } else { "loss" };
            let cells = [
                t.symbol.clone(),
                t.side.clone(),
                utc(t.entry_time),
                utc(t.exit_time),
                price(t.entry_price),
                price(t.exit_price),
                num(t.quantity, 6),
                format!("{}×", num(t.leverage, 1)),
                num(t.margin, 2),
                num(t.fees, 4),
                num(t.pnl, 2),
                pct(t.pnl_pct),
                num(t.score, 2),
                t.exit_reason.clone(),
            ];
            let _ = write!(h, "<tr class=\"{class}\"><td>{}</td>", i + 1);
            for c in cells {
                let _ = write!(h, "<td>{}</td>", esc(&c));
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</tbody>\n</table>\n");
    }
    h.push_str("</body>\n</html>\n");
    h
}

const CSS: &str = "body{font-family:sans-serif;margin:1.5em auto;max-width:1240px;color:#222}\n\
h1{font-size:1.6em;margin-bottom:.2em}\n.period{color:#555;margin-top:0}\n\
table{border-collapse:collapse;margin:.5em 0 1.5em}\n\
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right;white-space:nowrap}\n\
th{background:#f3f3f3}\n.metrics th{text-align:left}\n\
.trades td:nth-child(2),.trades td:nth-child(3),.trades td:last-child{text-align:left}\n\
tr.win td{background:#eef8ee}\ntr.loss td{background:#fbeeee}\n\
figure.chart{margin:0 0 1.5em}\nfigure.chart svg{max-width:100%;height:auto;border:1px solid #ddd}\n\
figcaption{color:#555;font-size:.9em}\n.empty{color:#777;font-style:italic}\n";

// ---------------------------------------------------------------- CSV

/// One RFC 4180 field: quoted when it holds a comma, a quote, CR or LF (quotes doubled).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `trades.csv`: [`CSV_HEADER`] then one row per trade; numbers in Rust's shortest
/// round-trip form (times as epoch seconds), CRLF line ends.
fn trades_csv(trades: &[Trade]) -> String {
    let mut out = String::with_capacity(128 * (trades.len() + 1));
    out.push_str(&CSV_HEADER.join(","));
    out.push_str("\r\n");
    for t in trades {
        let fields = [
            csv_field(&t.symbol),
            csv_field(&t.side),
            t.entry_time.to_string(),
            t.exit_time.to_string(),
            t.entry_price.to_string(),
            t.exit_price.to_string(),
            t.quantity.to_string(),
            t.leverage.to_string(),
            t.margin.to_string(),
            t.fees.to_string(),
            t.pnl.to_string(),
            t.pnl_pct.to_string(),
            t.score.to_string(),
            csv_field(&t.exit_reason),
        ];
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticks(x0: i64, x1: i64) -> (Vec<i64>, bool) {
        let (axis, daily) = time_axis(x0, x1);
        (
            axis.key_points(plotters::coord::ranged1d::BoldPoints(9)),
            daily,
        )
    }

    #[test]
    fn time_ticks_are_round_utc_times_inside_the_range() {
        let t0 = 1_795_478_400 + 1_234; // 2026-11-24T00:20:34Z
        let (day, daily) = ticks(t0, t0 + 86_400);
        assert!(!daily);
        assert_eq!(day.first(), Some(&(t0 - 1_234 + 10_800)));
        assert!(day.len() >= 4 && day.len() <= 9, "{day:?}");
        assert!(day
            .iter()
            .all(|t| t % 10_800 == 0 && (t0..=t0 + 86_400).contains(t)));
        let (week, daily) = ticks(t0, t0 + 7 * 86_400);
        assert!(daily);
        assert_eq!(week.len(), 7);
        assert!(week.iter().all(|t| t % 86_400 == 0));
        assert_eq!(time_label(week[0], true), "11-25");
        assert_eq!(time_label(t0, false), "11-24 00:20");
        // Degenerate and extreme ranges give few ticks and no panic.
        assert!(ticks(t0, t0).0.len() <= 1);
        assert!(ticks(i64::MIN / 2, i64::MAX / 2).0.len() <= 16);
    }

    #[test]
    fn csv_fields_are_quoted_per_rfc_4180() {
        assert_eq!(csv_field("RANGE_BREAK"), "RANGE_BREAK");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"x\""), "\"say \"\"x\"\"\"");
        assert_eq!(csv_field("l1\r\nl2"), "\"l1\r\nl2\"");
    }

    #[test]
    fn html_text_is_escaped() {
        assert_eq!(
            esc("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }
}
