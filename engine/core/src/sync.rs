//! The synchronization primitives the ring is built from, swappable for loom's.
//!
//! Normally these are std's atomics and `Arc`. Under `--cfg loom` they are loom's, whose
//! model checker then explores every interleaving the memory model allows (see
//! `tests/loom.rs`). Code that uses this shim compiles unchanged under both: std's
//! `UnsafeCell` is wrapped so it exposes the closure API (`with`/`with_mut`) that loom's
//! needs in order to track each access.

#[cfg(loom)]
pub(crate) use loom::{
    cell::UnsafeCell,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
};

#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{AtomicBool, AtomicUsize, Ordering},
    Arc,
};

#[cfg(not(loom))]
pub(crate) use self::std_cell::UnsafeCell;

#[cfg(not(loom))]
mod std_cell {
    /// `std::cell::UnsafeCell` behind loom's closure API. The closures inline away, so this
    /// costs nothing over using the raw pointer directly.
    #[derive(Debug)]
    #[repr(transparent)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> Self {
            Self(std::cell::UnsafeCell::new(value))
        }

        /// Runs `f` with a shared pointer to the contents; the caller's `unsafe` block
        /// states why no one writes them meanwhile.
        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Runs `f` with an exclusive pointer to the contents; the caller's `unsafe` block
        /// states why no one else touches them meanwhile.
        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}
