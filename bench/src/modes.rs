//! The harness modes as library calls (the binary and the smoke tests share them).

use crate::gen::{Tape, TapeSpec};
use crate::ours::{self, LoopbackOpts};
use crate::sender::{Sender, SenderConfig};
use crate::{baseline, RunResult};
use anyhow::{bail, Result};
use core_affinity::CoreId;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Pinning of the two threads of a run: (sender or feed, receiver or shard).
pub type Cores = (Option<CoreId>, Option<CoreId>);

/// What a loopback run sends.
#[derive(Debug, Clone)]
pub struct LoopbackPlan {
    /// Frame shapes.
    pub spec: TapeSpec,
    /// Pre-generated frames (the sender generates them otherwise).
    pub tape: Option<Arc<Tape>>,
    /// Frames to send (`None`: until `duration`).
    pub frames: Option<u64>,
    /// Frames per second, 0 = as fast as possible.
    pub rate: f64,
    /// Connections.
    pub conns: usize,
    /// Run length for unbounded runs (soak).
    pub duration: Option<Duration>,
    /// Soak sampling interval.
    pub sample_every: Option<Duration>,
    /// Our receiver spins on the socket instead of blocking (the baseline cannot).
    pub busy_poll: bool,
}

fn start_sender(plan: &LoopbackPlan, core: Option<CoreId>) -> Result<(Sender, Vec<String>)> {
    let sender = Sender::start(
        SenderConfig {
            spec: plan.spec,
            tape: plan.tape.clone(),
            conns: plan.conns,
            frames: plan.frames,
            rate: plan.rate,
        },
        core,
    )?;
    let urls = (0..plan.conns.max(1))
        .map(|c| sender.url(&plan.spec, c, plan.conns.max(1)))
        .collect();
    Ok((sender, urls))
}

/// Our engine path over loopback: the sender on `cores.1`, our receiver on the calling
/// thread pinned to `cores.0`.
pub fn loopback_ours(
    plan: &LoopbackPlan,
    name: &str,
    data: &Path,
    cores: Cores,
) -> Result<RunResult> {
    let (sender, urls) = start_sender(plan, cores.1)?;
    if let Some(c) = cores.0 {
        core_affinity::set_for_current(c);
    }
    let result = ours::loopback(
        name,
        &plan.spec,
        &urls,
        &sender.schedule,
        data,
        LoopbackOpts {
            conns: plan.conns,
            duration: plan.duration,
            sample_every: plan.sample_every,
            busy_poll: plan.busy_poll,
        },
        &|| sender.stop(),
    );
    sender.stop();
    let sent = sender.join()?;
    let mut result = result?;
    if sent.frames != result.frames {
        bail!(
            "{name}: sender sent {} frames, receiver got {}",
            sent.frames,
            result.frames
        );
    }
    result.name = name.to_string();
    Ok(result)
}

/// The conventional stack over loopback, same sender and plan (the tokio runtime's two
/// workers are not pinned: the conventional stack does not pin).
pub fn loopback_baseline(plan: &LoopbackPlan, name: &str, cores: Cores) -> Result<RunResult> {
    let (sender, urls) = start_sender(plan, cores.1)?;
    let result = baseline::loopback(name, &urls, sender.schedule.clone());
    sender.stop();
    let sent = sender.join()?;
    let result = result?;
    if sent.frames != result.frames {
        bail!(
            "{name}: sender sent {} frames, receiver got {}",
            sent.frames,
            result.frames
        );
    }
    Ok(result)
}

/// Checks that a run accounted for every frame (one trade each) without errors.
pub fn check_complete(r: &RunResult, frames: u64) -> Result<()> {
    if r.frames != frames || r.trades != frames || r.errors != 0 {
        bail!(
            "{}: expected {frames} frames and trades, got {} frames, {} trades, {} errors",
            r.name,
            r.frames,
            r.trades,
            r.errors
        );
    }
    Ok(())
}

/// Checks that two runs closed identical bars; returns how many.
pub fn check_same_bars(a: &RunResult, b: &RunResult) -> Result<usize> {
    if a.bars.len() != b.bars.len() {
        bail!(
            "{} closed {} bars, {} closed {}",
            a.name,
            a.bars.len(),
            b.name,
            b.bars.len()
        );
    }
    if let Some((x, y)) = a.bars.iter().zip(&b.bars).find(|(x, y)| x != y) {
        bail!("bars differ: {} {x:?} vs {} {y:?}", a.name, b.name);
    }
    Ok(a.bars.len())
}
