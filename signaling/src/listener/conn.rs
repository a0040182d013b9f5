//! One accepted connection, as the HTTP server and later a WebSocket read and write it.
//!
//! It holds its per-address slot for as long as it lives, through an upgrade to a WebSocket
//! too, which takes the stream over. And it does not let a client that reads nothing hold a
//! writer for ever: a write that makes no progress for [`WRITE_STALL`] fails, and so does
//! every read and write once the connection is killed (the signaling layer kills the
//! connection of a client that fell behind, whose messages can no longer be queued).
//! Without that, a WebSocket whose client stopped reading kept its writer blocked on a full
//! socket, and the session it carried was never closed: its member stayed in the room.

use super::per_ip::Slot;
use futures_util::task::AtomicWaker;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

/// How long a write may wait for the client to take data before the connection is given up.
pub const WRITE_STALL: Duration = Duration::from_secs(10);

/// Ends a connection from outside: every read and write fails from then on. Requests carry it
/// in their extensions, so that whoever serves the connection can end it.
#[derive(Clone, Default)]
pub struct Kill(Arc<KillState>);

#[derive(Default)]
struct KillState {
    killed: AtomicBool,
    reader: AtomicWaker,
    writer: AtomicWaker,
}

impl Kill {
    /// Ends the connection, waking whoever waits on it.
    pub fn kill(&self) {
        self.0.killed.store(true, Ordering::Release);
        self.0.reader.wake();
        self.0.writer.wake();
    }

    fn killed(&self) -> bool {
        self.0.killed.load(Ordering::Acquire)
    }
}

/// An accepted connection with its slot, its write-stall timer and its kill switch.
pub(super) struct Conn {
    stream: TcpStream,
    _slot: Slot,
    kill: Kill,
    /// Armed while a write waits; allocated only then.
    stall: Option<Pin<Box<Sleep>>>,
}

impl Conn {
    pub(super) fn new(stream: TcpStream, slot: Slot, kill: Kill) -> Conn {
        Conn {
            stream,
            _slot: slot,
            kill,
            stall: None,
        }
    }

    /// Turns a write's `Pending` into an error once it has lasted [`WRITE_STALL`], or once the
    /// connection is killed; a write that goes through disarms the timer.
    fn write_outcome<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if polled.is_ready() {
            self.stall = None;
            return polled;
        }
        self.kill.0.writer.register(cx.waker());
        if self.kill.killed() {
            return Poll::Ready(Err(killed()));
        }
        let stall = self
            .stall
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(WRITE_STALL)));
        ready!(stall.as_mut().poll(cx));
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client took no data for too long",
        )))
    }
}

fn killed() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection ended by the server",
    )
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.kill.killed() {
            return Poll::Ready(Err(killed()));
        }
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if polled.is_pending() {
            self.kill.0.reader.register(cx.waker());
            if self.kill.killed() {
                return Poll::Ready(Err(killed()));
            }
        }
        polled
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.kill.killed() {
            return Poll::Ready(Err(killed()));
        }
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.write_outcome(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.kill.killed() {
            return Poll::Ready(Err(killed()));
        }
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.write_outcome(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
