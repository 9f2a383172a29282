//! One client connection's task: a thin loop that moves bytes between the socket
//! and the connection's protocol state ([`state::Connection`]) and waits on its
//! timers. Every decision is made in the state machine.
//!
//! One task does the reading, the bookkeeping and the writing. Handlers append
//! their answers to the connection's outbox themselves; the task takes everything
//! waiting before each write, so pipelined answers share system calls.

mod dispatch;
mod routes;
mod state;
mod wakes;

use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use futures_util::StreamExt;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::time::Instant;
use tokio_util::codec::{Decoder, FramedRead};
use tracing::Instrument;

use state::Connection;
use wakes::{Source, Wakes};

use super::hub::ConnectionId;
use super::outbox::Outbox;
use super::stats::{Counters, Traffic};
use super::ListenerShared;
use crate::ipc::protocol::{Frame, FrameCodec, FrameError};
use crate::ipc::serving::admission::TokenBucket;
use crate::ipc::serving::intake::MAX_DEADLINE;
use crate::message::PeerCredentials;

/// Unsent bytes above which the connection stops reading requests until the
/// peer has read some (so a client that never reads cannot make the server
/// produce without bound).
const READ_HIGH_WATER: usize = 256 * 1024;

/// How often a connection whose peer closed its side checks whether the peer
/// is gone altogether (then its requests are abandoned at once).
const PEER_CHECK: Duration = Duration::from_secs(1);

/// Serves one accepted connection until the peer leaves, the connection idles out,
/// a frame breaks the protocol, or the listener shuts down.
pub(crate) async fn serve(
    stream: UnixStream,
    id: ConnectionId,
    peer: PeerCredentials,
    uid_limiter: Option<Arc<std::sync::Mutex<TokenBucket>>>,
    shared: Arc<ListenerShared>,
) {
    let span = tracing::debug_span!(
        "ipc.connection",
        connection = id,
        peer_uid = peer.uid,
        peer_pid = peer.pid,
        peer_gid = peer.gid,
    );
    let outbox = Arc::new(Outbox::new(shared.options.max_outbound_bytes));
    let traffic = shared.counters.open_traffic();
    let connection = Connection::new(
        id,
        peer,
        Arc::clone(&shared),
        Arc::clone(&outbox),
        Arc::clone(traffic.traffic()),
        uid_limiter,
        span.clone(),
    );
    // Whatever way the task ends (even a panic), the connection is closed.
    let mut connection = CloseOnDrop(connection);
    run(
        stream,
        &mut connection.0,
        &outbox,
        &shared,
        traffic.traffic(),
        &span,
    )
    .instrument(span.clone())
    .await;
}

/// Closes the connection's state when dropped: on return and on unwind.
struct CloseOnDrop(Connection);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// What woke the connection's loop (see [`wakes`]).
enum Event {
    /// The drain time is over.
    Cut,
    /// The listener stops reading.
    Stop,
    /// Something was appended to the outbox.
    Outbox,
    /// The earliest deadline of the requests in flight may have come.
    Deadline,
    /// The request parked on a full mailbox got room, or gave up.
    Room(crate::ipc::serving::intake::WaitOutcome),
    /// A frame, a bad frame, or the end of the peer's side.
    Frame(Option<Result<Frame, FrameError>>),
    /// A write of the waiting bytes finished.
    Written(std::io::Result<usize>),
    /// The write timer: waiting bytes may have stalled.
    Stalled,
    /// Time to check whether a peer that closed its side is gone.
    PeerCheck,
    /// The idle timer.
    Idle,
    /// A frame begun has not arrived whole in time.
    FrameTimeout,
}

async fn run(
    stream: UnixStream,
    connection: &mut Connection,
    outbox: &Outbox,
    shared: &ListenerShared,
    traffic: &Traffic,
    span: &tracing::Span,
) {
    let (read, mut write) = stream.into_split();
    let mut frames = FramedRead::new(read, FrameCodec::new(shared.options.max_frame_size));
    // Empty until the first answer: `Outbox::take` hands over the outbox's own
    // buffer, so an idle connection holds no write buffer of its own.
    let mut out = BytesMut::new();
    let mut ended = Vec::new();

    let idle_after = shared.config.connection_timeout;
    let write_timeout = shared.options.write_timeout;
    let mut last_activity = Instant::now();
    let mut last_write = Instant::now();
    let mut idle = std::pin::pin!(tokio::time::sleep(clamp(idle_after)));
    let frame_timeout = shared.options.frame_read_timeout;
    let mut frame_timer = std::pin::pin!(tokio::time::sleep(Duration::ZERO));
    let mut frame_timer_armed = false;
    // The frame whose first bytes wait for the rest (by its number), and since
    // when the loop has seen them. The timer is reset only when it fires (a
    // reset costs more than a request), to this frame's due time.
    let mut partial_frame: Option<(u64, Instant)> = None;
    let mut stalled = std::pin::pin!(tokio::time::sleep(clamp(write_timeout)));
    let mut peer_check = std::pin::pin!(tokio::time::sleep(PEER_CHECK));
    let mut stopping = std::pin::pin!(shared.stop_reading.wait());
    let mut cut = std::pin::pin!(shared.cut.wait());
    // Armed at or before the earliest deadline of the requests in flight. It is
    // moved only to an earlier time: with every request given the same timeout
    // (the usual case) it is set once per timeout period, not once per request;
    // when it fires early (those requests were answered), the connection finds
    // the next deadline and it is armed again.
    let mut deadline_timer = std::pin::pin!(tokio::time::sleep(Duration::ZERO));
    let mut armed: Option<Instant> = None;
    let mut wakes = Wakes::new();
    let mut reading = true;
    // The peer closed its side (or reading failed): it may be gone altogether.
    let mut peer_closed = false;
    let mut cut_done = false;

    loop {
        connection.resume();
        if !reading && connection.is_done() && out.is_empty() && outbox.is_empty() {
            break;
        }
        let unsent = outbox.unsent();
        let may_read = reading && unsent < READ_HIGH_WATER && !connection.is_parked();
        let may_idle = reading
            && !idle_after.is_zero()
            && connection.is_quiet()
            && unsent == 0
            && out.is_empty();
        if let Some(next) = connection.next_deadline() {
            if armed.is_none_or(|armed| next < armed) {
                deadline_timer.as_mut().reset(next);
                wakes.mark(Source::DEADLINE);
                armed = Some(next);
            }
        }
        let parked_on_mailbox = connection.parked.is_some();
        if parked_on_mailbox {
            // Marked on every turn while parked (rare, and cheap): any frame served
            // may have parked a new wait, a new future.
            wakes.mark(Source::ROOM);
        }
        let writing = !out.is_empty();
        let checking_peer = peer_closed && !writing && !connection.is_done();
        let was_empty = !writing;
        // In priority order; only the sources that woke the task are polled.
        let event = std::future::poll_fn(|cx| {
            wakes.begin(cx);
            if wakes
                .poll(Source::CUT, !cut_done, |cx| cut.as_mut().poll(cx))
                .is_some()
            {
                return Poll::Ready(Event::Cut);
            }
            if wakes
                .poll(Source::STOP, reading, |cx| stopping.as_mut().poll(cx))
                .is_some()
            {
                return Poll::Ready(Event::Stop);
            }
            if wakes
                .poll(Source::OUTBOX, true, |cx| outbox.poll_ready(cx))
                .is_some()
            {
                return Poll::Ready(Event::Outbox);
            }
            let deadline_armed = armed.is_some();
            if wakes
                .poll(Source::DEADLINE, deadline_armed, |cx| {
                    deadline_timer.as_mut().poll(cx)
                })
                .is_some()
            {
                return Poll::Ready(Event::Deadline);
            }
            if let Some(outcome) = wakes.poll(Source::ROOM, parked_on_mailbox, |cx| {
                connection.poll_room(cx)
            }) {
                return Poll::Ready(Event::Room(outcome));
            }
            if let Some(frame) = wakes.poll(Source::READ, may_read, |cx| frames.poll_next_unpin(cx))
            {
                return Poll::Ready(Event::Frame(frame));
            }
            // Bytes of a frame wait for the rest: it must come in time, whatever
            // keeps the connection from idling out.
            let partial = frames
                .decoder()
                .awaiting()
                .filter(|_| reading && !frame_timeout.is_zero() && !connection.is_parked());
            match partial {
                // Nothing waits, or a request of the connection waits for its
                // actor (that time is not the peer's to answer for; a pause
                // because the peer does not read its answers is).
                None => partial_frame = None,
                Some(frame) if partial_frame.is_none_or(|(seen, _)| seen != frame) => {
                    // Its first bytes came since the loop last looked.
                    let now = Instant::now();
                    partial_frame = Some((frame, now));
                    if !frame_timer_armed {
                        frame_timer_armed = true;
                        frame_timer.as_mut().reset(deadline(now, frame_timeout));
                        wakes.mark(Source::FRAME);
                    }
                }
                Some(_) => {}
            }
            if frame_timer_armed
                && wakes
                    .poll(Source::FRAME, true, |cx| frame_timer.as_mut().poll(cx))
                    .is_some()
            {
                return Poll::Ready(Event::FrameTimeout);
            }
            if let Some(written) = wakes.poll(Source::WRITE, writing, |cx| {
                std::pin::Pin::new(&mut write).poll_write(cx, &out)
            }) {
                return Poll::Ready(Event::Written(written));
            }
            if wakes
                .poll(Source::STALLED, writing, |cx| stalled.as_mut().poll(cx))
                .is_some()
            {
                return Poll::Ready(Event::Stalled);
            }
            if wakes
                .poll(Source::PEER_CHECK, checking_peer, |cx| {
                    peer_check.as_mut().poll(cx)
                })
                .is_some()
            {
                return Poll::Ready(Event::PeerCheck);
            }
            if wakes
                .poll(Source::IDLE, may_idle, |cx| idle.as_mut().poll(cx))
                .is_some()
            {
                return Poll::Ready(Event::Idle);
            }
            Poll::Pending
        })
        .await;
        match event {
            Event::Cut => {
                // The drain time is over: what is still in flight ends now.
                cut_done = true;
                reading = false;
                connection.cut();
            }
            Event::Stop => {
                reading = false;
                connection.shut();
                // Frames already read are answered (SHUTTING_DOWN), not lost.
                let mut codec = FrameCodec::new(shared.options.max_frame_size);
                while let Ok(Some(frame)) = codec.decode(frames.read_buffer_mut()) {
                    connection.on_frame_after_stop(&frame);
                }
            }
            Event::Outbox => {
                // Polled again next turn, so that it stays registered.
                wakes.mark(Source::OUTBOX);
                outbox.take(&mut out, &mut ended);
                connection.on_ended(&mut ended);
                let now = Instant::now();
                last_activity = now;
                if was_empty && !out.is_empty() {
                    last_write = now;
                    // A write is due. (The stall timer needs no mark: unmarked,
                    // it holds its waker, and it is marked whenever it is reset.)
                    wakes.mark(Source::WRITE);
                }
                // Most answers fit the socket at once: write now rather than on
                // the next turn of the loop.
                if !out.is_empty() {
                    match write.try_write(&out) {
                        Ok(0) => break,
                        Ok(n) => sent(traffic, outbox, &mut out, n),
                        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(_) => break,
                    }
                }
            }
            Event::Deadline => {
                armed = None;
                connection.on_deadlines(Instant::now());
            }
            Event::Room(outcome) => connection.on_room(outcome),
            Event::Frame(frame) => {
                last_activity = Instant::now();
                match frame {
                    Some(Ok(frame)) => {
                        count_received(traffic, &frame);
                        connection.on_frame(frame);
                        // Frames already read (a pipelining client's) are served
                        // now, under the same conditions as the first, without a
                        // turn of the loop each.
                        let mut codec = FrameCodec::new(shared.options.max_frame_size);
                        for _ in 1..BATCH {
                            connection.resume();
                            if connection.is_parked() || outbox.unsent() >= READ_HIGH_WATER {
                                break;
                            }
                            match codec.decode(frames.read_buffer_mut()) {
                                Ok(Some(frame)) => {
                                    count_received(traffic, &frame);
                                    connection.on_frame(frame);
                                }
                                Ok(None) => break,
                                // Left for the reader, which reports it.
                                Err(_) => break,
                            }
                        }
                    }
                    Some(Err(FrameError::Io(error))) => {
                        tracing::debug!(parent: span, %error, "read failed");
                        reading = false;
                        peer_closed = true;
                        connection.stop_reading();
                    }
                    Some(Err(error)) => {
                        connection.on_frame_error(&error);
                        reading = false;
                        connection.stop_reading();
                    }
                    // The peer closed its side; what is in flight is still answered
                    // while it can read.
                    None => {
                        reading = false;
                        peer_closed = true;
                        connection.stop_reading();
                        peer_check.as_mut().reset(Instant::now());
                        wakes.mark(Source::PEER_CHECK);
                    }
                }
            }
            Event::Written(written) => match written {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    sent(traffic, outbox, &mut out, n);
                    last_write = Instant::now();
                }
            },
            Event::Stalled => {
                let due = deadline(last_write, write_timeout);
                if Instant::now() >= due {
                    Counters::add(&shared.counters.slow_peers_closed, 1);
                    tracing::warn!(parent: span, ?write_timeout, "peer stopped reading; closing the connection");
                    break;
                }
                stalled.as_mut().reset(due);
                wakes.mark(Source::STALLED);
            }
            // A peer that closed its side may be gone: a write of nothing fails then.
            Event::PeerCheck => {
                if write.write(&[]).await.is_err() {
                    tracing::debug!(parent: span, "peer gone; abandoning its requests");
                    break;
                }
                peer_check.as_mut().reset(Instant::now() + PEER_CHECK);
                wakes.mark(Source::PEER_CHECK);
            }
            Event::FrameTimeout => {
                frame_timer_armed = false;
                let waiting = frames.decoder().awaiting();
                if let Some((_, since)) =
                    partial_frame.filter(|(frame, _)| reading && waiting == Some(*frame))
                {
                    let due = deadline(since, frame_timeout);
                    if Instant::now() >= due {
                        connection.on_frame_timeout(frame_timeout);
                        reading = false;
                        connection.stop_reading();
                    } else {
                        // Another frame began since the timer was set: its
                        // own time counts.
                        frame_timer_armed = true;
                        frame_timer.as_mut().reset(due);
                        wakes.mark(Source::FRAME);
                    }
                }
            }
            Event::Idle => {
                let due = deadline(last_activity, idle_after);
                if Instant::now() >= due {
                    tracing::debug!(parent: span, ?idle_after, "closing idle connection");
                    break;
                }
                idle.as_mut().reset(due);
                wakes.mark(Source::IDLE);
            }
        }
    }
    // Whatever is still in flight has nobody to answer to: the handlers learn it
    // from their reply envelopes (CloseOnDrop).
    let _ = write.shutdown().await;
}

/// `n` bytes of `out` reached the socket.
fn sent(traffic: &Traffic, outbox: &Outbox, out: &mut BytesMut, n: usize) {
    traffic.sent(n);
    out.advance(n);
    outbox.written(n);
}

/// At most this many frames already read are served in one turn of the loop.
const BATCH: usize = 32;

fn count_received(traffic: &Traffic, frame: &crate::ipc::protocol::Frame) {
    let header_len = if frame.version == 1 { 6 } else { 7 };
    traffic.received(header_len + frame.payload.len());
}

/// The longest wait kept (tokio takes about two years); longer means never.
fn clamp(duration: Duration) -> Duration {
    duration.min(MAX_DEADLINE)
}

/// `from + after`, saturating far in the future.
fn deadline(from: Instant, after: Duration) -> Instant {
    from.checked_add(clamp(after))
        .unwrap_or_else(|| from + MAX_DEADLINE)
}
