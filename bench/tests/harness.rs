//! Smoke tests of the harness modes on tiny tapes: every frame is accounted for, and our
//! pipeline and the conventional-stack baseline close exactly the same bars. No timings.

use bench::baseline;
use bench::gen::{Tape, TapeSpec};
use bench::modes::{self, LoopbackPlan};
use bench::ours::{self, READ_TO_BAR, SCHED_TO_BAR, SEND_TO_BAR};
use std::sync::Arc;
use std::time::Duration;

const SPEC: TapeSpec = TapeSpec {
    symbols: 5,
    per_sec: 400,
};

fn plan(frames: u64, rate: f64, tape: Option<Arc<Tape>>) -> LoopbackPlan {
    LoopbackPlan {
        spec: SPEC,
        tape,
        frames: Some(frames),
        rate,
        conns: 2,
        duration: None,
        sample_every: None,
        busy_poll: false,
    }
}

#[test]
fn tape_frames_are_binance_trades_the_decoder_accepts() {
    let tape = Tape::generate(&SPEC, 50);
    let mut decoder = feeds::binance::Decoder::new(feeds::Venue::BinanceSpot);
    let mut ids = Vec::new();
    for i in 0..tape.len() {
        let mut buf = tape.get(i).to_vec();
        let got = feeds::Decode::decode(&mut decoder, &mut buf, &mut |e| {
            ids.push(e.trade_id);
        });
        assert_eq!(got, Ok(feeds::Frame::Data(1)), "frame {i}");
    }
    let want: Vec<Option<u64>> = (0..50)
        .map(|i| Some(bench::gen::FIRST_TRADE_ID + i))
        .collect();
    assert_eq!(ids, want);
}

#[test]
fn replay_ours_and_baseline_close_the_same_bars() {
    let n = 4_000;
    let tape = Arc::new(Tape::generate(&SPEC, n));
    let dir = tempfile::tempdir().unwrap();
    let two = ours::replay_two_threads(&SPEC, &tape, &dir.path().join("two"), bench::two_cores())
        .unwrap();
    let one = ours::replay_inline(&SPEC, &tape, &dir.path().join("one")).unwrap();
    let base = baseline::replay(tape).unwrap();
    for r in [&two, &one, &base] {
        modes::check_complete(r, n).unwrap();
        // One latency record per frame (decode, inline) or per trade (ring hop, baseline).
        assert_eq!(r.stages[0].hist.len(), n, "{}", r.name);
    }
    // 4 000 trades over 10 s of exchange time, 5 symbols: 50 bars.
    assert_eq!(modes::check_same_bars(&one, &two).unwrap(), 50);
    assert_eq!(modes::check_same_bars(&one, &base).unwrap(), 50);
    let trades: u32 = one.bars.iter().map(|b| b.cbuy + b.csell).sum();
    assert_eq!(u64::from(trades), n);
}

#[test]
fn loopback_paced_ours_and_baseline_account_for_every_frame() {
    let n = 2_000;
    let tape = Arc::new(Tape::generate(&SPEC, n));
    let dir = tempfile::tempdir().unwrap();
    let cores = bench::two_cores();
    let ours = modes::loopback_ours(
        &plan(n, 20_000.0, Some(tape.clone())),
        "ours",
        dir.path(),
        cores,
    )
    .unwrap();
    let base = modes::loopback_baseline(&plan(n, 20_000.0, Some(tape)), "base", cores).unwrap();
    for r in [&ours, &base] {
        modes::check_complete(r, n).unwrap();
        // Paced: every trade has a scheduled send time, so every one is in the histogram.
        assert_eq!(r.stage(SCHED_TO_BAR).unwrap().len(), n, "{}", r.name);
        assert_eq!(r.stage(READ_TO_BAR).unwrap().len(), n, "{}", r.name);
        assert_eq!(r.stage(SEND_TO_BAR).unwrap().len(), n, "{}", r.name);
    }
    assert_eq!(modes::check_same_bars(&ours, &base).unwrap(), 25);
}

#[test]
fn loopback_unpaced_with_generated_frames_matches_baseline() {
    let n = 3_000;
    let dir = tempfile::tempdir().unwrap();
    let cores = bench::two_cores();
    // No pre-generated tape: the sender makes each frame as it sends it.
    let ours = modes::loopback_ours(&plan(n, 0.0, None), "ours", dir.path(), cores).unwrap();
    let base = modes::loopback_baseline(&plan(n, 0.0, None), "base", cores).unwrap();
    modes::check_complete(&ours, n).unwrap();
    modes::check_complete(&base, n).unwrap();
    assert!(ours.rate() > 0.0 && base.rate() > 0.0);
    modes::check_same_bars(&ours, &base).unwrap();
    let replayed =
        ours::replay_inline(&SPEC, &Tape::generate(&SPEC, n), &dir.path().join("r")).unwrap();
    modes::check_same_bars(&ours, &replayed).unwrap();
}

#[test]
fn soak_samples_every_interval_and_stops_after_the_duration() {
    let dir = tempfile::tempdir().unwrap();
    let plan = LoopbackPlan {
        spec: SPEC,
        tape: None,
        frames: None,
        rate: 2_000.0,
        conns: 1,
        duration: Some(Duration::from_millis(1_600)),
        sample_every: Some(Duration::from_millis(500)),
        busy_poll: true,
    };
    let r = modes::loopback_ours(&plan, "soak", dir.path(), bench::two_cores()).unwrap();
    assert_eq!(r.errors, 0);
    assert_eq!(r.frames, r.trades);
    assert!(r.trades > 0);
    assert!(r.samples.len() >= 3, "{} samples", r.samples.len());
    // Bars are counted, not kept (the list would grow with the run). 5 symbols × 400
    // trades per exchange second: a bar closes every 5 trades of a symbol, about.
    assert!(r.bars.is_empty());
    assert!(
        r.bars_closed >= r.trades / 100 - 5,
        "{} bars",
        r.bars_closed
    );
    let sampled: u64 = r.samples.iter().map(|s| s.trades).sum();
    assert!(sampled <= r.trades);
    assert!(r.samples.iter().all(|s| s.rss > 0));
    assert!(r.samples.windows(2).all(|w| w[1].at_s > w[0].at_s));
}
