//! The hot crate links no cold-path library: Cargo's own view of `engine-core`'s normal
//! dependency closure (`cargo tree -e normal`, what `cargo build -p engine-core` links) holds
//! none of the crates below. A cold library added to `engine-core` — or reaching it through
//! `feeds` or a default feature — fails this test with the path that brings it in.

use std::path::Path;
use std::process::Command;

/// Cold-path libraries: config and JSON DOM, command line, Redis, HTTP clients and servers,
/// async runtimes, terminal UI, plotting.
const FORBIDDEN: &[&str] = &[
    "serde",
    "serde_core",
    "serde_derive",
    "serde_json",
    "toml",
    "clap",
    "redis",
    "ureq",
    "reqwest",
    "hyper",
    "tokio",
    "async-std",
    "ratatui",
    "crossterm",
    "plotters",
];

fn cargo() -> String {
    std::env::var("CARGO")
        .ok()
        .unwrap_or_else(|| env!("CARGO").to_string())
}

/// `cargo tree` for engine-core with `args`; `None` (after saying why) when cargo cannot be
/// started at all.
fn tree(args: &[&str]) -> Option<String> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let out = match Command::new(cargo())
        .arg("tree")
        .arg("--offline")
        .arg("--manifest-path")
        .arg(&manifest)
        .args(["-p", "engine-core", "-e", "normal"])
        .args(args)
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            eprintln!(
                "SKIPPED: cannot run `{} tree` ({e}); the closure of engine-core is unchecked",
                cargo()
            );
            return None;
        }
    };
    assert!(
        out.status.success(),
        "`cargo tree -p engine-core` failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).expect("cargo tree prints UTF-8"))
}

/// Crate names of `cargo tree --prefix none` output (`name vX.Y.Z [(path)] [(*)]` per line).
fn names(tree: &str) -> Vec<&str> {
    let mut v: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

#[test]
fn engine_core_links_no_cold_library() {
    let Some(closure) = tree(&["--prefix", "none"]) else {
        return;
    };
    let names = names(&closure);
    // The listing is the real closure, not an empty or unparsed one.
    for expected in ["engine-core", "feeds", "memmap2", "crossbeam-utils"] {
        assert!(
            names.contains(&expected),
            "{expected} missing from engine-core's closure: {names:?}"
        );
    }
    let found: Vec<&str> = FORBIDDEN
        .iter()
        .copied()
        .filter(|f| names.contains(f))
        .collect();
    if found.is_empty() {
        return;
    }
    let mut why = String::new();
    for f in &found {
        let paths = tree(&["--invert", f]).unwrap_or_default();
        why.push_str(&format!("\n{f} comes in through:\n{paths}"));
    }
    panic!(
        "engine-core's dependency closure holds cold-path libraries {found:?}; the hot crate \
         must not link them (move the code that needs them to the `engine` crate):{why}"
    );
}

#[test]
fn names_are_read_from_cargo_tree_lines() {
    let sample = "engine-core v0.1.0 (/x/engine/core)\nserde_json v1.0.1\nserde v1.0.2 (*)\n\n";
    assert_eq!(names(sample), vec!["engine-core", "serde", "serde_json"]);
}
