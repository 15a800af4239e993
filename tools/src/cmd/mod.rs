//! One module per subcommand, plus what they share: configuration loading and logging.

pub(crate) mod backtest;
pub(crate) mod bars;
pub(crate) mod decode;
pub(crate) mod demo;
pub(crate) mod import;
pub(crate) mod live;
pub(crate) mod monitor;
pub(crate) mod replay;
pub(crate) mod run;
pub(crate) mod sim;
pub(crate) mod time;
pub(crate) mod tune;

use anyhow::Context;
use engine::config::Config;
use std::path::PathBuf;

/// Options every command takes.
#[derive(Debug)]
pub(crate) struct Global {
    pub(crate) data: Option<PathBuf>,
    pub(crate) config: Option<PathBuf>,
    pub(crate) log_level: Option<String>,
}

impl Global {
    /// The configuration: file (if given) < environment < command line. Also starts logging.
    pub(crate) fn load_config(&self) -> anyhow::Result<Config> {
        let mut cfg = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        cfg.apply_env(|k| std::env::var(k).ok())?;
        if let Some(level) = &self.log_level {
            cfg.log_level = level.to_ascii_lowercase();
        }
        if let Some(dir) = &self.data {
            cfg.data_dir = dir.clone();
        }
        cfg.validate().context("command line")?;
        init_logging(&cfg.log_level);
        Ok(cfg)
    }

    /// The data directory without needing a config file.
    pub(crate) fn data_dir(&self) -> anyhow::Result<PathBuf> {
        Ok(self.load_config()?.data_dir)
    }
}

/// Log to stderr at `level` (RUST_LOG, when set, refines it per module).
pub(crate) fn init_logging(level: &str) {
    let mut b = env_logger::Builder::new();
    b.parse_filters(level);
    if let Ok(spec) = std::env::var("RUST_LOG") {
        b.parse_filters(&spec);
    }
    b.format_timestamp_millis();
    let _ = b.try_init();
}
