//! The `[influx]` configuration section and the `INFLUX_HOST/PORT/DATABASE` variables.

use crate::store::parse_timeframe;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// `[influx]`: where bars are exported (and, by default, imported from).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct InfluxConfig {
    /// Export every closed bar (`squeezeflow run`/`demo`).
    pub enabled: bool,
    /// Host name or address (env `INFLUX_HOST`).
    pub host: String,
    /// HTTP port (env `INFLUX_PORT`).
    pub port: u16,
    /// Database (env `INFLUX_DATABASE`).
    pub database: String,
    /// Retention policy of the 1-second series.
    pub retention_policy: String,
    /// Measurement of the 1-second series.
    pub measurement: String,
    /// A batch is written once it holds this many points …
    pub batch_size: usize,
    /// … or this long after its first point.
    pub batch_interval_ms: u64,
    /// Where batches wait while InfluxDB is unreachable (default `<data_dir>/influx-backlog`).
    pub backlog_dir: Option<PathBuf>,
    /// Most bytes the backlog may hold; beyond it the oldest batches are dropped (counted and
    /// logged as errors).
    pub backlog_max_mb: u64,
    /// Higher timeframes also written, each to `aggr_<tf>.trades_<tf>` (e.g. `["1m", "5m"]`).
    pub rollups: Vec<String>,
    /// Connect/read/write timeout of one HTTP request.
    pub timeout_ms: u64,
}

impl Default for InfluxConfig {
    fn default() -> Self {
        InfluxConfig {
            enabled: false,
            host: "127.0.0.1".into(),
            port: 8086,
            database: "significant_trades".into(),
            retention_policy: "aggr_1s".into(),
            measurement: "trades_1s".into(),
            batch_size: 5_000,
            batch_interval_ms: 1_000,
            backlog_dir: None,
            backlog_max_mb: 512,
            rollups: Vec::new(),
            timeout_ms: 5_000,
        }
    }
}

impl InfluxConfig {
    /// Applies `INFLUX_HOST`, `INFLUX_PORT`, `INFLUX_DATABASE`; a set but unusable value is an
    /// error naming the variable.
    pub fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
        if let Some(v) = get("INFLUX_HOST") {
            let h = v.trim();
            if h.is_empty() || h.contains(char::is_whitespace) {
                return Err(format!(
                    "INFLUX_HOST={v:?}: expected a host name or address"
                ));
            }
            self.host = h.to_string();
        }
        if let Some(v) = get("INFLUX_PORT") {
            self.port = v
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| format!("INFLUX_PORT={v:?}: expected a TCP port 1-65535"))?;
        }
        if let Some(v) = get("INFLUX_DATABASE") {
            if v.trim().is_empty() {
                return Err(format!("INFLUX_DATABASE={v:?}: empty"));
            }
            self.database = v.trim().to_string();
        }
        Ok(())
    }

    /// Checks every field; the error names it.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |f: &str, m: String| Err((format!("influx.{f}"), m));
        if self.host.is_empty() || self.host.contains(char::is_whitespace) {
            return bad("host", format!("{:?} is not a host name", self.host));
        }
        if self.port == 0 {
            return bad("port", "0 is not a port".into());
        }
        for (f, v) in [
            ("database", &self.database),
            ("retention_policy", &self.retention_policy),
            ("measurement", &self.measurement),
        ] {
            if v.is_empty() {
                return bad(f, "is empty".into());
            }
        }
        if self.batch_size == 0 || self.batch_size > 1_000_000 {
            return bad(
                "batch_size",
                format!("{} is outside 1..=1000000", self.batch_size),
            );
        }
        if self.batch_interval_ms == 0 {
            return bad("batch_interval_ms", "must be at least 1".into());
        }
        if self.backlog_max_mb == 0 {
            return bad("backlog_max_mb", "must be at least 1".into());
        }
        if self.timeout_ms == 0 {
            return bad("timeout_ms", "must be at least 1".into());
        }
        for r in &self.rollups {
            match parse_timeframe(r) {
                Some(s) if s > 1 => {}
                _ => {
                    return bad(
                        "rollups",
                        format!("{r:?} is not a timeframe above 1s like \"1m\", \"5m\", \"1h\""),
                    )
                }
            }
        }
        Ok(())
    }

    /// `(timeframe, seconds, retention policy, measurement)` of each rollup.
    pub fn rollup_targets(&self) -> Vec<(String, u32, String, String)> {
        self.rollups
            .iter()
            .filter_map(|r| {
                parse_timeframe(r)
                    .map(|s| (r.clone(), s, format!("aggr_{r}"), format!("trades_{r}")))
            })
            .collect()
    }

    /// The HTTP timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_and_errors_name_the_variable() {
        let mut c = InfluxConfig::default();
        c.apply_env(&|k| match k {
            "INFLUX_HOST" => Some("influx.local".into()),
            "INFLUX_PORT" => Some("18086".into()),
            "INFLUX_DATABASE" => Some("other".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.database.as_str()),
            ("influx.local", 18086, "other")
        );
        let e = c
            .apply_env(&|k| (k == "INFLUX_PORT").then(|| "x".to_string()))
            .unwrap_err();
        assert!(e.contains("INFLUX_PORT"), "{e}");
    }

    #[test]
    fn validation() {
        let mut c = InfluxConfig {
            rollups: vec!["1m".into(), "4h".into()],
            ..Default::default()
        };
        assert!(c.validate().is_ok());
        assert_eq!(c.rollup_targets()[0].2, "aggr_1m");
        c.rollups.push("1s".into());
        assert_eq!(c.validate().unwrap_err().0, "influx.rollups");
        c.rollups.clear();
        c.batch_size = 0;
        assert_eq!(c.validate().unwrap_err().0, "influx.batch_size");
    }
}
