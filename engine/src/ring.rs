//! Bounded lock-free SPSC ring (placeholder).
