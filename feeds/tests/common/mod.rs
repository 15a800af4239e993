//! Shared test helpers: the workspace's one counting allocator (`testkit`) as this binary's
//! global allocator, so a test can prove a code path allocates nothing once warm.
//!
//! Counting is per thread, so server threads in the same test binary do not disturb the
//! measurement.

#[global_allocator]
static ALLOCATOR: testkit::CountingAllocator = testkit::CountingAllocator;

/// Runs `f` and returns its result with the number of allocations this thread made in it.
pub(crate) use testkit::count_allocations;
