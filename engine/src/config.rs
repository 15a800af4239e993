//! The engine's TOML configuration: every key, its default, and validation with errors that name
//! the file, line and field. `config.example.toml` at the repository root documents each key.
//!
//! Precedence: command line > environment (`SQUEEZEFLOW_*`) > config file > defaults.

use engine_core::continuity::{ConnPolicy, ContinuityConfig};
pub use engine_core::runtime::CoreSpec;
use engine_core::runtime::CoreSpecError;
use feeds::Venue;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A configuration problem, with where it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where bars (and later journals, tapes, stats) live. Default `./data`.
    pub data_dir: PathBuf,
    /// `error`, `warn`, `info`, `debug` or `trace`. Default `info` (env `SQUEEZEFLOW_LOG_LEVEL`).
    pub log_level: String,
    pub runtime: RuntimeConfig,
    pub bars: BarsConfig,
    /// `[[feeds]]` tables: which venues and pairs to follow.
    pub feeds: Vec<FeedConfig>,
    /// `[strategy]`: the SqueezeFlow parameters (reference/strategy.md).
    pub strategy: crate::strategy::StrategyConfig,
    /// `[signals]`: where validated signals go besides the journal.
    pub signals: SignalsConfig,
    /// `[instruments]`: contract sizes fetched at start-up, cached, bundled fallback.
    pub instruments: crate::instruments::InstrumentsConfig,
    /// `[influx]`: export to / import from InfluxDB 1.x (see [`crate::influx`]).
    pub influx: crate::influx::InfluxConfig,
    /// `[monitor]`: stats file, `/metrics` and `/health`, alert thresholds.
    pub monitor: crate::monitor::MonitorConfig,
    /// `[continuity]`: staleness watchdog, rotation, gap handling (see [`crate::continuity`]).
    pub continuity: ContinuitySettings,
    /// `[backfill]`: REST recovery of gaps and reconnect windows (see [`crate::backfill`]).
    pub backfill: crate::backfill::BackfillConfig,
    /// `[capture]`: raw-frame capture files (see [`crate::capture`]).
    pub capture: crate::capture::CaptureConfig,
}

/// `[signals]`: the journal under `<data_dir>/signals/` is always written.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SignalsConfig {
    /// Print each signal's JSON line on stdout. Default true.
    pub stdout: bool,
    /// Publish signals to Redis in the original's layout (seed-compat.md). Default false.
    pub redis: bool,
    /// Redis server (env `REDIS_URL`, then `REDIS_HOST`, `REDIS_PORT`, `REDIS_DB`,
    /// `REDIS_USERNAME`, `REDIS_PASSWORD` override; see [`crate::sink::redis::RedisConfig`]).
    pub redis_host: String,
    pub redis_port: u16,
    pub redis_db: u32,
    /// ACL user (`AUTH username password`); needs `redis_password`.
    pub redis_username: Option<String>,
    /// `AUTH` password (ACL user's, or the default user's `requirepass`). Never logged.
    pub redis_password: Option<crate::sink::redis::Secret>,
    /// TLS to the server (what `rediss://` means).
    pub redis_tls: bool,
    /// PEM CA certificate(s) to trust for TLS instead of the webpki roots.
    pub redis_ca_file: Option<PathBuf>,
    /// `redis://[user:password@]host:port/db` or `rediss://…`: when set, replaces
    /// host, port, db, username, password and tls above.
    pub redis_url: Option<crate::sink::redis::Secret>,
}

impl SignalsConfig {
    /// The Redis sink's settings: the `redis_*` fields, `redis_url` over them, then the
    /// `REDIS_*` variables read through `env` over both (environment overrides the file);
    /// validated. Errors never show a password.
    pub fn redis_config(
        &self,
        signal_ttl_s: u64,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<crate::sink::redis::RedisConfig, ConfigError> {
        let invalid = |origin: &str, message: String| ConfigError::Invalid {
            origin: origin.to_string(),
            message,
        };
        let mut r = crate::sink::redis::RedisConfig {
            host: self.redis_host.clone(),
            port: self.redis_port,
            db: self.redis_db,
            username: self.redis_username.clone(),
            password: self.redis_password.clone(),
            tls: self.redis_tls,
            ca_file: self.redis_ca_file.clone(),
            signal_ttl_s,
            ..Default::default()
        };
        if let Some(url) = &self.redis_url {
            r.apply_url(url.expose())
                .map_err(|m| invalid("signals.redis_url", m))?;
        }
        r.apply_env_from(env)
            .and_then(|()| r.validate())
            .map_err(|e| invalid("signals.redis", e.to_string()))?;
        Ok(r)
    }
}

impl Default for SignalsConfig {
    fn default() -> SignalsConfig {
        SignalsConfig {
            stdout: true,
            redis: false,
            redis_host: "127.0.0.1".to_string(),
            redis_port: 6379,
            redis_db: 0,
            redis_username: None,
            redis_password: None,
            redis_tls: false,
            redis_ca_file: None,
            redis_url: None,
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            data_dir: PathBuf::from("./data"),
            log_level: "info".to_string(),
            runtime: RuntimeConfig::default(),
            bars: BarsConfig::default(),
            feeds: Vec::new(),
            strategy: Default::default(),
            signals: SignalsConfig::default(),
            instruments: Default::default(),
            influx: Default::default(),
            monitor: Default::default(),
            continuity: Default::default(),
            backfill: Default::default(),
            capture: Default::default(),
        }
    }
}

/// `[runtime]`: threads, cores and how idle threads wait.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// `"auto"` or `{ feed = [1], shard = [2, 3], io = 0 }` (core ids as the OS numbers them).
    #[serde(deserialize_with = "core_spec")]
    pub cores: CoreSpec,
    /// Spin forever on idle instead of parking (for isolated cores). Default false.
    pub busy_poll: bool,
    /// How long an idle thread spins before it parks, µs. Default 50.
    pub spin_us: u64,
    /// Capacity of each SPSC ring, in items (rounded up to a power of two). Default 65 536.
    pub ring_capacity: usize,
}

impl Default for RuntimeConfig {
    fn default() -> RuntimeConfig {
        RuntimeConfig {
            cores: CoreSpec::Auto,
            busy_poll: false,
            spin_us: 50,
            ring_capacity: 65_536,
        }
    }
}

/// `cores = "auto"` or `cores = { feed = [..], shard = [..], io = N }`.
fn core_spec<'de, D: serde::Deserializer<'de>>(d: D) -> Result<CoreSpec, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Word(String),
        Map {
            feed: Vec<usize>,
            shard: Vec<usize>,
            io: usize,
        },
    }
    match Raw::deserialize(d)? {
        Raw::Word(w) if w == "auto" => Ok(CoreSpec::Auto),
        Raw::Word(w) => Err(serde::de::Error::custom(format!(
            "cores = {w:?}: expected \"auto\" or {{ feed = [..], shard = [..], io = N }}"
        ))),
        Raw::Map { feed, shard, io } => Ok(CoreSpec::Explicit { feed, shard, io }),
    }
}

impl From<CoreSpecError> for ConfigError {
    fn from(e: CoreSpecError) -> ConfigError {
        ConfigError::Invalid {
            origin: "runtime.cores".to_string(),
            message: e.message,
        }
    }
}

/// `[continuity]`: connection health, rotation and gap handling (all optional).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ContinuitySettings {
    /// A connection silent for `stale_factor` × its usual gap between frames is dropped and
    /// reconnected, but never before `stale_floor_s` nor later than `stale_cap_s`.
    pub stale_factor: u32,
    pub stale_floor_s: f64,
    pub stale_cap_s: f64,
    /// How long missing ids may stay missing before they count as a gap (a reordered frame
    /// fills them first), ms.
    pub hole_grace_ms: u64,
    /// After a reconnect, how long to wait for a market's first trade before its window is
    /// closed at the reconnect, s.
    pub window_wait_s: f64,
    /// During a rotation, the overlap after the boundary second before the old connection
    /// is closed, ms.
    pub rotation_overlap_ms: u64,
    /// At start-up, backfill each market's downtime (from its last closed stored second).
    pub restart_backfill: bool,
    /// A subscribed market with no trade for this long while its connection is otherwise
    /// alive is reported silent; a market that has learnt its usual gap between trades waits
    /// [`SILENT_FACTOR`](crate::silence::SILENT_FACTOR) × that gap if longer (see [`crate::silence`]), s.
    pub silent_after_s: f64,
}

impl Default for ContinuitySettings {
    fn default() -> Self {
        ContinuitySettings {
            stale_factor: 20,
            stale_floor_s: 10.0,
            stale_cap_s: 300.0,
            hole_grace_ms: 1000,
            window_wait_s: 10.0,
            rotation_overlap_ms: 2000,
            restart_backfill: true,
            silent_after_s: 120.0,
        }
    }
}

impl ContinuitySettings {
    /// Errors name the field.
    pub fn validate(&self) -> Result<(), String> {
        let ok = |v: f64| v.is_finite() && v > 0.0;
        if !ok(self.stale_floor_s) || !ok(self.stale_cap_s) || self.stale_cap_s < self.stale_floor_s
        {
            return Err(format!(
                "stale_floor_s ({}) and stale_cap_s ({}) must be positive, floor ≤ cap",
                self.stale_floor_s, self.stale_cap_s
            ));
        }
        if self.stale_factor == 0 {
            return Err("stale_factor must be at least 1".into());
        }
        if !ok(self.window_wait_s) {
            return Err(format!(
                "window_wait_s ({}) must be positive",
                self.window_wait_s
            ));
        }
        // At least a millisecond (the sweep runs every 100 ms), at most a year.
        if !(self.silent_after_s.is_finite()
            && (0.001..=31_536_000.0).contains(&self.silent_after_s))
        {
            return Err(format!(
                "silent_after_s ({}) must be a number of seconds between 0.001 and 31536000",
                self.silent_after_s
            ));
        }
        Ok(())
    }

    pub fn policy(&self) -> ConnPolicy {
        ConnPolicy {
            stale_factor: self.stale_factor,
            stale_floor: std::time::Duration::from_secs_f64(self.stale_floor_s),
            stale_cap: std::time::Duration::from_secs_f64(self.stale_cap_s),
            overlap: std::time::Duration::from_millis(self.rotation_overlap_ms),
        }
    }

    pub fn state_config(&self, backfill: bool) -> ContinuityConfig {
        ContinuityConfig {
            hole_grace_ns: self.hole_grace_ms.saturating_mul(1_000_000),
            window_wait_ns: (self.window_wait_s * 1e9) as u64,
            backfill,
            silent_after_ns: (self.silent_after_s * 1e9) as u64,
        }
    }
}

/// `[bars]`: closing and retention.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct BarsConfig {
    /// Live only: a bar closes this long after its second ends if no later trade closed it. Default 250.
    pub grace_ms: u64,
    /// Day files older than this many days are deleted (0 = keep forever). Default 30.
    pub retention_days: u32,
    /// How often the IO core asks the OS to write bar pages back (msync), ms. Default 5000.
    pub msync_interval_ms: u64,
}

impl Default for BarsConfig {
    fn default() -> BarsConfig {
        BarsConfig {
            grace_ms: 250,
            retention_days: 30,
            msync_interval_ms: 5_000,
        }
    }
}

/// `[[feeds]]`: one venue and the pairs to follow on it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    /// A venue name (`binance`, `bybit-linear`, `okx-swap`, … see `feeds::Venue::name`).
    pub venue: String,
    /// Endpoint, e.g. `ws://127.0.0.1:9001` (a simulator or proxy; without a path the venue's
    /// own path is appended); default: the venue's official URL.
    #[serde(default)]
    pub url: Option<String>,
    /// Instruments as the venue spells them in requests (`btcusdt`, `BTC-USDT-SWAP`, `tBTCUSD`).
    pub pairs: Vec<String>,
    /// Interval of the client's keepalive pings, ms, on venues that want client pings
    /// (default: the venue's own rule, e.g. OKX 20 s); ignored where the server pings.
    #[serde(default)]
    pub ping_ms: Option<u64>,
    /// Rotate each connection this many seconds after it opened (default: 10 minutes before
    /// the venue's own limit, Binance and Bitget 24 h; other venues never); 0 = never.
    #[serde(default)]
    pub rotate_after_s: Option<u64>,
}

impl FeedConfig {
    /// The venue, or an error naming the bad value. A venue that has closed
    /// ([`Venue::closed`]) is refused with the closure, not followed: its host is gone.
    pub fn venue(&self) -> Result<Venue, ConfigError> {
        let venue = Venue::from_name(&self.venue).ok_or_else(|| ConfigError::Invalid {
            origin: "feeds.venue".to_string(),
            message: format!(
                "unknown venue {:?} (accepted: {})",
                self.venue,
                feeds::alias::open_spellings()
            ),
        })?;
        match venue.closed() {
            Some(why) => Err(ConfigError::Invalid {
                origin: "feeds.venue".to_string(),
                message: format!(
                    "venue {:?} has closed: {why}. There is nothing left to connect to; remove \
                     this [[feeds]] entry (old {venue} captures still work with `decode` and \
                     `replay`, its bar history with `import` and `bars`)",
                    self.venue
                ),
            }),
            None => Ok(venue),
        }
    }
}

impl Config {
    /// Parse a config file; errors carry the path and toml's line/column.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().replace('\n', "\n  "),
        })?;
        cfg.resolve_venue_aliases()
            .and_then(|()| cfg.validate())
            .map_err(|e| match e {
                ConfigError::Invalid { origin, message } => ConfigError::Invalid {
                    origin: format!("{}: {origin}", path.display()),
                    message,
                },
                other => other,
            })?;
        Ok(cfg)
    }

    /// `[[feeds]]` whose `venue` is spelled as aggr-server spells it (`BINANCE_FUTURES`,
    /// `bybit`, `OKEX`; see `feeds::alias`) become feeds of our venues: each pair goes to the
    /// venue its name belongs to (`btcusd_perp` → `binance-coinm`, `BTCUSDT-SPOT` →
    /// `bybit-spot` as `BTCUSDT`), one feed per venue, in the order the pairs came.
    pub fn resolve_venue_aliases(&mut self) -> Result<(), ConfigError> {
        let mut out = Vec::with_capacity(self.feeds.len());
        for (i, f) in std::mem::take(&mut self.feeds).into_iter().enumerate() {
            let alias = match feeds::alias::VenueName::parse(&f.venue) {
                Some(n @ feeds::alias::VenueName::AggrServer(_)) => n,
                // Ours, or unknown (validate names the accepted spellings).
                _ => {
                    out.push(f);
                    continue;
                }
            };
            let mut groups: Vec<(Venue, Vec<String>)> = Vec::new();
            for p in &f.pairs {
                let (venue, pair) = alias.for_pair(p).map_err(|message| ConfigError::Invalid {
                    origin: format!("feeds[{i}].pairs"),
                    message: format!("venue {:?}: {message}", f.venue),
                })?;
                match groups.iter_mut().find(|(v, _)| *v == venue) {
                    Some((_, pairs)) => pairs.push(pair),
                    None => groups.push((venue, vec![pair])),
                }
            }
            if groups.len() > 1 && f.url.is_some() {
                return Err(ConfigError::Invalid {
                    origin: format!("feeds[{i}].url"),
                    message: format!(
                        "venue {:?} with pairs of several venues ({}) cannot share one url: \
                         write one [[feeds]] per venue",
                        f.venue,
                        groups
                            .iter()
                            .map(|(v, _)| v.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
            if groups.is_empty() {
                // No pairs: keep one feed so that validate reports the empty list.
                groups.push((alias.venues()[0], Vec::new()));
            }
            for (venue, pairs) in groups {
                log::info!(
                    "feeds[{i}]: venue {:?} (aggr-server spelling) is {} for {}",
                    f.venue,
                    venue.name(),
                    pairs.join(", ")
                );
                out.push(FeedConfig {
                    venue: venue.name().to_string(),
                    pairs,
                    ..f.clone()
                });
            }
        }
        self.feeds = out;
        Ok(())
    }

    /// Apply `SQUEEZEFLOW_*` environment overrides (environment beats the file).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(level) = get("SQUEEZEFLOW_LOG_LEVEL") {
            self.log_level = level.to_ascii_lowercase();
        }
        if let Some(dir) = get("SQUEEZEFLOW_DATA_DIR") {
            self.data_dir = PathBuf::from(dir);
        }
        self.strategy
            .apply_env(&get)
            .map_err(|message| ConfigError::Invalid {
                origin: "environment".to_string(),
                message,
            })?;
        self.influx
            .apply_env(&get)
            .map_err(|message| ConfigError::Invalid {
                origin: "environment".to_string(),
                message,
            })?;
        self.validate().map_err(|e| match e {
            ConfigError::Invalid { origin, message } => ConfigError::Invalid {
                origin: format!("environment: {origin}"),
                message,
            },
            other => other,
        })
    }

    /// Cross-field checks serde cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |origin: &str, message: String| ConfigError::Invalid {
            origin: origin.to_string(),
            message,
        };
        if !["error", "warn", "info", "debug", "trace"].contains(&self.log_level.as_str()) {
            return Err(invalid(
                "log_level",
                format!(
                    "{:?} is not one of error, warn, info, debug, trace",
                    self.log_level
                ),
            ));
        }
        if self.runtime.ring_capacity < 2 || self.runtime.ring_capacity > (1 << 24) {
            return Err(invalid(
                "runtime.ring_capacity",
                format!("{} is outside 2..=16777216", self.runtime.ring_capacity),
            ));
        }
        self.strategy
            .validate()
            .map_err(|(field, message)| invalid(&field, message))?;
        self.instruments
            .validate()
            .map_err(|(field, message)| invalid(&field, message))?;
        self.influx
            .validate()
            .map_err(|(field, message)| invalid(&field, message))?;
        self.monitor
            .validate()
            .map_err(|message| invalid("monitor", message))?;
        self.backfill
            .validate()
            .map_err(|(field, message)| invalid(&field, message))?;
        self.capture
            .validate()
            .map_err(|(field, message)| invalid(&field, message))?;
        self.continuity
            .validate()
            .map_err(|message| invalid("continuity", message))?;
        for (i, f) in self.feeds.iter().enumerate() {
            f.venue().map_err(|e| match e {
                ConfigError::Invalid { message, .. } => {
                    invalid(&format!("feeds[{i}].venue"), message)
                }
                other => other,
            })?;
            if f.pairs.is_empty() {
                return Err(invalid(
                    &format!("feeds[{i}].pairs"),
                    "is empty: list at least one pair".to_string(),
                ));
            }
            for p in &f.pairs {
                if p.is_empty()
                    || p.len() > feeds::Symbol::CAPACITY
                    || !p
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_-/:.".contains(&b))
                {
                    return Err(invalid(
                        &format!("feeds[{i}].pairs"),
                        format!(
                            "{p:?} is not an instrument name like \"btcusdt\", \"BTC-USDT-SWAP\" \
                             or \"tBTCF0:USTF0\""
                        ),
                    ));
                }
            }
            if let Some(url) = &f.url {
                if !(url.starts_with("ws://") || url.starts_with("wss://")) {
                    return Err(invalid(
                        &format!("feeds[{i}].url"),
                        format!("{url:?} must start with ws:// or wss://"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The feeds `run` follows when the config lists none: BTC, ETH and SOL, spot and perp, on
    /// every venue ([`crate::defaults::DEFAULT_FEEDS`], documented in the README).
    pub fn default_feeds() -> Vec<FeedConfig> {
        crate::defaults::DEFAULT_FEEDS
            .iter()
            .map(|(venue, pairs)| FeedConfig {
                venue: venue.to_string(),
                url: None,
                pairs: pairs.iter().map(|p| p.to_string()).collect(),
                ping_ms: None,
                rotate_after_s: None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("test.toml"))
    }

    #[test]
    fn aggr_server_venue_spellings_become_our_venues() {
        let cfg = parse(
            "[[feeds]]\nvenue = \"BINANCE_FUTURES\"\npairs = [\"btcusdt\", \"btcusd_perp\", \"ethusdt\"]\n\
             [[feeds]]\nvenue = \"bybit\"\npairs = [\"BTCUSDT-SPOT\", \"BTCUSDT\", \"BTCUSD\"]\n\
             [[feeds]]\nvenue = \"okex\"\npairs = [\"BTC-USDT-SWAP\"]\n",
        )
        .unwrap();
        let got: Vec<(Venue, Vec<&str>)> = cfg
            .feeds
            .iter()
            .map(|f| {
                (
                    f.venue().unwrap(),
                    f.pairs.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (Venue::BinanceUsdm, vec!["btcusdt", "ethusdt"]),
                (Venue::BinanceCoinm, vec!["btcusd_perp"]),
                (Venue::BybitSpot, vec!["BTCUSDT"]),
                (Venue::BybitLinear, vec!["BTCUSDT"]),
                (Venue::BybitInverse, vec!["BTCUSD"]),
                (Venue::OkxSwap, vec!["BTC-USDT-SWAP"]),
            ]
        );
        // One url cannot serve two venues' pairs.
        let e = parse(
            "[[feeds]]\nvenue = \"BINANCE_FUTURES\"\nurl = \"ws://127.0.0.1:1\"\n\
             pairs = [\"btcusdt\", \"btcusd_perp\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("feeds[0].url") && e.contains("binance-coinm"),
            "{e}"
        );
        // A pair no adapter serves is named.
        let e = parse("[[feeds]]\nvenue = \"GATEIO\"\npairs = [\"BTC_USDT-SPOT\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("feeds[0].pairs") && e.contains("BTC_USDT-SPOT"),
            "{e}"
        );
        // A truly unknown venue lists every accepted spelling.
        let e = parse("[[feeds]]\nvenue = \"KUCOIN\"\npairs = [\"BTC-USDT\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("KUCOIN") && e.contains("binance-usdm") && e.contains("BINANCE_FUTURES"),
            "{e}"
        );
    }

    #[test]
    fn empty_file_is_all_defaults() {
        assert_eq!(parse("").unwrap(), Config::default());
    }

    #[test]
    fn full_file() {
        let cfg = parse(
            r#"
data_dir = "/var/lib/squeezeflow"
log_level = "debug"
[runtime]
cores = { feed = [1], shard = [2, 3], io = 0 }
busy_poll = true
[bars]
grace_ms = 100
[[feeds]]
venue = "binance-usdm"
pairs = ["btcusdt", "btcusd_perp"]
"#,
        )
        .unwrap();
        assert_eq!(
            cfg.runtime.cores,
            CoreSpec::Explicit {
                feed: vec![1],
                shard: vec![2, 3],
                io: 0
            }
        );
        assert_eq!(cfg.bars.grace_ms, 100);
        assert_eq!(cfg.bars.retention_days, 30);
        assert_eq!(cfg.feeds[0].venue().unwrap(), Venue::BinanceUsdm);
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let e = parse("[runtime]\nbusy_pol = true\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("test.toml"), "{e}");
        assert!(e.contains("line 2"), "{e}");
        assert!(e.contains("busy_pol"), "{e}");

        let e = parse("[[feeds]]\nvenue = \"binanse\"\npairs = [\"btcusdt\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("feeds[0].venue") && e.contains("binanse"), "{e}");

        let e = parse("[runtime]\ncores = \"all\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("auto"), "{e}");

        let e = parse("[[feeds]]\nvenue = \"binance\"\npairs = []\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("feeds[0].pairs"), "{e}");
    }

    #[test]
    fn a_closed_venue_is_refused_with_its_closure() {
        let text = "[[feeds]]\nvenue = \"bybit-linear\"\npairs = [\"BTCUSDT\"]\n\n\
                    [[feeds]]\nvenue = \"bitmex\"\npairs = [\"XBTUSD\"]\n";
        let e = parse(text).unwrap_err().to_string();
        assert!(
            e.contains("test.toml") && e.contains("feeds[1].venue"),
            "{e}"
        );
        assert!(
            e.contains("\"bitmex\" has closed")
                && e.contains("ceased operations on 2026-09-23 04:00 UTC"),
            "{e}"
        );
        // Also when the config was built in code (Plan::from_config goes through venue()).
        let f = FeedConfig {
            venue: "bitmex".into(),
            url: Some("ws://127.0.0.1:9".into()),
            pairs: vec!["XBTUSD".into()],
            ping_ms: None,
            rotate_after_s: None,
        };
        assert!(f.venue().unwrap_err().to_string().contains("has closed"));
        // Closed venues are not offered as alternatives to a misspelt name.
        let e = parse("[[feeds]]\nvenue = \"bitmax\"\npairs = [\"XBTUSD\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown venue") && !e.contains("bitmex"), "{e}");
        // The defaults follow no closed venue.
        for f in Config::default_feeds() {
            assert!(f.venue().is_ok(), "{}", f.venue);
        }
    }

    #[test]
    fn continuity_silent_after_s() {
        assert_eq!(Config::default().continuity.silent_after_s, 120.0);
        let cfg = parse("[continuity]\nsilent_after_s = 2.5\n").unwrap();
        assert_eq!(cfg.continuity.silent_after_s, 2.5);
        assert_eq!(
            cfg.continuity.state_config(true).silent_after_ns,
            2_500_000_000
        );
        let cfg = parse("[continuity]\nsilent_after_s = 600\n").unwrap();
        assert_eq!(
            cfg.continuity.silent_after_s, 600.0,
            "an integer is seconds too"
        );
        for bad in ["0", "-5.0", "nan", "inf", "1e12"] {
            let e = parse(&format!("[continuity]\nsilent_after_s = {bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("test.toml") && e.contains("continuity") && e.contains("silent_after_s"),
                "{bad}: {e}"
            );
            assert!(e.contains("between 0.001 and 31536000"), "{bad}: {e}");
        }
        let e = parse("[continuity]\nsilent_after_s = \"2m\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("silent_after_s") && e.contains("line 2"), "{e}");
        let e = parse("[continuity]\nsilent_after = 10\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("silent_after"), "unknown key named: {e}");
    }

    #[test]
    fn redis_credentials_tls_and_url_from_the_file_and_the_environment() {
        let cfg = parse(
            "[signals]\nredis = true\nredis_host = \"redis.internal\"\nredis_port = 6380\n\
             redis_db = 2\nredis_username = \"squeezeflow\"\nredis_password = \"hunter2\"\n\
             redis_tls = true\nredis_ca_file = \"/etc/ca.pem\"\n",
        )
        .unwrap();
        assert!(
            !format!("{cfg:?}").contains("hunter2"),
            "Debug shows the password"
        );
        let no_env = |_: &str| None;
        let r = cfg.signals.redis_config(600, no_env).unwrap();
        assert_eq!(
            (r.host.as_str(), r.port, r.db, r.tls, r.signal_ttl_s),
            ("redis.internal", 6380, 2, true, 600)
        );
        assert_eq!(r.username.as_deref(), Some("squeezeflow"));
        assert_eq!(r.password.as_ref().map(|p| p.expose()), Some("hunter2"));
        assert_eq!(r.ca_file, Some(PathBuf::from("/etc/ca.pem")));

        // redis_url replaces the separate fields (ca_file stays); REDIS_* override both.
        let cfg = parse(
            "[signals]\nredis_host = \"ignored\"\nredis_ca_file = \"/etc/ca.pem\"\n\
             redis_url = \"rediss://sf:from-url@redis.tls:6390/5\"\n",
        )
        .unwrap();
        assert!(
            !format!("{cfg:?}").contains("from-url"),
            "Debug shows the URL's password"
        );
        let r = cfg.signals.redis_config(600, no_env).unwrap();
        assert_eq!(
            (r.host.as_str(), r.port, r.db, r.tls),
            ("redis.tls", 6390, 5, true)
        );
        assert_eq!(r.password.as_ref().map(|p| p.expose()), Some("from-url"));
        let env = |k: &str| (k == "REDIS_PASSWORD").then(|| "from-env".to_string());
        let r = cfg.signals.redis_config(600, env).unwrap();
        assert_eq!(r.password.as_ref().map(|p| p.expose()), Some("from-env"));

        // Bad combinations are errors that name the setting and hide the password.
        let e = parse("[signals]\nredis_url = \"redis://u:from-url@h/x\"\n")
            .unwrap()
            .signals
            .redis_config(600, no_env)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("signals.redis_url") && !e.contains("from-url"),
            "{e}"
        );
        let e = parse("[signals]\nredis_username = \"sf\"\n")
            .unwrap()
            .signals
            .redis_config(600, no_env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs a password"), "{e}");
    }

    #[test]
    fn environment_overrides_file() {
        let mut cfg = parse("log_level = \"warn\"\n").unwrap();
        cfg.apply_env(|k| (k == "SQUEEZEFLOW_LOG_LEVEL").then(|| "DEBUG".to_string()))
            .unwrap();
        assert_eq!(cfg.log_level, "debug");
        let err = cfg
            .apply_env(|k| (k == "SQUEEZEFLOW_LOG_LEVEL").then(|| "loud".to_string()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("environment") && err.contains("loud"), "{err}");
    }
}
