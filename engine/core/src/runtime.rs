//! The thread-per-core runtime: which core runs which role, pinning, how idle threads wait, and
//! the stop signal. (`[runtime]` is read by the cold `engine::config`, which hands
//! [`CoreSpec`] here.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::Thread;
use std::time::Duration;

/// Which cores run which role (`[runtime] cores`; parsed by `engine::config`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CoreSpec {
    /// Derived from the machine ([`CoreMap::auto`]).
    #[default]
    Auto,
    Explicit {
        feed: Vec<usize>,
        shard: Vec<usize>,
        io: usize,
    },
}

/// Why a [`CoreSpec`] does not fit this machine; shown as `runtime.cores: <message>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("runtime.cores: {message}")]
pub struct CoreSpecError {
    pub message: String,
}

/// Where each role's thread runs; `None` = not pinned (small machines).
///
/// No shard cores means the shard work runs inline on the (single) feed thread: one thread does
/// socket → decode → bar, which on 1–2 cores beats a ring hop whose consumer must be woken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreMap {
    pub feeds: Vec<Option<usize>>,
    pub shards: Vec<Option<usize>>,
    pub io: Option<usize>,
}

impl CoreMap {
    /// Derive a map for a machine with `n` usable cores.
    ///
    /// - 1–2 cores: one feed thread doing the shard work inline, and the IO thread, unpinned
    ///   (the OS shares the cores; spin-then-park keeps the machine usable).
    /// - 3 cores: IO on 0, feed on 1, shard on 2.
    /// - 4+ cores: IO on 0, one feed core (two from 8 cores), then up to 4 shard cores; the rest
    ///   is left to the OS and interrupts.
    pub fn auto(n: usize) -> CoreMap {
        match n {
            0..=2 => CoreMap {
                feeds: vec![None],
                shards: Vec::new(),
                io: None,
            },
            3 => CoreMap {
                feeds: vec![Some(1)],
                shards: vec![Some(2)],
                io: Some(0),
            },
            _ => {
                let feeds = if n >= 8 { 2 } else { 1 };
                let shards = (n - 1 - feeds).min(4);
                CoreMap {
                    feeds: (1..=feeds).map(Some).collect(),
                    shards: (1 + feeds..1 + feeds + shards).map(Some).collect(),
                    io: Some(0),
                }
            }
        }
    }

    /// Resolve the configured spec on a machine with `available` cores.
    pub fn resolve(spec: &CoreSpec, available: usize) -> Result<CoreMap, CoreSpecError> {
        let (feed, shard, io) = match spec {
            CoreSpec::Auto => return Ok(CoreMap::auto(available)),
            CoreSpec::Explicit { feed, shard, io } => (feed, shard, *io),
        };
        let invalid = |message: String| CoreSpecError { message };
        if feed.is_empty() {
            return Err(invalid("needs at least one feed core".to_string()));
        }
        if shard.is_empty() && feed.len() > 1 {
            return Err(invalid(
                "shard = [] (shard work inline on the feed thread) needs exactly one feed core"
                    .to_string(),
            ));
        }
        let mut all: Vec<usize> = feed.iter().chain(shard).copied().collect();
        all.push(io);
        for &c in &all {
            if c >= available {
                return Err(invalid(format!(
                    "core {c} does not exist: this machine has cores 0..={}",
                    available.saturating_sub(1)
                )));
            }
        }
        let mut sorted = all.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != all.len() {
            return Err(invalid(format!(
                "a core is given to two roles ({all:?}); each role needs its own core"
            )));
        }
        Ok(CoreMap {
            feeds: feed.iter().map(|&c| Some(c)).collect(),
            shards: shard.iter().map(|&c| Some(c)).collect(),
            io: Some(io),
        })
    }

    /// One line for the start-up log: `feed [1] shard [2, 3] io 0`.
    pub fn describe(&self) -> String {
        fn list(v: &[Option<usize>]) -> String {
            v.iter()
                .map(|c| c.map_or("-".to_string(), |c| c.to_string()))
                .collect::<Vec<_>>()
                .join(",")
        }
        format!(
            "feed [{}] shard [{}] io {}",
            list(&self.feeds),
            if self.shards.is_empty() {
                "inline".to_string()
            } else {
                list(&self.shards)
            },
            self.io.map_or("-".to_string(), |c| c.to_string())
        )
    }
}

/// Number of cores this process may run on.
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Pin the calling thread to `core` (no-op for `None`). Returns false, after logging why, when
/// the OS refused.
pub fn pin_current(core: Option<usize>, role: &str) -> bool {
    let Some(id) = core else { return true };
    let ok = core_affinity::set_for_current(core_affinity::CoreId { id });
    if !ok {
        log::warn!("{role}: could not pin to core {id}; running unpinned");
    }
    ok
}

/// How a hot thread waits when it has nothing to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdlePolicy {
    /// Never park: spin on the rings/sockets (isolated cores).
    pub busy_poll: bool,
    /// Spin this long before parking.
    pub spin: Duration,
    /// Longest park before looking again (bounds wall-clock bar closing latency when idle).
    pub park: Duration,
}

impl Default for IdlePolicy {
    fn default() -> IdlePolicy {
        IdlePolicy {
            busy_poll: false,
            spin: Duration::from_micros(50),
            park: Duration::from_millis(1),
        }
    }
}

/// Tells a sleeping consumer thread that work arrived.
///
/// The consumer announces it is about to park (`sleeping = true`), re-checks its inputs, then
/// parks with a timeout; a producer that pushed checks the flag (one relaxed-cost load in the
/// common case) and unparks only a sleeping consumer, so a busy pipeline makes no wake-up
/// syscalls. A lost race costs at most one park timeout.
#[derive(Debug, Clone)]
pub struct Waker {
    sleeping: Arc<AtomicBool>,
    thread: Thread,
}

impl Waker {
    /// Wake the consumer if it is parked.
    #[inline]
    pub fn wake(&self) {
        if self.sleeping.load(Ordering::SeqCst) {
            self.sleeping.store(false, Ordering::SeqCst);
            self.thread.unpark();
        }
    }
}

/// The consumer side of [`Waker`]; lives on the thread that parks.
#[derive(Debug)]
pub struct Sleeper {
    sleeping: Arc<AtomicBool>,
}

impl Sleeper {
    /// Create on the consumer thread itself (the waker captures the current thread).
    pub fn for_current_thread() -> (Sleeper, Waker) {
        let sleeping = Arc::new(AtomicBool::new(false));
        (
            Sleeper {
                sleeping: sleeping.clone(),
            },
            Waker {
                sleeping,
                thread: std::thread::current(),
            },
        )
    }

    /// Park until woken or `timeout`, unless `has_work` says something arrived meanwhile.
    pub fn park(&self, timeout: Duration, has_work: impl Fn() -> bool) {
        self.sleeping.store(true, Ordering::SeqCst);
        if !has_work() {
            std::thread::park_timeout(timeout);
        }
        self.sleeping.store(false, Ordering::SeqCst);
    }
}

/// The process-wide stop flag, set by SIGINT/SIGTERM or by a caller.
#[derive(Debug, Clone, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    pub fn new() -> StopFlag {
        StopFlag::default()
    }

    /// Also set the flag on SIGINT and SIGTERM. A second signal while stopping exits at once
    /// (the first already asked for a clean shutdown).
    pub fn on_signals(&self) -> std::io::Result<()> {
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register_conditional_shutdown(sig, 130, self.0.clone())?;
            signal_hook::flag::register(sig, self.0.clone())?;
        }
        Ok(())
    }

    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    #[inline]
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_maps() {
        for n in 1..=2 {
            let m = CoreMap::auto(n);
            assert_eq!(m.feeds, vec![None]);
            assert!(m.shards.is_empty(), "shard work inline on the feed thread");
            assert_eq!(m.io, None);
            assert_eq!(m.describe(), "feed [-] shard [inline] io -");
        }
        let m = CoreMap::auto(8);
        assert_eq!(m.io, Some(0));
        assert_eq!(m.feeds, vec![Some(1), Some(2)]);
        assert_eq!(m.shards, vec![Some(3), Some(4), Some(5), Some(6)]);
        let m = CoreMap::auto(4);
        assert_eq!(m.describe(), "feed [1] shard [2,3] io 0");
    }

    #[test]
    fn explicit_maps_are_checked() {
        let spec = |feed: Vec<usize>, shard: Vec<usize>, io| CoreSpec::Explicit { feed, shard, io };
        assert!(CoreMap::resolve(&spec(vec![1], vec![2], 0), 4).is_ok());
        let e = CoreMap::resolve(&spec(vec![1], vec![9], 0), 4)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("runtime.cores: "), "{e}");
        assert!(e.contains("core 9 does not exist"), "{e}");
        let e = CoreMap::resolve(&spec(vec![1], vec![1], 0), 4)
            .unwrap_err()
            .to_string();
        assert!(e.contains("two roles"), "{e}");
        assert!(CoreMap::resolve(&spec(vec![], vec![1], 0), 4).is_err());
        assert!(CoreMap::resolve(&spec(vec![1], vec![], 0), 4).is_ok());
        let e = CoreMap::resolve(&spec(vec![1, 2], vec![], 0), 4)
            .unwrap_err()
            .to_string();
        assert!(e.contains("exactly one feed core"), "{e}");
    }

    #[test]
    fn waker_unparks_a_sleeper() {
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            let (sleeper, waker) = Sleeper::for_current_thread();
            tx.send(waker).unwrap();
            // Without a wake this would take the full 60 s timeout and the join below
            // would hang the test run; with it, it returns promptly.
            sleeper.park(Duration::from_secs(60), || false);
        });
        let waker = rx.recv().unwrap();
        while !waker.sleeping.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        waker.wake();
        t.join().unwrap();
    }
}
