//! Bounded lock-free single-producer single-consumer ring: how events move between pinned
//! threads (feed → shard, shard → IO).
//!
//! [`channel`] hands out a [`Producer`] and a [`Consumer`]. Each half is `Send` but not
//! `Clone` and every operation takes `&mut self`, so the type system guarantees one pushing
//! thread and one popping thread; nothing in the ring has to guard against a second one.
//!
//! # How it works
//! The slots are a power-of-two array allocated once in [`channel`]. Two free-running
//! counters say where the data is: `tail` (next slot to fill) is written only by the
//! producer, `head` (next slot to empty) only by the consumer. A counter is turned into a
//! slot with `counter & mask`, and `tail - head` (wrapping) is the number of items in the
//! ring, so full and empty are told apart without wasting a slot.
//!
//! Each counter sits on its own cache line ([`CachePadded`]) so the two threads do not
//! false-share. Each side also keeps a private copy of the *other* side's counter and
//! refreshes it only when that copy says the ring is full (producer) or empty (consumer). In
//! steady state a push therefore reads nothing the consumer writes, and vice versa: the
//! only cross-core traffic is the one store that publishes progress.
//!
//! # Memory ordering
//! Only two happens-before edges are needed, and both are Release/Acquire pairs:
//! - *Producer writes slot, then stores `tail` (Release); consumer loads `tail` (Acquire),
//!   then reads slot.* The consumer never sees an index before the item behind it.
//! - *Consumer moves the item out, then stores `head` (Release); producer loads `head`
//!   (Acquire), then overwrites slot.* The producer never reuses a slot that is still being
//!   read.
//!
//! A side never loads its own counter from the atomic: it is the only writer, so its local
//! copy is always the published value. Nothing here needs `SeqCst`: there is no
//! store-then-load-the-other-variable pattern whose order two threads must agree on.
//!
//! The "other half dropped" flags are stored with Release in `Drop` and loaded with
//! Acquire, so once [`Consumer::is_abandoned`] returns `true`, every item the producer
//! pushed is visible: a consumer that sees the flag and then finds the ring empty has
//! received everything.

#![allow(unsafe_code)]

use std::fmt;
use std::mem::MaybeUninit;

use crossbeam_utils::CachePadded;

use crate::sync::{Arc, AtomicBool, AtomicUsize, Ordering, UnsafeCell};

/// Creates a ring holding at least `capacity` items and returns its two halves.
///
/// The capacity is rounded up to a power of two (and to at least 2), so that a counter maps
/// to a slot with a mask instead of a division. This is the only allocation the ring makes.
///
/// # Panics
/// If `capacity` is 0, or rounding it up overflows `usize`: both are programming errors,
/// not run-time conditions.
pub fn channel<T>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    assert!(capacity > 0, "ring capacity must be at least 1");
    let capacity = capacity
        .max(2)
        .checked_next_power_of_two()
        .expect("ring capacity overflows usize when rounded up to a power of two");
    let slots = (0..capacity)
        .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
        .collect();
    let shared = Arc::new(Shared {
        head: CachePadded::new(AtomicUsize::new(0)),
        tail: CachePadded::new(AtomicUsize::new(0)),
        slots,
        mask: capacity - 1,
        producer_gone: AtomicBool::new(false),
        consumer_gone: AtomicBool::new(false),
    });
    let producer = Producer {
        shared: Arc::clone(&shared),
        tail: 0,
        head_cache: 0,
    };
    let consumer = Consumer {
        shared,
        head: 0,
        tail_cache: 0,
    };
    (producer, consumer)
}

/// One place in the ring: uninitialized unless it holds an item (see `Shared::slots`).
type Slot<T> = UnsafeCell<MaybeUninit<T>>;

/// State both halves point to; freed when the second half is dropped.
struct Shared<T> {
    /// Count of items ever popped. Written only by the consumer.
    head: CachePadded<AtomicUsize>,
    /// Count of items ever pushed. Written only by the producer.
    tail: CachePadded<AtomicUsize>,
    /// Slot `i & mask` holds an initialized item exactly when `head <= i < tail`.
    slots: Box<[Slot<T>]>,
    /// `slots.len() - 1`; `slots.len()` is a power of two.
    mask: usize,
    producer_gone: AtomicBool,
    consumer_gone: AtomicBool,
}

impl<T> Shared<T> {
    fn capacity(&self) -> usize {
        self.mask + 1
    }

    /// The slot that counter value `index` maps to.
    fn slot(&self, index: usize) -> &Slot<T> {
        &self.slots[index & self.mask]
    }

    /// The slots for counters `start..start + len` as (up to) two contiguous runs, so batch
    /// copies are straight loops the compiler can turn into `memcpy`. `len <= capacity`.
    fn runs(&self, start: usize, len: usize) -> (&[Slot<T>], &[Slot<T>]) {
        debug_assert!(len <= self.capacity());
        let first = start & self.mask;
        let first_len = len.min(self.capacity() - first);
        (
            &self.slots[first..first + first_len],
            &self.slots[..len - first_len],
        )
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        if !std::mem::needs_drop::<T>() {
            return;
        }
        // Relaxed is enough: both halves are gone, and the Arc's final decrement already
        // ordered their last stores before this point.
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Relaxed);
        let mut index = head;
        while index != tail {
            // SAFETY: `head <= index < tail`, so the slot holds an initialized item that was
            // never moved out; we have `&mut self`, so no one else can touch it, and each
            // index is visited once, so it is dropped once.
            self.slot(index)
                .with_mut(|slot| unsafe { (*slot).assume_init_drop() });
            index = index.wrapping_add(1);
        }
    }
}

/// The pushing half of a ring made by [`channel`]. Exactly one exists per ring.
pub struct Producer<T> {
    shared: Arc<Shared<T>>,
    /// Our own counter; always equal to `shared.tail` because only we store it.
    tail: usize,
    /// Last `shared.head` we loaded; `head` only grows, so this under-counts free space.
    head_cache: usize,
}

// SAFETY: the producer only moves `T` values into the ring, from whichever thread owns it;
// the consumer takes them out on its own thread. That is a transfer of ownership of `T`
// between threads, which is exactly what `T: Send` permits. `Shared` is never accessed
// through `&` from two threads in a conflicting way: slots are handed over by the
// Release/Acquire protocol on `head`/`tail` documented at the top of this module.
unsafe impl<T: Send> Send for Producer<T> {}

impl<T> Producer<T> {
    /// Pushes `value`, or gives it back if the ring is full.
    #[inline]
    pub fn try_push(&mut self, value: T) -> Result<(), T> {
        if self.free(1) == 0 {
            return Err(value);
        }
        // SAFETY: `free` saw at least one free slot, i.e. `tail - head < capacity`, so slot
        // `tail` is outside `head..tail`: it holds no item and the consumer will not read
        // it until we publish `tail + 1` below. The Acquire load of `head` that showed it
        // free ordered the consumer's last read of it before this write.
        self.shared
            .slot(self.tail)
            .with_mut(|slot| unsafe { slot.write(MaybeUninit::new(value)) });
        self.publish(self.tail.wrapping_add(1));
        Ok(())
    }

    /// Pushes as many of `items` as fit, in order, and returns how many that was.
    ///
    /// All of them become visible to the consumer at once, with one index store; nothing is
    /// stored when nothing fits.
    #[inline]
    pub fn push_batch(&mut self, items: &[T]) -> usize
    where
        T: Copy,
    {
        let n = self.free(items.len()).min(items.len());
        if n == 0 {
            return 0;
        }
        let (first, second) = self.shared.runs(self.tail, n);
        let (items_first, items_second) = items[..n].split_at(first.len());
        for (slot, item) in first
            .iter()
            .zip(items_first)
            .chain(second.iter().zip(items_second))
        {
            // SAFETY: these are the `n` slots from `tail` on, and `free` saw at least `n`
            // free, so none is in `head..tail`; the consumer reads none of them until the
            // `tail` store below, and the Acquire load of `head` ordered its last reads
            // before these writes.
            slot.with_mut(|slot| unsafe { slot.write(MaybeUninit::new(*item)) });
        }
        self.publish(self.tail.wrapping_add(n));
        n
    }

    /// How many items are in the ring now (the consumer may be taking some meanwhile).
    pub fn len(&self) -> usize {
        // Acquire pairs with the consumer's Release store, like every load of `head`.
        self.tail
            .wrapping_sub(self.shared.head.load(Ordering::Acquire))
    }

    /// Whether the ring holds no items now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many items the ring holds at most (the requested capacity, rounded up).
    pub fn capacity(&self) -> usize {
        self.shared.capacity()
    }

    /// Whether a push would fail right now.
    pub fn is_full(&self) -> bool {
        // The cache can prove there is room without touching the consumer's cache line.
        let capacity = self.capacity();
        self.tail.wrapping_sub(self.head_cache) == capacity && self.len() == capacity
    }

    /// Whether the [`Consumer`] was dropped: nothing pushed from now on will be read.
    pub fn is_abandoned(&self) -> bool {
        self.shared.consumer_gone.load(Ordering::Acquire)
    }

    /// Free slots, refreshing the cached `head` only if the cache shows fewer than `wanted`.
    #[inline]
    fn free(&mut self, wanted: usize) -> usize {
        let capacity = self.shared.capacity();
        let free = capacity - self.tail.wrapping_sub(self.head_cache);
        if free >= wanted {
            return free;
        }
        self.head_cache = self.shared.head.load(Ordering::Acquire);
        capacity - self.tail.wrapping_sub(self.head_cache)
    }

    /// Makes every slot before `tail` visible to the consumer.
    #[inline]
    fn publish(&mut self, tail: usize) {
        self.tail = tail;
        // Release: the slot writes above happen before the consumer's Acquire load sees this.
        self.shared.tail.store(tail, Ordering::Release);
    }
}

impl<T> Drop for Producer<T> {
    fn drop(&mut self) {
        // Release: our last `tail` store is visible to whoever sees the flag (Acquire).
        self.shared.producer_gone.store(true, Ordering::Release);
    }
}

impl<T> fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .field("abandoned", &self.is_abandoned())
            .finish()
    }
}

/// The popping half of a ring made by [`channel`]. Exactly one exists per ring.
pub struct Consumer<T> {
    shared: Arc<Shared<T>>,
    /// Our own counter; always equal to `shared.head` because only we store it.
    head: usize,
    /// Last `shared.tail` we loaded; `tail` only grows, so this under-counts items.
    tail_cache: usize,
}

// SAFETY: the consumer only moves `T` values out of the ring onto the thread that owns it,
// which `T: Send` permits; slot access is coordinated by the Release/Acquire protocol on
// `head`/`tail` documented at the top of this module (see the `Producer` impl).
unsafe impl<T: Send> Send for Consumer<T> {}

impl<T> Consumer<T> {
    /// Takes the oldest item, or `None` if the ring is empty.
    #[inline]
    pub fn try_pop(&mut self) -> Option<T> {
        if self.ready(1) == 0 {
            return None;
        }
        // SAFETY: `ready` saw `head < tail` after an Acquire load of `tail`, so slot `head`
        // holds an item whose write happened before that load. The producer will not touch
        // the slot again until we publish `head + 1` below, and after that we never read it
        // again, so the item is moved out exactly once.
        let value = self
            .shared
            .slot(self.head)
            .with(|slot| unsafe { slot.read().assume_init() });
        self.publish(self.head.wrapping_add(1));
        Some(value)
    }

    /// Copies up to `out.len()` of the oldest items into `out` and returns how many.
    ///
    /// The slots are handed back to the producer with one index store.
    #[inline]
    pub fn pop_batch(&mut self, out: &mut [T]) -> usize
    where
        T: Copy,
    {
        let n = self.ready(out.len()).min(out.len());
        if n == 0 {
            return 0;
        }
        let (first, second) = self.shared.runs(self.head, n);
        let (out_first, out_second) = out[..n].split_at_mut(first.len());
        for (slot, out) in first
            .iter()
            .zip(out_first)
            .chain(second.iter().zip(out_second))
        {
            // SAFETY: these are the `n` slots from `head` on, and `ready` saw at least `n`
            // items after an Acquire load of `tail`, so each holds an item whose write
            // happened before that load; the producer will not overwrite them until the
            // `head` store below.
            *out = slot.with(|slot| unsafe { slot.read().assume_init() });
        }
        self.publish(self.head.wrapping_add(n));
        n
    }

    /// Passes up to `max` of the oldest items, in order, to `f` and returns how many.
    ///
    /// One Acquire load finds the items and one Release store hands all their slots back,
    /// so this is the cheapest way to empty the ring. If `f` panics, the items it already
    /// received (including the one it panicked on) are gone and the rest stay in the ring.
    #[inline]
    pub fn drain(&mut self, max: usize, mut f: impl FnMut(T)) -> usize {
        let n = self.ready(max).min(max);
        if n == 0 {
            return 0;
        }
        let end = self.head.wrapping_add(n);
        let shared = &*self.shared;
        // Publishes progress when dropped, so that if `f` unwinds, the items already moved
        // out are not read (or dropped) a second time.
        let progress = Progress {
            published: &shared.head,
            head: &mut self.head,
        };
        while *progress.head != end {
            // SAFETY: as in `pop_batch`: every counter in the old `head..end` was seen below
            // `tail` after an Acquire load of it, the producer leaves these slots alone until
            // `progress` stores the new `head`, and `progress.head` moves past each slot as it
            // is read, so no item is moved out twice even if `f` panics.
            let value = shared
                .slot(*progress.head)
                .with(|slot| unsafe { slot.read().assume_init() });
            *progress.head = progress.head.wrapping_add(1);
            f(value);
        }
        n
    }

    /// How many items are in the ring now (the producer may be adding some meanwhile).
    pub fn len(&self) -> usize {
        // Acquire pairs with the producer's Release store, like every load of `tail`.
        self.shared
            .tail
            .load(Ordering::Acquire)
            .wrapping_sub(self.head)
    }

    /// Whether the ring holds no items now.
    pub fn is_empty(&self) -> bool {
        // The cache can prove non-emptiness without touching the producer's cache line.
        self.tail_cache == self.head && self.len() == 0
    }

    /// How many items the ring holds at most (the requested capacity, rounded up).
    pub fn capacity(&self) -> usize {
        self.shared.capacity()
    }

    /// Whether the [`Producer`] was dropped: no more items will arrive.
    ///
    /// Once this is `true`, everything the producer pushed is visible, so the shutdown
    /// check is "abandoned, then empty": drain until [`Consumer::is_empty`] and stop.
    pub fn is_abandoned(&self) -> bool {
        self.shared.producer_gone.load(Ordering::Acquire)
    }

    /// Items ready to pop, refreshing the cached `tail` only if the cache shows fewer than
    /// `wanted`.
    #[inline]
    fn ready(&mut self, wanted: usize) -> usize {
        let ready = self.tail_cache.wrapping_sub(self.head);
        if ready >= wanted {
            return ready;
        }
        self.tail_cache = self.shared.tail.load(Ordering::Acquire);
        self.tail_cache.wrapping_sub(self.head)
    }

    /// Hands every slot before `head` back to the producer.
    #[inline]
    fn publish(&mut self, head: usize) {
        self.head = head;
        // Release: our reads of those slots happen before the producer's Acquire load sees
        // this, and so before it overwrites them.
        self.shared.head.store(head, Ordering::Release);
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        self.shared.consumer_gone.store(true, Ordering::Release);
    }
}

impl<T> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("capacity", &self.shared.capacity())
            .field("len", &self.len())
            .field("abandoned", &self.is_abandoned())
            .finish()
    }
}

/// The consumer's `head` during [`Consumer::drain`], published once when it goes out of
/// scope: normally at the end of the batch, or during unwinding if the callback panics.
struct Progress<'a> {
    published: &'a AtomicUsize,
    head: &'a mut usize,
}

impl Drop for Progress<'_> {
    fn drop(&mut self) {
        // Release: see `Consumer::publish`.
        self.published.store(*self.head, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    #[test]
    fn capacity_rounds_up_to_a_power_of_two_of_at_least_two() {
        for (asked, got) in [(1, 2), (2, 2), (3, 4), (4, 4), (5, 8), (1000, 1024)] {
            let (p, _c) = channel::<u8>(asked);
            assert_eq!(p.capacity(), got, "asked for {asked}");
        }
    }

    #[test]
    #[should_panic(expected = "at least 1")]
    fn zero_capacity_panics() {
        let _ = channel::<u8>(0);
    }

    #[test]
    fn full_and_empty() {
        let (mut p, mut c) = channel(4);
        assert!(c.is_empty() && p.is_empty() && !p.is_full());
        assert_eq!(c.try_pop(), None);
        for i in 0..4 {
            assert_eq!(p.try_push(i), Ok(()));
        }
        assert!(p.is_full());
        assert_eq!(p.len(), 4);
        assert_eq!(c.len(), 4);
        assert_eq!(p.try_push(99), Err(99));
        assert_eq!(c.try_pop(), Some(0));
        assert!(!p.is_full());
        assert_eq!(p.try_push(4), Ok(()));
        assert_eq!(p.try_push(5), Err(5));
        let mut got = Vec::new();
        while let Some(v) = c.try_pop() {
            got.push(v);
        }
        assert_eq!(got, [1, 2, 3, 4]);
        assert!(c.is_empty() && p.is_empty());
    }

    #[test]
    fn wraps_around_many_times_in_order() {
        let (mut p, mut c) = channel(4);
        let mut next_in = 0u32;
        let mut next_out = 0u32;
        // Varying fill levels move the wrap point through every slot.
        for round in 0..1000u32 {
            for _ in 0..(round % 4 + 1) {
                p.try_push(next_in).unwrap();
                next_in += 1;
            }
            while let Some(v) = c.try_pop() {
                assert_eq!(v, next_out);
                next_out += 1;
            }
        }
        assert_eq!(next_in, next_out);
    }

    #[test]
    fn push_batch_pushes_what_fits() {
        let (mut p, mut c) = channel(4);
        assert_eq!(p.push_batch(&[1, 2, 3]), 3);
        assert_eq!(p.push_batch(&[4, 5, 6]), 1);
        assert_eq!(p.push_batch(&[7]), 0);
        assert_eq!(p.push_batch(&[]), 0);
        assert_eq!(c.try_pop(), Some(1));
        assert_eq!(c.try_pop(), Some(2));
        // Two free slots: one at the end of the array, one after the wrap.
        assert_eq!(p.push_batch(&[5, 6, 7]), 2);
        let mut out = [0; 8];
        assert_eq!(c.pop_batch(&mut out), 4);
        assert_eq!(out[..4], [3, 4, 5, 6]);
        assert_eq!(c.pop_batch(&mut out), 0);
    }

    #[test]
    fn pop_batch_takes_at_most_the_output_length_across_the_wrap() {
        let (mut p, mut c) = channel(8);
        // Move the counters to 6 so the next batch straddles the end of the array.
        assert_eq!(p.push_batch(&[0; 6]), 6);
        assert_eq!(c.pop_batch(&mut [0; 6]), 6);
        assert_eq!(p.push_batch(&[10, 11, 12, 13, 14]), 5);
        let mut out = [0; 3];
        assert_eq!(c.pop_batch(&mut out), 3);
        assert_eq!(out, [10, 11, 12]);
        assert_eq!(c.pop_batch(&mut out), 2);
        assert_eq!(out[..2], [13, 14]);
    }

    #[test]
    fn drain_respects_max_and_order() {
        let (mut p, mut c) = channel(8);
        assert_eq!(p.push_batch(&[1, 2, 3, 4, 5]), 5);
        let mut got = Vec::new();
        assert_eq!(c.drain(2, |v| got.push(v)), 2);
        assert_eq!(c.drain(usize::MAX, |v| got.push(v)), 3);
        assert_eq!(c.drain(usize::MAX, |v| got.push(v)), 0);
        assert_eq!(got, [1, 2, 3, 4, 5]);
        assert_eq!(p.len(), 0);
    }

    /// Counts its drops in a shared counter.
    #[derive(Debug)]
    struct Counted(Rc<Cell<usize>>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }

    #[test]
    fn leftovers_are_dropped_once_when_both_halves_are_gone() {
        let drops = Rc::new(Cell::new(0));
        let (mut p, mut c) = channel(4);
        // Wrap first so the leftovers straddle the end of the slot array.
        for _ in 0..3 {
            assert!(p.try_push(Counted(drops.clone())).is_ok());
        }
        drop(c.try_pop());
        drop(c.try_pop());
        assert_eq!(drops.get(), 2);
        for _ in 0..3 {
            assert!(p.try_push(Counted(drops.clone())).is_ok());
        }
        drop(p);
        assert_eq!(drops.get(), 2, "the consumer can still read them");
        drop(c);
        assert_eq!(drops.get(), 6);
    }

    #[test]
    fn a_full_ring_hands_back_the_value_without_dropping_it() {
        let drops = Rc::new(Cell::new(0));
        let (mut p, c) = channel(2);
        assert!(p.try_push(Counted(drops.clone())).is_ok());
        assert!(p.try_push(Counted(drops.clone())).is_ok());
        let back = p.try_push(Counted(drops.clone())).unwrap_err();
        assert_eq!(drops.get(), 0);
        drop(back);
        drop((p, c));
        assert_eq!(drops.get(), 3);
    }

    #[test]
    fn a_panicking_drain_callback_loses_only_what_it_received() {
        let drops = Rc::new(Cell::new(0));
        let (mut p, mut c) = channel(4);
        for _ in 0..4 {
            assert!(p.try_push(Counted(drops.clone())).is_ok());
        }
        let mut seen = 0;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            c.drain(usize::MAX, |item| {
                seen += 1;
                if seen == 2 {
                    panic!("callback failed");
                }
                drop(item);
            })
        }));
        assert!(result.is_err());
        assert_eq!(
            drops.get(),
            2,
            "the item being handled is dropped by the unwind"
        );
        assert_eq!(c.len(), 2);
        assert_eq!(p.len(), 2);
        drop((p, c));
        assert_eq!(drops.get(), 4);
    }

    #[test]
    fn each_side_sees_when_the_other_is_dropped() {
        let (mut p, mut c) = channel(2);
        assert!(!p.is_abandoned() && !c.is_abandoned());
        p.try_push(7).unwrap();
        drop(p);
        assert!(c.is_abandoned());
        assert_eq!(
            c.try_pop(),
            Some(7),
            "items pushed before the drop still arrive"
        );
        assert!(c.is_empty());

        let (p, c) = channel::<u8>(2);
        drop(c);
        assert!(p.is_abandoned());
    }

    #[test]
    fn zero_sized_items_are_counted() {
        let (mut p, mut c) = channel(2);
        assert_eq!(p.push_batch(&[(), (), ()]), 2);
        assert_eq!(c.drain(usize::MAX, drop), 2);
    }

    #[test]
    fn halves_are_send() {
        fn assert_send<S: Send>() {}
        assert_send::<Producer<String>>();
        assert_send::<Consumer<String>>();
    }
}

// # Chunks
//
// A ring of `Copy` items can also carry records made of several runs (the capture's frames:
// a header and a payload, over a `channel::<u8>`): `Producer::push_chunks` writes them all
// and publishes them with one `tail` store, all or nothing, so the consumer never sees part
// of a record; `Consumer::pop_chunks` copies out whatever is published. Same slots, same
// counters, same two Release/Acquire edges as single items; `tests/loom.rs` models it too.
//
// The runs are copied with `memcpy` (a slot has the layout of its item: `UnsafeCell` and
// `MaybeUninit` are `repr(transparent)`); under `--cfg loom` they are copied slot by slot
// through the cells' closure API instead, so that the model checker tracks every access.

impl<T: Copy> Producer<T> {
    /// Pushes every slice of `chunks`, in order, or nothing if they do not all fit; returns
    /// whether they were pushed. They become visible to the consumer together, with one index
    /// store. A record larger than the ring never fits.
    #[inline]
    pub fn push_chunks(&mut self, chunks: &[&[T]]) -> bool {
        let need: usize = chunks.iter().map(|c| c.len()).sum();
        if self.free(need) < need {
            return false;
        }
        let mut at = self.tail;
        for chunk in chunks {
            let (first, second) = self.shared.runs(at, chunk.len());
            let (chunk_first, chunk_second) = chunk.split_at(first.len());
            // SAFETY: `free` saw at least `need` free slots after an Acquire load of `head`
            // (which ordered the consumer's last reads of them before these writes); these
            // runs are among the `need` slots from `tail` on, each written once, and the
            // consumer reads none of them until `publish` stores the new `tail` (Release).
            unsafe {
                write_run(first, chunk_first);
                write_run(second, chunk_second);
            }
            at = at.wrapping_add(chunk.len());
        }
        self.publish(at);
        true
    }
}

impl<T: Copy> Consumer<T> {
    /// Copies up to `out.len()` of the oldest items into `out` and returns how many, like
    /// [`Consumer::pop_batch`] but run by run (`memcpy`): the reading side of
    /// [`Producer::push_chunks`]. The slots are handed back with one index store.
    #[inline]
    pub fn pop_chunks(&mut self, out: &mut [T]) -> usize {
        let n = self.ready(out.len()).min(out.len());
        if n == 0 {
            return 0;
        }
        let (first, second) = self.shared.runs(self.head, n);
        let (out_first, out_second) = out[..n].split_at_mut(first.len());
        // SAFETY: these are the `n` slots from `head` on, and `ready` saw at least `n` items
        // after an Acquire load of `tail`, so each holds an item written before that load;
        // the producer does not overwrite them until the `head` store below.
        unsafe {
            read_run(first, out_first);
            read_run(second, out_second);
        }
        self.publish(self.head.wrapping_add(n));
        n
    }
}

/// Copies `items` into `run` (of the same length).
///
/// # Safety
/// No other thread may access the slots of `run` meanwhile (they are free, not yet published).
#[inline]
unsafe fn write_run<T: Copy>(run: &[Slot<T>], items: &[T]) {
    assert_eq!(run.len(), items.len());
    #[cfg(not(loom))]
    // SAFETY: `Slot<T>` (`UnsafeCell<MaybeUninit<T>>`, both `repr(transparent)`) has the layout
    // of `T`, so `run` is `run.len()` contiguous `T`s, which the cells allow us to write through
    // a shared reference; `items` is a distinct borrowed slice of the same length, so the two
    // do not overlap; the caller guarantees no one else touches the slots.
    unsafe {
        std::ptr::copy_nonoverlapping(items.as_ptr(), run.as_ptr() as *mut T, items.len());
    }
    #[cfg(loom)]
    for (slot, item) in run.iter().zip(items) {
        // SAFETY: the caller guarantees no one else touches the slot.
        slot.with_mut(|slot| unsafe { slot.write(MaybeUninit::new(*item)) });
    }
}

/// Copies the items of `run` into `out` (of the same length).
///
/// # Safety
/// Every slot of `run` must hold an item whose write happened before this call, and no other
/// thread may write it meanwhile.
#[inline]
unsafe fn read_run<T: Copy>(run: &[Slot<T>], out: &mut [T]) {
    assert_eq!(run.len(), out.len());
    #[cfg(not(loom))]
    // SAFETY: as in `write_run`, `run` is `run.len()` contiguous `T`s; the caller guarantees
    // they are initialized and not written meanwhile, and `out` is a distinct `&mut` slice of
    // the same length.
    unsafe {
        std::ptr::copy_nonoverlapping(run.as_ptr() as *const T, out.as_mut_ptr(), out.len());
    }
    #[cfg(loom)]
    for (slot, out) in run.iter().zip(out) {
        // SAFETY: the caller guarantees the slot holds an item no one writes meanwhile.
        *out = slot.with(|slot| unsafe { slot.read().assume_init() });
    }
}

#[cfg(test)]
mod chunk_tests {
    use super::*;

    #[test]
    fn chunks_are_pushed_all_or_nothing_across_the_wrap() {
        let (mut p, mut c) = channel::<u8>(16);
        assert!(p.push_chunks(&[b"abcdef", b"ghij"]));
        assert!(!p.push_chunks(&[b"0123456"]), "10 + 7 > 16");
        assert_eq!(p.len(), 10, "a refused record leaves nothing behind");
        let mut out = [0u8; 6];
        assert_eq!(c.pop_chunks(&mut out), 6);
        assert_eq!(&out, b"abcdef");
        // 4 used, 12 free: this record wraps past the end of the slots.
        assert!(p.push_chunks(&[b"0123", b"45678901"]));
        let mut out = [0u8; 32];
        assert_eq!(c.pop_chunks(&mut out), 16);
        assert_eq!(&out[..16], b"ghij012345678901");
        assert_eq!(c.pop_chunks(&mut out), 0);
        assert!(p.push_chunks(&[]), "an empty record always fits");
        assert!(!p.push_chunks(&[&[0u8; 17]]), "larger than the ring");
        drop(p);
        assert!(c.is_abandoned());
    }

    #[test]
    fn threads_see_every_byte_in_order() {
        let (mut p, mut c) = channel::<u8>(64);
        let t = std::thread::spawn(move || {
            let mut next = 0u8;
            let mut got = 0usize;
            let mut out = [0u8; 7];
            loop {
                let n = c.pop_chunks(&mut out);
                for &b in &out[..n] {
                    assert_eq!(b, next);
                    next = next.wrapping_add(1);
                }
                got += n;
                if n == 0 && c.is_abandoned() && c.pop_chunks(&mut out) == 0 {
                    return got;
                }
            }
        });
        let mut v = 0u8;
        let mut sent = 0usize;
        for len in (1..20u8).cycle().take(20_000) {
            let chunk: Vec<u8> = (0..len).map(|k| v.wrapping_add(k)).collect();
            let (head, rest) = chunk.split_at(usize::from(len / 3));
            while !p.push_chunks(&[head, rest]) {
                std::thread::yield_now();
            }
            v = v.wrapping_add(len);
            sent += usize::from(len);
        }
        drop(p);
        assert_eq!(t.join().unwrap(), sent);
    }
}
