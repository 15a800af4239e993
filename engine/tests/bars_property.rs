//! Property: any split of a trade stream into batches, in any interleaving of markets, yields
//! the same bars — through the real decode → route → SPSC ring → aggregate path.

mod common;

use common::*;
use engine::aggregate::Aggregator;
use engine::market::{MarketTable, Tick};
use engine::pipeline::frame_symbol;
use engine::replay::Replay;
use engine::ring;
use engine::route::Router;
use engine::stats::FeedStats;
use feeds::Venue;
use proptest::prelude::*;
use std::sync::Arc;

const BASE_MS: i64 = 1_795_478_400_000 + 3_600_000; // 2026-11-24T01:00Z

/// One market's frames, in the order its connection delivers them.
fn market_frames(market: usize, steps: &[(u16, u8, bool, u8)]) -> Vec<(Venue, String)> {
    let mut ts = BASE_MS;
    let mut out = Vec::new();
    for (i, &(dt, px, buy, kind)) in steps.iter().enumerate() {
        // Mostly forward in time; kind 7 jumps back 1.5 s (a late trade).
        ts += i64::from(dt % 700);
        let t = if kind == 7 { ts - 1500 } else { ts };
        let price = format!("{}.{:02}", 100 + u32::from(px), i % 100);
        let qty = format!("0.{:03}", 1 + (i * 37) % 999);
        let frame = match market {
            0 => (
                Venue::BinanceSpot,
                spot_trade("BTCUSDT", i as u64, &price, &qty, t, !buy, i % 2 == 0),
            ),
            1 => (
                Venue::BinanceSpot,
                spot_trade("ETHUSDT", i as u64, &price, &qty, t, !buy, true),
            ),
            _ => {
                if kind < 2 {
                    (
                        Venue::BinanceUsdm,
                        force_order("BTCUSDT", if buy { "BUY" } else { "SELL" }, &price, &qty, t),
                    )
                } else {
                    (
                        Venue::BinanceUsdm,
                        usdm_trade("BTCUSDT", i as u64, &price, &qty, t, !buy),
                    )
                }
            }
        };
        out.push(frame);
    }
    out
}

fn steps() -> impl Strategy<Value = Vec<(u16, u8, bool, u8)>> {
    prop::collection::vec((any::<u16>(), any::<u8>(), any::<bool>(), 0u8..10), 1..120)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn batching_and_interleaving_do_not_change_bars(
        a in steps(), b in steps(), c in steps(),
        choices in prop::collection::vec(0usize..3, 400),
        push_sizes in prop::collection::vec(1usize..40, 64),
        pop_sizes in prop::collection::vec(1usize..40, 64),
        capacity_pow in 1u32..8,
    ) {
        let per_market = [market_frames(0, &a), market_frames(1, &b), market_frames(2, &c)];

        // Reference: each market's frames in order, one market after the other, one at a time.
        let ref_dir = tempfile::tempdir().unwrap();
        let mut reference = Replay::new(ref_dir.path());
        for frames in &per_market {
            for (venue, f) in frames {
                reference.frame(*venue, 0, f.as_bytes(), 0, &mut |_| {}).unwrap();
            }
        }
        reference.finish(&mut |_| {}).unwrap();

        // Under test: a random interleaving of the markets, pushed and popped through a ring in
        // random batch sizes.
        let mut cursors = [0usize; 3];
        let mut order = Vec::new();
        let mut ci = 0;
        while cursors.iter().zip(&per_market).any(|(c, f)| *c < f.len()) {
            let mut m = choices[ci % choices.len()];
            ci += 1;
            while cursors[m] >= per_market[m].len() { m = (m + 1) % 3; }
            order.push(&per_market[m][cursors[m]]);
            cursors[m] += 1;
        }
        let dir = tempfile::tempdir().unwrap();
        let mut table = MarketTable::new(1);
        for (v, p) in [(Venue::BinanceSpot, "btcusdt"), (Venue::BinanceSpot, "ethusdt"), (Venue::BinanceUsdm, "btcusdt")] {
            table.add(v, frame_symbol(v, p).unwrap());
        }
        let mut agg = Aggregator::new(dir.path());
        for (idx, m) in table.iter() { agg.add_market(idx, &m.id); }
        let mut router = Router::new(Arc::new(FeedStats::default()));
        let (mut tx, mut rx) = ring::channel::<Tick>(1 << capacity_pow);
        let mut pending: Vec<Tick> = Vec::new();
        let mut buf = Vec::new();
        let (mut pi, mut qi) = (0, 0);
        let drain = |rx: &mut ring::Consumer<Tick>, agg: &mut Aggregator, n: usize| {
            rx.drain(n, |t| agg.on_tick(&t, &mut |_| {}).unwrap())
        };
        for (venue, f) in order {
            buf.clear();
            buf.extend_from_slice(f.as_bytes());
            let _ = router.route(*venue, 0, &mut buf, 0, &mut |v, s| table.lookup(v, s), &mut |t| pending.push(t));
            let want = push_sizes[pi % push_sizes.len()];
            pi += 1;
            if pending.len() >= want {
                let mut done = 0;
                while done < pending.len() {
                    done += tx.push_batch(&pending[done..]);
                    drain(&mut rx, &mut agg, pop_sizes[qi % pop_sizes.len()]);
                    qi += 1;
                }
                pending.clear();
            }
        }
        let mut done = 0;
        while done < pending.len() {
            done += tx.push_batch(&pending[done..]);
            drain(&mut rx, &mut agg, 7);
        }
        while drain(&mut rx, &mut agg, 3) > 0 {}
        agg.close_all(&mut |_| {}).unwrap();
        drop(agg);
        assert_same_files(ref_dir.path(), dir.path());
    }
}
