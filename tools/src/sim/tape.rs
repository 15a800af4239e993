//! The simulator's tape: every text frame each connection sent, as JSONL in the DESIGN.md tape
//! format, so tests can compute expected bars from exactly what went out and `replay` can
//! replay it.
//!
//! Connection threads hand lines to one writer thread over a channel; the file is a single
//! merged tape for both venues (`venue` tells them apart, `conn` is unique across both). Lines of
//! one connection appear in the order that connection sent them; lines of different
//! connections interleave in the order they reached the writer.

use super::SimVenue;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::{self, JoinHandle};
use tungstenite::Utf8Bytes;

/// One text frame as it was handed to the socket.
#[derive(Debug)]
pub(crate) struct TapeLine {
    /// Wall-clock send time, ns since the Unix epoch.
    pub(crate) ts_ns: u64,
    pub(crate) venue: SimVenue,
    pub(crate) conn: u64,
    pub(crate) frame: Utf8Bytes,
}

/// The writer thread; dropping every sender ends it.
#[derive(Debug)]
pub(crate) struct TapeWriter {
    path: PathBuf,
    thread: JoinHandle<io::Result<u64>>,
}

impl TapeWriter {
    /// Creates (truncates) the tape file and starts the writer thread.
    pub(crate) fn start(path: &Path) -> io::Result<(Sender<TapeLine>, TapeWriter)> {
        let file = File::create(path)?;
        let (tx, rx) = mpsc::channel();
        let thread = thread::Builder::new()
            .name("sim-tape".into())
            .spawn(move || write_all(rx, BufWriter::with_capacity(1 << 20, file)))?;
        Ok((
            tx,
            TapeWriter {
                path: path.to_owned(),
                thread,
            },
        ))
    }

    /// Waits for the writer to drain (every sender must be dropped first) and reports the
    /// outcome in the log; a failed tape does not fail the simulator's shutdown.
    pub(crate) fn finish(self) {
        match self.thread.join() {
            Ok(Ok(lines)) => log::info!("sim: wrote {lines} frames to {}", self.path.display()),
            Ok(Err(e)) => log::error!("sim: writing tape {}: {e}", self.path.display()),
            Err(_) => log::error!("sim: tape writer for {} panicked", self.path.display()),
        }
    }
}

fn write_all(rx: Receiver<TapeLine>, mut out: BufWriter<File>) -> io::Result<u64> {
    let mut lines = 0;
    let mut failure = None;
    for line in rx {
        // After an error keep draining, so connection threads never stall on a full channel.
        if failure.is_none() {
            match write_line(&mut out, &line) {
                Ok(()) => lines += 1,
                Err(e) => failure = Some(e),
            }
        }
    }
    match failure {
        Some(e) => Err(e),
        None => out.flush().map(|()| lines),
    }
}

fn write_line(out: &mut impl Write, line: &TapeLine) -> io::Result<()> {
    write!(
        out,
        r#"{{"ts_ns":{},"venue":"{}","conn":{},"frame":"#,
        line.ts_ns,
        line.venue.feed_venue().name(),
        line.conn
    )?;
    serde_json::to_writer(&mut *out, line.frame.as_str())?;
    out.write_all(b"}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_format() {
        let mut out = Vec::new();
        let line = TapeLine {
            ts_ns: 12,
            venue: SimVenue::Futures,
            conn: 3,
            frame: Utf8Bytes::from(r#"{"e":"trade","s":"A\"B"}"#),
        };
        write_line(&mut out, &line).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "{\"ts_ns\":12,\"venue\":\"binance-usdm\",\"conn\":3,\"frame\":\"{\\\"e\\\":\\\"trade\\\",\\\"s\\\":\\\"A\\\\\\\"B\\\"}\"}\n"
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["frame"], r#"{"e":"trade","s":"A\"B"}"#);
    }
}
