//! Reads what the host tuning audit needs from sysfs and procfs under a root path, so tests can
//! point it at a fixture tree instead of the real `/`.
//!
//! Everything missing is `None` (containers and VMs lack much of sysfs): the audit turns that
//! into SKIP rather than an error, and nothing here panics on odd file contents.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// One logical CPU as the kernel describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cpu {
    pub id: usize,
    pub package: usize,
    pub core: usize,
    /// Logical CPUs sharing this one's physical core, itself included.
    pub siblings: Vec<usize>,
    /// `scaling_governor`, when cpufreq is exposed.
    pub governor: Option<String>,
}

/// A physical network interface and the IRQs its device raises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nic {
    pub name: String,
    pub numa_node: Option<usize>,
    /// IRQ number and its current `smp_affinity_list`.
    pub irqs: Vec<(u32, Option<Vec<usize>>)>,
}

/// A snapshot of the host's tuning-relevant state.
#[derive(Debug, Clone)]
pub struct Host {
    pub root: PathBuf,
    pub os: Option<String>,
    pub cmdline: String,
    pub cpus: Vec<Cpu>,
    /// `/sys/devices/system/cpu/isolated`.
    pub isolated: Vec<usize>,
    pub mem_total_kib: Option<u64>,
    pub thp: Option<String>,
    pub ksm_run: Option<u64>,
    pub numa_balancing: Option<u64>,
    pub swappiness: Option<u64>,
    pub busy_poll: Option<u64>,
    pub busy_read: Option<u64>,
    pub timer_migration: Option<u64>,
    pub clocksource: Option<String>,
    /// `intel_idle.max_cstate` as the module reports it.
    pub intel_max_cstate: Option<u64>,
    /// `Max locked memory` soft limit of this process: `None` unknown, `Some(None)` unlimited.
    pub memlock_bytes: Option<Option<u64>>,
    pub irqbalance_running: bool,
    pub nics: Vec<Nic>,
    /// Block devices (no loop/ram/zram/device-mapper) and whether each is rotational.
    pub disks: Vec<(String, bool)>,
}

impl Host {
    /// Read the host under `root` (`/` for the real one).
    pub fn probe(root: &Path) -> Host {
        let r = Reader { root };
        let mut cpus = Vec::new();
        for id in r.cpu_ids() {
            let dir = format!("sys/devices/system/cpu/cpu{id}");
            let num = |f: &str| r.number(&format!("{dir}/topology/{f}"));
            cpus.push(Cpu {
                id,
                package: num("physical_package_id").unwrap_or(0) as usize,
                core: num("core_id").unwrap_or(id as u64) as usize,
                siblings: r
                    .text(&format!("{dir}/topology/thread_siblings_list"))
                    .and_then(|s| parse_cpu_list(&s))
                    .unwrap_or_else(|| vec![id]),
                governor: r.text(&format!("{dir}/cpufreq/scaling_governor")),
            });
        }
        Host {
            root: root.to_path_buf(),
            os: r.text("proc/sys/kernel/ostype"),
            cmdline: r.text("proc/cmdline").unwrap_or_default(),
            cpus,
            isolated: r
                .text("sys/devices/system/cpu/isolated")
                .and_then(|s| parse_cpu_list(&s))
                .unwrap_or_default(),
            mem_total_kib: r.text("proc/meminfo").and_then(|m| meminfo_total(&m)),
            thp: r.text("sys/kernel/mm/transparent_hugepage/enabled"),
            ksm_run: r.number("sys/kernel/mm/ksm/run"),
            numa_balancing: r.number("proc/sys/kernel/numa_balancing"),
            swappiness: r.number("proc/sys/vm/swappiness"),
            busy_poll: r.number("proc/sys/net/core/busy_poll"),
            busy_read: r.number("proc/sys/net/core/busy_read"),
            timer_migration: r.number("proc/sys/kernel/timer_migration"),
            clocksource: r.text("sys/devices/system/clocksource/clocksource0/current_clocksource"),
            intel_max_cstate: r.number("sys/module/intel_idle/parameters/max_cstate"),
            memlock_bytes: r.text("proc/self/limits").and_then(|l| memlock_limit(&l)),
            irqbalance_running: r.process_running("irqbalance"),
            nics: r.nics(),
            disks: r.disks(),
        }
    }

    /// The file `logical` (an absolute path like `/proc/sys/vm/swappiness`) under the root.
    pub fn path(&self, logical: &str) -> PathBuf {
        rooted(&self.root, logical)
    }

    /// Physical cores: distinct (package, core id) pairs.
    pub fn physical_cores(&self) -> usize {
        self.cpus
            .iter()
            .map(|c| (c.package, c.core))
            .collect::<BTreeSet<_>>()
            .len()
    }

    /// The selected transparent-huge-page mode: `always` from `[always] madvise never` (a lone
    /// word is taken as the mode: what a plain file holds after `apply` wrote to it).
    pub fn thp_mode(&self) -> Option<String> {
        let t = self.thp.as_deref()?;
        if !t.contains('[') && !t.is_empty() && !t.contains(char::is_whitespace) {
            return Some(t.to_string());
        }
        let start = t.find('[')?;
        let end = t[start..].find(']')?;
        Some(t[start + 1..start + end].to_string())
    }

    /// CPUs the kernel keeps for isolated work: sysfs `isolated` plus `isolcpus=`.
    pub fn isolated_cpus(&self) -> Vec<usize> {
        let mut v = self.isolated.clone();
        v.extend(self.cmdline_cpus("isolcpus").unwrap_or_default());
        v.sort_unstable();
        v.dedup();
        v
    }

    pub fn cpu(&self, id: usize) -> Option<&Cpu> {
        self.cpus.iter().find(|c| c.id == id)
    }

    /// The value of `key=` on the kernel command line (last one wins, as in the kernel).
    pub fn cmdline_value(&self, key: &str) -> Option<&str> {
        self.cmdline
            .split_whitespace()
            .rev()
            .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
    }

    /// CPUs named by a cpu-list parameter such as `isolcpus=managed_irq,domain,2-7`.
    pub fn cmdline_cpus(&self, key: &str) -> Option<Vec<usize>> {
        let v = self.cmdline_value(key)?;
        // isolcpus may start with flags; the list is what follows the last flag.
        let list: Vec<&str> = v
            .split(',')
            .filter(|p| p.starts_with(|c: char| c.is_ascii_digit()))
            .collect();
        parse_cpu_list(&list.join(","))
    }
}

/// `root` joined with an absolute `logical` path.
pub fn rooted(root: &Path, logical: &str) -> PathBuf {
    root.join(logical.trim_start_matches('/'))
}

/// Parse a kernel cpu list (`0-3,8,10-11`); `None` if malformed. Empty text is the empty list.
pub fn parse_cpu_list(s: &str) -> Option<Vec<usize>> {
    let mut out = BTreeSet::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (a.parse::<usize>().ok()?, b.parse::<usize>().ok()?);
                if b < a || b - a > 4096 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => {
                out.insert(part.parse().ok()?);
            }
        }
    }
    Some(out.into_iter().collect())
}

/// Format CPUs as a kernel cpu list, ranges collapsed: `[0, 1, 2, 5]` → `0-2,5`.
pub fn format_cpu_list(cpus: &[usize]) -> String {
    let set: BTreeSet<usize> = cpus.iter().copied().collect();
    let mut parts: Vec<String> = Vec::new();
    let mut iter = set.into_iter().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        parts.push(if end == start {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    parts.join(",")
}

fn meminfo_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `Some(None)` for unlimited, `Some(Some(bytes))` for a limit.
fn memlock_limit(text: &str) -> Option<Option<u64>> {
    let line = text.lines().find(|l| l.starts_with("Max locked memory"))?;
    let soft = line
        .trim_start_matches("Max locked memory")
        .split_whitespace()
        .next()?;
    if soft == "unlimited" {
        Some(None)
    } else {
        soft.parse().ok().map(Some)
    }
}

struct Reader<'a> {
    root: &'a Path,
}

impl Reader<'_> {
    fn text(&self, logical: &str) -> Option<String> {
        std::fs::read_to_string(rooted(self.root, logical))
            .ok()
            .map(|s| s.trim().to_string())
    }

    fn number(&self, logical: &str) -> Option<u64> {
        self.text(logical)?.parse().ok()
    }

    fn names(&self, logical: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(rooted(self.root, logical))
            .map(|rd| {
                rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    fn cpu_ids(&self) -> Vec<usize> {
        let mut ids: Vec<usize> = self
            .names("sys/devices/system/cpu")
            .iter()
            .filter_map(|n| n.strip_prefix("cpu")?.parse().ok())
            .collect();
        ids.sort_unstable();
        ids
    }

    fn process_running(&self, comm: &str) -> bool {
        self.names("proc").iter().any(|pid| {
            pid.bytes().all(|b| b.is_ascii_digit())
                && self.text(&format!("proc/{pid}/comm")).as_deref() == Some(comm)
        })
    }

    fn nics(&self) -> Vec<Nic> {
        let mut nics = Vec::new();
        for name in self.names("sys/class/net") {
            // Virtual interfaces (lo, bridges, veth) have no `device`.
            let dev = format!("sys/class/net/{name}/device");
            if !rooted(self.root, &dev).exists() {
                continue;
            }
            let mut irqs: Vec<u32> = self
                .names(&format!("{dev}/msi_irqs"))
                .iter()
                .filter_map(|n| n.parse().ok())
                .collect();
            irqs.sort_unstable();
            nics.push(Nic {
                numa_node: self
                    .text(&format!("{dev}/numa_node"))
                    .and_then(|s| s.parse().ok()),
                irqs: irqs
                    .into_iter()
                    .map(|irq| {
                        let aff = self
                            .text(&format!("proc/irq/{irq}/smp_affinity_list"))
                            .and_then(|s| parse_cpu_list(&s));
                        (irq, aff)
                    })
                    .collect(),
                name,
            });
        }
        nics
    }

    fn disks(&self) -> Vec<(String, bool)> {
        self.names("sys/block")
            .into_iter()
            .filter(|n| {
                !["loop", "ram", "zram", "dm-", "sr"]
                    .iter()
                    .any(|p| n.starts_with(p))
            })
            .filter_map(|n| {
                let rot = self.number(&format!("sys/block/{n}/queue/rotational"))?;
                Some((n, rot != 0))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_round_trip() {
        assert_eq!(parse_cpu_list("0-2,5,7-8"), Some(vec![0, 1, 2, 5, 7, 8]));
        assert_eq!(parse_cpu_list(""), Some(vec![]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
        assert_eq!(format_cpu_list(&[5, 0, 1, 2, 7, 8]), "0-2,5,7-8");
        assert_eq!(format_cpu_list(&[]), "");
    }

    #[test]
    fn limits_and_meminfo() {
        assert_eq!(
            meminfo_total("MemTotal:  1024 kB\nMemFree: 1 kB"),
            Some(1024)
        );
        assert_eq!(
            memlock_limit("Max locked memory   unlimited  unlimited  bytes"),
            Some(None)
        );
        assert_eq!(
            memlock_limit("Max locked memory   65536  65536  bytes"),
            Some(Some(65536))
        );
        assert_eq!(memlock_limit("garbage"), None);
    }
}
