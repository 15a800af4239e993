//! The signal journal: one JSONL file per UTC day of signal time,
//! `<data>/signals/YYYY-MM-DD.jsonl`, appended and synced per signal (signals are rare; a
//! journaled signal survives a power loss).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct Journal {
    data_dir: PathBuf,
    open: Option<(i64, File)>,
}

impl Journal {
    pub fn new(data_dir: &Path) -> Journal {
        Journal {
            data_dir: data_dir.to_path_buf(),
            open: None,
        }
    }

    /// The file for a UTC day.
    pub fn path_for_day(data_dir: &Path, day: i64) -> PathBuf {
        let (y, m, d) = crate::store::civil_from_days(day);
        data_dir
            .join("signals")
            .join(format!("{y:04}-{m:02}-{d:02}.jsonl"))
    }

    /// Append one line for a signal at `time` (s).
    pub fn append(&mut self, time: i64, line: &str) -> std::io::Result<()> {
        let day = time.div_euclid(86_400);
        if self.open.as_ref().is_none_or(|(d, _)| *d != day) {
            let path = Self::path_for_day(&self.data_dir, day);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let f = OpenOptions::new().create(true).append(true).open(&path)?;
            self.open = Some((day, f));
        }
        let (_, f) = self.open.as_mut().expect("opened above");
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        f.write_all(&buf)?;
        f.sync_data()
    }
}
