//! Signal sinks: where validated signals go once the strategy has emitted them.
//!
//! Sinks run on the IO core's helper threads; the hot threads never wait on them. Each sink takes
//! its input through a non-blocking `submit` and reports what it did through atomic counters.
//!
//! - [`redis`]: the Redis layout FreqTrade's strategy reads (latest signal per symbol, the
//!   `squeezeflow:signals` channel, per-symbol history, a published counter), with a bounded
//!   backlog while Redis is down.

pub mod redis;
