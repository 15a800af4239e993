//! The conventional stack, built the way peers build it (barter-rs, crypto-crawler-rs and
//! friends): a multi-threaded tokio runtime, one task per WebSocket connection
//! (tokio-tungstenite), `serde_json` into owned serde structs, prices parsed from their
//! strings to `f64`, and a tokio mpsc channel into one aggregator task that keeps bars in a
//! `HashMap<String, _>`. It does the same decode → 1-second bar work as our pipeline (no store
//! writes, which only flatters it) so both must produce identical bars from the same tape.

use crate::gen::{Tape, FIRST_TRADE_ID};
use crate::sender::Schedule;
use crate::{histogram, sort_bars, BarRow, RunResult, Stage};
use anyhow::{anyhow, Result};
use feeds::clock::mono_ns;
use futures_util::StreamExt;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// `{"stream":…,"data":{…}}`.
#[derive(Debug, Deserialize)]
struct Combined {
    #[allow(dead_code)]
    stream: String,
    data: TradeMsg,
}

/// A Binance `trade` event as a serde struct.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct TradeMsg {
    #[serde(rename = "e")]
    event: String,
    #[serde(rename = "E")]
    event_time: u64,
    #[serde(rename = "s")]
    symbol: String,
    #[serde(rename = "t")]
    trade_id: u64,
    #[serde(rename = "p")]
    price: String,
    #[serde(rename = "q")]
    qty: String,
    #[serde(rename = "T")]
    trade_time: i64,
    #[serde(rename = "m")]
    buyer_maker: bool,
    #[serde(rename = "M")]
    best_match: bool,
}

/// What the connection tasks send to the aggregator.
#[derive(Debug)]
struct Trade {
    symbol: String,
    trade_id: u64,
    price: f64,
    qty: f64,
    time_ms: i64,
    buy: bool,
    /// When the message was taken off the socket (or out of the tape).
    recv_ns: u64,
}

fn parse(text: &str, recv_ns: u64) -> Option<Trade> {
    let msg: Combined = serde_json::from_str(text).ok()?;
    let d = msg.data;
    Some(Trade {
        price: d.price.parse().ok()?,
        qty: d.qty.parse().ok()?,
        symbol: d.symbol,
        trade_id: d.trade_id,
        time_ms: d.trade_time,
        buy: !d.buyer_maker,
        recv_ns,
    })
}

#[derive(Debug)]
struct OpenBar {
    second: i64,
    row: BarRow,
    open_ms: i64,
    close_ms: i64,
}

/// The aggregator task's state: one open bar per symbol.
#[derive(Debug, Default)]
struct Bars {
    open: HashMap<String, OpenBar>,
    closed: Vec<BarRow>,
}

impl Bars {
    fn on_trade(&mut self, t: &Trade) {
        let second = t.time_ms.div_euclid(1000);
        let notional = t.price * t.qty;
        if !self.open.contains_key(&t.symbol) {
            self.open.insert(
                t.symbol.clone(),
                OpenBar {
                    second,
                    row: empty(&t.symbol, second),
                    open_ms: i64::MAX,
                    close_ms: i64::MIN,
                },
            );
        }
        let Some(bar) = self.open.get_mut(&t.symbol) else {
            return;
        };
        if second > bar.second {
            let done = std::mem::replace(&mut bar.row, empty(&t.symbol, second));
            self.closed.push(done);
            bar.second = second;
            bar.open_ms = i64::MAX;
            bar.close_ms = i64::MIN;
        }
        let r = &mut bar.row;
        if r.cbuy + r.csell == 0 {
            r.ohlc = [t.price; 4];
        } else {
            r.ohlc[1] = r.ohlc[1].max(t.price);
            r.ohlc[2] = r.ohlc[2].min(t.price);
            if t.time_ms < bar.open_ms {
                r.ohlc[0] = t.price;
            }
            if t.time_ms >= bar.close_ms {
                r.ohlc[3] = t.price;
            }
        }
        bar.open_ms = bar.open_ms.min(t.time_ms);
        bar.close_ms = bar.close_ms.max(t.time_ms);
        if t.buy {
            r.vbuy += notional;
            r.cbuy += 1;
        } else {
            r.vsell += notional;
            r.csell += 1;
        }
    }

    fn finish(mut self) -> Vec<BarRow> {
        self.closed.extend(self.open.into_values().map(|b| b.row));
        sort_bars(&mut self.closed);
        self.closed
    }
}

fn empty(symbol: &str, second: i64) -> BarRow {
    BarRow {
        symbol: symbol.to_string(),
        second,
        cbuy: 0,
        csell: 0,
        ohlc: [f64::NAN; 4],
        vbuy: 0.0,
        vsell: 0.0,
    }
}

/// A 2-worker runtime whose threads add their CPU time to `cpu` when they stop.
fn runtime(cpu: Arc<AtomicU64>) -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_stop(move || {
            cpu.fetch_add(crate::thread_cpu_ns(), Ordering::Relaxed);
        })
        .build()?)
}

/// Runs `body` on a fresh runtime and records the CPU time of its threads (and of the
/// calling thread, which only waits) in the result.
fn run_measured(body: impl std::future::Future<Output = Result<RunResult>>) -> Result<RunResult> {
    let cpu = Arc::new(AtomicU64::new(0));
    let rt = runtime(cpu.clone())?;
    let cpu0 = crate::thread_cpu_ns();
    let result = rt.block_on(body);
    rt.shutdown_timeout(std::time::Duration::from_secs(5));
    let mut result = result?;
    result.cpu_ns = cpu.load(Ordering::Relaxed) + crate::thread_cpu_ns().saturating_sub(cpu0);
    Ok(result)
}

struct AggOut {
    bars: Vec<BarRow>,
    trades: u64,
    last_ns: u64,
    sched_to_bar: hdrhistogram::Histogram<u64>,
    read_to_bar: hdrhistogram::Histogram<u64>,
    send_to_bar: hdrhistogram::Histogram<u64>,
}

async fn aggregate(
    mut rx: mpsc::UnboundedReceiver<Trade>,
    schedule: Option<Arc<Schedule>>,
) -> AggOut {
    let mut bars = Bars::default();
    let mut out = AggOut {
        bars: Vec::new(),
        trades: 0,
        last_ns: 0,
        sched_to_bar: histogram(),
        read_to_bar: histogram(),
        send_to_bar: histogram(),
    };
    while let Some(t) = rx.recv().await {
        bars.on_trade(&t);
        let now = mono_ns();
        out.trades += 1;
        out.last_ns = now;
        if let Some(s) = &schedule {
            let i = t.trade_id.wrapping_sub(FIRST_TRADE_ID);
            if let Some(origin) = s.origin(i) {
                let _ = out.sched_to_bar.record(now.saturating_sub(origin).max(1));
            }
            if let Some(sent) = s.sent(i) {
                let _ = out.send_to_bar.record(now.saturating_sub(sent).max(1));
            }
        }
        let _ = out.read_to_bar.record(now.saturating_sub(t.recv_ns).max(1));
    }
    out.bars = bars.finish();
    out
}

/// The conventional stack over loopback WebSockets: one task per URL.
pub fn loopback(name: &str, urls: &[String], schedule: Arc<Schedule>) -> Result<RunResult> {
    run_measured(async move {
        let (tx, rx) = mpsc::unbounded_channel();
        let agg = tokio::spawn(aggregate(rx, Some(schedule.clone())));
        let mut conns = Vec::new();
        for url in urls {
            let tx = tx.clone();
            let url = url.clone();
            conns.push(tokio::spawn(async move {
                let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
                let (mut frames, mut errors) = (0u64, 0u64);
                while let Some(msg) = ws.next().await {
                    match msg? {
                        Message::Text(text) => {
                            frames += 1;
                            match parse(text.as_str(), mono_ns()) {
                                Some(t) => {
                                    let _ = tx.send(t);
                                }
                                None => errors += 1,
                            }
                        }
                        Message::Close(_) => break,
                        _ => {}
                    }
                }
                Ok::<_, anyhow::Error>((frames, errors))
            }));
        }
        drop(tx);
        let (mut frames, mut errors) = (0, 0);
        for c in conns {
            let (f, e) = c.await??;
            frames += f;
            errors += e;
        }
        let out = agg.await?;
        Ok(RunResult {
            bars_closed: out.bars.len() as u64,
            name: name.to_string(),
            frames,
            trades: out.trades,
            errors,
            elapsed_ns: out.last_ns.saturating_sub(schedule.start_ns()),
            stages: vec![
                Stage {
                    name: crate::ours::SCHED_TO_BAR,
                    hist: out.sched_to_bar,
                },
                Stage {
                    name: crate::ours::SEND_TO_BAR,
                    hist: out.send_to_bar,
                },
                Stage {
                    name: crate::ours::READ_TO_BAR,
                    hist: out.read_to_bar,
                },
            ],
            bars: out.bars,
            samples: Vec::new(),
            cpu_ns: 0,
        })
    })
}

/// The conventional stack on an in-memory tape: a decode task (serde_json per frame, as a
/// connection task would after tungstenite handed it the text) feeding the aggregator task.
pub fn replay(tape: Arc<Tape>) -> Result<RunResult> {
    run_measured(async move {
        let (tx, rx) = mpsc::unbounded_channel();
        let agg = tokio::spawn(aggregate(rx, None));
        let start = mono_ns();
        let decode = tokio::spawn(async move {
            let mut errors = 0u64;
            for i in 0..tape.len() {
                let parsed = std::str::from_utf8(tape.get(i))
                    .ok()
                    .and_then(|text| parse(text, mono_ns()));
                match parsed {
                    Some(t) => {
                        let _ = tx.send(t);
                    }
                    None => errors += 1,
                }
                // A connection task yields to the runtime between socket reads.
                if i % 64 == 63 {
                    tokio::task::yield_now().await;
                }
            }
            (tape.len() as u64, errors)
        });
        let (frames, errors) = decode.await.map_err(|e| anyhow!("decode task: {e}"))?;
        let out = agg.await?;
        Ok(RunResult {
            bars_closed: out.bars.len() as u64,
            name: "baseline/replay (tokio + serde_json)".into(),
            frames,
            trades: out.trades,
            errors,
            elapsed_ns: out.last_ns.saturating_sub(start),
            stages: vec![Stage {
                name: FRAME_TO_BAR_BASELINE,
                hist: out.read_to_bar,
            }],
            bars: out.bars,
            samples: Vec::new(),
            cpu_ns: 0,
        })
    })
}

/// Stage name of the baseline replay (frame taken → bar updated in the aggregator task).
pub const FRAME_TO_BAR_BASELINE: &str = "frame → channel → bar updated";
