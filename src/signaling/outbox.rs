//! One connection's queue of outgoing frames: the hub pushes ([`Outbox`]), the transport
//! takes them ([`Inbox`]).
//!
//! The queue is bounded in frames and bytes; a connection that lets it fill does not read
//! fast enough and is told to close (a [`Kick`]) instead of holding memory. It is a deque
//! behind a mutex with the receiving task's waker beside it: an idle connection's queue is
//! a hundred bytes or so (a tokio channel preallocates a block of slots and keeps it).

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

/// Frames queued for one connection before it counts as a slow consumer.
/// A burst into one recipient (say eight people joining a mesh at once, each sending an
/// offer and tens of candidates) stays well below this.
pub const OUTBOX_CAPACITY: usize = 1024;
/// Bytes queued for one connection before it counts as a slow consumer: with frames of up
/// to 64 KiB, counting frames alone would not bound memory.
pub const OUTBOX_MAX_BYTES: usize = 1 << 20;

/// Why the hub wants a connection's transport closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kick {
    /// It does not read its frames fast enough.
    Overflow,
    /// Its session was resumed on another node.
    Moved,
}

struct Queue {
    frames: VecDeque<String>,
    bytes: usize,
    /// Live [`Outbox`] handles: with none left, nothing more can arrive.
    senders: usize,
    kick: Option<Kick>,
    /// The task waiting in [`Inbox::recv`].
    frame_waker: Option<Waker>,
    /// The task waiting in [`Inbox::kicked`].
    kick_waker: Option<Waker>,
}

struct Shared(Mutex<Queue>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Nothing panics while holding it; a poisoned queue is still consistent.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The sending half of one connection's outgoing queue.
pub struct Outbox(Arc<Shared>);

/// The receiving half, owned by the transport.
pub struct Inbox(Arc<Shared>);

/// A bounded queue of outgoing frames for one connection.
pub fn outbox() -> (Outbox, Inbox) {
    let shared = Arc::new(Shared(Mutex::new(Queue {
        frames: VecDeque::new(),
        bytes: 0,
        senders: 1,
        kick: None,
        frame_waker: None,
        kick_waker: None,
    })));
    (Outbox(shared.clone()), Inbox(shared))
}

impl Outbox {
    /// Queue a frame; a full queue (frames or bytes) marks the connection as too slow.
    pub fn push(&self, frame: String) {
        let waker = {
            let mut q = self.0.lock();
            if q.kick.is_some() {
                return;
            }
            if q.frames.len() >= OUTBOX_CAPACITY || q.bytes + frame.len() > OUTBOX_MAX_BYTES {
                q.kick = Some(Kick::Overflow);
                q.kick_waker.take()
            } else {
                q.bytes += frame.len();
                q.frames.push_back(frame);
                q.frame_waker.take()
            }
        };
        // Woken outside the lock, so the woken task does not meet it held.
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Tell the transport to close the connection.
    pub fn kick(&self, why: Kick) {
        let waker = {
            let mut q = self.0.lock();
            q.kick.get_or_insert(why);
            q.kick_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl Clone for Outbox {
    fn clone(&self) -> Outbox {
        self.0.lock().senders += 1;
        Outbox(self.0.clone())
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        let waker = {
            let mut q = self.0.lock();
            q.senders -= 1;
            if q.senders == 0 {
                q.frame_waker.take()
            } else {
                None
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl Inbox {
    /// The next frame to send; `None` once the queue is empty and every sender is gone.
    /// Cancel-safe.
    pub async fn recv(&mut self) -> Option<String> {
        poll_fn(|cx| {
            let mut q = self.0.lock();
            if let Some(frame) = take(&mut q) {
                return Poll::Ready(Some(frame));
            }
            if q.senders == 0 {
                return Poll::Ready(None);
            }
            if !q
                .frame_waker
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                q.frame_waker = Some(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    /// The next frame if one is queued already.
    pub fn try_recv(&mut self) -> Option<String> {
        take(&mut self.0.lock())
    }

    /// Resolves when the transport must close the connection, with the reason.
    pub fn kicked(&self) -> impl Future<Output = Kick> + Send + 'static {
        let shared = self.0.clone();
        poll_fn(move |cx| {
            let mut q = shared.lock();
            if let Some(why) = q.kick {
                return Poll::Ready(why);
            }
            if !q
                .kick_waker
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                q.kick_waker = Some(cx.waker().clone());
            }
            Poll::Pending
        })
    }
}

fn take(q: &mut Queue) -> Option<String> {
    let frame = q.frames.pop_front()?;
    q.bytes -= frame.len();
    if q.frames.is_empty() && q.frames.capacity() > 16 {
        // A burst is over: give its memory back.
        q.frames = VecDeque::new();
    }
    Some(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_arrive_in_order_and_end_with_the_last_sender() {
        let (tx, mut rx) = outbox();
        let tx2 = tx.clone();
        tx.push("a".into());
        tx2.push("b".into());
        assert_eq!(rx.recv().await.as_deref(), Some("a"));
        assert_eq!(rx.try_recv().as_deref(), Some("b"));
        assert_eq!(rx.try_recv(), None);
        let waiting = tokio::spawn(async move { rx.recv().await });
        tokio::task::yield_now().await;
        drop(tx);
        tx2.push("c".into());
        assert_eq!(waiting.await.unwrap().as_deref(), Some("c"));
        drop(tx2);
    }

    #[tokio::test]
    async fn recv_ends_when_every_sender_is_gone() {
        let (tx, mut rx) = outbox();
        let waiting = tokio::spawn(async move { rx.recv().await });
        tokio::task::yield_now().await;
        drop(tx);
        assert_eq!(waiting.await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_full_queue_kicks_instead_of_growing() {
        let (tx, mut rx) = outbox();
        let kicked = rx.kicked();
        for i in 0..OUTBOX_CAPACITY {
            tx.push(i.to_string());
        }
        tx.push("one too many".into());
        assert_eq!(kicked.await, Kick::Overflow);
        // What was queued before stays readable; nothing after the kick is queued.
        tx.push("late".into());
        let mut n = 0;
        while rx.try_recv().is_some() {
            n += 1;
        }
        assert_eq!(n, OUTBOX_CAPACITY);

        let (tx, rx) = outbox();
        tx.push("x".repeat(OUTBOX_MAX_BYTES - 10));
        tx.push("y".repeat(11));
        assert_eq!(rx.kicked().await, Kick::Overflow);
    }

    #[tokio::test]
    async fn kick_wakes_the_waiting_transport() {
        let (tx, rx) = outbox();
        let waiting = tokio::spawn(rx.kicked());
        tokio::task::yield_now().await;
        tx.kick(Kick::Moved);
        assert_eq!(waiting.await.unwrap(), Kick::Moved);
    }
}
