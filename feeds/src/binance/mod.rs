//! Binance spot and USDⓈ-M futures adapters (placeholder until the decoder lands).
use crate::venue::{Decode, DecodeError, Frame, Venue};
use crate::Event;

#[derive(Debug)]
pub struct Decoder {
    venue: Venue,
}

impl Decoder {
    pub fn new(venue: Venue) -> Decoder {
        Decoder { venue }
    }
}

impl Decode for Decoder {
    fn venue(&self) -> Venue {
        self.venue
    }
    fn decode(&mut self, _frame: &mut [u8], _emit: &mut dyn FnMut(Event)) -> Result<Frame, DecodeError> {
        Err(DecodeError::Unknown)
    }
}
