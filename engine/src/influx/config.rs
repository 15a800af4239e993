//! The `[influx]` configuration section and the `INFLUX_*` variables: the original's
//! `INFLUX_HOST/PORT/DATABASE`, plus `INFLUX_SCHEME`, `INFLUX_USER` (or the `influx` CLI's
//! `INFLUX_USERNAME`) and `INFLUX_PASSWORD`.

use crate::store::parse_timeframe;
use serde::Deserialize;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// A password: compared and cloned like a string, never shown by `Debug` (logs, panics).
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Password(String);

impl Password {
    /// The password.
    pub fn new(s: impl Into<String>) -> Password {
        Password(s.into())
    }

    /// The password itself (for the `Authorization` header only).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether none is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "<redacted>"
        })
    }
}

/// `[influx]`: where bars are exported (and, by default, imported from).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct InfluxConfig {
    /// Export every closed bar (`squeezeflow run`/`demo`).
    pub enabled: bool,
    /// `"http"` or `"https"` (env `INFLUX_SCHEME`); https verifies the server against the
    /// Mozilla roots bundled with the engine.
    pub scheme: String,
    /// Host name or address (env `INFLUX_HOST`).
    pub host: String,
    /// HTTP port (env `INFLUX_PORT`).
    pub port: u16,
    /// Database (env `INFLUX_DATABASE`).
    pub database: String,
    /// User of a server with `auth-enabled` (env `INFLUX_USER`); empty: no authentication.
    /// Sent with `password` as HTTP Basic authentication.
    pub username: String,
    /// Its password (env `INFLUX_PASSWORD`); never logged.
    pub password: Password,
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
            scheme: "http".into(),
            host: "127.0.0.1".into(),
            port: 8086,
            database: "significant_trades".into(),
            username: String::new(),
            password: Password::default(),
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
    /// Applies `INFLUX_HOST`, `INFLUX_PORT`, `INFLUX_DATABASE`, `INFLUX_SCHEME`, `INFLUX_USER`
    /// (else `INFLUX_USERNAME`), `INFLUX_PASSWORD`; a set but unusable value is an error naming
    /// the variable (never quoting a password).
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
        if let Some(v) = get("INFLUX_SCHEME") {
            let scheme = v.trim().to_ascii_lowercase();
            if scheme != "http" && scheme != "https" {
                return Err(format!("INFLUX_SCHEME={v:?}: expected http or https"));
            }
            self.scheme = scheme;
        }
        if let Some((name, v)) = ["INFLUX_USER", "INFLUX_USERNAME"]
            .into_iter()
            .find_map(|k| get(k).map(|v| (k, v)))
        {
            if v.contains(':') {
                return Err(format!("{name}={v:?}: a user name cannot contain ':'"));
            }
            self.username = v;
        }
        if let Some(v) = get("INFLUX_PASSWORD") {
            self.password = Password(v);
        }
        Ok(())
    }

    /// Whether requests go over TLS.
    pub fn https(&self) -> bool {
        self.scheme == "https"
    }

    /// Checks every field; the error names it.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |f: &str, m: String| Err((format!("influx.{f}"), m));
        if self.scheme != "http" && self.scheme != "https" {
            return bad(
                "scheme",
                format!("{:?} is not \"http\" or \"https\"", self.scheme),
            );
        }
        if self.username.contains(':') {
            return bad("username", "cannot contain ':'".into());
        }
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
        let e = c
            .apply_env(&|k| (k == "INFLUX_SCHEME").then(|| "ftp".to_string()))
            .unwrap_err();
        assert!(e.contains("INFLUX_SCHEME"), "{e}");
    }

    #[test]
    fn credentials_and_scheme_from_env_and_the_password_never_shows() {
        let mut c: InfluxConfig =
            toml::from_str("scheme = \"https\"\nusername = \"file\"\npassword = \"s3cret-file\"\n")
                .unwrap();
        assert!(c.https());
        assert_eq!(
            (c.username.as_str(), c.password.expose()),
            ("file", "s3cret-file")
        );
        c.apply_env(&|k| match k {
            "INFLUX_SCHEME" => Some("HTTP".into()),
            "INFLUX_USERNAME" => Some("cli".into()),
            "INFLUX_PASSWORD" => Some("s3cret-env".into()),
            _ => None,
        })
        .unwrap();
        assert!(!c.https());
        assert_eq!(
            (c.username.as_str(), c.password.expose()),
            ("cli", "s3cret-env")
        );
        // INFLUX_USER wins over the CLI's INFLUX_USERNAME.
        c.apply_env(&|k| match k {
            "INFLUX_USER" => Some("writer".into()),
            "INFLUX_USERNAME" => Some("cli".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.username, "writer");
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(c.validate().is_ok());
        c.scheme = "ftp".into();
        assert_eq!(c.validate().unwrap_err().0, "influx.scheme");
        c.scheme = "https".into();
        c.username = "a:b".into();
        assert_eq!(c.validate().unwrap_err().0, "influx.username");
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
