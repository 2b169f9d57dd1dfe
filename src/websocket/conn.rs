//! A server-side WebSocket connection over any byte stream (TCP, TLS, an HTTP upgrade).

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::frame::{FrameReader, FrameWriter};

/// The most read from the socket at once: a burst of frames (or a large offer) in one
/// system call.
const READ_CHUNK: usize = 16 * 1024;

thread_local! {
    /// Every connection on a thread reads into this one buffer and keeps only what it
    /// could not use yet, so idle connections hold no read buffer.
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_CHUNK].into_boxed_slice());
}

/// A WebSocket connection: the stream, the reader of the client's frames and the encoder of
/// the server's. Fields are public so that a message borrowed from `reader` can be handled
/// while `writer` queues the answer.
pub struct WsConn<T> {
    io: T,
    pub reader: FrameReader,
    pub writer: FrameWriter,
}

impl<T: AsyncRead + AsyncWrite + Unpin> WsConn<T> {
    /// A connection whose client messages may carry up to `max_message` bytes.
    pub fn new(io: T, max_message: usize) -> WsConn<T> {
        WsConn {
            io,
            reader: FrameReader::new(max_message),
            writer: FrameWriter::default(),
        }
    }

    /// Wait for bytes from the client and hand them to the reader; `Ok(0)` when the client
    /// closed the stream. Cancel-safe: bytes are taken only when the read completes.
    pub async fn read_more(&mut self) -> io::Result<usize> {
        poll_fn(|cx| {
            SCRATCH.with_borrow_mut(|scratch| {
                let mut buf = ReadBuf::new(scratch);
                ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf))?;
                self.reader.extend(buf.filled());
                Poll::Ready(Ok(buf.filled().len()))
            })
        })
        .await
    }

    /// Write every frame encoded so far (one system call when the socket takes it all).
    pub async fn flush(&mut self) -> io::Result<()> {
        self.io.write_all(self.writer.pending()).await?;
        self.writer.clear();
        self.io.flush().await
    }

    /// Close the stream after the last frame was written.
    pub async fn shutdown(&mut self) -> io::Result<()> {
        self.io.shutdown().await
    }
}
