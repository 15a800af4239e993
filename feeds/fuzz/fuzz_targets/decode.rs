//! Fuzz target: the first byte picks a venue (modulo `Venue::ALL`), the rest is one frame for
//! that venue's decoder. Decoders are kept per venue across inputs, as on the live path, so
//! reuse after errors is exercised too. Checked: no panic, `Frame::Data(n)` /
//! `Frame::Snapshot(n)` match the events emitted, and every event is well-formed. A frame that
//! fails may still have emitted the valid events before its bad one (the Coinbase, Kraken,
//! BitMEX, Deribit and Bitfinex decoders keep a batch's good trades; the others drop the whole
//! batch); non-data frames emit nothing.
#![no_main]

use feeds::{Decode, EventKind, Frame, Instruments, Venue};
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;

thread_local! {
    static DECODERS: RefCell<Vec<Box<dyn Decode + Send>>> = RefCell::new({
        let instruments = Instruments::bundled();
        Venue::ALL.iter().map(|v| v.decoder_with(&instruments)).collect()
    });
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, frame)) = data.split_first() else {
        return;
    };
    let index = usize::from(first) % Venue::ALL.len();
    let mut buf = frame.to_vec();
    DECODERS.with(|decoders| {
        let mut decoders = decoders.borrow_mut();
        let decoder = &mut decoders[index];
        let mut emitted = 0u32;
        let result = decoder.decode(&mut buf, &mut |e| {
            emitted += 1;
            assert!(e.fills >= 1, "{e:?}");
            assert!(e.qty.mantissa >= 0, "{e:?}");
            if e.kind != EventKind::OpenInterest {
                assert!(e.price.mantissa > 0 && e.qty.mantissa > 0, "{e:?}");
            }
        });
        match result {
            Ok(Frame::Data(n)) | Ok(Frame::Snapshot(n)) => assert_eq!(n, emitted),
            Ok(other) => assert_eq!(emitted, 0, "{other:?}"),
            Err(_) => {}
        }
    });
});
