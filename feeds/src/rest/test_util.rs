//! Helpers for the REST parser tests.

use super::{Pager, RestError, RestParser, Window};
use crate::event::{Decimal, Event, Symbol};
use crate::instruments::Instruments;
use crate::venue::Venue;

pub(crate) fn sym(s: &str) -> Symbol {
    Symbol::new(s.as_bytes()).unwrap()
}

pub(crate) fn dec(s: &str) -> Decimal {
    Decimal::parse(s.as_bytes()).unwrap()
}

pub(crate) fn window(from_us: i64, to_us: i64) -> Window {
    Window {
        from_us,
        to_us,
        after_id: 0,
        before_id: 0,
    }
}

pub(crate) fn pager(venue: Venue, symbol: &str, w: Window) -> Pager {
    Pager::new(venue, sym(symbol), w).unwrap()
}

/// Parse `body` as the current page with the bundled instruments.
pub(crate) fn feed(p: &mut Pager, body: &str) -> Result<Vec<Event>, RestError> {
    let mut parser = RestParser::new(Instruments::bundled());
    let mut out = Vec::new();
    let mut bytes = body.as_bytes().to_vec();
    p.on_body(&mut parser, &mut bytes, &mut out).map(|_| out)
}

/// What the venue's WebSocket decoder makes of `frame`.
pub(crate) fn ws_events(venue: Venue, frame: &str) -> Vec<Event> {
    let mut decoder = venue.decoder();
    let mut bytes = frame.as_bytes().to_vec();
    let mut out = Vec::new();
    decoder
        .decode(&mut bytes, &mut |e| out.push(e))
        .unwrap_or_else(|e| panic!("{venue}: {e}: {frame}"));
    out
}

/// A JSON array of `n` records made by `f`.
pub(crate) fn page_of(n: usize, f: impl Fn(usize) -> String) -> String {
    let items: Vec<String> = (0..n).map(f).collect();
    format!("[{}]", items.join(","))
}
