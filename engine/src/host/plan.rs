//! `plan`: from the machine's topology and NIC, the kernel command line to add, the engine's
//! core map and a systemd unit (filled from `tuning/squeezeflow.service.in`).
//!
//! The layout, on the NIC's NUMA node (package 0 without a NIC): its first physical core stays
//! with the OS and interrupts, the next runs the IO thread, then feed cores (two when the node
//! has 8 or more cores) and up to four shard cores. Feed and shard cores are isolated together
//! with their SMT siblings, which stay idle, so no other work shares a hot physical core.

use super::probe::{format_cpu_list, Host};
use crate::config::CoreSpec;
use std::collections::BTreeMap;

const UNIT_TEMPLATE: &str = include_str!("../../../tuning/squeezeflow.service.in");

/// Where the unit finds the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitParams {
    pub bin: String,
    pub config: String,
    pub data_dir: String,
}

/// The proposed tuning of one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Parameters to add to the kernel command line.
    pub cmdline: String,
    /// The engine's cores (always `CoreSpec::Explicit`).
    pub cores: CoreSpec,
    /// CPUs isolated from the scheduler (hot cores and their siblings).
    pub isolated: Vec<usize>,
    /// CPUs left for the OS and interrupts.
    pub housekeeping: Vec<usize>,
    /// The `[runtime]` block for the engine's config.
    pub runtime_toml: String,
    /// The systemd unit.
    pub unit: String,
}

/// Why no plan could be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot plan: {0}")]
pub struct PlanError(String);

/// Plan the host.
pub fn plan(host: &Host, unit: &UnitParams) -> Result<Plan, PlanError> {
    let node = host.nics.iter().find_map(|n| n.numa_node).unwrap_or(0);
    // Physical cores of the node in core-id order, each as its sibling group (lowest CPU first).
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for cpu in host.cpus.iter().filter(|c| c.package == node) {
        let mut sib = cpu.siblings.clone();
        sib.sort_unstable();
        groups.entry(cpu.core).or_insert(sib);
    }
    let groups: Vec<Vec<usize>> = groups.into_values().filter(|g| !g.is_empty()).collect();
    if groups.len() < 4 {
        return Err(PlanError(format!(
            "node {node} has {} physical cores; partitioning needs at least 4 \
             (housekeeping, io, feed, shard): keep cores = \"auto\"",
            groups.len()
        )));
    }
    let io = groups[1][0];
    let n_feed = if groups.len() >= 8 { 2 } else { 1 };
    let feed_groups = &groups[2..2 + n_feed];
    let shard_groups = &groups[2 + n_feed..groups.len().min(2 + n_feed + 4)];
    let feed: Vec<usize> = feed_groups.iter().map(|g| g[0]).collect();
    let shard: Vec<usize> = shard_groups.iter().map(|g| g[0]).collect();
    let mut isolated: Vec<usize> = feed_groups
        .iter()
        .chain(shard_groups)
        .flatten()
        .copied()
        .collect();
    isolated.sort_unstable();
    let housekeeping: Vec<usize> = host
        .cpus
        .iter()
        .map(|c| c.id)
        .filter(|c| !isolated.contains(c))
        .collect();
    let iso = format_cpu_list(&isolated);
    let cmdline = format!(
        "isolcpus=managed_irq,domain,{iso} nohz_full={iso} rcu_nocbs={iso} irqaffinity={} \
         intel_idle.max_cstate=1 processor.max_cstate=1",
        format_cpu_list(&housekeeping)
    );
    let list = |v: &[usize]| {
        v.iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let runtime_toml = format!(
        "[runtime]\ncores = {{ feed = [{}], shard = [{}], io = {io} }}\nbusy_poll = true\n",
        list(&feed),
        list(&shard)
    );
    let engine_cpus: Vec<usize> = std::iter::once(io)
        .chain(feed.iter().copied())
        .chain(shard.iter().copied())
        .collect();
    let unit = UNIT_TEMPLATE
        .replace("@BIN@", &unit.bin)
        .replace("@CONFIG@", &unit.config)
        .replace("@DATA_DIR@", &unit.data_dir)
        .replace("@CPUS@", &format_cpu_list(&engine_cpus));
    Ok(Plan {
        cmdline,
        cores: CoreSpec::Explicit { feed, shard, io },
        isolated,
        housekeeping,
        runtime_toml,
        unit,
    })
}

impl Plan {
    /// The plan as `plan` prints it.
    pub fn render(&self) -> String {
        format!(
            "# 1. Kernel command line: append to GRUB_CMDLINE_LINUX in /etc/default/grub,\n\
             #    then `update-grub` (or `grub2-mkconfig -o /boot/grub2/grub.cfg`) and reboot.\n\
             {}\n\n\
             # 2. Engine config: the [runtime] block of the engine's config file.\n\
             {}\n\
             # 3. systemd unit: /etc/systemd/system/squeezeflow.service\n\
             {}",
            self.cmdline, self.runtime_toml, self.unit
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cpu(dir: &Path, id: usize, core: usize) {
        let t = dir.join(format!("sys/devices/system/cpu/cpu{id}/topology"));
        std::fs::create_dir_all(&t).unwrap();
        std::fs::write(t.join("core_id"), format!("{core}\n")).unwrap();
        std::fs::write(t.join("physical_package_id"), "0\n").unwrap();
        std::fs::write(t.join("thread_siblings_list"), format!("{id}\n")).unwrap();
    }

    fn params() -> UnitParams {
        UnitParams {
            bin: "/b".into(),
            config: "/c".into(),
            data_dir: "/d".into(),
        }
    }

    #[test]
    fn small_hosts_are_not_partitioned() {
        let tmp = tempfile::tempdir().unwrap();
        for id in 0..3 {
            cpu(tmp.path(), id, id);
        }
        let e = plan(&Host::probe(tmp.path()), &params()).unwrap_err();
        assert!(e.to_string().contains("3 physical cores"), "{e}");
    }

    #[test]
    fn four_cores_without_smt() {
        let tmp = tempfile::tempdir().unwrap();
        for id in 0..4 {
            cpu(tmp.path(), id, id);
        }
        let p = plan(&Host::probe(tmp.path()), &params()).unwrap();
        assert_eq!(
            p.cores,
            CoreSpec::Explicit {
                feed: vec![2],
                shard: vec![3],
                io: 1
            }
        );
        assert!(p
            .cmdline
            .starts_with("isolcpus=managed_irq,domain,2-3 nohz_full=2-3 "));
        assert!(p.cmdline.contains("irqaffinity=0-1 "));
    }
}
