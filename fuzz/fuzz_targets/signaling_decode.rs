//! The signaling decoder must never panic, whatever bytes a client sends as a text frame.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = confer::signaling::protocol::decode(text);
    }
});
