//! Bybit v5 reference: `topic` selects the channel; liquidation `S` is the position side.

use super::*;

fn trade_id(v: &Value) -> Result<u64, DecodeError> {
    if let Some(s) = v.get("i").and_then(Value::as_str) {
        if s.len() == 36 {
            let hex: String = s.chars().filter(|c| *c != '-').collect();
            let dashes_ok = [8, 13, 18, 23].iter().all(|&i| s.as_bytes()[i] == b'-');
            if hex.len() != 32 || !dashes_ok || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(DecodeError::Number("i"));
            }
            let v = u128::from_str_radix(&hex, 16).map_err(|_| DecodeError::Number("i"))?;
            return Ok(((v >> 64) as u64) ^ (v as u64));
        }
    }
    uint(v, "i")
}

fn base(
    venue: Venue,
    inst: &Instruments,
    sym: &str,
    size: Decimal,
    price: Decimal,
) -> Result<Decimal, DecodeError> {
    if venue != Venue::BybitInverse {
        return Ok(size);
    }
    let spec = inst.get(venue, sym).ok_or(DecodeError::Instrument)?;
    spec.to_base(size, price).ok_or(DecodeError::Number("v"))
}

pub(crate) fn decode(
    venue: Venue,
    frame: &[u8],
    inst: &Instruments,
    out: &mut Vec<Event>,
) -> Result<Frame, DecodeError> {
    let v = parse(frame)?;
    if !v.is_object() {
        return Err(DecodeError::Unknown);
    }
    if v.get("topic").is_some() {
        let topic = string(&v, "topic")?;
        let channel = topic.split('.').next().unwrap_or_default();
        match channel {
            "publicTrade" | "allLiquidation" => {
                let liq = channel == "allLiquidation";
                for item in array(&v, "data")? {
                    if !item.is_object() {
                        return Err(DecodeError::Field("data"));
                    }
                    let sym = symbol(item, "s")?;
                    let mut sd = side(item, "S")?;
                    if liq {
                        sd = if sd == Side::Buy {
                            Side::Sell
                        } else {
                            Side::Buy
                        };
                    }
                    let p = dec_str(item, "p")?;
                    let q = dec_str(item, "v")?;
                    let ts = millis(item, "T")?;
                    let id = if liq { None } else { Some(trade_id(item)?) };
                    if !sized(p, q, "p", "v")? {
                        continue;
                    }
                    let qty = base(venue, inst, sym.as_str(), q, p)?;
                    let kind = if liq {
                        EventKind::Liquidation
                    } else {
                        EventKind::Trade
                    };
                    out.push(event(kind, sd, sym, p, qty, ts, id));
                }
                Ok(Frame::Data(out.len() as u32))
            }
            "tickers" => {
                let data = v
                    .get("data")
                    .filter(|d| d.is_object())
                    .ok_or(DecodeError::Field("data"))?;
                if data.get("openInterest").is_none() {
                    return Ok(Frame::Other);
                }
                let sym = symbol(data, "symbol")?;
                let oi = dec_str(data, "openInterest")?;
                let mark = if data.get("markPrice").is_some() {
                    dec_str(data, "markPrice")?
                } else {
                    Decimal::ZERO
                };
                if oi.mantissa < 0 {
                    return Err(DecodeError::Number("openInterest"));
                }
                let qty = if venue == Venue::BybitInverse {
                    if mark.mantissa <= 0 {
                        return Ok(Frame::Other);
                    }
                    base(venue, inst, sym.as_str(), oi, mark)?
                } else {
                    oi
                };
                let ts = millis(&v, "ts")?;
                out.push(event(
                    EventKind::OpenInterest,
                    Side::Buy,
                    sym,
                    mark,
                    qty,
                    ts,
                    None,
                ));
                Ok(Frame::Data(1))
            }
            _ => Ok(Frame::Other),
        }
    } else if v.get("op").is_some() {
        if string(&v, "op")? != "subscribe" {
            return Ok(Frame::Other);
        }
        match v.get("success").and_then(Value::as_bool) {
            Some(true) => Ok(Frame::SubscribeAck),
            Some(false) => Ok(Frame::VenueError { code: 0 }),
            None => Err(DecodeError::Field("success")),
        }
    } else {
        Err(DecodeError::Unknown)
    }
}
