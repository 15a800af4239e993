//! CPU and memory from Linux `/proc`: the process's RSS and CPU time, each engine thread's
//! CPU time (found by thread name), the host's CPU and memory use. Read by the IO thread once
//! per publish interval; anything unreadable reads as zero (never an error that stops the
//! engine).
//!
//! CPU times in `/proc/*/stat` are in clock ticks of `USER_HZ`, which Linux fixes at 100 for
//! user space on every architecture it supports.

use std::path::Path;

/// Clock ticks per second of `/proc` CPU times (Linux `USER_HZ`).
pub const TICKS_PER_S: f64 = 100.0;

/// `utime + stime` (ticks) from a `/proc/<pid>/stat` or `/proc/<pid>/task/<tid>/stat` line.
/// The command name (field 2) may contain spaces and parentheses: fields are counted after
/// its last `)`.
pub fn cpu_ticks_of_stat(line: &str) -> Option<u64> {
    let rest = &line[line.rfind(')')? + 1..];
    let mut f = rest.split_ascii_whitespace();
    // After `)`: state(3) ppid(4) … utime is field 14, stime 15 → 11th and 12th here.
    let utime: u64 = f.nth(11)?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The process's CPU ticks so far.
pub fn process_ticks() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| cpu_ticks_of_stat(&s))
        .unwrap_or(0)
}

/// Resident set size from `/proc/self/status` (`VmRSS`, kB), bytes.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| kb_field(&s, "VmRSS:"))
        .unwrap_or(0)
}

fn kb_field(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line[key.len()..]
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Host memory: (used fraction = 1 − MemAvailable / MemTotal, MemTotal bytes).
pub fn host_memory() -> (f64, u64) {
    let Ok(text) = std::fs::read_to_string("/proc/meminfo") else {
        return (0.0, 0);
    };
    host_memory_of(&text)
}

/// [`host_memory`] from the text of `/proc/meminfo`.
pub fn host_memory_of(text: &str) -> (f64, u64) {
    match (kb_field(text, "MemTotal:"), kb_field(text, "MemAvailable:")) {
        (Some(total), Some(avail)) if total > 0 => {
            (1.0 - avail.min(total) as f64 / total as f64, total)
        }
        _ => (0.0, 0),
    }
}

/// Host CPU counters from the `cpu` line of `/proc/stat`: (busy ticks, total ticks).
pub fn host_cpu_ticks() -> (u64, u64) {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| host_cpu_of(&s))
        .unwrap_or((0, 0))
}

/// [`host_cpu_ticks`] from the text of `/proc/stat` (idle and iowait count as not busy).
pub fn host_cpu_of(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_ascii_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

/// The calling thread's id (from `/proc/thread-self`), for finding it again later.
pub fn current_tid() -> Option<u32> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}

/// Thread ids of this process by name (`/proc/self/task/*/comm`).
pub fn tids_named(names: &[String]) -> Vec<Option<u32>> {
    let mut out = vec![None; names.len()];
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) else {
            continue;
        };
        let comm = comm.trim_end();
        for (i, n) in names.iter().enumerate() {
            if out[i].is_none() && n == comm {
                out[i] = Some(tid);
            }
        }
    }
    out
}

/// CPU time of thread `tid` of this process, ns (`None`: it is gone): the first field of
/// its `schedstat` (ns resolution), else `utime + stime` from its `stat` (10 ms ticks).
pub fn thread_cpu_ns(tid: u32) -> Option<u64> {
    let sched = format!("/proc/self/task/{tid}/schedstat");
    if let Some(ns) = std::fs::read_to_string(Path::new(&sched))
        .ok()
        .and_then(|s| s.split_ascii_whitespace().next()?.parse::<u64>().ok())
    {
        return Some(ns);
    }
    let path = format!("/proc/self/task/{tid}/stat");
    std::fs::read_to_string(Path::new(&path))
        .ok()
        .and_then(|s| cpu_ticks_of_stat(&s))
        .map(|t| (t as f64 * 1e9 / TICKS_PER_S) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_command_names() {
        let line = "1234 (feed) 0 (x)) S 1 1234 1234 0 -1 4194304 100 0 0 0 250 17 0 0 20 0 5 0 100 1000 200";
        assert_eq!(cpu_ticks_of_stat(line), Some(267));
        assert_eq!(cpu_ticks_of_stat("garbage"), None);
        assert_eq!(cpu_ticks_of_stat("1 (a) S 1 2"), None);
    }

    #[test]
    fn meminfo_and_stat() {
        let mem = "MemTotal:       16000000 kB\nMemFree:  1000 kB\nMemAvailable:    4000000 kB\n";
        let (used, total) = host_memory_of(mem);
        assert!((used - 0.75).abs() < 1e-12);
        assert_eq!(total, 16_000_000 * 1024);
        let stat = "cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3\n";
        assert_eq!(host_cpu_of(stat), Some((200, 1000)));
    }

    #[test]
    fn this_process_is_visible() {
        assert!(rss_bytes() > 0);
        assert!(current_tid().is_some());
        let tid = current_tid().unwrap();
        assert!(thread_cpu_ns(tid).is_some());
    }
}
