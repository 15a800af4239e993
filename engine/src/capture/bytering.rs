//! A bounded lock-free SPSC ring of bytes: the capture's hop from a feed thread to the writer.
//!
//! [`crate::ring`] moves typed items one slot at a time; frames are runs of bytes, so this ring
//! copies whole runs with `memcpy` and publishes a record (header and payload) with one index
//! store, all or nothing. The protocol is the same as [`crate::ring`]'s: `tail` (bytes ever
//! pushed) is stored only by the producer, `head` (bytes ever popped) only by the consumer; a
//! counter maps to a byte with `& mask`; bytes are written before the Release store of `tail`
//! and read after the Acquire load of it, and handed back by the Release store of `head` that the
//! producer loads with Acquire before overwriting them.

#![allow(unsafe_code)]

use crossbeam_utils::CachePadded;
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

struct Shared {
    head: CachePadded<AtomicUsize>,
    tail: CachePadded<AtomicUsize>,
    /// Byte `i & mask` holds pushed, not yet popped data exactly when `head <= i < tail`.
    buf: Box<[UnsafeCell<u8>]>,
    mask: usize,
    producer_gone: AtomicBool,
    consumer_gone: AtomicBool,
}

// SAFETY: the bytes are only accessed under the head/tail protocol described in the module docs:
// the producer writes only bytes outside `head..tail`, the consumer reads only bytes inside it,
// and each side's counter store (Release) is loaded by the other with Acquire before it touches
// those bytes; so no byte is accessed by both threads without a happens-before edge.
unsafe impl Sync for Shared {}

impl Shared {
    fn capacity(&self) -> usize {
        self.mask + 1
    }

    /// Pointer to byte `index & mask`.
    fn at(&self, index: usize) -> *mut u8 {
        UnsafeCell::raw_get(&self.buf[index & self.mask])
    }
}

/// The pushing half.
pub(crate) struct ByteProducer {
    shared: Arc<Shared>,
    tail: usize,
    head_cache: usize,
}

/// The popping half.
pub(crate) struct ByteConsumer {
    shared: Arc<Shared>,
    head: usize,
}

impl std::fmt::Debug for ByteProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ByteProducer")
            .field("capacity", &self.shared.capacity())
            .finish()
    }
}

impl std::fmt::Debug for ByteConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ByteConsumer")
            .field("capacity", &self.shared.capacity())
            .finish()
    }
}

/// A ring of at least `capacity` bytes (rounded up to a power of two); the only allocation.
pub(crate) fn byte_channel(capacity: usize) -> (ByteProducer, ByteConsumer) {
    let capacity = capacity.max(2).next_power_of_two();
    let buf: Box<[UnsafeCell<u8>]> = (0..capacity).map(|_| UnsafeCell::new(0)).collect();
    let shared = Arc::new(Shared {
        head: CachePadded::new(AtomicUsize::new(0)),
        tail: CachePadded::new(AtomicUsize::new(0)),
        buf,
        mask: capacity - 1,
        producer_gone: AtomicBool::new(false),
        consumer_gone: AtomicBool::new(false),
    });
    (
        ByteProducer {
            shared: shared.clone(),
            tail: 0,
            head_cache: 0,
        },
        ByteConsumer { shared, head: 0 },
    )
}

/// Copy `src` into the ring from counter `at` on (wrapping at the end of the buffer).
///
/// # Safety
/// The `src.len()` bytes from `at` must be outside `head..tail` (free), and
/// `src.len() <= capacity`.
unsafe fn copy_in(shared: &Shared, at: usize, src: &[u8]) {
    let start = at & shared.mask;
    let first = src.len().min(shared.capacity() - start);
    // SAFETY: `start + first <= capacity` and `src.len() - first <= start`, so both runs lie
    // inside the buffer; the caller guarantees they are free, so the consumer does not read
    // them, and `src` is a different allocation (a borrowed slice), so the runs do not overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(src.as_ptr(), shared.at(start), first);
        std::ptr::copy_nonoverlapping(src.as_ptr().add(first), shared.at(0), src.len() - first);
    }
}

impl ByteProducer {
    pub(crate) fn capacity(&self) -> usize {
        self.shared.capacity()
    }

    /// Push every part, in order, or nothing if they do not all fit; one index store.
    #[inline]
    pub(crate) fn push(&mut self, parts: &[&[u8]]) -> bool {
        let need: usize = parts.iter().map(|p| p.len()).sum();
        let cap = self.shared.capacity();
        if cap - self.tail.wrapping_sub(self.head_cache) < need {
            self.head_cache = self.shared.head.load(Ordering::Acquire);
            if cap - self.tail.wrapping_sub(self.head_cache) < need {
                return false;
            }
        }
        let mut at = self.tail;
        for p in parts {
            // SAFETY: `need` bytes from `tail` are free (checked above against a `head` loaded
            // with Acquire, which ordered the consumer's reads of them before these writes),
            // and each part is at most `need <= capacity` bytes.
            unsafe { copy_in(&self.shared, at, p) };
            at = at.wrapping_add(p.len());
        }
        self.tail = at;
        // Release: the bytes above are visible to a consumer that loads this with Acquire.
        self.shared.tail.store(at, Ordering::Release);
        true
    }
}

impl Drop for ByteProducer {
    fn drop(&mut self) {
        self.shared.producer_gone.store(true, Ordering::Release);
    }
}

impl ByteConsumer {
    pub(crate) fn capacity(&self) -> usize {
        self.shared.capacity()
    }

    /// Copy up to `out.len()` of the oldest bytes into `out`; returns how many.
    pub(crate) fn pop(&mut self, out: &mut [u8]) -> usize {
        let tail = self.shared.tail.load(Ordering::Acquire);
        let n = tail.wrapping_sub(self.head).min(out.len());
        if n == 0 {
            return 0;
        }
        let start = self.head & self.shared.mask;
        let first = n.min(self.shared.capacity() - start);
        // SAFETY: the `n` bytes from `head` are inside `head..tail`, published by the producer
        // before its Release store of `tail` that we loaded with Acquire; it does not write them
        // until we store the new `head` below. Both runs lie inside the buffer (as in `copy_in`)
        // and `out` is a distinct `&mut` slice of at least `n` bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(self.shared.at(start), out.as_mut_ptr(), first);
            std::ptr::copy_nonoverlapping(
                self.shared.at(0),
                out.as_mut_ptr().add(first),
                n - first,
            );
        }
        self.head = self.head.wrapping_add(n);
        // Release: our reads above happen before the producer's Acquire load sees this.
        self.shared.head.store(self.head, Ordering::Release);
        n
    }

    /// Whether the producer was dropped (then, once `pop` returns 0, everything was read).
    pub(crate) fn is_abandoned(&self) -> bool {
        self.shared.producer_gone.load(Ordering::Acquire)
    }
}

impl Drop for ByteConsumer {
    fn drop(&mut self) {
        self.shared.consumer_gone.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_or_nothing_and_wraps() {
        let (mut p, mut c) = byte_channel(16);
        assert!(p.push(&[b"abcdef", b"ghij"]));
        assert!(!p.push(&[b"0123456"]), "10 + 7 > 16");
        let mut out = [0u8; 6];
        assert_eq!(c.pop(&mut out), 6);
        assert_eq!(&out, b"abcdef");
        // Now 4 used; 12 free, the write wraps past the end.
        assert!(p.push(&[b"0123", b"45678901"]));
        let mut out = [0u8; 32];
        assert_eq!(c.pop(&mut out), 16);
        assert_eq!(&out[..16], b"ghij012345678901");
        assert_eq!(c.pop(&mut out), 0);
        drop(p);
        assert!(c.is_abandoned());
    }

    #[test]
    fn threads_see_every_byte_in_order() {
        let (mut p, mut c) = byte_channel(64);
        let t = std::thread::spawn(move || {
            let mut next = 0u8;
            let mut got = 0usize;
            let mut out = [0u8; 7];
            loop {
                let n = c.pop(&mut out);
                for &b in &out[..n] {
                    assert_eq!(b, next);
                    next = next.wrapping_add(1);
                }
                got += n;
                if n == 0 && c.is_abandoned() && c.pop(&mut out) == 0 {
                    return got;
                }
            }
        });
        let mut v = 0u8;
        let mut sent = 0usize;
        for len in (1..20).cycle().take(20_000) {
            let chunk: Vec<u8> = (0..len).map(|k| v.wrapping_add(k)).collect();
            while !p.push(&[&chunk]) {
                std::thread::yield_now();
            }
            v = v.wrapping_add(len);
            sent += len as usize;
        }
        drop(p);
        assert_eq!(t.join().unwrap(), sent);
    }
}
