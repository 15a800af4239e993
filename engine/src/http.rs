//! `/metrics` (Prometheus text exposition format 0.0.4) and `/health` (JSON, 200 or 503) over
//! plain HTTP/1.1, served by a small `http` thread that reads the engine's stats file — never
//! by a hot thread. It is pinned to the IO core (when the core map pins the IO thread), accepts
//! with a non-blocking listener polled every 20 ms, answers one request per connection and
//! closes it; a client gets 2 s to send its request.
//!
//! `/health`: `{"status": "healthy" | "degraded" | "down", "alerts": [...], ...}` with 200 when
//! healthy and 503 otherwise (see [`crate::alerts`] for what degrades the engine).

use crate::alerts::{evaluate, health_of, AlertThresholds, Health};
use crate::statsfile::read_snapshot;
use crate::statsfile::shm::StatsReader;
use crate::statsfile::snapshot::{EngineState, Snapshot};
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The running endpoint thread.
#[derive(Debug)]
pub struct HttpServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Binds `listen` and starts the `http` thread serving from the stats file at
    /// `stats_path`.
    pub fn start(
        listen: &str,
        stats_path: PathBuf,
        thresholds: AlertThresholds,
        core: Option<usize>,
    ) -> io::Result<HttpServer> {
        let listener = TcpListener::bind(listen)
            .map_err(|e| io::Error::new(e.kind(), format!("monitor: binding {listen}: {e}")))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("http".into())
            .spawn(move || {
                crate::runtime::pin_current(core, "http");
                serve(listener, &stats_path, &thresholds, &stop2)
            })?;
        Ok(HttpServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The bound address (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops and joins the thread.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.halt();
    }
}

fn serve(
    listener: TcpListener,
    stats_path: &std::path::Path,
    th: &AlertThresholds,
    stop: &AtomicBool,
) {
    let mut reader: Option<StatsReader> = None;
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                // The engine replaces the file at start: reopen when the mapped one is gone.
                if reader.is_none() {
                    reader = StatsReader::open(stats_path).ok();
                }
                let snap = reader
                    .as_ref()
                    .and_then(StatsReader::read)
                    .and_then(|b| Snapshot::decode(&b).ok())
                    .or_else(|| read_snapshot(stats_path).ok().flatten());
                if let Err(e) = handle(stream, snap.as_ref(), th) {
                    log::debug!("http: {e}");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                log::warn!("http: accept: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn handle(mut stream: TcpStream, snap: Option<&Snapshot>, th: &AlertThresholds) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut buf = [0u8; 8192];
    let mut len = 0;
    while !buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
        if len == buf.len() {
            return respond(&mut stream, 431, "text/plain", "request header too large\n");
        }
        let n = stream.read(&mut buf[len..])?;
        if n == 0 {
            return Ok(());
        }
        len += n;
    }
    let head = String::from_utf8_lossy(&buf[..len]);
    let mut parts = head.lines().next().unwrap_or("").split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    if method != "GET" && method != "HEAD" {
        return respond(&mut stream, 405, "text/plain", "only GET\n");
    }
    let now_us = feeds::clock::wall_us();
    match path {
        "/metrics" => {
            let body = render_metrics(snap, now_us, th);
            respond(
                &mut stream,
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                &body,
            )
        }
        "/health" => {
            let (health, body) = health_json(snap, now_us, th);
            let code = if health == Health::Healthy { 200 } else { 503 };
            respond(&mut stream, code, "application/json", &body)
        }
        _ => respond(
            &mut stream,
            404,
            "text/plain",
            "not found: try /metrics or /health\n",
        ),
    }
}

fn respond(stream: &mut TcpStream, code: u16, ctype: &str, body: &str) -> io::Result<()> {
    let reason = match code {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Service Unavailable",
    };
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
}

/// The `/health` status and JSON body for `snap` at `now_us`.
pub fn health_json(snap: Option<&Snapshot>, now_us: i64, th: &AlertThresholds) -> (Health, String) {
    let alerts = evaluate(snap, now_us, th);
    let health = health_of(&alerts);
    let body = serde_json::json!({
        "status": health.as_str(),
        "alerts": alerts,
        "engine": snap.map(|s| serde_json::json!({
            "pid": s.pid,
            "state": s.state,
            "uptime_s": (now_us - s.started_us) as f64 / 1e6,
            "snapshot_age_s": (now_us - s.updated_us) as f64 / 1e6,
        })),
        "data_age_s": snap.and_then(|s| s.freshness_s(now_us)),
        "connections_open": snap.map(|s| s.venues.iter().map(|v| v.open).sum::<u32>()),
        "markets": snap.map(|s| s.markets.len()),
        "gaps_open": snap.map(|s| s.markets.iter().map(|m| u64::from(m.gaps_open)).sum::<u64>()),
        "markets_silent": snap.map(|s| s.markets.iter().filter(|m| m.silent_since_us > 0).count()),
    });
    (health, body.to_string())
}

/// A label value escaped for the text format (`\\`, `\"`, `\n`).
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, val)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", esc(val));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", fmt_value(v));
    }
    fn one(&mut self, name: &str, kind: &str, help: &str, v: f64) {
        self.head(name, kind, help);
        self.sample(name, &[], v);
    }
}

fn fmt_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v == v.trunc() && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// The `/metrics` body: Prometheus text format, base units (seconds, bytes, ratios 0–1),
/// `_total` counters, labels `venue`, `market`, `thread`, `stage`, `quantile`, `alert`.
pub fn render_metrics(snap: Option<&Snapshot>, now_us: i64, th: &AlertThresholds) -> String {
    let mut out = String::with_capacity(8192);
    let mut f = Family { out: &mut out };
    let alerts = evaluate(snap, now_us, th);
    let health = health_of(&alerts);
    let running = snap.is_some_and(|s| s.state == EngineState::Running) && health != Health::Down;
    f.one(
        "squeezeflow_up",
        "gauge",
        "1 while the engine is running and publishing statistics.",
        if running { 1.0 } else { 0.0 },
    );
    f.head(
        "squeezeflow_health_status",
        "gauge",
        "1 for the current health state (healthy, degraded, down).",
    );
    for h in [Health::Healthy, Health::Degraded, Health::Down] {
        f.sample(
            "squeezeflow_health_status",
            &[("status", h.as_str())],
            if h == health { 1.0 } else { 0.0 },
        );
    }
    f.head(
        "squeezeflow_alert_active",
        "gauge",
        "Alerts that hold now (1 each).",
    );
    for a in &alerts {
        let sev = match a.severity {
            crate::alerts::Severity::Warning => "warning",
            crate::alerts::Severity::Critical => "critical",
        };
        f.sample(
            "squeezeflow_alert_active",
            &[("alert", a.name), ("severity", sev)],
            1.0,
        );
    }
    let Some(s) = snap else {
        return out;
    };
    let secs = |us: i64| us as f64 / 1e6;
    f.one(
        "squeezeflow_start_time_seconds",
        "gauge",
        "Start time of the engine since the Unix epoch, in seconds.",
        secs(s.started_us),
    );
    f.one(
        "squeezeflow_stats_updated_timestamp_seconds",
        "gauge",
        "When the engine last published its statistics, since the Unix epoch.",
        secs(s.updated_us),
    );
    if let Some(age) = s.freshness_s(now_us) {
        f.one(
            "squeezeflow_data_age_seconds",
            "gauge",
            "Age of the newest trade of any market.",
            age,
        );
    }
    let p = &s.process;
    f.one(
        "squeezeflow_process_resident_memory_bytes",
        "gauge",
        "Resident memory of the engine process.",
        p.rss_bytes as f64,
    );
    f.one(
        "squeezeflow_process_cpu_cores",
        "gauge",
        "CPU used by the engine process over the last interval, in cores.",
        p.cpu_cores,
    );
    f.one(
        "squeezeflow_host_cpu_busy_ratio",
        "gauge",
        "Busy fraction of all host CPUs over the last interval.",
        p.host_cpu,
    );
    f.one(
        "squeezeflow_host_memory_used_ratio",
        "gauge",
        "Used fraction of host memory (1 - MemAvailable/MemTotal).",
        p.host_memory,
    );
    let t = &s.totals;
    for (name, help, v) in [
        (
            "squeezeflow_frames_total",
            "WebSocket text frames received.",
            t.frames,
        ),
        (
            "squeezeflow_events_total",
            "Trades and liquidations decoded and routed.",
            t.events,
        ),
        (
            "squeezeflow_decode_errors_total",
            "Frames that failed to decode.",
            t.decode_errors,
        ),
        (
            "squeezeflow_unknown_symbols_total",
            "Events for markets the engine does not follow.",
            t.unknown_symbols,
        ),
        (
            "squeezeflow_bars_closed_total",
            "1-second bars closed.",
            t.bars_closed,
        ),
        (
            "squeezeflow_late_trades_total",
            "Trades that arrived after their bar closed.",
            t.late_trades,
        ),
        (
            "squeezeflow_store_errors_total",
            "Bar store write errors.",
            t.store_errors,
        ),
        (
            "squeezeflow_signals_total",
            "Signals sent by the strategy.",
            t.signals,
        ),
        (
            "squeezeflow_ring_full_total",
            "Times a producer found an SPSC ring full (back-pressure).",
            t.ring_full,
        ),
        (
            "squeezeflow_alerts_raised_total",
            "Alerts raised since start.",
            t.alerts_raised,
        ),
    ] {
        f.one(name, "counter", help, v as f64);
    }
    let c = &t.continuity;
    for (name, help, v) in [
        (
            "squeezeflow_duplicates_total",
            "Trades dropped as already seen (replays after reconnect, rotation overlap, duplicated frames).",
            c.duplicates,
        ),
        (
            "squeezeflow_gaps_opened_total",
            "Gaps found: missing trade ids, reconnect windows, engine downtime.",
            c.gaps_opened,
        ),
        (
            "squeezeflow_gaps_recovered_total",
            "Gaps closed with every missing trade recovered.",
            c.gaps_recovered,
        ),
        (
            "squeezeflow_gaps_unrecovered_total",
            "Gaps closed with trades still missing (bars stay flagged), abandoned ones included.",
            c.gaps_unrecovered,
        ),
        (
            "squeezeflow_trades_missing_total",
            "Trades found missing by contiguous trade ids (exact).",
            c.trades_missing,
        ),
        (
            "squeezeflow_trades_recovered_total",
            "Trades recovered into the bars by REST backfill.",
            c.trades_recovered,
        ),
        (
            "squeezeflow_backfill_trades_dropped_total",
            "Recovered trades not used (seen already, or outside every open gap).",
            c.backfill_dropped,
        ),
        (
            "squeezeflow_reordered_total",
            "Missing ids filled by a late frame before they counted as a gap.",
            c.reordered,
        ),
        (
            "squeezeflow_gap_records_dropped_total",
            "Gap events the IO ring had no room for (logged; per-market gap series miss them).",
            c.records_dropped,
        ),
        (
            "squeezeflow_stale_reconnects_total",
            "Connections dropped and reconnected by the staleness watchdog.",
            c.stale_reconnects,
        ),
        (
            "squeezeflow_rotations_total",
            "Planned connection rotations completed without loss.",
            c.rotations,
        ),
        (
            "squeezeflow_oversized_frames_total",
            "Messages larger than the client accepts (connection closed and reconnected).",
            c.oversized,
        ),
    ] {
        f.one(name, "counter", help, v as f64);
    }
    f.one(
        "squeezeflow_backfill_running",
        "gauge",
        "1 when a REST backfill worker runs (its squeezeflow_backfill_* series are present).",
        if t.backfill.is_some() { 1.0 } else { 0.0 },
    );
    if let Some(b) = &t.backfill {
        for (name, help, v) in [
            (
                "squeezeflow_backfill_jobs_total",
                "Backfill jobs received.",
                b.jobs,
            ),
            (
                "squeezeflow_backfill_jobs_complete_total",
                "Backfill jobs that fetched their whole range.",
                b.complete,
            ),
            (
                "squeezeflow_backfill_jobs_incomplete_total",
                "Backfill jobs that ended with part of their range unfetched.",
                b.incomplete,
            ),
            (
                "squeezeflow_backfill_requests_total",
                "REST requests sent.",
                b.requests,
            ),
            (
                "squeezeflow_backfill_pages_total",
                "Result pages read.",
                b.pages,
            ),
            (
                "squeezeflow_backfill_trades_total",
                "Trades fetched.",
                b.trades,
            ),
            (
                "squeezeflow_backfill_http_errors_total",
                "Failed requests.",
                b.http_errors,
            ),
            (
                "squeezeflow_backfill_parse_errors_total",
                "Replies that did not parse.",
                b.parse_errors,
            ),
            (
                "squeezeflow_backfill_rate_limited_total",
                "Rate-limit replies from a venue.",
                b.rate_limited,
            ),
            (
                "squeezeflow_backfill_rate_limit_waits_total",
                "Waits imposed by a rate-limit reply.",
                b.rate_limit_waits,
            ),
            (
                "squeezeflow_backfill_pace_waits_total",
                "Waits of the worker's own pacing under a venue's limits.",
                b.pace_waits,
            ),
            (
                "squeezeflow_backfill_jobs_too_old_total",
                "Jobs older than the venue serves.",
                b.too_old,
            ),
            (
                "squeezeflow_backfill_jobs_unsupported_total",
                "Jobs on venues without a usable endpoint.",
                b.unsupported,
            ),
            (
                "squeezeflow_backfill_ring_full_total",
                "Times the worker found its output ring full.",
                b.out_ring_full,
            ),
        ] {
            f.one(name, "counter", help, v as f64);
        }
    }
    f.one(
        "squeezeflow_backpressure_intervals",
        "gauge",
        "Consecutive publish intervals up to now in which a ring was found full.",
        t.backpressure_intervals as f64,
    );

    type VenueCol = (
        &'static str,
        &'static str,
        &'static str,
        fn(&crate::statsfile::snapshot::VenueStats) -> f64,
    );
    let venue_cols: [VenueCol; 6] = [
        (
            "squeezeflow_venue_connections",
            "gauge",
            "Exchange connections configured.",
            |v| f64::from(v.connections),
        ),
        (
            "squeezeflow_venue_connections_open",
            "gauge",
            "Exchange connections open now.",
            |v| f64::from(v.open),
        ),
        (
            "squeezeflow_venue_connects_total",
            "counter",
            "Connections opened, reconnects included.",
            |v| v.connects as f64,
        ),
        (
            "squeezeflow_venue_reconnects_total",
            "counter",
            "Connections lost (each is retried).",
            |v| v.reconnects as f64,
        ),
        (
            "squeezeflow_venue_frames_total",
            "counter",
            "Text frames received from the venue.",
            |v| v.frames as f64,
        ),
        (
            "squeezeflow_venue_frames_per_second",
            "gauge",
            "Frames per second over the last interval.",
            |v| v.frame_rate,
        ),
    ];
    for (name, kind, help, get) in venue_cols {
        f.head(name, kind, help);
        for v in &s.venues {
            f.sample(name, &[("venue", &v.name)], get(v));
        }
    }

    type MarketCol = (
        &'static str,
        &'static str,
        &'static str,
        fn(&crate::statsfile::snapshot::MarketStats) -> Option<f64>,
    );
    let market_cols: [MarketCol; 15] = [
        (
            "squeezeflow_market_last_trade_timestamp_seconds",
            "gauge",
            "Exchange time of the market's newest trade in a closed bar.",
            |m| (m.last_trade_us > 0).then(|| m.last_trade_us as f64 / 1e6),
        ),
        (
            "squeezeflow_market_last_bar_timestamp_seconds",
            "gauge",
            "Start of the market's newest closed bar.",
            |m| (m.last_bar_s > 0).then_some(m.last_bar_s as f64),
        ),
        (
            "squeezeflow_market_bars_total",
            "counter",
            "Bars closed for the market.",
            |m| Some(m.bars as f64),
        ),
        (
            "squeezeflow_market_trades_total",
            "counter",
            "Trades folded into the market's closed bars.",
            |m| Some(m.trades as f64),
        ),
        (
            "squeezeflow_market_late_bars_total",
            "counter",
            "Closed bars amended by late trades.",
            |m| Some(m.late as f64),
        ),
        (
            "squeezeflow_market_bars_last_minute",
            "gauge",
            "Bars closed in the last complete minute (60 expected).",
            |m| Some(f64::from(m.bars_last_minute)),
        ),
        (
            "squeezeflow_market_gap_minutes",
            "gauge",
            "Minutes of the last hour with fewer than 30 bars.",
            |m| Some(f64::from(m.gap_minutes)),
        ),
        (
            "squeezeflow_gaps_open",
            "gauge",
            "Gaps of the market open now (awaiting backfill).",
            |m| Some(f64::from(m.gaps_open)),
        ),
        (
            "squeezeflow_market_gaps_total",
            "counter",
            "Gaps found for the market (missing ids, reconnect windows, downtime).",
            |m| Some(m.gaps as f64),
        ),
        (
            "squeezeflow_market_gaps_recovered_total",
            "counter",
            "The market's gaps closed with every missing trade recovered.",
            |m| Some(m.gaps_recovered as f64),
        ),
        (
            "squeezeflow_market_gaps_unrecovered_total",
            "counter",
            "The market's gaps closed with trades still missing.",
            |m| Some(m.gaps_unrecovered as f64),
        ),
        (
            "squeezeflow_gap_trades_missing_total",
            "counter",
            "Trades of the market found missing by contiguous ids (exact; windows add 0).",
            |m| Some(m.gap_trades_missing as f64),
        ),
        (
            "squeezeflow_gap_trades_recovered_total",
            "counter",
            "Trades of the market recovered into its bars by backfill.",
            |m| Some(m.gap_trades_recovered as f64),
        ),
        (
            "squeezeflow_market_last_gap_timestamp_seconds",
            "gauge",
            "When the market's last gap opened or closed.",
            |m| (m.last_gap_us > 0).then(|| m.last_gap_us as f64 / 1e6),
        ),
        (
            "squeezeflow_market_gap_open_since_timestamp_seconds",
            "gauge",
            "When the market's oldest gap still open was found (absent: none open).",
            |m| {
                (m.gaps_open > 0 && m.open_gap_since_us > 0)
                    .then(|| m.open_gap_since_us as f64 / 1e6)
            },
        ),
    ];
    for (name, kind, help, get) in market_cols {
        f.head(name, kind, help);
        for m in &s.markets {
            if let Some(v) = get(m) {
                f.sample(name, &[("market", &m.id), ("venue", &m.venue)], v);
            }
        }
    }
    // Silent markets (crate::silence): the count always; per market only the markets that
    // have been silent (a market that always flowed is never named).
    f.one(
        "squeezeflow_markets_silent",
        "gauge",
        "Subscribed markets silent now: no trade for their limit while their connection is alive.",
        s.markets.iter().filter(|m| m.silent_since_us > 0).count() as f64,
    );
    type SilentCol = (
        &'static str,
        &'static str,
        &'static str,
        fn(&crate::statsfile::snapshot::MarketStats) -> Option<f64>,
    );
    let silent_cols: [SilentCol; 3] = [
        (
            "squeezeflow_market_silent",
            "gauge",
            "1 while the market is silent, 0 once its trades flow again (markets that were silent only).",
            |m| Some(if m.silent_since_us > 0 { 1.0 } else { 0.0 }),
        ),
        (
            "squeezeflow_market_silent_episodes_total",
            "counter",
            "Silent episodes of the market since start (markets that were silent only).",
            |m| Some(m.silent_episodes as f64),
        ),
        (
            "squeezeflow_market_silent_since_timestamp_seconds",
            "gauge",
            "When the silent market's last trade (or its subscription) was (absent: not silent).",
            |m| (m.silent_since_us > 0).then(|| m.silent_since_us as f64 / 1e6),
        ),
    ];
    for (name, kind, help, get) in silent_cols {
        f.head(name, kind, help);
        for m in s
            .markets
            .iter()
            .filter(|m| m.silent_episodes > 0 || m.silent_since_us > 0)
        {
            if let Some(v) = get(m) {
                f.sample(name, &[("market", &m.id), ("venue", &m.venue)], v);
            }
        }
    }

    type ThreadCol = (
        &'static str,
        &'static str,
        &'static str,
        fn(&crate::statsfile::snapshot::ThreadStats) -> f64,
    );
    let thread_cols: [ThreadCol; 4] = [
        (
            "squeezeflow_thread_busy_ratio",
            "gauge",
            "CPU time / wall time of the thread over the last interval.",
            |t| t.busy,
        ),
        (
            "squeezeflow_thread_ring_depth",
            "gauge",
            "Items waiting in the ring the thread produces into.",
            |t| t.ring_depth as f64,
        ),
        (
            "squeezeflow_thread_ring_capacity",
            "gauge",
            "Capacity of that ring.",
            |t| t.ring_capacity as f64,
        ),
        (
            "squeezeflow_thread_ring_full_total",
            "counter",
            "Times the thread found a ring full.",
            |t| t.ring_full as f64,
        ),
    ];
    for (name, kind, help, get) in thread_cols {
        f.head(name, kind, help);
        for th in &s.threads {
            let core = if th.core < 0 {
                "none".to_string()
            } else {
                th.core.to_string()
            };
            f.sample(name, &[("thread", &th.name), ("core", &core)], get(th));
        }
    }

    let name = "squeezeflow_stage_latency_seconds";
    f.head(
        name,
        "summary",
        "Pipeline stage latency percentiles (HDR histograms of the hot threads).",
    );
    for g in &s.stages {
        let scale = if g.unit == "us" { 1e-6 } else { 1e-9 };
        for (q, v) in [("0.5", g.p50), ("0.99", g.p99), ("0.999", g.p999)] {
            f.sample(
                name,
                &[("stage", &g.stage), ("quantile", q)],
                v as f64 * scale,
            );
        }
        f.sample(
            &format!("{name}_count"),
            &[("stage", &g.stage)],
            g.count as f64,
        );
    }
    let name = "squeezeflow_stage_latency_max_seconds";
    f.head(name, "gauge", "Largest latency seen per stage.");
    for g in &s.stages {
        let scale = if g.unit == "us" { 1e-6 } else { 1e-9 };
        f.sample(name, &[("stage", &g.stage)], g.max as f64 * scale);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statsfile::snapshot::tests::sample;

    const NOW: i64 = 1_700_000_000_000_000;

    #[test]
    fn metrics_text_has_families_labels_and_units() {
        let mut s = sample(NOW);
        s.markets[0].id = "KRAKEN:XBT/\"USD\"".into();
        let text = render_metrics(Some(&s), NOW, &AlertThresholds::default());
        assert!(
            text.contains(
                "# TYPE squeezeflow_frames_total counter\nsqueezeflow_frames_total 1000\n"
            ),
            "{text}"
        );
        assert!(text.contains("squeezeflow_up 1\n"));
        assert!(
            text.contains(
                r#"squeezeflow_market_bars_total{market="KRAKEN:XBT/\"USD\"",venue="binance"} 600"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"squeezeflow_stage_latency_seconds{stage="receive_to_bar",quantile="0.99"} 0.000009"#), "{text}");
        assert!(text.contains(r#"squeezeflow_thread_busy_ratio{thread="feed-0",core="none"} 0.25"#));
        assert!(text
            .contains(r#"squeezeflow_alert_active{alert="ingestion_low",severity="warning"} 1"#));
        assert!(text.contains("squeezeflow_data_age_seconds 1.5\n"));
        for want in [
            "# TYPE squeezeflow_gaps_opened_total counter\nsqueezeflow_gaps_opened_total 3\n",
            "squeezeflow_gaps_unrecovered_total 1\n",
            "squeezeflow_trades_missing_total 12\n",
            "squeezeflow_trades_recovered_total 5\n",
            "# TYPE squeezeflow_duplicates_total counter\nsqueezeflow_duplicates_total 7\n",
            "squeezeflow_stale_reconnects_total 1\n",
            "squeezeflow_rotations_total 2\n",
            "squeezeflow_oversized_frames_total 1\n",
            "squeezeflow_backfill_running 1\n",
            "# TYPE squeezeflow_backfill_jobs_total counter\nsqueezeflow_backfill_jobs_total 2\n",
            "squeezeflow_backfill_pace_waits_total 3\n",
            "# TYPE squeezeflow_gaps_open gauge\n",
            r#"squeezeflow_gaps_open{market="BINANCE:ethusdt",venue="binance"} 0"#,
            r#"squeezeflow_gap_trades_missing_total{market="BINANCE:ethusdt",venue="binance"} 3"#,
            r#"squeezeflow_gap_trades_recovered_total{market="KRAKEN:XBT/\"USD\"",venue="binance"} 5"#,
            r#"squeezeflow_market_gaps_unrecovered_total{market="BINANCE:ethusdt",venue="binance"} 1"#,
            r#"squeezeflow_market_gap_open_since_timestamp_seconds{market="KRAKEN:XBT/\"USD\"",venue="binance"} 1699999995"#,
        ] {
            assert!(text.contains(want), "lacks {want:?}:\n{text}");
        }
        assert!(
            !text.contains(
                r#"squeezeflow_market_gap_open_since_timestamp_seconds{market="BINANCE:ethusdt""#
            ),
            "no open gap, no series"
        );
        // Silent markets: the count, and series for markets that were silent only (the
        // sample's first market had one episode and flows again; ETH never was silent).
        assert!(
            text.contains(
                "# TYPE squeezeflow_markets_silent gauge\nsqueezeflow_markets_silent 0\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"squeezeflow_market_silent{market="KRAKEN:XBT/\"USD\"",venue="binance"} 0"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"squeezeflow_market_silent_episodes_total{market="KRAKEN:XBT/\"USD\"",venue="binance"} 1"#), "{text}");
        assert!(
            !text.contains(r#"silent{market="BINANCE:ethusdt""#),
            "{text}"
        );
        assert!(
            !text.contains(r#"silent_episodes_total{market="BINANCE:ethusdt""#),
            "{text}"
        );
        assert!(
            !text.contains("squeezeflow_market_silent_since_timestamp_seconds{"),
            "{text}"
        );
        let mut quiet = s.clone();
        quiet.markets[1].silent_since_us = NOW - 130_000_000;
        quiet.markets[1].silent_episodes = 1;
        let text = render_metrics(Some(&quiet), NOW, &AlertThresholds::default());
        for want in [
            "squeezeflow_markets_silent 1\n",
            r#"squeezeflow_market_silent{market="BINANCE:ethusdt",venue="binance"} 1"#,
            r#"squeezeflow_market_silent_episodes_total{market="BINANCE:ethusdt",venue="binance"} 1"#,
            r#"squeezeflow_market_silent_since_timestamp_seconds{market="BINANCE:ethusdt",venue="binance"} 1699999870"#,
            r#"squeezeflow_alert_active{alert="market_silent",severity="warning"} 1"#,
        ] {
            assert!(text.contains(want), "lacks {want:?}:\n{text}");
        }
        let mut no_worker = s.clone();
        no_worker.totals.backfill = None;
        let text = render_metrics(Some(&no_worker), NOW, &AlertThresholds::default());
        assert!(text.contains("squeezeflow_backfill_running 0\n"));
        assert!(!text.contains("squeezeflow_backfill_jobs_total"));
        let down = render_metrics(None, NOW, &AlertThresholds::default());
        assert!(down.contains("squeezeflow_up 0\n"));
        assert!(down.contains(r#"squeezeflow_health_status{status="down"} 1"#));
    }

    /// Every metric the Grafana dashboard queries is one `/metrics` exposes.
    #[test]
    fn the_grafana_dashboard_queries_existing_metrics() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../monitoring/grafana/squeezeflow.json"
        );
        let dash: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut s = sample(NOW);
        s.stages.push(crate::statsfile::snapshot::StageLatency {
            stage: "exchange_to_receive".into(),
            unit: "us".into(),
            count: 1,
            p50: 1,
            p99: 1,
            p999: 1,
            max: 1,
        });
        let text = render_metrics(Some(&s), NOW, &AlertThresholds::default());
        let mut checked = 0;
        for panel in dash["panels"].as_array().unwrap() {
            for t in panel["targets"].as_array().unwrap() {
                let expr = t["expr"].as_str().unwrap();
                for (i, _) in expr.match_indices("squeezeflow_") {
                    let name: String = expr[i..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    assert!(
                        text.lines().any(|l| l.starts_with(&format!("{name}{{"))
                            || l.starts_with(&format!("{name} "))),
                        "dashboard panel {:?} queries {name}, which /metrics lacks",
                        panel["title"]
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked >= 20, "{checked}");
    }

    #[test]
    fn health_follows_the_alerts() {
        let th = AlertThresholds::default();
        let s = sample(NOW);
        let (h, body) = health_json(Some(&s), NOW, &th);
        assert_eq!(h, Health::Healthy);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], "healthy");
        assert_eq!(v["engine"]["pid"], 4242);
        assert_eq!(v["gaps_open"], 1, "{body}");
        let (h, body) = health_json(Some(&s), NOW + 20_000_000, &th);
        assert_eq!(h, Health::Down, "{body}");
    }

    #[test]
    fn serves_over_http() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("engine.stats");
        let mut w = crate::statsfile::shm::StatsWriter::create(&path, 8192).unwrap();
        let now = feeds::clock::wall_us();
        let mut buf = Vec::new();
        let mut s = sample(now);
        for m in &mut s.markets {
            m.last_trade_us = now;
        }
        s.encode(&mut buf);
        w.publish(&buf).unwrap();
        let server =
            HttpServer::start("127.0.0.1:0", path, AlertThresholds::default(), None).unwrap();
        let get = |target: &str| {
            let mut c = TcpStream::connect(server.addr()).unwrap();
            write!(c, "GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut r = String::new();
            c.read_to_string(&mut r).unwrap();
            r
        };
        let r = get("/health");
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.contains("\"status\":\"healthy\""), "{r}");
        let r = get("/metrics");
        assert!(r.contains("text/plain; version=0.0.4"), "{r}");
        assert!(r.contains("squeezeflow_up 1"), "{r}");
        assert!(get("/nope").starts_with("HTTP/1.1 404"));
        s.state = EngineState::Stopped;
        s.encode(&mut buf);
        w.publish(&buf).unwrap();
        let r = get("/health");
        assert!(r.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{r}");
        assert!(r.contains("\"status\":\"down\""), "{r}");
        server.stop();
    }
}
