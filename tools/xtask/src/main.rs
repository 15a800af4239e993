//! The project's test and CI commands (`cargo xtask …`, an alias in `.cargo/config.toml`).
//!
//! - `cargo xtask test`: installs what the tests need when it is missing (Redis, InfluxDB 1.x,
//!   Chromium, python3 with the Prometheus client and venv/pip; through apt-get, as root) and
//!   runs `cargo test --workspace --profile ci` (release optimisations without LTO or debug info,
//!   so the test binaries build and link faster than with `--release`).
//! - `cargo xtask ci`: fmt, clippy, shellcheck, the loom models, the bounded decoder fuzzing
//!   (when a nightly toolchain is installed), the module-cycle check, then `test`.
//! - `cargo xtask modules`: the module-cycle check alone.
//!
//! Every step prints what it runs (`==> …`) and the first failing step ends the command.

mod modules;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The loom models of the SPSC ring: (package, test target). One place to change when the ring
/// moves to another crate.
const LOOM_TEST: (&str, &str) = ("engine-core", "loom");

/// Seconds of libFuzzer time for the decoder fuzz target in `ci`.
const FUZZ_SECONDS: u32 = 60;

/// Shell scripts checked by shellcheck in `ci`.
const SHELL_SCRIPTS: &[&str] = &[
    "tuning/check",
    "tuning/apply",
    "tuning/revert",
    "tuning/plan",
    ".ci/run",
];

/// One system dependency of the tests: how to tell it is present, and the Debian packages that
/// provide it.
struct Need {
    what: &'static str,
    present: fn() -> bool,
    packages: &'static [&'static str],
}

/// What the test suite needs besides Rust (the tests start their own servers on free ports).
const TEST_NEEDS: &[Need] = &[
    Need {
        what: "redis-server (Redis sink tests)",
        present: || on_path("redis-server"),
        packages: &["redis-server"],
    },
    Need {
        what: "influxd, InfluxDB 1.x (export/import tests)",
        present: || on_path("influxd"),
        packages: &["influxdb"],
    },
    Need {
        what: "the Prometheus client for /usr/bin/python3 (the /metrics test's parser)",
        present: || succeeds("/usr/bin/python3", &["-c", "import prometheus_client"]),
        packages: &["python3", "python3-prometheus-client"],
    },
    Need {
        what: "python3 venv and pip (the ccxt conformance suite's virtualenv)",
        present: || succeeds("python3", &["-c", "import ensurepip, venv"]),
        packages: &["python3-venv", "python3-pip"],
    },
    Need {
        what: "headless Chromium (the backtest report test)",
        present: || on_path("chromium") || on_path("chromium-browser"),
        packages: &["chromium"],
    },
];

/// What `ci` needs on top of [`TEST_NEEDS`].
const CI_NEEDS: &[Need] = &[Need {
    what: "shellcheck",
    present: || on_path("shellcheck"),
    packages: &["shellcheck"],
}];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(&root),
        Some("ci") => ci(&root),
        Some("modules") => modules_step(&root),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n\
                 commands:\n  \
                 test     install what the tests need when missing, then cargo test --workspace --profile ci\n  \
                 ci       fmt, clippy, shellcheck, loom, bounded fuzz, module cycles, then test\n  \
                 modules  print module cycles (top-level modules of each crate)"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nxtask: {e}");
            ExitCode::FAILURE
        }
    }
}

type Result<T = ()> = std::result::Result<T, String>;

/// The workspace root: this crate lives in `tools/xtask`.
fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or(here)
}

/// The cargo that runs us (so `+toolchain` overrides carry through), else `cargo`.
fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            let p = dir.join(program);
            p.is_file() && is_executable(&p)
        })
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

/// Runs quietly; true when it ran and exited 0.
fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Prints `==> program args…` (with the environment overrides) and runs it in `root`.
fn step(root: &Path, env: &[(&str, &str)], program: &str, args: &[&str]) -> Result {
    let mut shown = String::new();
    for (k, v) in env {
        shown.push_str(&format!("{k}={v} "));
    }
    let name = if program == cargo() { "cargo" } else { program };
    shown.push_str(name);
    for a in args {
        shown.push(' ');
        shown.push_str(a);
    }
    println!("\n==> {shown}");
    let status = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot run {name}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("step failed ({status}): {shown}"))
    }
}

/// Installs the Debian packages of every missing need (one `apt-get update`); present ones are
/// reported and skipped. Without root, names what to install and fails.
fn ensure(root: &Path, needs: &[Need]) -> Result {
    let mut packages: Vec<&str> = Vec::new();
    for need in needs {
        if (need.present)() {
            println!("==> present: {}", need.what);
        } else {
            println!(
                "==> missing: {} (apt: {})",
                need.what,
                need.packages.join(" ")
            );
            for p in need.packages {
                if !packages.contains(p) {
                    packages.push(p);
                }
            }
        }
    }
    if packages.is_empty() {
        return Ok(());
    }
    if !is_root() {
        return Err(format!(
            "the tests need system packages that are not installed; as root run\n  \
             apt-get update && apt-get install -y {}\nthen run this command again",
            packages.join(" ")
        ));
    }
    step(root, &[], "apt-get", &["update", "-qq"])?;
    let mut args = vec!["install", "-y", "-qq"];
    args.extend(packages.iter().copied());
    step(
        root,
        &[("DEBIAN_FRONTEND", "noninteractive")],
        "apt-get",
        &args,
    )?;
    for need in needs {
        if !(need.present)() {
            return Err(format!("still missing after apt-get: {}", need.what));
        }
    }
    Ok(())
}

/// `cargo xtask test`.
fn test(root: &Path) -> Result {
    ensure(root, TEST_NEEDS)?;
    step(
        root,
        &[],
        &cargo(),
        &["test", "--workspace", "--profile", "ci"],
    )
}

/// `cargo xtask ci`.
fn ci(root: &Path) -> Result {
    let cargo = cargo();
    step(root, &[], &cargo, &["fmt", "--all", "--check"])?;
    step(
        root,
        &[],
        &cargo,
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;

    ensure(root, CI_NEEDS)?;
    let mut args = vec!["--"];
    args.extend(SHELL_SCRIPTS.iter().copied());
    step(root, &[], "shellcheck", &args)?;

    // Loom models (a separate target dir: everything is built with --cfg loom).
    let (package, loom_test) = LOOM_TEST;
    step(
        root,
        &[
            ("RUSTFLAGS", "--cfg loom"),
            ("CARGO_TARGET_DIR", "target/loom"),
        ],
        &cargo,
        &["test", "-p", package, "--release", "--test", loom_test],
    )?;

    fuzz(root)?;
    modules_step(root)?;
    test(root)
}

/// Fuzz every venue decoder for a bounded time (cargo-fuzz on nightly; libFuzzer). The seed
/// corpus is generated from the fixture files. A machine without a nightly toolchain skips
/// this step (the proptest fuzz in feeds' tests still runs).
fn fuzz(root: &Path) -> Result {
    let nightly = Command::new("rustup")
        .args(["toolchain", "list"])
        .output()
        .is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.starts_with("nightly"))
        });
    if !nightly {
        println!("\n==> skipping decoder fuzzing: no nightly toolchain on this machine");
        return Ok(());
    }
    let cargo = cargo();
    if !on_path("cargo-fuzz") {
        step(root, &[], &cargo, &["install", "cargo-fuzz", "--locked"])?;
    }
    let corpus = root.join("target/fuzz-corpus");
    if corpus.exists() {
        std::fs::remove_dir_all(&corpus)
            .map_err(|e| format!("cannot remove {}: {e}", corpus.display()))?;
    }
    step(
        root,
        &[],
        &cargo,
        &[
            "run",
            "--release",
            "-p",
            "feeds",
            "--example",
            "fuzz_seeds",
            "--",
            "target/fuzz-corpus",
        ],
    )?;
    let max_time = format!("-max_total_time={FUZZ_SECONDS}");
    // The rustup proxy (not `$CARGO`, a toolchain's own binary) understands `+nightly`.
    step(
        root,
        &[],
        "cargo",
        &[
            "+nightly",
            "fuzz",
            "run",
            "--fuzz-dir",
            "feeds/fuzz",
            "decode",
            "target/fuzz-corpus",
            "--",
            &max_time,
        ],
    )
}

/// The module-cycle check: any cycle fails.
fn modules_step(root: &Path) -> Result {
    println!("\n==> module cycles (top-level modules of each crate's src/)");
    let cycles = modules::report(root).map_err(|e| format!("module check: {e}"))?;
    if cycles == 0 {
        println!("no module cycles");
        Ok(())
    } else {
        Err(format!("{cycles} module cycle(s)"))
    }
}
