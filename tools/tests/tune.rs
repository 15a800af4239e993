//! `squeezeflow tune` against the engine's fixture hosts (engine/tests/fixtures/host): exit
//! codes, JSON, the exact `apply` commands, execute + revert on a copy, and the plan.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../engine/tests/fixtures/host")
        .join(name)
}

fn config(root: &Path) -> String {
    root.join("etc/squeezeflow/config.toml")
        .to_string_lossy()
        .into_owned()
}

fn tune(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_squeezeflow"))
        .arg("tune")
        .args(args)
        .env_remove("SQUEEZEFLOW_LOG_LEVEL")
        .env_remove("SQUEEZEFLOW_DATA_DIR")
        .output()
        .expect("run squeezeflow")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn check_untuned_fails_and_tuned_passes() {
    let root = fixture("untuned16");
    let out = tune(&["check", "--root", s(&root), "--config", &config(&root)]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("FAIL  isolcpus "), "{stdout}");
    assert!(stdout.contains("FAIL  governor "), "{stdout}");
    assert!(stdout.contains("FAIL  nic_irq_affinity "), "{stdout}");
    assert!(
        stdout.contains("fix: add the kernel command line"),
        "{stdout}"
    );
    assert!(
        stdout.contains("5 PASS, 14 WARN, 3 FAIL, 1 SKIP"),
        "{stdout}"
    );

    let root = fixture("tuned16");
    let out = tune(&["check", "--root", s(&root), "--config", &config(&root)]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("22 PASS, 0 WARN, 0 FAIL, 1 SKIP"),
        "{stdout}"
    );
}

#[test]
fn check_json_parses() {
    let root = fixture("untuned16");
    let out = tune(&[
        "check",
        "--json",
        "--root",
        s(&root),
        "--config",
        &config(&root),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["fail"], 3);
    assert_eq!(doc["exit_code"], 1);
    let items = doc["items"].as_array().unwrap();
    assert_eq!(items.len(), 23);
    let iso = items.iter().find(|i| i["id"] == "isolcpus").unwrap();
    assert_eq!(iso["verdict"], "FAIL");
    assert_eq!(iso["found"], "(absent)");
    for key in ["title", "expected", "fix"] {
        assert!(iso[key].is_string(), "{key}");
    }
}

#[test]
fn usage_and_io_errors_exit_2() {
    let out = tune(&["check", "--root", "/nonexistent-fixture-root"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("not a directory"));
    let out = tune(&["check", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.json");
    let out = tune(&["revert", "--root", s(tmp.path()), "--state", s(&missing)]);
    assert_eq!(out.status.code(), Some(2));
}

fn expected_apply(root: &Path) -> Vec<String> {
    let r = s(root);
    let mut want: Vec<String> = (0..32)
        .map(|c| {
            format!("echo performance > {r}/sys/devices/system/cpu/cpu{c}/cpufreq/scaling_governor")
        })
        .collect();
    want.extend([
        format!("echo never > {r}/sys/kernel/mm/transparent_hugepage/enabled"),
        format!("echo 0 > {r}/proc/sys/kernel/numa_balancing"),
        format!("echo 10 > {r}/proc/sys/vm/swappiness"),
        format!("echo 50 > {r}/proc/sys/net/core/busy_poll"),
        format!("echo 50 > {r}/proc/sys/net/core/busy_read"),
        format!("echo 0 > {r}/proc/sys/kernel/timer_migration"),
        "systemctl stop irqbalance".to_string(),
    ]);
    for irq in 120..124 {
        want.push(format!(
            "echo 0-1,16-17 > {r}/proc/irq/{irq}/smp_affinity_list"
        ));
    }
    want
}

#[test]
fn apply_dry_run_prints_the_exact_commands() {
    let root = fixture("untuned16");
    let state = "/nonexistent-dir/state.json";
    let out = tune(&[
        "apply",
        "--root",
        s(&root),
        "--config",
        &config(&root),
        "--state",
        state,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut want = vec![format!(
        "# dry run: 43 changes; `--execute` runs them and saves the previous values to {state}"
    )];
    want.extend(expected_apply(&root));
    assert_eq!(text(&out.stdout), want.join("\n") + "\n");
    // --dry-run spelled out is the same; nothing was written.
    let again = tune(&[
        "apply",
        "--dry-run",
        "--root",
        s(&root),
        "--config",
        &config(&root),
        "--state",
        state,
    ]);
    assert_eq!(again.stdout, out.stdout);
    assert!(!Path::new(state).exists());

    let root = fixture("tuned16");
    let out = tune(&[
        "apply",
        "--root",
        s(&root),
        "--config",
        &config(&root),
        "--state",
        state,
    ]);
    assert_eq!(
        text(&out.stdout),
        "# nothing to change: the runtime settings are already tuned\n"
    );
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// Every file under `dir`, relative path → contents.
fn snapshot(dir: &Path, base: &Path, out: &mut Vec<(PathBuf, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            snapshot(&p, base, out);
        } else {
            let rel = p.strip_prefix(base).unwrap().to_path_buf();
            out.push((rel, std::fs::read_to_string(&p).unwrap()));
        }
    }
}

#[test]
fn execute_then_revert_on_a_copied_fixture() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    copy_tree(&fixture("untuned16"), &root);
    let cfg = config(&fixture("untuned16"));
    let state = tmp.path().join("state.json");
    let mut before = Vec::new();
    snapshot(&root, &root, &mut before);

    let out = tune(&[
        "apply",
        "--execute",
        "--root",
        s(&root),
        "--config",
        &cfg,
        "--state",
        s(&state),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(state.exists());
    let gov = root.join("sys/devices/system/cpu/cpu5/cpufreq/scaling_governor");
    assert_eq!(std::fs::read_to_string(&gov).unwrap(), "performance\n");
    let irq = root.join("proc/irq/121/smp_affinity_list");
    assert_eq!(std::fs::read_to_string(&irq).unwrap(), "0-1,16-17\n");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(saved["applied"].as_array().unwrap().len(), 43);

    // The check now passes every runtime item; the kernel command line still fails.
    let out = tune(&["check", "--json", "--root", s(&root), "--config", &cfg]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let verdict = |id: &str| {
        doc["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id)
            .unwrap()["verdict"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(verdict("governor"), "PASS");
    assert_eq!(verdict("nic_irq_affinity"), "PASS");
    assert_eq!(verdict("isolcpus"), "FAIL");

    // Revert: a dry run first (nothing changes), then for real.
    let out = tune(&["revert", "--root", s(&root), "--state", s(&state)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let dry = text(&out.stdout);
    assert!(
        dry.contains(&format!(
            "echo 0-31 > {}/proc/irq/123/smp_affinity_list\n",
            s(&root)
        )),
        "{dry}"
    );
    assert!(dry.contains("systemctl start irqbalance\n"), "{dry}");
    assert_eq!(std::fs::read_to_string(&gov).unwrap(), "performance\n");

    let out = tune(&[
        "revert",
        "--execute",
        "--root",
        s(&root),
        "--state",
        s(&state),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!state.exists());
    let mut after = Vec::new();
    snapshot(&root, &root, &mut after);
    let thp = Path::new("sys/kernel/mm/transparent_hugepage/enabled");
    assert_eq!(before.len(), after.len());
    for ((path, was), (_, now)) in before.iter().zip(&after) {
        if path == thp {
            // A plain file holds what was written; the kernel would show "[always] madvise never".
            assert_eq!(now, "always\n");
        } else {
            assert_eq!(now, was, "{}", path.display());
        }
    }
}

#[test]
fn plan_prints_cmdline_core_map_and_unit() {
    let root = fixture("untuned16");
    let out = tune(&[
        "plan",
        "--root",
        s(&root),
        "--bin",
        "/opt/sf/bin/squeezeflow",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(
            "\nisolcpus=managed_irq,domain,2-7,18-23 nohz_full=2-7,18-23 rcu_nocbs=2-7,18-23 \
         irqaffinity=0-1,8-17,24-31 intel_idle.max_cstate=1 processor.max_cstate=1\n"
        ),
        "{stdout}"
    );
    // The [runtime] block is valid engine config.
    let start = stdout.find("[runtime]\n").expect("runtime block");
    let end = start + stdout[start..].find("\n\n").expect("block end");
    let block = &stdout[start..end];
    assert!(
        block.contains("cores = { feed = [2, 3], shard = [4, 5, 6, 7], io = 1 }"),
        "{block}"
    );
    let cfg = engine::config::Config::parse(block, Path::new("plan")).unwrap();
    assert_eq!(
        cfg.runtime.cores,
        engine::config::CoreSpec::Explicit {
            feed: vec![2, 3],
            shard: vec![4, 5, 6, 7],
            io: 1
        }
    );
    assert!(cfg.runtime.busy_poll);
    for line in [
        "CPUAffinity=1-7",
        "LimitMEMLOCK=infinity",
        "Restart=on-failure",
        "ExecStart=/opt/sf/bin/squeezeflow --config /etc/squeezeflow/config.toml run",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "{line} missing:\n{stdout}"
        );
    }
}

#[test]
fn tuning_scripts_run_the_subcommand() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tuning/check");
    let root = fixture("tuned16");
    let out = Command::new("sh")
        .arg(&script)
        .args(["--root", s(&root), "--config", &config(&root)])
        .env("SQUEEZEFLOW_BIN", env!("CARGO_BIN_EXE_squeezeflow"))
        .env_remove("SQUEEZEFLOW_LOG_LEVEL")
        .env_remove("SQUEEZEFLOW_DATA_DIR")
        .output()
        .expect("run tuning/check");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("22 PASS, 0 WARN, 0 FAIL, 1 SKIP"));
}
