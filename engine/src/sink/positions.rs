//! Paper positions persisted across restarts: `<data>/strategy/positions.json`, rewritten
//! (temp file + rename, so never torn) after every entry or exit.

use crate::strategy::{Action, Position, SignalEvent};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct PositionBook {
    path: PathBuf,
    open: BTreeMap<String, Position>,
}

/// Why the positions file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PositionsError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
}

impl PositionBook {
    pub fn new(data_dir: &Path) -> PositionBook {
        PositionBook {
            path: data_dir.join("strategy").join("positions.json"),
            open: BTreeMap::new(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn open_positions(&self) -> &BTreeMap<String, Position> {
        &self.open
    }

    /// Read the file of an earlier run (missing file = no positions). A damaged file is an
    /// error, not an empty book: positions must not vanish silently.
    pub fn load(data_dir: &Path) -> Result<PositionBook, PositionsError> {
        let mut book = PositionBook::new(data_dir);
        let text = match std::fs::read_to_string(&book.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(book),
            Err(source) => {
                return Err(PositionsError::Io {
                    path: book.path,
                    source,
                })
            }
        };
        let bad = |message: String| PositionsError::Format {
            path: book.path.clone(),
            message,
        };
        let v: Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let map = v
            .get("positions")
            .and_then(Value::as_object)
            .ok_or_else(|| bad("expected {\"positions\": {...}}".into()))?;
        for (base, p) in map {
            let f = |k: &str| {
                p.get(k)
                    .and_then(Value::as_f64)
                    .ok_or_else(|| bad(format!("{base}: missing number `{k}`")))
            };
            let i = |k: &str| {
                p.get(k)
                    .and_then(Value::as_i64)
                    .ok_or_else(|| bad(format!("{base}: missing integer `{k}`")))
            };
            let direction = match p.get("side").and_then(Value::as_str) {
                Some("LONG") => 1,
                Some("SHORT") => -1,
                _ => return Err(bad(format!("{base}: `side` must be LONG or SHORT"))),
            };
            book.open.insert(
                base.clone(),
                Position {
                    direction,
                    entry_time: i("entry_time")?,
                    entry_bar: i("entry_bar")?,
                    entry_price: f("entry_price")?,
                    quantity: f("quantity")?,
                    score: f("score")?,
                    lo: f("lo")?,
                    hi: f("hi")?,
                    spot_flow: 0.0,
                    perp_flow: 0.0,
                },
            );
        }
        Ok(book)
    }

    /// Record a signal's effect and rewrite the file.
    pub fn apply(&mut self, base: &str, sig: &SignalEvent) -> Result<(), PositionsError> {
        match (sig.action, sig.position) {
            (Action::Close, _) => {
                self.open.remove(base);
            }
            (_, Some(p)) => {
                self.open.insert(base.to_string(), p);
            }
            (_, None) => {}
        }
        self.save()
    }

    fn save(&self) -> Result<(), PositionsError> {
        let io = |source| PositionsError::Io {
            path: self.path.clone(),
            source,
        };
        let mut positions = serde_json::Map::new();
        for (base, p) in &self.open {
            positions.insert(
                base.clone(),
                json!({
                    "side": if p.direction > 0 { "LONG" } else { "SHORT" },
                    "entry_time": p.entry_time,
                    "entry_bar": p.entry_bar,
                    "entry_price": p.entry_price,
                    "quantity": p.quantity,
                    "score": p.score,
                    "lo": p.lo,
                    "hi": p.hi,
                }),
            );
        }
        let text = serde_json::to_string_pretty(&json!({ "version": 1, "positions": positions }))
            .map_err(|e| PositionsError::Format {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, text + "\n").map_err(io)?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)
    }
}
