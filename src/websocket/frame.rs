//! WebSocket framing for the server side of RFC 6455, without I/O: [`FrameReader`] turns the
//! bytes a client sent into messages, [`FrameWriter`] encodes the server's frames.
//!
//! Why not a general WebSocket library: signaling connections are many, mostly idle, and
//! carry small text frames. A reader that holds no buffer between messages (the bytes of a
//! frame are kept only until the frame is complete) and a writer whose buffer lives only
//! until it is written keep an idle connection to a few hundred bytes, and reading whatever
//! the socket holds at once costs one system call for a burst of frames.

use thiserror::Error;

use super::close_code;

/// Why the client's bytes cannot be read further; the connection closes with [`Self::close_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FrameError {
    #[error("protocol error: {0}")]
    Protocol(&'static str),
    #[error("frame or message larger than the limit")]
    TooBig,
    #[error("text frame is not valid UTF-8")]
    NotUtf8,
}

impl FrameError {
    /// The close code RFC 6455 §7.4.1 gives this error.
    pub fn close_code(self) -> u16 {
        match self {
            FrameError::Protocol(_) => close_code::PROTOCOL_ERROR,
            FrameError::TooBig => close_code::TOO_BIG,
            FrameError::NotUtf8 => close_code::INVALID_DATA,
        }
    }
}

/// One message from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    Text(&'a str),
    /// A binary message (its content is not kept: the protocol has none).
    Binary,
    Ping(&'a [u8]),
    Pong,
    /// The client closes, with its status code if it gave one.
    Close(Option<u16>),
}

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// The most reserved ahead for an incomplete frame.
const RESERVE_AHEAD: usize = 16 * 1024;

/// Control frames carry at most this much (RFC 6455 §5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;

/// A parsed frame header.
struct Header {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    /// Bytes of header before the payload.
    header_len: usize,
    payload_len: usize,
}

/// Parses the header at the start of `buf`: `Ok(None)` if more bytes are needed.
fn parse_header(buf: &[u8], max_payload: usize) -> Result<Option<Header>, FrameError> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err(FrameError::Protocol(
            "reserved bits set (no extension was agreed)",
        ));
    }
    if b1 & 0x80 == 0 {
        return Err(FrameError::Protocol("client frames must be masked"));
    }
    let fin = b0 & 0x80 != 0;
    let opcode = b0 & 0x0F;
    let (len, len_bytes) = match b1 & 0x7F {
        126 => {
            let Some(b) = buf.get(2..4) else {
                return Ok(None);
            };
            (u64::from(u16::from_be_bytes([b[0], b[1]])), 2)
        }
        127 => {
            let Some(b) = buf.get(2..10) else {
                return Ok(None);
            };
            let mut be = [0u8; 8];
            be.copy_from_slice(b);
            (u64::from_be_bytes(be), 8)
        }
        n => (u64::from(n), 0),
    };
    let is_control = opcode & 0x8 != 0;
    match opcode {
        OP_CONTINUATION | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG => {}
        _ => return Err(FrameError::Protocol("unknown opcode")),
    }
    if is_control && (!fin || len > MAX_CONTROL_PAYLOAD as u64) {
        return Err(FrameError::Protocol(
            "control frames must be whole and at most 125 bytes",
        ));
    }
    if len > max_payload as u64 {
        return Err(FrameError::TooBig);
    }
    let mask_at = 2 + len_bytes;
    let Some(m) = buf.get(mask_at..mask_at + 4) else {
        return Ok(None);
    };
    Ok(Some(Header {
        fin,
        opcode,
        mask: [m[0], m[1], m[2], m[3]],
        header_len: mask_at + 4,
        // Bounded by `max_payload` above, so it fits.
        payload_len: len as usize,
    }))
}

/// XOR `payload` with the client's masking key (RFC 6455 §5.3), eight bytes at a time.
fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = payload.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    // The remainder starts at a multiple of 8, so the key lines up again at index 0.
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}

/// Reassembles client messages from the bytes read off the socket.
///
/// Bytes are kept only while a frame is incomplete; once everything buffered has been
/// consumed the buffer is released, so an idle connection holds none.
#[derive(Debug)]
pub struct FrameReader {
    buf: Vec<u8>,
    /// Start of the first unconsumed byte in `buf`.
    pos: usize,
    /// The payload of a fragmented text message so far; `None` when not in one.
    fragments: Option<Fragments>,
    /// The last message returned came from `fragments`: clear them on the next call.
    fragments_done: bool,
    max_message: usize,
}

/// Where the next message is: a payload range in `buf`, or the reassembled fragments.
enum Found {
    Text(std::ops::Range<usize>),
    Binary,
    Reassembled,
    Ping(std::ops::Range<usize>),
    Pong,
    Close(std::ops::Range<usize>),
}

#[derive(Debug)]
struct Fragments {
    text: bool,
    payload: Vec<u8>,
}

impl FrameReader {
    /// A reader that refuses frames and messages over `max_message` bytes of payload.
    pub fn new(max_message: usize) -> FrameReader {
        FrameReader {
            buf: Vec::new(),
            pos: 0,
            fragments: None,
            fragments_done: false,
            max_message,
        }
    }

    /// Add bytes read from the socket.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held: an incomplete frame or message.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos + self.fragments.as_ref().map_or(0, |f| f.payload.len())
    }

    /// The next complete message, `Ok(None)` when the bytes so far hold none (read more).
    /// After an error the connection must close; the reader is not usable any more.
    pub fn next_message(&mut self) -> Result<Option<Incoming<'_>>, FrameError> {
        if self.fragments_done {
            self.fragments_done = false;
            self.fragments = None;
        }
        let Some(found) = self.next_frame()? else {
            return Ok(None);
        };
        let utf8 = |bytes| std::str::from_utf8(bytes).map_err(|_| FrameError::NotUtf8);
        Ok(Some(match found {
            Found::Text(range) => Incoming::Text(utf8(&self.buf[range])?),
            Found::Binary => Incoming::Binary,
            Found::Reassembled => match &self.fragments {
                Some(f) if f.text => Incoming::Text(utf8(&f.payload)?),
                _ => Incoming::Binary,
            },
            Found::Ping(range) => Incoming::Ping(&self.buf[range]),
            Found::Pong => Incoming::Pong,
            Found::Close(range) => close_frame(&self.buf[range])?,
        }))
    }

    /// Consume frames up to the next complete message and say where it is.
    fn next_frame(&mut self) -> Result<Option<Found>, FrameError> {
        loop {
            let Some(header) = parse_header(&self.buf[self.pos..], self.max_message)? else {
                self.release_consumed();
                return Ok(None);
            };
            let start = self.pos + header.header_len;
            let end = start + header.payload_len;
            if end > self.buf.len() {
                let frame_len = end - self.pos;
                self.release_consumed();
                // Room for the rest of the frame, but not more than a read brings at once:
                // a client that announces 64 KiB and sends nothing more does not get
                // 64 KiB reserved for it.
                self.buf
                    .reserve((frame_len - self.buf.len()).min(RESERVE_AHEAD));
                return Ok(None);
            }
            self.pos = end;
            unmask(&mut self.buf[start..end], header.mask);
            let in_message = self.fragments.is_some();
            match header.opcode {
                OP_TEXT | OP_BINARY if in_message => {
                    return Err(FrameError::Protocol("new message inside a fragmented one"));
                }
                OP_TEXT if header.fin => return Ok(Some(Found::Text(start..end))),
                OP_BINARY if header.fin => return Ok(Some(Found::Binary)),
                OP_TEXT | OP_BINARY => {
                    self.fragments = Some(Fragments {
                        text: header.opcode == OP_TEXT,
                        payload: self.buf[start..end].to_vec(),
                    });
                }
                OP_CONTINUATION => {
                    let Some(fragments) = self.fragments.as_mut() else {
                        return Err(FrameError::Protocol("continuation without a message"));
                    };
                    if fragments.payload.len() + header.payload_len > self.max_message {
                        return Err(FrameError::TooBig);
                    }
                    fragments.payload.extend_from_slice(&self.buf[start..end]);
                    if header.fin {
                        self.fragments_done = true;
                        return Ok(Some(Found::Reassembled));
                    }
                }
                OP_PING => return Ok(Some(Found::Ping(start..end))),
                OP_PONG => return Ok(Some(Found::Pong)),
                OP_CLOSE => return Ok(Some(Found::Close(start..end))),
                _ => return Err(FrameError::Protocol("unknown opcode")),
            }
        }
    }

    /// Drop the bytes already consumed; free the buffer when nothing is left in it.
    fn release_consumed(&mut self) {
        if self.pos == self.buf.len() {
            self.buf = Vec::new();
        } else if self.pos > 0 {
            self.buf.drain(..self.pos);
        }
        self.pos = 0;
    }
}

/// A close frame's status code; its reason must be UTF-8 (RFC 6455 §5.5.1).
fn close_frame(payload: &[u8]) -> Result<Incoming<'static>, FrameError> {
    match payload {
        [] => Ok(Incoming::Close(None)),
        [_] => Err(FrameError::Protocol("close frame with a one-byte body")),
        [hi, lo, reason @ ..] => {
            std::str::from_utf8(reason).map_err(|_| FrameError::NotUtf8)?;
            Ok(Incoming::Close(Some(u16::from_be_bytes([*hi, *lo]))))
        }
    }
}

/// Encodes the server's frames (unmasked, RFC 6455 §5.1) into one buffer, written at once.
#[derive(Debug, Default)]
pub struct FrameWriter {
    buf: Vec<u8>,
}

impl FrameWriter {
    pub fn text(&mut self, text: &str) {
        self.frame(OP_TEXT, text.as_bytes());
    }

    pub fn ping(&mut self) {
        self.frame(OP_PING, &[]);
    }

    /// The answer to a ping, with its payload (at most 125 bytes, as the reader checked).
    pub fn pong(&mut self, payload: &[u8]) {
        self.frame(OP_PONG, payload);
    }

    /// A close frame; the reason is cut to fit a control frame.
    pub fn close(&mut self, code: u16, reason: &str) {
        let mut cut = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut payload = Vec::with_capacity(2 + cut);
        payload.extend_from_slice(&code.to_be_bytes());
        payload.extend_from_slice(&reason.as_bytes()[..cut]);
        self.frame(OP_CLOSE, &payload);
    }

    fn frame(&mut self, opcode: u8, payload: &[u8]) {
        let len = payload.len();
        self.buf.reserve(10 + len);
        self.buf.push(0x80 | opcode);
        if len < 126 {
            self.buf.push(len as u8);
        } else if let Ok(len) = u16::try_from(len) {
            self.buf.push(126);
            self.buf.extend_from_slice(&len.to_be_bytes());
        } else {
            self.buf.push(127);
            self.buf.extend_from_slice(&(len as u64).to_be_bytes());
        }
        self.buf.extend_from_slice(payload);
    }

    /// Bytes encoded and not yet taken.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Forget what was encoded (it was written), and free the buffer.
    pub fn clear(&mut self) {
        self.buf = Vec::new();
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 64 * 1024;

    /// A client frame as a browser sends it: masked.
    fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
        let len = payload.len();
        if len < 126 {
            out.push(0x80 | len as u8);
        } else if len <= 0xFFFF {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    fn texts(reader: &mut FrameReader) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(m) = reader.next_message().unwrap() {
            match m {
                Incoming::Text(t) => out.push(t.to_owned()),
                other => out.push(format!("{other:?}")),
            }
        }
        out
    }

    #[test]
    fn reads_several_frames_from_one_read() {
        let mut r = FrameReader::new(MAX);
        let mut bytes = client_frame(true, OP_TEXT, b"hello");
        bytes.extend(client_frame(
            true,
            OP_TEXT,
            "h\u{e9}llo w\u{f6}rld, a longer one".as_bytes(),
        ));
        r.extend(&bytes);
        assert_eq!(
            texts(&mut r),
            ["hello", "h\u{e9}llo w\u{f6}rld, a longer one"]
        );
        assert_eq!(r.buffered(), 0);
        assert_eq!(r.buf.capacity(), 0, "an idle reader holds no buffer");
    }

    #[test]
    fn reads_a_frame_split_at_every_byte() {
        let payload = "x".repeat(70_000 - 65_536 + 300); // 16-bit length
        let big = "y".repeat(MAX); // 64-bit length
        for text in [payload.as_str(), big.as_str(), "short"] {
            let bytes = client_frame(true, OP_TEXT, text.as_bytes());
            let mut r = FrameReader::new(MAX);
            let mut got = Vec::new();
            for (i, b) in bytes.iter().enumerate() {
                r.extend(&[*b]);
                got.extend(texts(&mut r));
                if i + 1 < bytes.len() {
                    assert!(got.is_empty(), "message complete too early at byte {i}");
                }
            }
            assert_eq!(got, [text]);
        }
    }

    #[test]
    fn reassembles_fragments_with_control_frames_between() {
        let mut r = FrameReader::new(MAX);
        let mut bytes = client_frame(false, OP_TEXT, b"one ");
        bytes.extend(client_frame(true, OP_PING, b"p"));
        bytes.extend(client_frame(false, OP_CONTINUATION, b"two "));
        bytes.extend(client_frame(true, OP_CONTINUATION, b"three"));
        bytes.extend(client_frame(true, OP_TEXT, b"next"));
        r.extend(&bytes);
        assert_eq!(texts(&mut r), ["Ping([112])", "one two three", "next"]);
    }

    #[test]
    fn control_frames() {
        let mut r = FrameReader::new(MAX);
        let mut bytes = client_frame(true, OP_PONG, b"");
        bytes.extend(client_frame(true, OP_BINARY, &[1, 2, 3]));
        let mut close = 1000u16.to_be_bytes().to_vec();
        close.extend_from_slice(b"bye");
        bytes.extend(client_frame(true, OP_CLOSE, &close));
        r.extend(&bytes);
        assert_eq!(r.next_message(), Ok(Some(Incoming::Pong)));
        assert_eq!(r.next_message(), Ok(Some(Incoming::Binary)));
        assert_eq!(r.next_message(), Ok(Some(Incoming::Close(Some(1000)))));
        assert_eq!(r.next_message(), Ok(None));
        let mut r = FrameReader::new(MAX);
        r.extend(&client_frame(true, OP_CLOSE, b""));
        assert_eq!(r.next_message(), Ok(Some(Incoming::Close(None))));
    }

    fn first_error(bytes: &[u8]) -> FrameError {
        let mut r = FrameReader::new(MAX);
        r.extend(bytes);
        loop {
            match r.next_message() {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("no error for {bytes:?}"),
                Err(e) => return e,
            }
        }
    }

    #[test]
    fn refuses_what_rfc_6455_forbids() {
        let protocol = |e: FrameError| matches!(e, FrameError::Protocol(_));
        // Unmasked.
        assert!(protocol(first_error(&[0x81, 0x02, b'h', b'i'])));
        // Reserved bit (compression was never agreed).
        let mut rsv = client_frame(true, OP_TEXT, b"hi");
        rsv[0] |= 0x40;
        assert!(protocol(first_error(&rsv)));
        // Unknown opcode.
        assert!(protocol(first_error(&client_frame(true, 0x3, b""))));
        // Fragmented or long control frames.
        assert!(protocol(first_error(&client_frame(false, OP_PING, b""))));
        assert!(protocol(first_error(&client_frame(
            true, OP_PING, &[0; 126]
        ))));
        // Continuation out of nowhere; a new message inside a fragmented one.
        assert!(protocol(first_error(&client_frame(
            true,
            OP_CONTINUATION,
            b"x"
        ))));
        let mut twice = client_frame(false, OP_TEXT, b"a");
        twice.extend(client_frame(true, OP_TEXT, b"b"));
        assert!(protocol(first_error(&twice)));
        // A one-byte close body.
        assert!(protocol(first_error(&client_frame(true, OP_CLOSE, &[3]))));
        // Not UTF-8, whole or across fragments.
        assert_eq!(
            first_error(&client_frame(true, OP_TEXT, &[0xff, 0xfe])),
            FrameError::NotUtf8
        );
        let mut split = client_frame(false, OP_TEXT, &[0xc3]);
        split.extend(client_frame(true, OP_CONTINUATION, &[0x28]));
        assert_eq!(first_error(&split), FrameError::NotUtf8);
        assert_eq!(FrameError::NotUtf8.close_code(), 1007);
        assert_eq!(FrameError::Protocol("x").close_code(), 1002);
    }

    #[test]
    fn an_announced_frame_does_not_reserve_its_whole_length() {
        let mut r = FrameReader::new(MAX);
        let frame = client_frame(true, OP_TEXT, &vec![b'a'; MAX]);
        r.extend(&frame[..14]);
        assert_eq!(r.next_message(), Ok(None));
        assert!(
            r.buf.capacity() <= 14 + RESERVE_AHEAD,
            "{}",
            r.buf.capacity()
        );
        r.extend(&frame[14..]);
        assert!(matches!(r.next_message(), Ok(Some(Incoming::Text(t))) if t.len() == MAX));
    }

    #[test]
    fn refuses_oversize_before_buffering_it() {
        let mut r = FrameReader::new(MAX);
        // Only the header of a frame announcing 1 MiB: refused without waiting for the body.
        let header = client_frame(true, OP_TEXT, &vec![b'a'; MAX + 1]);
        r.extend(&header[..14]);
        assert_eq!(r.next_message(), Err(FrameError::TooBig));
        // A 64-bit length with the top bit set.
        let mut r = FrameReader::new(MAX);
        r.extend(&[0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
        assert_eq!(r.next_message(), Err(FrameError::TooBig));
        // Fragments that add up to more than the limit.
        let half = vec![b'a'; MAX / 2 + 1];
        let mut bytes = client_frame(false, OP_TEXT, &half);
        bytes.extend(client_frame(true, OP_CONTINUATION, &half));
        assert_eq!(first_error(&bytes), FrameError::TooBig);
        assert_eq!(FrameError::TooBig.close_code(), 1009);
    }

    #[test]
    fn unmask_matches_the_bytewise_rule() {
        let mask = [1, 2, 3, 250];
        for len in 0..40 {
            let original: Vec<u8> = (0..len as u8).map(|b| b.wrapping_mul(37)).collect();
            let mut fast = original.clone();
            unmask(&mut fast, mask);
            let slow: Vec<u8> = original
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ mask[i % 4])
                .collect();
            assert_eq!(fast, slow, "length {len}");
        }
    }

    #[test]
    fn writer_encodes_unmasked_frames_of_every_length_form() {
        for len in [0usize, 125, 126, 65_535, 65_536] {
            let text = "z".repeat(len);
            let mut w = FrameWriter::default();
            w.text(&text);
            let b = w.pending();
            assert_eq!(b[0], 0x81);
            let (n, at) = match b[1] {
                126 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
                127 => (
                    u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize,
                    10,
                ),
                n => (n as usize, 2),
            };
            assert_eq!(n, len);
            assert_eq!(&b[at..], text.as_bytes());
            w.clear();
            assert!(w.is_empty());
        }
        let mut w = FrameWriter::default();
        w.close(4000, &"\u{e9}".repeat(100));
        let b = w.pending();
        assert_eq!(b[0], 0x88);
        assert!(b[1] as usize <= 125);
        assert_eq!(&b[2..4], &4000u16.to_be_bytes());
        assert!(
            std::str::from_utf8(&b[4..]).is_ok(),
            "reason cut on a character boundary"
        );
    }
}
