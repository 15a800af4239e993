//! Decode throughput per venue (filled in by the decoder work).
fn main() {}
