//! Hyperliquid reference: `B` = taker buy, `A` = taker sell.

use super::*;

pub(crate) fn decode(frame: &[u8], out: &mut Vec<Event>) -> Result<Frame, DecodeError> {
    let v = parse(frame)?;
    if !v.is_object() || v.get("channel").is_none() {
        return Err(DecodeError::Unknown);
    }
    match string(&v, "channel")? {
        "trades" => {
            for t in array(&v, "data")? {
                if !t.is_object() {
                    return Err(DecodeError::Field("data"));
                }
                let sd = match string(t, "side")? {
                    "B" => Side::Buy,
                    "A" => Side::Sell,
                    _ => return Err(DecodeError::Field("side")),
                };
                let sym = symbol(t, "coin")?;
                let p = dec_str(t, "px")?;
                let q = dec_str(t, "sz")?;
                let ts = millis(t, "time")?;
                let id = uint(t, "tid")?;
                if sized(p, q, "px", "sz")? {
                    out.push(event(EventKind::Trade, sd, sym, p, q, ts, Some(id)));
                }
            }
            Ok(Frame::Data(out.len() as u32))
        }
        "subscriptionResponse" => Ok(Frame::SubscribeAck),
        "error" => Ok(Frame::VenueError { code: 0 }),
        _ => Ok(Frame::Other),
    }
}
