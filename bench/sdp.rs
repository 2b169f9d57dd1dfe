//! Real-looking WebRTC payloads: a ~4 KB offer/answer SDP and trickle ICE candidates,
//! shaped like what Chromium produces for one audio and one video track.

use std::fmt::Write;

/// A session description of about 4 KB. `seed` varies the ids so no two are identical.
pub fn session_description(kind: &str, seed: u64) -> String {
    let setup = if kind == "offer" { "actpass" } else { "active" };
    let ufrag = format!("{:08x}", seed.wrapping_mul(0x9e37_79b9) as u32);
    let pwd = format!(
        "{:024x}",
        (seed as u128).wrapping_mul(0x2545_f491_4f6c_dd1d)
    );
    let mut fp = String::new();
    for i in 0..32u64 {
        if i > 0 {
            fp.push(':');
        }
        let _ = write!(fp, "{:02X}", (seed.wrapping_add(i * 37) * 131) & 0xff);
    }
    let ssrc_a = 1_000_000 + (seed % 3_000_000_000);
    let ssrc_v = ssrc_a + 17;
    let ssrc_r = ssrc_a + 29;
    let mut s = String::with_capacity(4400);
    let _ = write!(
        s,
        "v=0\r\no=- {sid} 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n\
         a=extmap-allow-mixed\r\na=msid-semantic: WMS stream{seed}\r\n",
        sid = 4_611_686_018_427_387_904u64.wrapping_add(seed)
    );
    // Audio section.
    s.push_str("m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\nc=IN IP4 0.0.0.0\r\n");
    s.push_str("a=rtcp:9 IN IP4 0.0.0.0\r\n");
    let _ = write!(
        s,
        "a=ice-ufrag:{ufrag}\r\na=ice-pwd:{pwd}\r\na=ice-options:trickle\r\n\
         a=fingerprint:sha-256 {fp}\r\na=setup:{setup}\r\na=mid:0\r\n"
    );
    for (id, uri) in [
        (1, "urn:ietf:params:rtp-hdrext:ssrc-audio-level"),
        (
            2,
            "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
        ),
        (
            3,
            "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
        ),
        (4, "urn:ietf:params:rtp-hdrext:sdes:mid"),
    ] {
        let _ = write!(s, "a=extmap:{id} {uri}\r\n");
    }
    let _ = write!(
        s,
        "a=sendrecv\r\na=msid:stream{seed} audio{seed}\r\na=rtcp-mux\r\na=rtcp-rsize\r\n\
         a=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\n\
         a=fmtp:111 minptime=10;useinbandfec=1\r\na=rtpmap:63 red/48000/2\r\n\
         a=fmtp:63 111/111\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:8 PCMA/8000\r\na=rtpmap:13 CN/8000\r\na=rtpmap:110 telephone-event/48000\r\n\
         a=rtpmap:126 telephone-event/8000\r\na=ssrc:{ssrc_a} cname:c{seed:x}\r\n\
         a=ssrc:{ssrc_a} msid:stream{seed} audio{seed}\r\n"
    );
    // Video section.
    s.push_str(
        "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 105 106 107 108 109 123 124 \
         45 46 98 99 116 117 118\r\nc=IN IP4 0.0.0.0\r\n\
         a=rtcp:9 IN IP4 0.0.0.0\r\n",
    );
    let _ = write!(
        s,
        "a=ice-ufrag:{ufrag}\r\na=ice-pwd:{pwd}\r\na=ice-options:trickle\r\n\
         a=fingerprint:sha-256 {fp}\r\na=setup:{setup}\r\na=mid:1\r\n"
    );
    for (id, uri) in [
        (14, "urn:ietf:params:rtp-hdrext:toffset"),
        (
            2,
            "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
        ),
        (13, "urn:3gpp:video-orientation"),
        (
            3,
            "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
        ),
        (
            5,
            "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay",
        ),
        (
            6,
            "http://www.webrtc.org/experiments/rtp-hdrext/video-content-type",
        ),
        (
            7,
            "http://www.webrtc.org/experiments/rtp-hdrext/video-timing",
        ),
        (
            8,
            "http://www.webrtc.org/experiments/rtp-hdrext/color-space",
        ),
        (4, "urn:ietf:params:rtp-hdrext:sdes:mid"),
        (10, "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"),
        (11, "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"),
    ] {
        let _ = write!(s, "a=extmap:{id} {uri}\r\n");
    }
    let _ = write!(
        s,
        "a=sendrecv\r\na=msid:stream{seed} video{seed}\r\na=rtcp-mux\r\na=rtcp-rsize\r\n"
    );
    let codecs = [
        (96, "VP8", ""),
        (
            102,
            "H264",
            "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
        ),
        (
            104,
            "H264",
            "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f",
        ),
        (
            106,
            "H264",
            "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
        ),
        (
            108,
            "H264",
            "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f",
        ),
        (
            123,
            "H264",
            "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f",
        ),
        (45, "AV1", "level-idx=5;profile=0;tier=0"),
        (98, "VP9", "profile-id=0"),
    ];
    for (pt, name, fmtp) in codecs {
        let _ = write!(s, "a=rtpmap:{pt} {name}/90000\r\n");
        for fb in ["transport-cc", "ccm fir", "nack", "nack pli"] {
            let _ = write!(s, "a=rtcp-fb:{pt} {fb}\r\n");
        }
        if !fmtp.is_empty() {
            let _ = write!(s, "a=fmtp:{pt} {fmtp}\r\n");
        }
        let _ = write!(
            s,
            "a=rtpmap:{rtx} rtx/90000\r\na=fmtp:{rtx} apt={pt}\r\n",
            rtx = pt + 1
        );
    }
    let _ = write!(
        s,
        "a=rtpmap:116 red/90000\r\na=rtpmap:117 rtx/90000\r\na=fmtp:117 apt=116\r\n\
         a=rtpmap:118 ulpfec/90000\r\na=ssrc-group:FID {ssrc_v} {ssrc_r}\r\n\
         a=ssrc:{ssrc_v} cname:c{seed:x}\r\na=ssrc:{ssrc_v} msid:stream{seed} video{seed}\r\n\
         a=ssrc:{ssrc_r} cname:c{seed:x}\r\na=ssrc:{ssrc_r} msid:stream{seed} video{seed}\r\n"
    );
    s
}

/// The `candidate` string of trickle candidate number `n` (host, srflx and relay mixed).
pub fn candidate(n: u32, seed: u64) -> String {
    let foundation = 1_000_000_000u64 + (seed.wrapping_mul(7919) + n as u64) % 3_000_000_000;
    let port = 40000 + ((seed as u32).wrapping_add(n * 13) % 20000);
    let ufrag = format!("{:08x}", seed.wrapping_mul(0x9e37_79b9) as u32);
    match n % 3 {
        0 => format!(
            "candidate:{foundation} 1 udp 2122260223 127.0.0.1 {port} typ host generation 0 \
             ufrag {ufrag} network-id 1"
        ),
        1 => format!(
            "candidate:{foundation} 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active \
             generation 0 ufrag {ufrag} network-id 1"
        ),
        _ => format!(
            "candidate:{foundation} 1 udp 41885439 127.0.0.1 {port} typ relay raddr 127.0.0.1 \
             rport {rport} generation 0 ufrag {ufrag} network-id 1",
            rport = port + 1
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn offer_is_about_4k() {
        let len = super::session_description("offer", 42).len();
        assert!((3500..4700).contains(&len), "{len}");
    }
}
