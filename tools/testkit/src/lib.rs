//! Test support shared by the workspace's suites — a dev-dependency only, never linked into a
//! binary: the counting global allocator that the zero-allocation tests measure with.
//!
//! A test binary installs it as its global allocator and counts around the code it checks:
//!
//! ```
//! #[global_allocator]
//! static ALLOCATOR: testkit::CountingAllocator = testkit::CountingAllocator;
//!
//! let (v, allocations) = testkit::count_allocations(|| Vec::<u64>::with_capacity(16));
//! assert_eq!(allocations, 1);
//! # drop(v);
//! ```
//!
//! Counting is per thread (const-initialized thread-locals, which never allocate themselves):
//! only allocations made by a thread while it counts are seen, so the other threads of a test
//! binary — servers, tests running in parallel — cannot disturb a measurement.
#![allow(unsafe_code)] // implementing `GlobalAlloc` is unsafe by definition

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Forwards every call to the system allocator and counts `alloc`, `alloc_zeroed` and
/// `realloc` on the threads that are counting ([`count_this_thread`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAllocator;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

#[inline]
fn note_allocation() {
    // `try_with`: the allocator also runs while thread-locals are being torn down.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: every method forwards its arguments unchanged to `System`, which implements the
// `GlobalAlloc` contract; counting touches only const-initialized thread-local cells and
// never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: the caller upholds `alloc`'s contract (non-zero size), passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: `ptr` came from this allocator (hence from `System`) with `layout`, and
        // `new_size` is valid for it, as the caller guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator (hence from `System`) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Starts (`true`) or stops counting this thread's allocations.
pub fn count_this_thread(on: bool) {
    COUNTING.with(|c| c.set(on));
}

/// How many allocations this thread has made while counting, since it started.
pub fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

/// Runs `f` with this thread counting and returns its result with the number of allocations
/// the thread made in it. Counting is off afterwards (calls do not nest).
pub fn count_allocations<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = allocations();
    count_this_thread(true);
    let r = f();
    count_this_thread(false);
    (r, allocations() - before)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[global_allocator]
    static ALLOCATOR: CountingAllocator = CountingAllocator;

    #[test]
    fn counts_allocations_and_reallocations_of_this_thread_only_while_counting() {
        let mut v: Vec<u64> = Vec::new();
        let ((), n) = count_allocations(|| {
            v.reserve_exact(4); // alloc
            v.reserve_exact(64); // realloc
            let z = std::hint::black_box(vec![0u8; 4096]); // alloc_zeroed
            drop(z);
        });
        assert_eq!(n, 3);
        // Not counting: nothing is added.
        let before = allocations();
        drop(std::hint::black_box(Vec::<u8>::with_capacity(8)));
        assert_eq!(allocations(), before);
        drop(v);
    }

    #[test]
    fn another_threads_allocations_are_its_own() {
        // Barriers on futexes: waiting allocates nothing.
        let (start, end) = (std::sync::Barrier::new(2), std::sync::Barrier::new(2));
        std::thread::scope(|s| {
            let child = s.spawn(|| {
                start.wait();
                let ((), n) = count_allocations(|| {
                    for i in 0..1000u32 {
                        drop(std::hint::black_box(vec![i; 4]));
                    }
                });
                end.wait();
                n
            });
            let ((), here) = count_allocations(|| {
                start.wait();
                end.wait();
            });
            assert_eq!(child.join().unwrap(), 1000);
            assert_eq!(
                here, 0,
                "the child's allocations were counted on this thread"
            );
        });
    }
}
