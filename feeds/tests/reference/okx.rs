//! OKX v5 reference: `sz` in contracts for `-SWAP` and dated futures, base otherwise.

use super::*;

fn kind_of(inst: &str) -> Option<Venue> {
    let parts: Vec<&str> = inst.split('-').collect();
    if inst.ends_with("-SWAP") {
        Some(Venue::OkxSwap)
    } else if parts.len() == 2 && !parts[0].is_empty() && !parts[1].is_empty() {
        Some(Venue::OkxSpot)
    } else if parts.len() == 3
        && !parts[0].is_empty()
        && !parts[1].is_empty()
        && parts[2].len() == 6
        && parts[2].bytes().all(|b| b.is_ascii_digit())
    {
        Some(Venue::OkxFutures)
    } else {
        None
    }
}

fn base(inst: &Instruments, id: &str, sz: Decimal, px: Decimal) -> Result<Decimal, DecodeError> {
    match kind_of(id) {
        Some(Venue::OkxSpot) => Ok(sz),
        Some(k) => inst
            .get(k, id)
            .ok_or(DecodeError::Instrument)?
            .to_base(sz, px)
            .ok_or(DecodeError::Number("sz")),
        None => Err(DecodeError::Instrument),
    }
}

pub(crate) fn decode(
    frame: &[u8],
    inst: &Instruments,
    out: &mut Vec<Event>,
) -> Result<Frame, DecodeError> {
    if frame == b"pong" {
        return Ok(Frame::Other);
    }
    let v = parse(frame)?;
    if !v.is_object() {
        return Err(DecodeError::Unknown);
    }
    if v.get("event").is_some() {
        return match string(&v, "event")? {
            "subscribe" | "unsubscribe" => Ok(Frame::SubscribeAck),
            "error" => Ok(Frame::VenueError {
                code: int(&v, "code")?,
            }),
            "notice" if int(&v, "code")? == 64008 => Ok(Frame::ServerShutdown),
            _ => Ok(Frame::Other),
        };
    }
    let arg = v.get("arg").ok_or(DecodeError::Unknown)?;
    if !arg.is_object() {
        return Err(DecodeError::Field("arg"));
    }
    match string(arg, "channel")? {
        "trades" | "trades-all" => {
            for t in array(&v, "data")? {
                if !t.is_object() {
                    return Err(DecodeError::Field("data"));
                }
                let id = string(t, "instId")?;
                let sym = symbol(t, "instId")?;
                let tid = uint(t, "tradeId")?;
                let px = dec_str(t, "px")?;
                let sz = dec_str(t, "sz")?;
                let sd = side(t, "side")?;
                let ts = millis(t, "ts")?;
                let fills = match t.get("count") {
                    None => 1,
                    Some(_) => match uint(t, "count") {
                        Ok(c) if (1..=u64::from(u32::MAX)).contains(&c) => c as u32,
                        _ => return Err(DecodeError::Number("count")),
                    },
                };
                if !sized(px, sz, "px", "sz")? {
                    continue;
                }
                let mut e = event(
                    EventKind::Trade,
                    sd,
                    sym,
                    px,
                    base(inst, id, sz, px)?,
                    ts,
                    Some(tid),
                );
                e.fills = fills;
                out.push(e);
            }
        }
        "liquidation-orders" => {
            for item in array(&v, "data")? {
                if !item.is_object() {
                    return Err(DecodeError::Field("data"));
                }
                let id = string(item, "instId")?;
                let sym = symbol(item, "instId")?;
                for d in array(item, "details")? {
                    if !d.is_object() {
                        return Err(DecodeError::Field("details"));
                    }
                    let px = dec_str(d, "bkPx")?;
                    let sz = dec_str(d, "sz")?;
                    let sd = side(d, "side")?;
                    let ts = millis(d, "ts")?;
                    if !sized(px, sz, "bkPx", "sz")? {
                        continue;
                    }
                    out.push(event(
                        EventKind::Liquidation,
                        sd,
                        sym,
                        px,
                        base(inst, id, sz, px)?,
                        ts,
                        None,
                    ));
                }
            }
        }
        "open-interest" => {
            for item in array(&v, "data")? {
                if !item.is_object() {
                    return Err(DecodeError::Field("data"));
                }
                let qty = dec_str(item, "oiCcy")?;
                if qty.mantissa < 0 {
                    return Err(DecodeError::Number("oiCcy"));
                }
                let sym = symbol(item, "instId")?;
                let ts = millis(item, "ts")?;
                out.push(event(
                    EventKind::OpenInterest,
                    Side::Buy,
                    sym,
                    Decimal::ZERO,
                    qty,
                    ts,
                    None,
                ));
            }
        }
        _ => return Ok(Frame::Other),
    }
    Ok(Frame::Data(out.len() as u32))
}
