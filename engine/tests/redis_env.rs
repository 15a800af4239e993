//! `REDIS_*` from the real process environment. A test binary of its own, with a single test:
//! changing the environment while other test threads run is unsound.

use engine::sink::redis::RedisConfig;

#[test]
fn redis_env_vars_are_applied_and_bad_values_are_errors() {
    let vars = [
        "REDIS_URL",
        "REDIS_HOST",
        "REDIS_PORT",
        "REDIS_DB",
        "REDIS_USERNAME",
        "REDIS_PASSWORD",
    ];
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
        (
            cfg.host.as_str(),
            cfg.port,
            cfg.db,
            cfg.password.as_ref().map(|p| p.expose())
        ),
        ("redis.internal", 6380, 3, None)
    );

    std::env::set_var("REDIS_PASSWORD", "");
    let e = RedisConfig::default().apply_env().unwrap_err();
    assert!(e.to_string().contains("REDIS_PASSWORD"), "{e}");

    // An ACL user and its password; the password never shows in Debug.
    std::env::set_var("REDIS_USERNAME", "squeezeflow");
    std::env::set_var("REDIS_PASSWORD", "hunter2");
    let mut cfg = RedisConfig::default();
    cfg.apply_env().unwrap();
    assert_eq!(cfg.username.as_deref(), Some("squeezeflow"));
    assert_eq!(cfg.password.as_ref().map(|p| p.expose()), Some("hunter2"));
    assert!(!format!("{cfg:?}").contains("hunter2"));
    cfg.validate().unwrap();

    // REDIS_URL sets everything it holds; the single variables still override it.
    std::env::remove_var("REDIS_USERNAME");
    std::env::remove_var("REDIS_PASSWORD");
    std::env::remove_var("REDIS_HOST");
    std::env::remove_var("REDIS_DB");
    std::env::set_var("REDIS_URL", "rediss://sf:from-url@redis.tls:6390/5");
    let mut cfg = RedisConfig::default();
    cfg.apply_env().unwrap();
    assert_eq!(
        (cfg.host.as_str(), cfg.port, cfg.db, cfg.tls),
        ("redis.tls", 6380, 5, true),
        "REDIS_PORT=6380 overrides the URL's port"
    );
    assert_eq!(cfg.username.as_deref(), Some("sf"));
    assert_eq!(cfg.password.as_ref().map(|p| p.expose()), Some("from-url"));

    std::env::set_var("REDIS_URL", "redis://sf:from-url@redis.tls:6390/x");
    let e = RedisConfig::default().apply_env().unwrap_err();
    assert!(e.to_string().contains("REDIS_URL"), "{e}");
    assert!(!e.to_string().contains("from-url"), "password in {e}");

    for v in vars {
        std::env::remove_var(v);
    }
}
