//! The read-only host audit: one [`Item`] per setting, each with a verdict, what was found, what
//! is expected and the fix. Reference values follow Red Hat's tuned `latency-performance`,
//! `network-latency` and `cpu-partitioning` profiles and the engine's host requirements.

use super::probe::{format_cpu_list, Host};
use crate::config::CoreSpec;
use crate::runtime::CoreMap;
use serde::Serialize;
use std::time::Duration;

/// How one item came out. Ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Pass,
    Skip,
    Warn,
    Fail,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Skip => "SKIP",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
        }
    }
}

/// One audited setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    pub id: &'static str,
    pub title: &'static str,
    pub verdict: Verdict,
    pub found: String,
    pub expected: String,
    /// Empty when nothing needs doing.
    pub fix: String,
}

/// A measured connection to a venue endpoint (`--online` only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// `host:port`.
    pub endpoint: String,
    pub result: Result<Duration, String>,
}

/// The report's bound on connection set-up to a venue.
pub const HANDSHAKE_LIMIT: Duration = Duration::from_millis(50);

/// The engine's core map on this host, or why the configured one does not fit.
pub fn core_map(host: &Host, spec: &CoreSpec) -> Result<CoreMap, String> {
    CoreMap::resolve(spec, host.cpus.len().max(1)).map_err(|e| e.to_string())
}

/// The hot (feed and shard) cores of `map`: the ones that must be quiet.
pub fn hot_cores(map: &CoreMap) -> Vec<usize> {
    let mut v: Vec<usize> = map
        .feeds
        .iter()
        .chain(&map.shards)
        .flatten()
        .copied()
        .collect();
    v.sort_unstable();
    v
}

/// Every item, in a stable order. `handshakes` is `None` when not measured (offline).
pub fn check(host: &Host, spec: &CoreSpec, handshakes: Option<&[Handshake]>) -> Vec<Item> {
    let map = core_map(host, spec);
    let hot = map.as_ref().map(hot_cores).unwrap_or_default();
    let hot_list = format_cpu_list(&hot);
    let mut items = Vec::new();
    let mut add = |id, title, verdict, found: String, expected: &str, fix: &str| {
        items.push(Item {
            id,
            title,
            verdict,
            found,
            expected: expected.to_string(),
            fix: if verdict == Verdict::Pass || verdict == Verdict::Skip {
                String::new()
            } else {
                fix.to_string()
            },
        });
    };

    // --- Host requirements ---
    let os = host.os.clone().unwrap_or_else(|| "unknown".to_string());
    add(
        "os",
        "Operating system",
        if os == "Linux" {
            Verdict::Pass
        } else {
            Verdict::Fail
        },
        os,
        "Linux",
        "run the engine on Linux (it pins threads and reads sysfs)",
    );
    let cores = host.physical_cores();
    add(
        "cores",
        "Physical cores",
        match cores {
            0 => Verdict::Skip,
            1..=7 => Verdict::Fail,
            8..=15 => Verdict::Warn,
            _ => Verdict::Pass,
        },
        format!("{cores} physical, {} logical", host.cpus.len()),
        ">= 8 (16 recommended)",
        "use a host with at least 8 (better 16) physical cores",
    );
    // MemTotal is a little under the installed size (firmware and kernel reservations).
    let gib = |n: u64| n * 1024 * 1024 * 95 / 100;
    add(
        "memory",
        "Memory",
        match host.mem_total_kib {
            None => Verdict::Skip,
            Some(k) if k < gib(16) => Verdict::Fail,
            Some(k) if k < gib(32) => Verdict::Warn,
            Some(_) => Verdict::Pass,
        },
        host.mem_total_kib.map_or("unknown".to_string(), |k| {
            format!("{:.1} GiB", k as f64 / 1048576.0)
        }),
        ">= 16 GiB (32 GiB recommended)",
        "use a host with at least 16 GiB (better 32 GiB) of RAM",
    );
    let rotational: Vec<&str> = host
        .disks
        .iter()
        .filter(|d| d.1)
        .map(|d| d.0.as_str())
        .collect();
    add(
        "data_disk",
        "Data directory on NVMe (non-rotational)",
        if host.disks.is_empty() {
            Verdict::Skip
        } else if rotational.is_empty() {
            Verdict::Pass
        } else if rotational.len() == host.disks.len() {
            Verdict::Fail
        } else {
            Verdict::Warn
        },
        host.disks
            .iter()
            .map(|(n, r)| format!("{n}:{}", if *r { "rotational" } else { "ssd" }))
            .collect::<Vec<_>>()
            .join(" "),
        "data_dir on a non-rotational (NVMe) disk",
        "put data_dir on an NVMe filesystem (rotational disks present: check where data_dir lives)",
    );

    // --- Core map ---
    let (verdict, found) = match &map {
        Ok(m) if hot.is_empty() => (
            Verdict::Warn,
            format!("{} (no pinned hot cores)", m.describe()),
        ),
        Ok(m) => (Verdict::Pass, m.describe()),
        Err(e) => (Verdict::Fail, e.clone()),
    };
    add(
        "core_map",
        "Engine core map fits this host",
        verdict,
        found,
        "explicit feed/shard/io cores that exist, one role each",
        "set [runtime] cores as `squeezeflow tune plan` prints",
    );

    // --- Kernel command line ---
    let isolated = host.cmdline_cpus("isolcpus");
    let covers = |list: &Option<Vec<usize>>| {
        list.as_ref()
            .is_some_and(|l| hot.iter().all(|c| l.contains(c)))
    };
    let cmd_found = |key: &str| host.cmdline_value(key).unwrap_or("(absent)").to_string();
    let expect = format!("covers the hot cores {hot_list}");
    let kernel_fix = "add the kernel command line from `squeezeflow tune plan` and reboot";
    add(
        "isolcpus",
        "isolcpus on the kernel command line",
        if hot.is_empty() {
            Verdict::Skip
        } else if covers(&isolated) || hot.iter().all(|c| host.isolated.contains(c)) {
            Verdict::Pass
        } else {
            Verdict::Fail
        },
        cmd_found("isolcpus"),
        &expect,
        kernel_fix,
    );
    for (id, title, key) in [
        (
            "nohz_full",
            "nohz_full on the kernel command line",
            "nohz_full",
        ),
        (
            "rcu_nocbs",
            "rcu_nocbs on the kernel command line",
            "rcu_nocbs",
        ),
    ] {
        add(
            id,
            title,
            if hot.is_empty() {
                Verdict::Skip
            } else if covers(&host.cmdline_cpus(key)) {
                Verdict::Pass
            } else {
                Verdict::Warn
            },
            cmd_found(key),
            &expect,
            kernel_fix,
        );
    }
    let irqaff = host.cmdline_cpus("irqaffinity");
    add(
        "irqaffinity",
        "irqaffinity keeps interrupts off the hot cores",
        match &irqaff {
            _ if hot.is_empty() => Verdict::Skip,
            Some(l) if !l.is_empty() && hot.iter().all(|c| !l.contains(c)) => Verdict::Pass,
            _ => Verdict::Warn,
        },
        cmd_found("irqaffinity"),
        &format!("excludes the hot cores {hot_list}"),
        kernel_fix,
    );

    // --- CPU power management ---
    let hot_govs: Vec<(usize, Option<&str>)> = hot
        .iter()
        .map(|&c| (c, host.cpu(c).and_then(|cpu| cpu.governor.as_deref())))
        .collect();
    let slow: Vec<String> = hot_govs
        .iter()
        .filter_map(|(c, g)| {
            g.filter(|g| *g != "performance")
                .map(|g| format!("cpu{c}={g}"))
        })
        .collect();
    add(
        "governor",
        "cpufreq governor on the hot cores",
        if hot_govs.iter().all(|(_, g)| g.is_none()) {
            Verdict::Skip
        } else if slow.is_empty() {
            Verdict::Pass
        } else {
            Verdict::Fail
        },
        if slow.is_empty() {
            hot_govs
                .iter()
                .find_map(|(_, g)| *g)
                .unwrap_or("no cpufreq")
                .to_string()
        } else {
            slow.join(" ")
        },
        "performance",
        "squeezeflow tune apply (echo performance > .../cpufreq/scaling_governor)",
    );
    let cmd_cstate = host
        .cmdline_value("intel_idle.max_cstate")
        .or(host.cmdline_value("processor.max_cstate"))
        .and_then(|v| v.parse::<u64>().ok());
    let idle_poll = host.cmdline_value("idle") == Some("poll");
    let cstate = cmd_cstate.or(host.intel_max_cstate);
    add(
        "cstates",
        "Deep C-states",
        match cstate {
            _ if idle_poll => Verdict::Pass,
            Some(c) if c <= 1 => Verdict::Pass,
            Some(_) => Verdict::Warn,
            None => Verdict::Skip,
        },
        if idle_poll {
            "idle=poll".to_string()
        } else {
            cstate.map_or("unknown".to_string(), |c| format!("max_cstate={c}"))
        },
        "max_cstate <= 1",
        "add intel_idle.max_cstate=1 processor.max_cstate=1 to the kernel command line",
    );

    // --- Memory management ---
    let thp_mode = host.thp_mode();
    add(
        "thp",
        "Transparent huge pages",
        match thp_mode.as_deref() {
            None => Verdict::Skip,
            Some("never") | Some("madvise") => Verdict::Pass,
            Some(_) => Verdict::Warn,
        },
        thp_mode.unwrap_or_else(|| "unknown".to_string()),
        "never (or madvise)",
        "squeezeflow tune apply (echo never > /sys/kernel/mm/transparent_hugepage/enabled)",
    );
    let sysctl = |v: Option<u64>, ok: fn(u64) -> bool, warn: Verdict| match v {
        None => Verdict::Skip,
        Some(v) if ok(v) => Verdict::Pass,
        Some(_) => warn,
    };
    let shown = |v: Option<u64>| v.map_or("unknown".to_string(), |v| v.to_string());
    add(
        "ksm",
        "Kernel same-page merging",
        sysctl(host.ksm_run, |v| v == 0, Verdict::Warn),
        shown(host.ksm_run),
        "0",
        "squeezeflow tune apply (echo 0 > /sys/kernel/mm/ksm/run)",
    );
    add(
        "numa_balancing",
        "Automatic NUMA balancing",
        sysctl(host.numa_balancing, |v| v == 0, Verdict::Warn),
        shown(host.numa_balancing),
        "0",
        "squeezeflow tune apply (kernel.numa_balancing=0)",
    );
    add(
        "swappiness",
        "vm.swappiness",
        sysctl(host.swappiness, |v| v <= 10, Verdict::Warn),
        shown(host.swappiness),
        "<= 10",
        "squeezeflow tune apply (vm.swappiness=10)",
    );

    // --- Interrupts and network ---
    add(
        "irqbalance",
        "irqbalance daemon",
        if host.irqbalance_running { Verdict::Warn } else { Verdict::Pass },
        if host.irqbalance_running { "running" } else { "not running" }.to_string(),
        "stopped (it moves IRQs onto the hot cores)",
        "squeezeflow tune apply (systemctl stop irqbalance; systemctl disable irqbalance to keep it off)",
    );
    let mut on_hot = Vec::new();
    let mut nic_irqs = 0;
    for nic in &host.nics {
        for (irq, aff) in &nic.irqs {
            nic_irqs += 1;
            if aff
                .as_ref()
                .is_some_and(|a| a.iter().any(|c| hot.contains(c)))
            {
                on_hot.push(format!("{}:{irq}", nic.name));
            }
        }
    }
    add(
        "nic_irq_affinity",
        "NIC interrupts off the hot cores",
        if nic_irqs == 0 || hot.is_empty() {
            Verdict::Skip
        } else if on_hot.is_empty() {
            Verdict::Pass
        } else {
            Verdict::Fail
        },
        if on_hot.is_empty() {
            format!("{nic_irqs} NIC IRQs, none on {hot_list}")
        } else {
            format!("on hot cores: {}", on_hot.join(" "))
        },
        &format!("no NIC IRQ may run on {hot_list}"),
        "squeezeflow tune apply (writes /proc/irq/N/smp_affinity_list)",
    );
    let poll = host.busy_poll.zip(host.busy_read);
    add(
        "busy_poll",
        "Socket busy polling (net.core.busy_poll/busy_read)",
        match poll {
            None => Verdict::Skip,
            Some((p, r)) if p >= 50 && r >= 50 => Verdict::Pass,
            Some(_) => Verdict::Warn,
        },
        poll.map_or("unknown".to_string(), |(p, r)| {
            format!("busy_poll={p} busy_read={r}")
        }),
        "busy_poll=50 busy_read=50",
        "squeezeflow tune apply (net.core.busy_poll=50, net.core.busy_read=50)",
    );
    add(
        "clocksource",
        "Clock source",
        match host.clocksource.as_deref() {
            None => Verdict::Skip,
            Some("tsc") => Verdict::Pass,
            Some(_) => Verdict::Warn,
        },
        host.clocksource
            .clone()
            .unwrap_or_else(|| "unknown".to_string()),
        "tsc",
        "check the BIOS (invariant TSC) and add tsc=reliable to the kernel command line",
    );
    add(
        "timer_migration",
        "kernel.timer_migration",
        sysctl(host.timer_migration, |v| v == 0, Verdict::Warn),
        shown(host.timer_migration),
        "0",
        "squeezeflow tune apply (kernel.timer_migration=0)",
    );
    add(
        "memlock",
        "Locked-memory limit",
        match host.memlock_bytes {
            None => Verdict::Skip,
            Some(None) => Verdict::Pass,
            Some(Some(b)) if b >= 1 << 30 => Verdict::Pass,
            Some(Some(_)) => Verdict::Warn,
        },
        match host.memlock_bytes {
            None => "unknown".to_string(),
            Some(None) => "unlimited".to_string(),
            Some(Some(b)) => format!("{b} bytes"),
        },
        "unlimited (or >= 1 GiB)",
        "LimitMEMLOCK=infinity in the systemd unit (see `squeezeflow tune plan`)",
    );

    // --- SMT ---
    let (verdict, found) = match &map {
        Ok(m) => smt_verdict(host, m),
        Err(_) => (Verdict::Skip, "no core map".to_string()),
    };
    add(
        "smt_siblings",
        "SMT siblings of the hot cores",
        verdict,
        found,
        "each hot core's sibling is idle: isolated and given to no other role",
        "give each role a whole physical core and isolate the siblings (see `squeezeflow tune plan`)",
    );

    // --- Venue handshakes ---
    match handshakes {
        None => add(
            "handshake",
            "TCP + TLS handshake to the venues",
            Verdict::Skip,
            "not measured (pass --online)".to_string(),
            "< 50 ms",
            "",
        ),
        Some(hs) => {
            let slow: Vec<String> = hs
                .iter()
                .map(|h| match &h.result {
                    Ok(d) => format!("{} {:.1} ms", h.endpoint, d.as_secs_f64() * 1e3),
                    Err(e) => format!("{} error: {e}", h.endpoint),
                })
                .collect();
            let bad = hs
                .iter()
                .any(|h| h.result.as_ref().map_or(true, |d| *d >= HANDSHAKE_LIMIT));
            add(
                "handshake",
                "TCP + TLS handshake to the venues",
                if hs.is_empty() {
                    Verdict::Skip
                } else if bad {
                    Verdict::Warn
                } else {
                    Verdict::Pass
                },
                slow.join(", "),
                "< 50 ms",
                "host the engine closer to the venues (same region / colocation)",
            );
        }
    }
    items
}

/// SMT verdict for the pinned roles: FAIL when two roles share a physical core, WARN when a hot
/// core's sibling is free for other work (not isolated).
fn smt_verdict(host: &Host, map: &CoreMap) -> (Verdict, String) {
    let pinned: Vec<usize> = map
        .feeds
        .iter()
        .chain(&map.shards)
        .chain(std::iter::once(&map.io))
        .flatten()
        .copied()
        .collect();
    let mut shared = Vec::new();
    let mut busy_sibling = Vec::new();
    for c in hot_cores(map) {
        let Some(cpu) = host.cpu(c) else { continue };
        for &s in cpu.siblings.iter().filter(|&&s| s != c) {
            if pinned.contains(&s) {
                shared.push(format!("{c}/{s}"));
            } else if !host.isolated.contains(&s)
                && !host
                    .cmdline_cpus("isolcpus")
                    .is_some_and(|l| l.contains(&s))
            {
                busy_sibling.push(format!("{c}/{s}"));
            }
        }
    }
    if host.cpus.iter().all(|c| c.siblings.len() <= 1) {
        (Verdict::Pass, "no SMT".to_string())
    } else if !shared.is_empty() {
        (
            Verdict::Fail,
            format!("roles share a core: {}", shared.join(" ")),
        )
    } else if !busy_sibling.is_empty() {
        (
            Verdict::Warn,
            format!("sibling not isolated: {}", busy_sibling.join(" ")),
        )
    } else {
        (Verdict::Pass, "siblings idle".to_string())
    }
}

/// The exit code a `check` run reports: 1 when anything failed, else 0.
pub fn exit_code(items: &[Item]) -> u8 {
    u8::from(items.iter().any(|i| i.verdict == Verdict::Fail))
}
