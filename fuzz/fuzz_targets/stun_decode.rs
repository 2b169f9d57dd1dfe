//! The STUN/TURN decoders see raw packets from anyone on the internet: they must never panic.
#![no_main]

use confer::turn::codec::{ChannelData, Message, stream_frame_len};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = Message::decode(data) {
        // Walk what a server would read from a request.
        let id = msg.transaction_id;
        for attr in [0x0006u16, 0x0012, 0x0013, 0x0014, 0x0015, 0x0019, 0x000C, 0x000D] {
            if let Some(value) = msg.get(attr) {
                let _ = Message::decode_xor_peer(value, &id);
            }
        }
    }
    let _ = ChannelData::decode(data);
    let _ = stream_frame_len(data);
});
