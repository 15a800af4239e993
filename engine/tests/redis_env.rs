//! `REDIS_*` from the real process environment. A test binary of its own, with a single test:
//! changing the environment while other test threads run is unsound.

use engine::sink::redis::RedisConfig;

#[test]
fn redis_env_vars_are_applied_and_bad_values_are_errors() {
    let vars = ["REDIS_HOST", "REDIS_PORT", "REDIS_DB", "REDIS_PASSWORD"];
    for v in vars {
        std::env::remove_var(v);
    }

    std::env::set_var("REDIS_PORT", "not-a-port");
    let mut cfg = RedisConfig::default();
    let e = cfg.apply_env().unwrap_err();
    assert!(e.to_string().contains("REDIS_PORT"), "{e}");
    assert!(e.to_string().contains("not-a-port"), "{e}");
    assert_eq!(cfg.port, 6379, "no partial application of a bad value");

    std::env::set_var("REDIS_PORT", "70000");
    let e = RedisConfig::default().apply_env().unwrap_err();
    assert!(e.to_string().contains("REDIS_PORT"), "{e}");

    std::env::set_var("REDIS_PORT", "6380");
    std::env::set_var("REDIS_DB", "db1");
    let e = RedisConfig::default().apply_env().unwrap_err();
    assert!(e.to_string().contains("REDIS_DB"), "{e}");

    std::env::set_var("REDIS_HOST", "redis.internal");
    std::env::set_var("REDIS_DB", "3");
    let mut cfg = RedisConfig::default();
    cfg.apply_env().unwrap();
    assert_eq!(
        (cfg.host.as_str(), cfg.port, cfg.db, cfg.password.as_deref()),
        ("redis.internal", 6380, 3, None)
    );

    std::env::set_var("REDIS_PASSWORD", "");
    let e = RedisConfig::default().apply_env().unwrap_err();
    assert!(e.to_string().contains("REDIS_PASSWORD"), "{e}");

    for v in vars {
        std::env::remove_var(v);
    }
}
