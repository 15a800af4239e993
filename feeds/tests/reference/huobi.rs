//! HTX reference on plain JSON (gzip is covered by the vector tests): spot sizes `amount` and
//! ids `tradeId`, swap sizes `quantity` and ids `id`.

use super::*;

pub(crate) fn decode(
    venue: Venue,
    frame: &[u8],
    out: &mut Vec<Event>,
) -> Result<Frame, DecodeError> {
    let v = parse(frame)?;
    if !v.is_object() {
        return Err(DecodeError::Unknown);
    }
    if v.get("ping").is_some() {
        return Ok(Frame::Ping(uint(&v, "ping")?));
    }
    if v.get("status").is_some() {
        return match string(&v, "status")? {
            "ok" => Ok(Frame::SubscribeAck),
            "error" => Ok(Frame::VenueError {
                code: match v.get("err-code") {
                    Some(Value::String(s)) => int_text(s).unwrap_or(0),
                    _ => int(&v, "err-code")?,
                },
            }),
            _ => Err(DecodeError::Field("status")),
        };
    }
    if v.get("ch").is_none() {
        return Err(DecodeError::Unknown);
    }
    let ch = string(&v, "ch")?;
    let Some(sym) = ch
        .strip_prefix("market.")
        .and_then(|r| r.strip_suffix(".trade.detail"))
    else {
        return Ok(Frame::Other);
    };
    let sym = Symbol::new(sym.as_bytes()).ok_or(DecodeError::Symbol)?;
    let tick = v
        .get("tick")
        .filter(|t| t.is_object())
        .ok_or(DecodeError::Field("tick"))?;
    let (qn, idn) = if venue == Venue::HuobiSwap {
        ("quantity", "id")
    } else {
        ("amount", "tradeId")
    };
    for t in array(tick, "data")? {
        if !t.is_object() {
            return Err(DecodeError::Field("data"));
        }
        let p = dec_any(t, "price")?;
        let q = dec_any(t, qn)?;
        let sd = side(t, "direction")?;
        let ts = millis(t, "ts")?;
        let id = uint(t, idn)?;
        if sized(p, q, "price", qn)? {
            out.push(event(EventKind::Trade, sd, sym, p, q, ts, Some(id)));
        }
    }
    Ok(Frame::Data(out.len() as u32))
}
