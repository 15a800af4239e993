//! Bitget v2 reference: symbol from `arg.instId`; one decoder per family (SPOT / futures).

use super::*;

pub(crate) fn decode(
    venue: Venue,
    frame: &[u8],
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
            _ => Ok(Frame::Other),
        };
    }
    let (Some(_), Some(arg)) = (v.get("action"), v.get("arg")) else {
        return Err(DecodeError::Unknown);
    };
    let snapshot = match string(&v, "action")? {
        "snapshot" => true,
        "update" => false,
        _ => return Err(DecodeError::Field("action")),
    };
    if !arg.is_object() {
        return Err(DecodeError::Field("arg"));
    }
    let spot = venue == Venue::BitgetSpot;
    let ours = match string(arg, "instType")? {
        "SPOT" => spot,
        "USDT-FUTURES" | "USDC-FUTURES" => !spot,
        _ => false,
    };
    let channel = string(arg, "channel")?;
    if !ours {
        return if channel == "trade" || channel == "ticker" {
            Err(DecodeError::OtherMarket)
        } else {
            Ok(Frame::Other)
        };
    }
    match channel {
        "trade" => {
            let sym = symbol(arg, "instId")?;
            for t in array(&v, "data")? {
                if !t.is_object() {
                    return Err(DecodeError::Field("data"));
                }
                let p = dec_str(t, "price")?;
                let q = dec_str(t, "size")?;
                let sd = side(t, "side")?;
                let ts = millis(t, "ts")?;
                let id = uint(t, "tradeId")?;
                if sized(p, q, "price", "size")? {
                    out.push(event(EventKind::Trade, sd, sym, p, q, ts, Some(id)));
                }
            }
        }
        "ticker" if !spot => {
            for t in array(&v, "data")? {
                if !t.is_object() {
                    return Err(DecodeError::Field("data"));
                }
                let q = dec_str(t, "holdingAmount")?;
                if q.mantissa < 0 {
                    return Err(DecodeError::Number("holdingAmount"));
                }
                let sym = symbol(t, "instId")?;
                let p = dec_str(t, "markPrice")?;
                let ts = millis(t, "ts")?;
                out.push(event(
                    EventKind::OpenInterest,
                    Side::Buy,
                    sym,
                    p,
                    q,
                    ts,
                    None,
                ));
            }
        }
        _ => return Ok(Frame::Other),
    }
    let n = out.len() as u32;
    Ok(if snapshot {
        Frame::Snapshot(n)
    } else {
        Frame::Data(n)
    })
}
