//! Bar store (placeholder).
