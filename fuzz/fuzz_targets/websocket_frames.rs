//! The WebSocket frame reader must never panic nor hold more than a frame, whatever bytes a
//! client sends and however the socket splits them.
#![no_main]

use confer::websocket::frame::FrameReader;
use libfuzzer_sys::fuzz_target;

const MAX: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    // The first byte picks where reads are split, the rest is the stream.
    let Some((&split, stream)) = data.split_first() else {
        return;
    };
    let step = usize::from(split).max(1);
    let mut reader = FrameReader::new(MAX);
    for chunk in stream.chunks(step) {
        reader.extend(chunk);
        loop {
            match reader.next_message() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => return,
            }
        }
        // An incomplete frame (≤ 14 header bytes + 64 KiB) plus one read is all it may keep.
        assert!(reader.buffered() <= 2 * MAX + 14 + step);
    }
});
