//! The `squeezeflow` command.
fn main() {}
