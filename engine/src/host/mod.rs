//! Host tuning for bare-metal Linux: a read-only audit ([`check`]), runtime settings to apply and
//! revert ([`apply`]), a plan for the kernel command line, core map and systemd unit ([`plan`]),
//! and the engine's start-up warnings. Everything reads the host under a root path ([`probe`]),
//! so tests run against fixture sysfs/proc trees.

pub mod apply;
pub mod check;
pub mod plan;
pub mod probe;

use crate::runtime::CoreMap;
use std::path::Path;

/// Warnings for the engine's start-up log: a pinned feed or shard core the kernel does not
/// isolate (its worst hiccups are milliseconds, not microseconds), or two pinned roles on SMT
/// siblings of one physical core. Empty when the host's topology cannot be read.
pub fn startup_warnings(root: &Path, cores: &CoreMap) -> Vec<String> {
    let host = probe::Host::probe(root);
    if host.cpus.is_empty() {
        return Vec::new();
    }
    let isolated = host.isolated_cpus();
    let mut roles: Vec<(&str, usize)> = Vec::new();
    roles.extend(cores.feeds.iter().flatten().map(|&c| ("feed", c)));
    roles.extend(cores.shards.iter().flatten().map(|&c| ("shard", c)));
    let hot = roles.len();
    roles.extend(cores.io.map(|c| ("io", c)));
    let mut out = Vec::new();
    for &(role, core) in &roles[..hot] {
        if !isolated.contains(&core) {
            out.push(format!(
                "{role} core {core} is not isolated (isolcpus/nohz_full): expect millisecond \
                 hiccups; see `squeezeflow tune plan`"
            ));
        }
    }
    for (i, &(role, core)) in roles.iter().enumerate() {
        let Some(cpu) = host.cpu(core) else { continue };
        for &(other, other_core) in &roles[i + 1..] {
            if other_core != core && cpu.siblings.contains(&other_core) {
                out.push(format!(
                    "{role} core {core} and {other} core {other_core} are SMT siblings of one \
                     physical core: they slow each other down; give each role its own core"
                ));
            }
        }
    }
    out
}
