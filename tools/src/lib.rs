//! Library side of the squeezeflow tools: the exchange simulator and the command implementations.
#![deny(unsafe_code)]

pub mod report;
pub mod sim;
