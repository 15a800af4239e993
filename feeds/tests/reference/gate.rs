//! Gate futures reference: `size` contracts (sign = taker side) × quanto multiplier.

use super::*;

pub(crate) fn decode(
    frame: &[u8],
    inst: &Instruments,
    out: &mut Vec<Event>,
) -> Result<Frame, DecodeError> {
    let v = parse(frame)?;
    if !v.is_object() || v.get("channel").is_none() {
        return Err(DecodeError::Unknown);
    }
    let channel = string(&v, "channel")?;
    match v.get("error") {
        None | Some(Value::Null) => {}
        Some(e) => {
            if !e.is_object() {
                return Err(DecodeError::Field("error"));
            }
            return Ok(Frame::VenueError {
                code: int(e, "code")?,
            });
        }
    }
    let event_name = match v.get("event") {
        None | Some(Value::Null) => "",
        Some(_) => string(&v, "event")?,
    };
    match (channel, event_name) {
        (_, "subscribe" | "unsubscribe") => Ok(Frame::SubscribeAck),
        ("futures.trades", "update" | "all") => {
            for t in array(&v, "result")? {
                if !t.is_object() {
                    return Err(DecodeError::Field("result"));
                }
                let sym = symbol(t, "contract")?;
                let size = dec_any(t, "size")?;
                let p = dec_any(t, "price")?;
                let ts = millis(t, "create_time_ms")?;
                let id = uint(t, "id")?;
                let sd = if size.mantissa < 0 {
                    Side::Sell
                } else {
                    Side::Buy
                };
                let contracts = Decimal::new(
                    size.mantissa
                        .checked_abs()
                        .ok_or(DecodeError::Number("size"))?,
                    size.scale,
                );
                if !sized(p, contracts, "price", "size")? {
                    continue;
                }
                let spec = inst
                    .get(Venue::GateFutures, sym.as_str())
                    .ok_or(DecodeError::Instrument)?;
                let q = spec
                    .to_base(contracts, p)
                    .ok_or(DecodeError::Number("size"))?;
                out.push(event(EventKind::Trade, sd, sym, p, q, ts, Some(id)));
            }
            Ok(Frame::Data(out.len() as u32))
        }
        _ => Ok(Frame::Other),
    }
}
