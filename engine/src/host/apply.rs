//! `apply` and `revert` of the runtime settings only (no reboot needed): cpufreq governor, THP,
//! KSM, sysctls, irqbalance and NIC IRQ affinity. The plan is a list of [`Step`]s rendered as
//! the exact shell commands; executing saves every previous value to a JSON state file first,
//! and `revert` writes those values back.

use super::check::hot_cores;
use super::probe::{format_cpu_list, rooted, Host};
use crate::runtime::CoreMap;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One change to the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// Write `value` to the file at the absolute (host) path `path`, which now holds `previous`.
    Write {
        path: String,
        previous: String,
        value: String,
    },
    /// `systemctl stop irqbalance` (so it does not move IRQs back onto the hot cores).
    StopIrqbalance,
    /// `systemctl start irqbalance` (revert).
    StartIrqbalance,
}

/// What `apply --execute` saved, for `revert`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedState {
    /// The steps that were applied, in order; revert undoes them in reverse.
    pub applied: Vec<Step>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a saved tuning state: {message}")]
    State { path: PathBuf, message: String },
    #[error("{0}: a saved state already exists (run revert first, or remove it): refusing to overwrite the original values")]
    StateExists(PathBuf),
    #[error("`{command}` failed: {message}")]
    Command { command: String, message: String },
}

/// CPUs for interrupts and other housekeeping: not hot, not isolated, not sharing a core with a
/// hot CPU; on the NIC's NUMA node when that leaves any.
pub fn housekeeping_cpus(host: &Host, map: &CoreMap) -> Vec<usize> {
    let hot = hot_cores(map);
    let isolated = host.isolated_cpus();
    let busy = |c: usize| {
        hot.contains(&c)
            || isolated.contains(&c)
            || hot
                .iter()
                .any(|&h| host.cpu(h).is_some_and(|cpu| cpu.siblings.contains(&c)))
    };
    let free: Vec<usize> = host
        .cpus
        .iter()
        .map(|c| c.id)
        .filter(|&c| !busy(c))
        .collect();
    let node = host.nics.iter().find_map(|n| n.numa_node);
    let local: Vec<usize> = free
        .iter()
        .copied()
        .filter(|&c| node.is_none_or(|n| host.cpu(c).is_some_and(|cpu| cpu.package == n)))
        .collect();
    if local.is_empty() {
        free
    } else {
        local
    }
}

/// The changes that bring the runtime settings to the tuned values, in the order to run them.
/// Settings already right, or absent on this host, produce no step.
pub fn steps(host: &Host, map: &CoreMap) -> Vec<Step> {
    let mut out = Vec::new();
    let mut write = |path: String, previous: Option<String>, value: &str| {
        if let Some(previous) = previous {
            if previous != value {
                out.push(Step::Write {
                    path,
                    previous,
                    value: value.to_string(),
                });
            }
        }
    };
    for cpu in &host.cpus {
        write(
            format!(
                "/sys/devices/system/cpu/cpu{}/cpufreq/scaling_governor",
                cpu.id
            ),
            cpu.governor.clone(),
            "performance",
        );
    }
    let thp = host.thp_mode().filter(|m| m == "always");
    write(
        "/sys/kernel/mm/transparent_hugepage/enabled".into(),
        thp,
        "never",
    );
    let num = |v: Option<u64>| v.map(|v| v.to_string());
    write("/sys/kernel/mm/ksm/run".into(), num(host.ksm_run), "0");
    write(
        "/proc/sys/kernel/numa_balancing".into(),
        num(host.numa_balancing),
        "0",
    );
    write(
        "/proc/sys/vm/swappiness".into(),
        num(host.swappiness.filter(|&v| v > 10)),
        "10",
    );
    write(
        "/proc/sys/net/core/busy_poll".into(),
        num(host.busy_poll.filter(|&v| v < 50)),
        "50",
    );
    write(
        "/proc/sys/net/core/busy_read".into(),
        num(host.busy_read.filter(|&v| v < 50)),
        "50",
    );
    write(
        "/proc/sys/kernel/timer_migration".into(),
        num(host.timer_migration),
        "0",
    );
    // irqbalance first: it would otherwise move the IRQs straight back.
    if host.irqbalance_running {
        out.push(Step::StopIrqbalance);
    }
    let hot = hot_cores(map);
    let target = format_cpu_list(&housekeeping_cpus(host, map));
    if !hot.is_empty() && !target.is_empty() {
        for nic in &host.nics {
            for (irq, aff) in &nic.irqs {
                if let Some(aff) = aff.as_ref().filter(|a| a.iter().any(|c| hot.contains(c))) {
                    out.push(Step::Write {
                        path: format!("/proc/irq/{irq}/smp_affinity_list"),
                        previous: format_cpu_list(aff),
                        value: target.clone(),
                    });
                }
            }
        }
    }
    out
}

/// The shell command for a step, with paths under `root`.
pub fn command(root: &Path, step: &Step) -> String {
    match step {
        Step::Write { path, value, .. } => format!(
            "echo {} > {}",
            shell_quote(value),
            shell_quote(&rooted(root, path).to_string_lossy())
        ),
        Step::StopIrqbalance => "systemctl stop irqbalance".to_string(),
        Step::StartIrqbalance => "systemctl start irqbalance".to_string(),
    }
}

/// The steps that undo `applied`: the previous values, in reverse order.
pub fn revert_steps(state: &SavedState) -> Vec<Step> {
    state
        .applied
        .iter()
        .rev()
        .map(|s| match s {
            Step::Write {
                path,
                previous,
                value,
            } => Step::Write {
                path: path.clone(),
                previous: value.clone(),
                value: previous.clone(),
            },
            Step::StopIrqbalance => Step::StartIrqbalance,
            Step::StartIrqbalance => Step::StopIrqbalance,
        })
        .collect()
}

/// Save `steps` to `state` (refusing to overwrite one), then run them under `root`.
/// `systemctl` runs only when `root` is `/` (a fixture root has no services).
pub fn execute(root: &Path, steps: &[Step], state: &Path) -> Result<(), ApplyError> {
    if state.exists() {
        return Err(ApplyError::StateExists(state.to_path_buf()));
    }
    if let Some(dir) = state.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| ApplyError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let saved = SavedState {
        applied: steps.to_vec(),
    };
    let json = serde_json::to_string_pretty(&saved).map_err(|e| ApplyError::State {
        path: state.to_path_buf(),
        message: e.to_string(),
    })?;
    std::fs::write(state, json + "\n").map_err(|source| ApplyError::Io {
        path: state.to_path_buf(),
        source,
    })?;
    run(root, steps)
}

/// Read a saved state.
pub fn load_state(state: &Path) -> Result<SavedState, ApplyError> {
    let text = std::fs::read_to_string(state).map_err(|source| ApplyError::Io {
        path: state.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| ApplyError::State {
        path: state.to_path_buf(),
        message: e.to_string(),
    })
}

/// Undo a saved state under `root`, then remove the state file.
pub fn revert(root: &Path, state: &Path) -> Result<(), ApplyError> {
    let steps = revert_steps(&load_state(state)?);
    run(root, &steps)?;
    std::fs::remove_file(state).map_err(|source| ApplyError::Io {
        path: state.to_path_buf(),
        source,
    })
}

fn run(root: &Path, steps: &[Step]) -> Result<(), ApplyError> {
    for step in steps {
        match step {
            Step::Write { path, value, .. } => {
                let path = rooted(root, path);
                std::fs::write(&path, format!("{value}\n"))
                    .map_err(|source| ApplyError::Io { path, source })?;
            }
            Step::StopIrqbalance | Step::StartIrqbalance if root == Path::new("/") => {
                let verb = if *step == Step::StopIrqbalance {
                    "stop"
                } else {
                    "start"
                };
                let status = std::process::Command::new("systemctl")
                    .args([verb, "irqbalance"])
                    .status();
                match status {
                    Ok(s) if s.success() => {}
                    Ok(s) => {
                        return Err(ApplyError::Command {
                            command: command(root, step),
                            message: s.to_string(),
                        })
                    }
                    Err(e) => {
                        return Err(ApplyError::Command {
                            command: command(root, step),
                            message: e.to_string(),
                        })
                    }
                }
            }
            Step::StopIrqbalance | Step::StartIrqbalance => {}
        }
    }
    Ok(())
}

/// Quote for a POSIX shell when the word has anything but safe characters.
fn shell_quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-,:=+@".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(
            shell_quote("/proc/irq/1/smp_affinity_list"),
            "/proc/irq/1/smp_affinity_list"
        );
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn revert_undoes_in_reverse() {
        let state = SavedState {
            applied: vec![
                Step::Write {
                    path: "/a".into(),
                    previous: "1".into(),
                    value: "0".into(),
                },
                Step::StopIrqbalance,
            ],
        };
        assert_eq!(
            revert_steps(&state),
            vec![
                Step::StartIrqbalance,
                Step::Write {
                    path: "/a".into(),
                    previous: "0".into(),
                    value: "1".into(),
                },
            ]
        );
    }
}
