//! The interface between the multi-venue simulator's runtime (listeners, connection threads,
//! the print generator) and one venue's protocol.
//!
//! A [`Protocol`] is sans-IO: it sees the upgrade request's target, the client's messages and
//! venue-neutral [`Print`]s, and answers with [`Out`] frames in the venue's exact wire format.
//! The runtime owns sockets, time, the per-connection subscription table and the generators.
//! One `Protocol` value lives per connection, so per-connection state (Bitfinex channel ids,
//! Deribit request ids, pending pings) lives in it.

use feeds::instruments::ContractSpec;
use feeds::Venue;

/// One instrument a venue serves.
#[derive(Debug, Clone)]
pub struct SimMarket {
    pub venue: Venue,
    /// The name as the venue's API spells it in requests and frames (`BTC-USDT-SWAP`,
    /// `tBTCUSD`, `btcusdt`, `PF_XBTUSD`, `BTC`).
    pub symbol: String,
    /// Base asset (`BTC`), for price levels.
    pub base: String,
    /// Contract size when the venue's sizes are contracts (from the bundled instruments);
    /// `None` when sizes are base units.
    pub spec: Option<ContractSpec>,
    /// Price tick.
    pub tick: f64,
    /// Size step in base units (linear) — protocols quoting contracts convert.
    pub lot: f64,
}

/// What a [`Print`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrintKind {
    /// A market trade.
    Trade,
    /// A liquidation (forced order or liquidation fill).
    Liquidation,
    /// An open-interest update: `qty` is the total open interest in base units.
    OpenInterest,
}

/// A venue-neutral market event, formatted by each protocol in its own wire format.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Print {
    /// Index into the venue's market list ([`Session::markets`]).
    pub market: usize,
    pub kind: PrintKind,
    /// Trades: the taker bought. Liquidations: the forced order buys (a short was liquidated).
    pub buy: bool,
    /// On the market's tick grid.
    pub price: f64,
    /// Base units on the market's lot grid (contract venues: a whole number of contracts
    /// converts back to exactly this for linear contracts; the generator makes sure of it).
    pub qty: f64,
    /// Exchange time, µs since the epoch.
    pub ts_us: i64,
    /// Trade id, contiguous per market for trades; a counter for the other kinds.
    pub id: u64,
}

/// Which streams of one market a connection is subscribed to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Streams {
    pub trades: bool,
    pub liquidations: bool,
    pub open_interest: bool,
}

impl Streams {
    pub fn any(self) -> bool {
        self.trades || self.liquidations || self.open_interest
    }

    /// Whether a print of `kind` goes to a subscriber with these streams.
    pub fn wants(self, kind: PrintKind) -> bool {
        match kind {
            PrintKind::Trade => self.trades,
            PrintKind::Liquidation => self.liquidations,
            PrintKind::OpenInterest => self.open_interest,
        }
    }
}

/// A frame for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    Text(String),
    /// A binary message (HTX sends gzip-compressed JSON this way).
    Binary(Vec<u8>),
    /// A WebSocket ping frame with this payload.
    Ping(Vec<u8>),
    /// Close with this code and reason; the runtime ends the connection after it.
    Close(u16, String),
}

/// What a protocol sees of its connection and venue.
#[derive(Debug)]
pub struct Session<'a> {
    /// Every market of the venue (the print generator's order).
    pub markets: &'a [SimMarket],
    /// This connection's subscriptions, one entry per market; protocols set them on
    /// subscribe/unsubscribe requests, the runtime reads them to filter prints.
    pub subs: &'a mut [Streams],
    /// Recent trades per market, oldest first (for snapshots sent on subscribe).
    pub recent: &'a [Vec<Print>],
    /// Trades this connection sent in snapshots so far, per market: protocols count what
    /// they send with [`Session::sent_snapshot`], the runtime reports it
    /// (`MarketStats::snapshot_trades_sent`).
    pub snapshot_sent: &'a mut [u64],
    /// Wall clock, µs since the epoch.
    pub now_us: i64,
    /// This connection's number (unique within the simulator).
    pub conn: u64,
}

impl Session<'_> {
    /// The market named `symbol` (exact spelling).
    pub fn find(&self, symbol: &str) -> Option<usize> {
        self.markets.iter().position(|m| m.symbol == symbol)
    }

    /// Counts `n` trades of `market` sent in a snapshot (recent history) to this connection.
    pub fn sent_snapshot(&mut self, market: usize, n: usize) {
        if let Some(c) = self.snapshot_sent.get_mut(market) {
            *c += n as u64;
        }
    }
}

/// Why a protocol wants the connection gone without a close frame (a real venue just drops
/// the TCP connection in these cases).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hangup {
    /// The client did not answer the venue's ping in time.
    PingTimeout,
}

/// One venue's protocol, one value per connection.
pub trait Protocol: Send {
    /// The upgrade request's path and query (`/v5/public/linear`, `/stream?streams=…`).
    /// `Err((status, body))` refuses the upgrade (404 for an unknown path). May subscribe
    /// markets named in the URL.
    fn route(&mut self, target: &str, s: &mut Session<'_>) -> Result<(), (u16, String)>;

    /// Frames sent right after the upgrade (Bitfinex `info`, Kraken `status`, …).
    fn on_open(&mut self, _s: &mut Session<'_>, _out: &mut Vec<Out>) {}

    /// One message from the client (`binary` for a binary frame). Requests change
    /// `s.subs` and answer with the venue's acks or errors; pings get pongs.
    fn on_message(&mut self, msg: &[u8], binary: bool, s: &mut Session<'_>, out: &mut Vec<Out>);

    /// A WebSocket pong from the client (for venues whose keepalive is WebSocket pings sent
    /// by the server through [`Out::Ping`]).
    fn on_pong(&mut self, _payload: &[u8], _s: &mut Session<'_>) {}

    /// Prints of one generator step, already filtered to this connection's subscriptions,
    /// in time order (several markets mixed). Format them the way the venue batches them.
    fn on_prints(&mut self, prints: &[Print], s: &mut Session<'_>, out: &mut Vec<Out>);

    /// Called about every 100 ms: application heartbeats, server pings, ping deadlines.
    fn on_timer(&mut self, _s: &mut Session<'_>, _out: &mut Vec<Out>) -> Result<(), Hangup> {
        Ok(())
    }

    /// Scales the venue's keepalive timings (ping intervals, deadlines) by `scale` (1.0 =
    /// the venue's real timings; tests use small values). Called once, before `route`.
    fn set_keepalive_scale(&mut self, _scale: f64) {}

    /// Fault injection: if `msg` is a subscribe request, write the venue's error reply for a
    /// subscription it refuses (the reply to an unknown instrument) to `out`, change no
    /// subscription and return true; otherwise return false and write nothing.
    fn reject_subscribe(
        &mut self,
        _msg: &[u8],
        _binary: bool,
        _s: &mut Session<'_>,
        _out: &mut Vec<Out>,
    ) -> bool {
        false
    }

    /// Fault injection: whether `msg` answers the venue's application-level keepalive (HTX
    /// `{"pong":n}`, Deribit `public/test`), so that ignoring pongs can ignore it.
    fn is_pong(&self, _msg: &[u8], _binary: bool) -> bool {
        false
    }

    /// How many error replies (unknown symbol, bad request) this connection sent so far;
    /// the runtime reports them as subscribe errors.
    fn errors_sent(&self) -> u64 {
        0
    }
}

/// Decimal places of a grid step (`0.1` → 1, `0.0001` → 4, `5` → 0), at most 12.
pub fn decimals(step: f64) -> usize {
    let mut d = 0;
    let mut s = step.abs();
    while d < 12 && (s - s.round()).abs() > 1e-9 * s.max(1.0) {
        s *= 10.0;
        d += 1;
    }
    d
}

/// `x` written with the decimals of `step` (`fmt_step(65000.1, 0.1)` → `"65000.1"`).
pub fn fmt_step(x: f64, step: f64) -> String {
    format!("{:.*}", decimals(step), x)
}

impl SimMarket {
    /// A price as the venue writes it (the tick's decimals).
    pub fn price_str(&self, price: f64) -> String {
        fmt_step(price, self.tick)
    }

    /// A base quantity as the venue writes it (the lot's decimals).
    pub fn qty_str(&self, qty: f64) -> String {
        fmt_step(qty, self.lot)
    }

    /// Whole contracts for `qty` base units at `price` on a contract venue: `qty / size`
    /// (linear) or `qty × price / size` (inverse), rounded, at least 1; `qty` itself
    /// (rounded to whole units) when the market has no contract spec.
    pub fn contracts(&self, qty: f64, price: f64) -> u64 {
        let raw = match self.spec {
            Some(spec) if spec.inverse => qty * price / spec.size.to_f64(),
            Some(spec) => qty / spec.size.to_f64(),
            None => qty,
        };
        raw.round().max(1.0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use feeds::Decimal;

    fn market(spec: Option<ContractSpec>, tick: f64, lot: f64) -> SimMarket {
        SimMarket {
            venue: Venue::OkxSwap,
            symbol: "BTC-USDT-SWAP".into(),
            base: "BTC".into(),
            spec,
            tick,
            lot,
        }
    }

    #[test]
    fn grid_formatting() {
        assert_eq!(decimals(0.1), 1);
        assert_eq!(decimals(0.0001), 4);
        assert_eq!(decimals(5.0), 0);
        assert_eq!(decimals(0.3 * 0.1), 2);
        assert_eq!(fmt_step(65_000.1 + 0.2, 0.1), "65000.3");
        assert_eq!(fmt_step(0.0030000000000000005, 0.001), "0.003");
    }

    #[test]
    fn whole_contracts() {
        let linear = ContractSpec {
            size: Decimal::new(1, 2),
            inverse: false,
        };
        let m = market(Some(linear), 0.1, 0.01);
        assert_eq!(m.contracts(0.07, 65_000.0), 7);
        assert_eq!(m.contracts(0.001, 65_000.0), 1, "at least one contract");
        let inverse = ContractSpec {
            size: Decimal::new(100, 0),
            inverse: true,
        };
        let m = market(Some(inverse), 0.1, 0.001);
        // 0.01 BTC at 65000 = 650 USD = 6.5 → 7 contracts of 100 USD.
        assert_eq!(m.contracts(0.01, 65_000.0), 7);
        let m = market(None, 0.1, 1.0);
        assert_eq!(m.contracts(3.0, 1.0), 3);
        assert_eq!(m.price_str(65_000.04), "65000.0");
        assert_eq!(m.qty_str(2.0), "2");
    }
}
