//! Host tuning against fixture sysfs/proc trees of a 16-core two-socket host (2 packages × 8
//! cores × 2 SMT threads = 32 CPUs; cpu N and N+16 are siblings, cpus 0–7 and 16–23 on package 0,
//! eth0 on NUMA node 0): `untuned16` as installed, `tuned16` after the plan and `apply`.

use engine::config::{Config, CoreSpec};
use engine::host::apply::{self, Step};
use engine::host::check::{self, Verdict};
use engine::host::plan::{self, UnitParams};
use engine::host::probe::Host;
use engine::host::startup_warnings;
use engine::runtime::CoreMap;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/host")
        .join(name)
}

/// The fixture's own engine config (the core map the plan proposes).
fn spec(root: &Path) -> CoreSpec {
    Config::load(&root.join("etc/squeezeflow/config.toml"))
        .unwrap()
        .runtime
        .cores
}

fn verdicts(root: &Path, spec: &CoreSpec) -> BTreeMap<&'static str, Verdict> {
    let items = check::check(&Host::probe(root), spec, None);
    items.iter().map(|i| (i.id, i.verdict)).collect()
}

fn planned_map() -> CoreMap {
    CoreMap {
        feeds: vec![Some(2), Some(3)],
        shards: vec![Some(4), Some(5), Some(6), Some(7)],
        io: Some(1),
    }
}

#[test]
fn probe_reads_the_topology() {
    let host = Host::probe(&fixture("untuned16"));
    assert_eq!(host.cpus.len(), 32);
    assert_eq!(host.physical_cores(), 16);
    let cpu18 = host.cpu(18).unwrap();
    assert_eq!((cpu18.package, cpu18.core), (0, 2));
    assert_eq!(cpu18.siblings, vec![2, 18]);
    assert_eq!(host.nics.len(), 1, "lo has no device and is skipped");
    assert_eq!(host.nics[0].irqs.len(), 4);
    assert!(host.irqbalance_running);
    let tuned = Host::probe(&fixture("tuned16"));
    assert_eq!(
        tuned.isolated_cpus(),
        vec![2, 3, 4, 5, 6, 7, 18, 19, 20, 21, 22, 23]
    );
    assert!(!tuned.irqbalance_running);
}

#[test]
fn untuned_host_verdicts() {
    use Verdict::*;
    let root = fixture("untuned16");
    let expected = [
        ("os", Pass),
        ("cores", Pass),
        ("memory", Warn),
        ("data_disk", Warn),
        ("core_map", Pass),
        ("isolcpus", Fail),
        ("nohz_full", Warn),
        ("rcu_nocbs", Warn),
        ("irqaffinity", Warn),
        ("governor", Fail),
        ("cstates", Warn),
        ("thp", Warn),
        ("ksm", Pass),
        ("numa_balancing", Warn),
        ("swappiness", Warn),
        ("irqbalance", Warn),
        ("nic_irq_affinity", Fail),
        ("busy_poll", Warn),
        ("clocksource", Pass),
        ("timer_migration", Warn),
        ("memlock", Warn),
        ("smt_siblings", Warn),
        ("handshake", Skip),
    ];
    let got = verdicts(&root, &spec(&root));
    assert_eq!(got, expected.into_iter().collect());
    let items = check::check(&Host::probe(&root), &spec(&root), None);
    assert_eq!(check::exit_code(&items), 1);
    for item in &items {
        assert_eq!(
            item.fix.is_empty(),
            item.verdict == Pass || item.verdict == Skip,
            "{item:?}"
        );
    }
    let gov = items.iter().find(|i| i.id == "governor").unwrap();
    assert!(gov.found.contains("cpu2=powersave"), "{gov:?}");
}

#[test]
fn tuned_host_passes() {
    let root = fixture("tuned16");
    let got = verdicts(&root, &spec(&root));
    for (id, v) in &got {
        let want = if *id == "handshake" {
            Verdict::Skip
        } else {
            Verdict::Pass
        };
        assert_eq!(*v, want, "{id}");
    }
    assert_eq!(got.len(), 23);
    let items = check::check(&Host::probe(&root), &spec(&root), None);
    assert_eq!(check::exit_code(&items), 0);
}

#[test]
fn tuned_host_with_auto_cores_is_not_isolated() {
    // auto on 32 CPUs puts a feed on cpu 1, which the tuned host keeps for IO and the OS.
    let got = verdicts(&fixture("tuned16"), &CoreSpec::Auto);
    assert_eq!(got["isolcpus"], Verdict::Fail);
    assert_eq!(got["governor"], Verdict::Pass);
}

#[test]
fn a_core_map_that_does_not_fit_fails() {
    let spec = CoreSpec::Explicit {
        feed: vec![40],
        shard: vec![41],
        io: 0,
    };
    let got = verdicts(&fixture("tuned16"), &spec);
    assert_eq!(got["core_map"], Verdict::Fail);
}

#[test]
fn handshakes_over_the_limit_warn() {
    let root = fixture("tuned16");
    let host = Host::probe(&root);
    let hs = |ms| check::Handshake {
        endpoint: "stream.binance.com:9443".to_string(),
        result: Ok(std::time::Duration::from_millis(ms)),
    };
    let get = |h: &[check::Handshake]| {
        check::check(&host, &spec(&root), Some(h))
            .into_iter()
            .find(|i| i.id == "handshake")
            .unwrap()
            .verdict
    };
    assert_eq!(get(&[hs(12)]), Verdict::Pass);
    assert_eq!(get(&[hs(12), hs(80)]), Verdict::Warn);
}

#[test]
fn plan_for_the_two_socket_host() {
    let params = UnitParams {
        bin: "/usr/local/bin/squeezeflow".to_string(),
        config: "/etc/squeezeflow/config.toml".to_string(),
        data_dir: "/var/lib/squeezeflow".to_string(),
    };
    let p = plan::plan(&Host::probe(&fixture("untuned16")), &params).unwrap();
    assert_eq!(
        p.cmdline,
        "isolcpus=managed_irq,domain,2-7,18-23 nohz_full=2-7,18-23 rcu_nocbs=2-7,18-23 \
         irqaffinity=0-1,8-17,24-31 intel_idle.max_cstate=1 processor.max_cstate=1"
    );
    // The tuned fixture is the host after the plan: its command line carries exactly this.
    let tuned = std::fs::read_to_string(fixture("tuned16/proc/cmdline")).unwrap();
    assert!(tuned.trim_end().ends_with(&p.cmdline));
    assert_eq!(p.cores, spec(&fixture("tuned16")));
    assert_eq!(
        p.runtime_toml,
        "[runtime]\ncores = { feed = [2, 3], shard = [4, 5, 6, 7], io = 1 }\nbusy_poll = true\n"
    );
    let cfg = Config::parse(&p.runtime_toml, Path::new("plan.toml")).unwrap();
    assert_eq!(cfg.runtime.cores, p.cores);
    assert!(p.unit.contains("CPUAffinity=1-7\n"), "{}", p.unit);
    assert!(p.unit.contains("LimitMEMLOCK=infinity\n"));
    assert!(p.unit.contains("Restart=on-failure\n"));
    assert!(p.unit.contains(
        "ExecStart=/usr/local/bin/squeezeflow --config /etc/squeezeflow/config.toml run\n"
    ));
    assert!(!p.unit.contains('@'), "unfilled placeholder: {}", p.unit);
    // The plan does not depend on the current tuning.
    let again = plan::plan(&Host::probe(&fixture("tuned16")), &params).unwrap();
    assert_eq!(again, p);
}

#[test]
fn apply_steps_for_the_untuned_host() {
    let host = Host::probe(&fixture("untuned16"));
    let steps = apply::steps(&host, &planned_map());
    let w = |path: &str, previous: &str, value: &str| Step::Write {
        path: path.to_string(),
        previous: previous.to_string(),
        value: value.to_string(),
    };
    let mut want: Vec<Step> = (0..32)
        .map(|c| {
            w(
                &format!("/sys/devices/system/cpu/cpu{c}/cpufreq/scaling_governor"),
                "powersave",
                "performance",
            )
        })
        .collect();
    want.extend([
        w(
            "/sys/kernel/mm/transparent_hugepage/enabled",
            "always",
            "never",
        ),
        w("/proc/sys/kernel/numa_balancing", "1", "0"),
        w("/proc/sys/vm/swappiness", "60", "10"),
        w("/proc/sys/net/core/busy_poll", "0", "50"),
        w("/proc/sys/net/core/busy_read", "0", "50"),
        w("/proc/sys/kernel/timer_migration", "1", "0"),
        Step::StopIrqbalance,
    ]);
    for irq in 120..124 {
        want.push(w(
            &format!("/proc/irq/{irq}/smp_affinity_list"),
            "0-31",
            "0-1,16-17",
        ));
    }
    assert_eq!(steps, want);
    assert_eq!(
        apply::command(Path::new("/"), &want[33]),
        "echo 0 > /proc/sys/kernel/numa_balancing"
    );
    assert_eq!(
        apply::command(Path::new("/"), &want[38]),
        "systemctl stop irqbalance"
    );
}

#[test]
fn tuned_host_needs_no_steps() {
    let host = Host::probe(&fixture("tuned16"));
    assert_eq!(apply::steps(&host, &planned_map()), Vec::new());
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

fn contents(root: &Path, steps: &[Step]) -> Vec<(String, String)> {
    steps
        .iter()
        .filter_map(|s| match s {
            Step::Write { path, .. } => Some(path.clone()),
            _ => None,
        })
        .map(|p| {
            let text = std::fs::read_to_string(engine::host::probe::rooted(root, &p)).unwrap();
            (p, text)
        })
        .collect()
}

#[test]
fn execute_then_revert_restores_the_files() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    copy_tree(&fixture("untuned16"), &root);
    let state = tmp.path().join("state/tuning-state.json");
    let before_host = Host::probe(&root);
    let steps = apply::steps(&before_host, &planned_map());
    let before = contents(&root, &steps);

    apply::execute(&root, &steps, &state).unwrap();
    assert!(state.exists());
    let after = Host::probe(&root);
    let got = check::check(&after, &spec(&root), None);
    for id in [
        "governor",
        "thp",
        "numa_balancing",
        "swappiness",
        "busy_poll",
        "timer_migration",
        "nic_irq_affinity",
    ] {
        let item = got.iter().find(|i| i.id == id).unwrap();
        assert_eq!(item.verdict, Verdict::Pass, "{item:?}");
    }
    assert_eq!(
        apply::steps(&after, &planned_map()).len(),
        1,
        "only irqbalance is left"
    );
    // A second apply must not overwrite the saved original values.
    assert!(matches!(
        apply::execute(&root, &steps, &state),
        Err(apply::ApplyError::StateExists(_))
    ));

    apply::revert(&root, &state).unwrap();
    assert!(!state.exists());
    let restored = contents(&root, &steps);
    for ((path, was), (_, now)) in before.iter().zip(&restored) {
        if path.ends_with("transparent_hugepage/enabled") {
            // The kernel shows the selected mode in brackets; a plain file holds what was written.
            assert_eq!(now, "always\n");
        } else {
            assert_eq!(now, was, "{path}");
        }
    }
    assert_eq!(Host::probe(&root).thp_mode(), before_host.thp_mode());
}

#[test]
fn revert_of_a_bad_state_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state.json");
    std::fs::write(&state, "not json").unwrap();
    let e = apply::revert(tmp.path(), &state).unwrap_err().to_string();
    assert!(e.contains("not a saved tuning state"), "{e}");
    assert!(apply::revert(tmp.path(), &tmp.path().join("missing.json")).is_err());
}

#[test]
fn startup_warnings_on_both_hosts() {
    let untuned = startup_warnings(&fixture("untuned16"), &planned_map());
    assert_eq!(untuned.len(), 6, "{untuned:#?}");
    assert!(
        untuned[0].starts_with("feed core 2 is not isolated"),
        "{}",
        untuned[0]
    );
    assert!(untuned[2].starts_with("shard core 4 is not isolated"));

    assert_eq!(
        startup_warnings(&fixture("tuned16"), &planned_map()),
        Vec::<String>::new()
    );

    // feed on cpu 2 and a shard on its sibling 18: both isolated, but one physical core.
    let shared = CoreMap {
        feeds: vec![Some(2)],
        shards: vec![Some(18)],
        io: Some(1),
    };
    let w = startup_warnings(&fixture("tuned16"), &shared);
    assert_eq!(
        w,
        vec![
            "feed core 2 and shard core 18 are SMT siblings of one physical core: they slow \
              each other down; give each role its own core"
                .to_string()
        ]
    );
    // Unpinned threads and a host without sysfs: nothing to say.
    assert!(startup_warnings(&fixture("tuned16"), &CoreMap::auto(2)).is_empty());
    assert!(startup_warnings(Path::new("/nonexistent-root"), &planned_map()).is_empty());
}
