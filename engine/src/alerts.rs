//! Health and alerts from a stats [`Snapshot`], with the original monitor's thresholds:
//! stale data (> 10 s), ingestion below 80 % of 60 bars per market per minute, network
//! latency > 100 ms, host CPU > 80 %, host memory > 90 %, and sustained ring back-pressure;
//! and for continuity: a gap closed with trades still missing (for 10 min after), a market
//! with a gap open longer than 2 min, a market silent while its connection is alive
//! ([`crate::silence`]; `[continuity] silent_after_s` sets when).
//!
//! **Critical** alerts (the engine is down, data is stale, no connection is open) make the
//! engine *degraded* (`/health` answers 503, `squeezeflow monitor --once` exits 1); **warnings**
//! are reported but leave it healthy. The engine raises and resolves them once per publish
//! interval ([`AlertState`]): to the log, and with Redis enabled as `PUBLISH
//! squeezeflow:alerts <json>`.

use crate::statsfile::snapshot::{EngineState, Snapshot};
use serde::{Deserialize, Serialize};

/// `[monitor.alerts]`: thresholds (the original's by default).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AlertThresholds {
    /// Data is stale when the newest trade of every market is older than this, s. Default 10.
    pub stale_s: f64,
    /// Warn when bars per market per minute fall below this fraction of 60. Default 0.8.
    pub ingestion_min: f64,
    /// Warn when the median exchange → receive latency exceeds this, ms. Default 100.
    pub network_latency_ms: f64,
    /// Warn when the host's CPUs are busier than this fraction. Default 0.8.
    pub cpu: f64,
    /// Warn when the host's memory is fuller than this fraction. Default 0.9.
    pub memory: f64,
    /// Warn after this many consecutive publish intervals with a full ring. Default 5.
    pub backpressure_intervals: u64,
    /// Warn while a market has had a gap open for longer than this, s. Default 120.
    pub gap_open_s: f64,
    /// Warn for this long after a gap closed with trades still missing (unrecovered or
    /// abandoned), s. Default 600.
    pub gap_unrecovered_s: f64,
}

impl Default for AlertThresholds {
    fn default() -> AlertThresholds {
        AlertThresholds {
            stale_s: 10.0,
            ingestion_min: 0.8,
            network_latency_ms: 100.0,
            cpu: 0.8,
            memory: 0.9,
            backpressure_intervals: 5,
            gap_open_s: 120.0,
            gap_unrecovered_s: 600.0,
        }
    }
}

impl AlertThresholds {
    /// Range checks; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        let frac = |name: &str, v: f64| {
            if v.is_finite() && (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(format!(
                    "monitor.alerts.{name} = {v} is not a fraction in 0..=1"
                ))
            }
        };
        frac("ingestion_min", self.ingestion_min)?;
        frac("cpu", self.cpu)?;
        frac("memory", self.memory)?;
        for (name, v) in [
            ("stale_s", self.stale_s),
            ("network_latency_ms", self.network_latency_ms),
            ("gap_open_s", self.gap_open_s),
            ("gap_unrecovered_s", self.gap_unrecovered_s),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("monitor.alerts.{name} = {v} must be > 0"));
            }
        }
        if self.backpressure_intervals == 0 {
            return Err("monitor.alerts.backpressure_intervals must be ≥ 1".to_string());
        }
        Ok(())
    }
}

/// How bad an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Critical,
}

/// One condition that holds now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// `engine_down`, `stale_data`, `no_connections`, `ingestion_low`, `network_latency`,
    /// `cpu_high`, `memory_high`, `backpressure`, `gap_unrecovered`, `gap_open`,
    /// `market_silent`.
    pub name: &'static str,
    pub severity: Severity,
    pub message: String,
    pub value: f64,
    pub threshold: f64,
}

/// Overall state, worst first in `Ord`er of exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Healthy,
    Degraded,
    Down,
}

impl Health {
    /// `squeezeflow monitor --once` exit code: 0, 1, 2.
    pub fn exit_code(self) -> u8 {
        match self {
            Health::Healthy => 0,
            Health::Degraded => 1,
            Health::Down => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Degraded => "degraded",
            Health::Down => "down",
        }
    }
}

/// A snapshot older than this many publish intervals (and at least 5 s) means the engine
/// stopped without saying so (killed).
const SILENT_INTERVALS: i64 = 3;

/// The alerts that hold for `snap` at `now_us` (`None`: no stats file, the engine never ran
/// here or is not running).
pub fn evaluate(snap: Option<&Snapshot>, now_us: i64, th: &AlertThresholds) -> Vec<Alert> {
    let mut out = Vec::new();
    let Some(s) = snap else {
        out.push(Alert {
            name: "engine_down",
            severity: Severity::Critical,
            message: "no engine is publishing statistics in this data directory".to_string(),
            value: 0.0,
            threshold: 0.0,
        });
        return out;
    };
    let silent_us = (i64::from(s.interval_ms) * 1000 * SILENT_INTERVALS).max(5_000_000);
    let age_s = (now_us - s.updated_us) as f64 / 1e6;
    if s.state == EngineState::Stopped || now_us - s.updated_us > silent_us {
        out.push(Alert {
            name: "engine_down",
            severity: Severity::Critical,
            message: match s.state {
                EngineState::Stopped => "the engine has stopped".to_string(),
                EngineState::Running => format!(
                    "the engine (pid {}) has not published for {age_s:.0} s",
                    s.pid
                ),
            },
            value: age_s,
            threshold: silent_us as f64 / 1e6,
        });
        return out;
    }
    let uptime_s = (now_us - s.started_us) as f64 / 1e6;
    // Data age: the newest trade, or time since start while none has arrived yet.
    let age = s.freshness_s(now_us).unwrap_or(uptime_s);
    if age > th.stale_s {
        out.push(Alert {
            name: "stale_data",
            severity: Severity::Critical,
            message: format!(
                "newest trade is {age:.1} s old (stale after {} s)",
                th.stale_s
            ),
            value: age,
            threshold: th.stale_s,
        });
    }
    let configured: u32 = s.venues.iter().map(|v| v.connections).sum();
    let open: u32 = s.venues.iter().map(|v| v.open).sum();
    if configured > 0 && open == 0 && uptime_s > th.stale_s {
        out.push(Alert {
            name: "no_connections",
            severity: Severity::Critical,
            message: format!("none of {configured} exchange connections is open"),
            value: 0.0,
            threshold: f64::from(configured),
        });
    }
    // Ingestion needs one complete minute of running.
    if !s.markets.is_empty() && uptime_s >= 120.0 {
        let bars: u32 = s.markets.iter().map(|m| m.bars_last_minute).sum();
        let ratio = f64::from(bars) / (60.0 * s.markets.len() as f64);
        if ratio < th.ingestion_min {
            out.push(Alert {
                name: "ingestion_low",
                severity: Severity::Warning,
                message: format!(
                    "{:.0} % of 60 bars per market in the last minute (warn below {:.0} %)",
                    ratio * 100.0,
                    th.ingestion_min * 100.0
                ),
                value: ratio,
                threshold: th.ingestion_min,
            });
        }
    }
    if let Some(net) = s.stages.iter().find(|g| g.stage == "exchange_to_receive") {
        let ms = net.p50 as f64 / 1e3;
        if net.count > 0 && ms > th.network_latency_ms {
            out.push(Alert {
                name: "network_latency",
                severity: Severity::Warning,
                message: format!(
                    "median exchange → receive latency {ms:.0} ms (warn above {} ms)",
                    th.network_latency_ms
                ),
                value: ms,
                threshold: th.network_latency_ms,
            });
        }
    }
    let p = &s.process;
    if p.host_cpu > th.cpu {
        out.push(Alert {
            name: "cpu_high",
            severity: Severity::Warning,
            message: format!(
                "host CPU {:.0} % busy (warn above {:.0} %)",
                p.host_cpu * 100.0,
                th.cpu * 100.0
            ),
            value: p.host_cpu,
            threshold: th.cpu,
        });
    }
    if p.host_memory > th.memory {
        out.push(Alert {
            name: "memory_high",
            severity: Severity::Warning,
            message: format!(
                "host memory {:.0} % used (warn above {:.0} %)",
                p.host_memory * 100.0,
                th.memory * 100.0
            ),
            value: p.host_memory,
            threshold: th.memory,
        });
    }
    if s.totals.backpressure_intervals >= th.backpressure_intervals {
        out.push(Alert {
            name: "backpressure",
            severity: Severity::Warning,
            message: format!(
                "rings found full in each of the last {} intervals: a stage is not keeping up",
                s.totals.backpressure_intervals
            ),
            value: s.totals.backpressure_intervals as f64,
            threshold: th.backpressure_intervals as f64,
        });
    }
    gap_alerts(s, now_us, th, &mut out);
    out
}

/// `gap_unrecovered`: some market's gap closed with trades missing within the last
/// `gap_unrecovered_s`; `gap_open`: some market has had a gap open for over `gap_open_s`.
fn gap_alerts(s: &Snapshot, now_us: i64, th: &AlertThresholds, out: &mut Vec<Alert>) {
    let window_us = (th.gap_unrecovered_s * 1e6) as i64;
    let recent: Vec<&str> = s
        .markets
        .iter()
        .filter(|m| m.last_unrecovered_us > 0 && now_us - m.last_unrecovered_us <= window_us)
        .map(|m| m.id.as_str())
        .collect();
    if let Some(first) = recent.first() {
        let more = recent.len() - 1;
        out.push(Alert {
            name: "gap_unrecovered",
            severity: Severity::Warning,
            message: format!(
                "a gap of {first}{} closed with trades still missing in the last {} s ({} unrecovered since start; its bars are flagged)",
                if more > 0 {
                    format!(" and {more} more market(s)")
                } else {
                    String::new()
                },
                th.gap_unrecovered_s,
                s.totals.continuity.gaps_unrecovered
            ),
            value: recent.len() as f64,
            threshold: th.gap_unrecovered_s,
        });
    }
    let oldest = s
        .markets
        .iter()
        .filter(|m| m.gaps_open > 0 && m.open_gap_since_us > 0)
        .map(|m| (m, (now_us - m.open_gap_since_us).max(0) as f64 / 1e6))
        .filter(|(_, age)| *age > th.gap_open_s)
        .max_by(|a, b| a.1.total_cmp(&b.1));
    if let Some((m, age)) = oldest {
        out.push(Alert {
            name: "gap_open",
            severity: Severity::Warning,
            message: format!(
                "{} has had a gap open for {age:.0} s (warn after {} s): backfill has not closed it",
                m.id, th.gap_open_s
            ),
            value: age,
            threshold: th.gap_open_s,
        });
    }
    silent_alert(s, now_us, out);
}

/// Markets named in the `market_silent` message (the rest are counted).
const SILENT_NAMED: usize = 5;

/// `market_silent`: some subscribed market has had no trade for its limit while its
/// connection is alive (the engine decided; see [`crate::silence`]). Names the silent markets,
/// longest silent first, and only those.
fn silent_alert(s: &Snapshot, now_us: i64, out: &mut Vec<Alert>) {
    let mut silent: Vec<(&str, f64)> = s
        .markets
        .iter()
        .filter(|m| m.silent_since_us > 0)
        .map(|m| {
            (
                m.id.as_str(),
                (now_us - m.silent_since_us).max(0) as f64 / 1e6,
            )
        })
        .collect();
    if silent.is_empty() {
        return;
    }
    silent.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    let named: Vec<String> = silent
        .iter()
        .take(SILENT_NAMED)
        .map(|(id, age)| format!("{id} ({age:.0} s)"))
        .collect();
    let more = silent.len().saturating_sub(SILENT_NAMED);
    out.push(Alert {
        name: "market_silent",
        severity: Severity::Warning,
        message: format!(
            "silent: {}{}: no trade while the connection is alive; the venue may have re-routed, renamed or retired the stream",
            named.join(", "),
            if more > 0 {
                format!(" and {more} more market(s)")
            } else {
                String::new()
            }
        ),
        value: silent.len() as f64,
        threshold: 0.0,
    });
}

/// The overall state given the alerts that hold.
pub fn health_of(alerts: &[Alert]) -> Health {
    if alerts.iter().any(|a| a.name == "engine_down") {
        Health::Down
    } else if alerts.iter().any(|a| a.severity == Severity::Critical) {
        Health::Degraded
    } else {
        Health::Healthy
    }
}

/// Which alerts were active at the last evaluation, to report changes once.
#[derive(Debug, Default)]
pub struct AlertState {
    active: Vec<&'static str>,
    /// Alerts raised since start.
    pub raised: u64,
}

/// A change of one alert.
#[derive(Debug, Clone, PartialEq)]
pub enum Change<'a> {
    Raised(&'a Alert),
    Resolved(&'static str),
}

impl AlertState {
    /// Compares `alerts` with the previous evaluation and calls `on_change` for each alert
    /// that appeared or went away.
    pub fn update<'a>(&mut self, alerts: &'a [Alert], on_change: &mut dyn FnMut(Change<'a>)) {
        for a in alerts {
            if !self.active.contains(&a.name) {
                self.raised += 1;
                on_change(Change::Raised(a));
            }
        }
        for name in &self.active {
            if !alerts.iter().any(|a| a.name == *name) {
                on_change(Change::Resolved(name));
            }
        }
        self.active = alerts.iter().map(|a| a.name).collect();
    }
}

/// The JSON published on `squeezeflow:alerts` for a change.
pub fn alert_json(change: &Change<'_>, now_us: i64) -> String {
    let timestamp = crate::strategy::signal::iso_time(now_us / 1_000_000);
    let v = match change {
        Change::Raised(a) => serde_json::json!({
            "alert": a.name,
            "state": "firing",
            "severity": a.severity,
            "message": a.message,
            "value": a.value,
            "threshold": a.threshold,
            "timestamp": timestamp,
            "service": "squeezeflow-engine",
        }),
        Change::Resolved(name) => serde_json::json!({
            "alert": name,
            "state": "resolved",
            "timestamp": timestamp,
            "service": "squeezeflow-engine",
        }),
    };
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statsfile::snapshot::tests::sample;

    const NOW: i64 = 1_700_000_000_000_000;

    fn names(alerts: &[Alert]) -> Vec<&'static str> {
        alerts.iter().map(|a| a.name).collect()
    }

    #[test]
    fn a_fresh_engine_is_healthy() {
        let th = AlertThresholds::default();
        let s = sample(NOW);
        let a = evaluate(Some(&s), NOW, &th);
        // 88 of 120 bars in the last minute = 73 %: below the 80 % line.
        assert_eq!(names(&a), ["ingestion_low"]);
        assert_eq!(health_of(&a), Health::Healthy);
    }

    #[test]
    fn each_threshold_raises_its_alert() {
        let th = AlertThresholds::default();
        let mut s = sample(NOW);
        for m in &mut s.markets {
            m.bars_last_minute = 60;
        }
        assert!(evaluate(Some(&s), NOW, &th).is_empty());
        s.process.host_cpu = 0.81;
        s.process.host_memory = 0.91;
        s.totals.backpressure_intervals = 5;
        s.stages.push(crate::statsfile::snapshot::StageLatency {
            stage: "exchange_to_receive".into(),
            unit: "us".into(),
            count: 10,
            p50: 150_000,
            p99: 200_000,
            p999: 0,
            max: 0,
        });
        let a = evaluate(Some(&s), NOW, &th);
        assert_eq!(
            names(&a),
            ["network_latency", "cpu_high", "memory_high", "backpressure"]
        );
        assert_eq!(health_of(&a), Health::Healthy, "warnings only");

        // Stale: the newest trade (1.5 s before `updated`) is now 11.5 s old.
        let later = NOW + 4_000_000;
        let mut s = sample(NOW);
        s.updated_us = later;
        let a = evaluate(Some(&s), later + 6_000_000, &th);
        assert!(names(&a).contains(&"engine_down"), "silent for 6 s");
        let a = evaluate(Some(&s), later, &AlertThresholds { stale_s: 5.0, ..th });
        assert!(names(&a).contains(&"stale_data"), "{a:?}");
        assert_eq!(health_of(&a), Health::Degraded);

        s.venues[0].open = 0;
        let a = evaluate(Some(&s), later, &th);
        assert!(names(&a).contains(&"no_connections"));

        s.state = EngineState::Stopped;
        let a = evaluate(Some(&s), later, &th);
        assert_eq!(names(&a), ["engine_down"]);
        assert_eq!(health_of(&a), Health::Down);
        assert_eq!(health_of(&evaluate(None, NOW, &th)), Health::Down);
    }

    #[test]
    fn changes_are_reported_once() {
        let th = AlertThresholds::default();
        let mut s = sample(NOW);
        s.process.host_cpu = 0.95;
        let a = evaluate(Some(&s), NOW, &th);
        let mut st = AlertState::default();
        let mut seen = Vec::new();
        st.update(&a, &mut |c| seen.push(format!("{c:?}")));
        assert_eq!(seen.len(), 2, "{seen:?}");
        seen.clear();
        st.update(&a, &mut |c| seen.push(format!("{c:?}")));
        assert!(seen.is_empty());
        st.update(&[], &mut |c| seen.push(format!("{c:?}")));
        assert_eq!(
            seen,
            ["Resolved(\"ingestion_low\")", "Resolved(\"cpu_high\")"]
        );
        assert_eq!(st.raised, 2);
        let json = alert_json(&Change::Raised(&a[1]), NOW);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["alert"], "cpu_high");
        assert_eq!(v["state"], "firing");
        assert_eq!(v["severity"], "warning");
        assert!(
            v["timestamp"].as_str().unwrap().ends_with("+00:00"),
            "{json}"
        );
    }

    #[test]
    fn silent_markets_raise_an_alert_naming_only_them() {
        let th = AlertThresholds::default();
        let mut s = sample(NOW);
        for m in &mut s.markets {
            m.bars_last_minute = 60;
        }
        s.markets[0].gaps_open = 0;
        assert!(evaluate(Some(&s), NOW, &th).is_empty());
        // BTC had a silent episode that cleared: nothing to say.
        assert_eq!(s.markets[0].silent_episodes, 1);
        // ETH silent for 130 s: a warning naming ETH, not BTC.
        s.markets[1].silent_since_us = NOW - 130_000_000;
        s.markets[1].silent_episodes = 1;
        let a = evaluate(Some(&s), NOW, &th);
        assert_eq!(names(&a), ["market_silent"]);
        assert_eq!(a[0].severity, Severity::Warning);
        assert_eq!(health_of(&a), Health::Healthy, "a warning");
        assert!(
            a[0].message.contains("BINANCE:ethusdt (130 s)"),
            "{}",
            a[0].message
        );
        assert!(a[0].message.contains("silent"), "{}", a[0].message);
        assert!(!a[0].message.contains("btcusdt"), "{}", a[0].message);
        assert_eq!(a[0].value, 1.0);
        // Many silent markets: the longest silent are named, the rest counted.
        for i in 0..7 {
            let mut m = s.markets[1].clone();
            m.id = format!("BYBIT:X{i}USDT");
            m.silent_since_us = NOW - (10 + i) * 1_000_000;
            s.markets.push(m);
        }
        let a = evaluate(Some(&s), NOW, &th);
        let msg = &a[0].message;
        assert!(
            msg.starts_with("silent: BINANCE:ethusdt (130 s), BYBIT:X6USDT (16 s)"),
            "{msg}"
        );
        assert!(msg.contains(" and 3 more market(s)"), "{msg}");
        assert_eq!(a[0].value, 8.0);
        // Cleared: resolved.
        for m in &mut s.markets {
            m.silent_since_us = 0;
        }
        assert!(evaluate(Some(&s), NOW, &th).is_empty());
    }

    #[test]
    fn gaps_raise_their_alerts() {
        let th = AlertThresholds::default();
        let mut s = sample(NOW);
        for m in &mut s.markets {
            m.bars_last_minute = 60;
        }
        // The sample's unrecovered gap closed an hour ago, its open gap opened 5 s ago.
        assert!(evaluate(Some(&s), NOW, &th).is_empty());

        // ETH's gap closes unrecovered now: a warning that holds for gap_unrecovered_s.
        s.markets[1].gaps_unrecovered += 1;
        s.markets[1].last_unrecovered_us = NOW - 1_000_000;
        let a = evaluate(Some(&s), NOW, &th);
        assert_eq!(names(&a), ["gap_unrecovered"]);
        assert_eq!(a[0].severity, Severity::Warning);
        assert!(a[0].message.contains("BINANCE:ethusdt"), "{}", a[0].message);
        assert_eq!(health_of(&a), Health::Healthy, "a warning");
        // Resolved once gap_unrecovered_s has passed since the close (data still fresh).
        let at = |s: &mut Snapshot, t: i64| {
            s.updated_us = t;
            for m in &mut s.markets {
                m.last_trade_us = t;
            }
        };
        at(&mut s, NOW + 598_000_000);
        assert!(names(&evaluate(Some(&s), NOW + 598_000_000, &th)).contains(&"gap_unrecovered"));
        at(&mut s, NOW + 600_000_000);
        assert!(!names(&evaluate(Some(&s), NOW + 600_000_000, &th)).contains(&"gap_unrecovered"));

        // BTC's gap (opened 5 s before NOW) still open 126 s later: over gap_open_s.
        let mut s = sample(NOW);
        for m in &mut s.markets {
            m.bars_last_minute = 60;
        }
        at(&mut s, NOW + 100_000_000);
        assert!(evaluate(Some(&s), NOW + 100_000_000, &th).is_empty());
        at(&mut s, NOW + 126_000_000);
        let a = evaluate(Some(&s), NOW + 126_000_000, &th);
        assert_eq!(names(&a), ["gap_open"]);
        assert_eq!(a[0].value, 131.0);
        assert!(a[0].message.contains("BINANCE:btcusdt"), "{}", a[0].message);
        s.markets[0].gaps_open = 0;
        s.markets[0].open_gap_since_us = 0;
        assert!(
            evaluate(Some(&s), NOW + 126_000_000, &th).is_empty(),
            "closed"
        );
    }

    #[test]
    fn thresholds_validate() {
        assert!(AlertThresholds::default().validate().is_ok());
        let bad = AlertThresholds {
            cpu: 1.5,
            ..AlertThresholds::default()
        };
        assert!(bad.validate().unwrap_err().contains("monitor.alerts.cpu"));
        let bad = AlertThresholds {
            gap_open_s: 0.0,
            ..AlertThresholds::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .contains("monitor.alerts.gap_open_s"));
    }
}
