//! The documented example configuration parses and matches the built-in defaults where it says so.

use engine::config::Config;
use std::path::Path;

#[test]
fn example_config_parses_with_documented_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config.example.toml");
    let cfg = Config::load(&path).unwrap();
    let d = Config::default();
    assert_eq!(cfg.data_dir, d.data_dir);
    assert_eq!(cfg.log_level, d.log_level);
    assert_eq!(cfg.runtime, d.runtime);
    assert_eq!(cfg.bars, d.bars);
    assert_eq!(cfg.strategy, d.strategy);
    assert_eq!(cfg.signals, d.signals);
    assert_eq!(cfg.influx, d.influx);
    assert_eq!(cfg.instruments, d.instruments);
    assert_eq!(cfg.monitor, d.monitor);
    assert_eq!(cfg.backfill, d.backfill);
    assert_eq!(cfg.continuity, d.continuity);
    assert_eq!(cfg.capture, d.capture);
    assert!(
        cfg.feeds.is_empty(),
        "the example documents the built-in feed list"
    );
}
