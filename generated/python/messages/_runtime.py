"""The client side of the acton wire protocol (v2) for asyncio.

Copied as ``_runtime.py`` into every Python package ``acton-gen`` generates; it
needs only the standard library (``msgpack``, if installed, enables MessagePack).

One :class:`Connection` carries many requests at once: each answer is matched to
its request by ``correlation_id``, in whatever order it arrives. Every way a call
can fail raises :class:`ActonError` (with the protocol's error ``code``); nothing
waits forever: a lost connection fails every pending call at once, and every call
has a deadline.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as _datetime
import itertools
import json
import os
import re
import socket as _socket_module
import struct
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, IntEnum, StrEnum
from typing import Any, ClassVar, Final, Generic, NamedTuple, Protocol, Self, TypeAlias, TypeVar

try:  # MessagePack is optional.
    import msgpack as _msgpack  # type: ignore[import-untyped, import-not-found, unused-ignore]
except ImportError:  # pragma: no cover - exercised where msgpack is absent
    _msgpack = None

__all__ = [
    "DEFAULT_BUFFER_BYTES",
    "DEFAULT_BUFFER_ITEMS",
    "DEFAULT_TIMEOUT",
    "MAX_FRAME_SIZE",
    "ActonError",
    "BufferBound",
    "Connection",
    "ConnectionClosed",
    "DeclaredError",
    "ErrorCode",
    "Format",
    "Kind",
    "Push",
    "RateLimited",
    "RequestTimeout",
    "Subscription",
    "Timeout",
    "TypedSubscription",
    "UnexpectedServer",
    "decode_frame_payload",
    "encode_frame",
    "read_frame",
]

_T = TypeVar("_T")

PROTOCOL_VERSION: Final = 0x02
HEADER: Final = struct.Struct(">IBBB")
MAX_FRAME_SIZE: Final = 16 * 1024 * 1024
"""The protocol's largest payload: the default (and the ceiling) of ``max_frame_size``."""
DEFAULT_BUFFER_ITEMS: Final = 1024
"""Items a stream or subscription buffers by default."""
DEFAULT_BUFFER_BYTES: Final = 16 * 1024 * 1024
"""Payload bytes a stream or subscription buffers by default (one larger item is
still taken when nothing else waits)."""
CONNECTION_REJECTED: Final = "__acton_connection_rejected__"


class Format(IntEnum):
    """The encoding of a frame's payload."""

    JSON = 0x01
    MSGPACK = 0x02


class Kind(IntEnum):
    """The kind of a frame."""

    REQUEST = 0x01
    RESPONSE = 0x02
    ERROR = 0x03
    HEARTBEAT = 0x04
    PUSH = 0x05
    SUBSCRIBE = 0x06
    UNSUBSCRIBE = 0x07
    DISCOVER = 0x08
    STREAM = 0x09
    SUBSCRIBE_PATTERNS = 0x0A
    UNSUBSCRIBE_PATTERNS = 0x0B
    CANCEL = 0x10


class ErrorCode(StrEnum):
    """The error codes of the protocol. A server may send others (an error a schema
    declares, or a code of its own): :attr:`ActonError.code` is then a plain ``str``."""

    UNKNOWN_MESSAGE_TYPE = "UNKNOWN_MESSAGE_TYPE"
    ACTOR_NOT_FOUND = "ACTOR_NOT_FOUND"
    SERIALIZATION_ERROR = "SERIALIZATION_ERROR"
    TARGET_BUSY = "TARGET_BUSY"
    CONNECTION_CLOSED = "CONNECTION_CLOSED"
    PROTOCOL_ERROR = "PROTOCOL_ERROR"
    IO_ERROR = "IO_ERROR"
    TIMEOUT = "TIMEOUT"
    RATE_LIMITED = "RATE_LIMITED"
    SHUTTING_DOWN = "SHUTTING_DOWN"
    CONNECTION_LIMIT_REACHED = "CONNECTION_LIMIT_REACHED"
    UNSUPPORTED_PROTOCOL_VERSION = "UNSUPPORTED_PROTOCOL_VERSION"
    STREAM_ERROR = "STREAM_ERROR"
    ACCESS_DENIED = "ACCESS_DENIED"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    UNIMPLEMENTED = "UNIMPLEMENTED"
    INTERNAL = "INTERNAL"


_KNOWN_CODES: Final = frozenset(code.value for code in ErrorCode)


def _code(code: str) -> ErrorCode | str:
    return ErrorCode(code) if code in _KNOWN_CODES else code


class ActonError(Exception):
    """A call failed. ``code`` is the protocol's :class:`ErrorCode` (``ACTOR_NOT_FOUND``,
    ``TIMEOUT``, ``RATE_LIMITED``, ...), or, as a plain ``str``, the name of an error
    the schema declares or a code of the server's own; ``message`` is the server's
    text, for people."""

    def __init__(self, code: ErrorCode | str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code: ErrorCode | str = _code(code)
        self.message = message


class ConnectionClosed(ActonError):
    """The connection closed before the answer arrived."""

    def __init__(self, message: str = "the connection to the server is closed") -> None:
        super().__init__(ErrorCode.CONNECTION_CLOSED, message)


class UnexpectedServer(ConnectionClosed):
    """The server's process runs as another user than the one required
    (``require_server_uid``); nothing was sent to it."""

    def __init__(self, path: str, expected: int, actual: int | None, why: str) -> None:
        super().__init__(f"the server at {path} is refused: {why}, not the required uid {expected}; nothing was sent")
        self.path = path
        self.expected = expected
        self.actual = actual


class BufferBound(NamedTuple):
    """How much a stream's or subscription's buffer may hold: items and payload bytes."""

    items: int = DEFAULT_BUFFER_ITEMS
    bytes: int = DEFAULT_BUFFER_BYTES

    @classmethod
    def of(cls, items: int, size: int) -> BufferBound:
        """A bound of at least one item and one byte."""
        return cls(max(1, items), max(1, size))


class RequestTimeout(ActonError, TimeoutError):
    """No answer within the deadline: the client's own, or the server's (``TIMEOUT``)."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.TIMEOUT, message)

    @classmethod
    def after(cls, seconds: float) -> RequestTimeout:
        """The client waited `seconds` in vain."""
        return cls(f"no answer within {seconds:g} s")


class RateLimited(ActonError):
    """The server's rate limit refused the call; retry after ``retry_after_ms``."""

    def __init__(self, message: str, retry_after_ms: int | None) -> None:
        super().__init__(ErrorCode.RATE_LIMITED, message)
        self.retry_after_ms = retry_after_ms


class DeclaredError(ActonError):
    """The base of the errors a schema declares: the generated exception classes
    (``except messages.NotFound as error: error.key``). ``code`` is the error's wire
    name."""

    WIRE_NAME: ClassVar[str] = ""

    @classmethod
    def from_failure(cls, message: str, payload: Any) -> Self:
        """The error an ERROR frame carries: its message and its fields."""
        raise NotImplementedError


_RETRY_AFTER: Final = re.compile(r"retry after (\d+) ?ms")


@dataclass(frozen=True)
class Push:
    """A broadcast received through a subscription."""

    message_type: str
    payload: Any
    notification_id: str
    timestamp_ms: int
    dropped: int = 0
    """Pushes the server dropped for this connection just before this one."""


def _json_default(value: object) -> object:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


# One encoder and one decoder for every call: `json.dumps` with options builds an
# encoder each time, and `json.loads` of bytes guesses their encoding each time
# (the protocol's is UTF-8); together a third of a call's JSON work.
_encode_json: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_json_default).encode
_decode_json: Final = json.JSONDecoder().decode


def encode_payload(fmt: Format, value: object) -> bytes:
    """Encodes a payload: JSON without whitespace (bytes as base64), or
    MessagePack maps with field names (bytes as bin)."""
    if fmt == Format.JSON:
        return _encode_json(value).encode()
    if _msgpack is None:
        raise ActonError("SERIALIZATION_ERROR", "MessagePack needs the `msgpack` package")
    packed: bytes = _msgpack.packb(value, use_bin_type=True)
    return packed


def decode_frame_payload(fmt: int, data: bytes) -> Any:
    """Decodes a payload by its frame's format byte; an empty payload is ``None``."""
    if not data:
        return None
    if fmt == Format.JSON:
        return _decode_json(data.decode())
    if fmt == Format.MSGPACK:
        if _msgpack is None:
            raise ActonError("SERIALIZATION_ERROR", "MessagePack needs the `msgpack` package")
        return _msgpack.unpackb(data, raw=False, strict_map_key=False)
    raise ActonError("PROTOCOL_ERROR", f"unknown format byte {fmt:#04x}")


def _expire(future: asyncio.Future[Any], seconds: float) -> None:
    """A call's deadline passed: it fails with :class:`RequestTimeout` (unless answered)."""
    if not future.done():
        future.set_exception(RequestTimeout.after(seconds))


def encode_frame(kind: Kind, fmt: Format, payload: object | None) -> bytes:
    """A version-2 frame; ``payload=None`` gives an empty payload."""
    body = b"" if payload is None else encode_payload(fmt, payload)
    return HEADER.pack(len(body), PROTOCOL_VERSION, int(kind), int(fmt)) + body


def _too_large(length: int, limit: int) -> ActonError:
    return ActonError(
        "PROTOCOL_ERROR",
        f"the server announced a frame of {length} bytes, above the limit of {limit} bytes (max_frame_size)",
    )


async def read_frame(reader: asyncio.StreamReader, max_frame_size: int = MAX_FRAME_SIZE) -> tuple[int, int, bytes]:
    """Reads one frame: ``(kind, format, payload)``. Raises
    :class:`ConnectionClosed` at the end of the stream, :class:`ActonError` for a
    header above ``max_frame_size`` (before reading its payload)."""
    try:
        header = await reader.readexactly(5)
        length, version = struct.unpack(">IB", header)
        if version == 0x02:
            kind, fmt = await reader.readexactly(2)
        elif version == 0x01:
            (kind,) = await reader.readexactly(1)
            fmt = Format.JSON
        else:
            raise ActonError("UNSUPPORTED_PROTOCOL_VERSION", f"version byte {version:#04x}")
        if length > min(max_frame_size, MAX_FRAME_SIZE):
            raise _too_large(length, min(max_frame_size, MAX_FRAME_SIZE))
        payload = await reader.readexactly(length)
    except (asyncio.IncompleteReadError, ConnectionError) as error:
        raise ConnectionClosed() from error
    return kind, fmt, payload


def _error_from(answer: Mapping[str, Any], declared: Sequence[type[DeclaredError]] = ()) -> ActonError:
    """The exception an error answer stands for: one of the `declared` errors when its
    code names one, else by protocol code."""
    code = str(answer.get("error_code") or "UNKNOWN")
    message = str(answer.get("error") or "")
    payload = answer.get("payload")
    for error in declared:
        if code == error.WIRE_NAME:
            try:
                return error.from_failure(message, payload)
            except ActonError:
                break  # fields that do not fit: report it by code
    if code == ErrorCode.TIMEOUT:
        return RequestTimeout(message)
    if code == ErrorCode.RATE_LIMITED:
        retry = payload.get("retry_after_ms") if isinstance(payload, dict) else None
        if not isinstance(retry, int):
            found = _RETRY_AFTER.search(message)
            retry = int(found.group(1)) if found else None
        return RateLimited(message, retry)
    return ActonError(code, message)


class _Default(Enum):
    """The type of :data:`DEFAULT_TIMEOUT`."""

    TIMEOUT = "the connection's default"


DEFAULT_TIMEOUT: Final = _Default.TIMEOUT
"""A call's timeout when none is given: the connection's ``timeout`` for a call, no
deadline for a stream."""

Timeout: TypeAlias = "float | _Default | None"
"""A call's deadline in seconds; ``None`` waits as long as it takes."""


def deadline_of(timeout: Timeout, default: float, *, stream: bool) -> float | None:
    """A call's deadline in seconds (``None`` for none): ``timeout`` as given, or
    by default the connection's ``default`` for a call and none for a stream."""
    if isinstance(timeout, _Default):
        return None if stream else default
    if timeout is None or timeout == float("inf"):
        return None
    if timeout <= 0:
        raise ValueError(f"timeout must be positive (or None for no deadline), not {timeout}")
    return float(timeout)


# What a call without a deadline asks the server for (servers cap it: ours at an
# hour by default).
_NO_DEADLINE_MS: Final = 365 * 24 * 3600 * 1000


class _SubscriptionHost(Protocol):
    """What a :class:`Subscription` needs of its connection (a socket's or NATS's)."""

    async def _hold(self, subscription: Subscription) -> None: ...

    async def _release(self, subscription: Subscription) -> None: ...


class Subscription:
    """Pushes of some message types (or name patterns) on one connection.

    A scoped resource: ``async with`` waits until the server has acknowledged the
    subscription and unsubscribes when the block ends (once the last subscription
    of the connection to that type has ended); ``async for`` reads the pushes. Its
    buffer is bounded in pushes and in bytes: when the consumer falls behind, the
    oldest pushes are dropped, and :attr:`missed` counts them (with those the server
    reports it had to drop). A push whose payload does not decode is skipped and
    counted in :attr:`undecodable`. A lost connection raises
    :class:`ConnectionClosed` in the consumer.
    """

    def __init__(self, connection: _SubscriptionHost, types: Sequence[str], patterns: Sequence[str]) -> None:
        self._connection = connection
        self.types = tuple(dict.fromkeys(types))
        self.patterns = tuple(dict.fromkeys(patterns))
        self._buffer: deque[Push] = deque()
        self._sizes: deque[int] = deque()
        self.buffered_bytes = 0
        """Payload bytes of the pushes waiting to be read."""
        self._ready = asyncio.Event()
        self._error: ActonError | None = None
        self._state = "new"
        self.missed = 0
        """Pushes this subscription lost: dropped because it read too slowly, here
        or on the server."""
        self.undecodable = 0
        """Pushes skipped because their payload did not decode (as this client's
        type, or at all)."""

    def wants(self, message_type: str) -> bool:
        """Whether a push of ``message_type`` belongs to this subscription."""
        if message_type in self.types:
            return True
        return any(message_type.startswith(p[:-1]) if p.endswith("*") else message_type == p for p in self.patterns)

    @property
    def active(self) -> bool:
        """Whether the server has acknowledged it and it has not ended."""
        return self._state == "active"

    async def start(self) -> Self:
        """Subscribes on the server (if no other subscription of the connection
        holds these types already) and waits for the acknowledgement."""
        if self._state == "new":
            self._state = "starting"
            try:
                await self._connection._hold(self)
            except BaseException:
                self._state = "closed"
                raise
            self._state = "active"
        return self

    async def close(self) -> None:
        """Stops receiving; the server stops sending once no subscription of the
        connection wants these types."""
        if self._state in ("closed", "new"):
            self._state = "closed"
            return
        self._state = "closed"
        self._ready.set()
        await self._connection._release(self)

    aclose = close

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Push:
        if self._state == "new":
            await self.start()
        while not self._buffer:
            if self._error is not None:
                raise self._error
            if self._state == "closed":
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        self.buffered_bytes -= self._sizes.popleft()
        return self._buffer.popleft()

    def _offer(self, push: Push, size: int, bound: BufferBound) -> None:
        """Buffers a push of ``size`` payload bytes, dropping the oldest ones it
        does not leave room for."""
        if self._state != "active":
            return
        self.missed += push.dropped
        while self._buffer and (len(self._buffer) >= bound.items or self.buffered_bytes + size > bound.bytes):
            self._buffer.popleft()
            self.buffered_bytes -= self._sizes.popleft()
            self.missed += 1
        self._buffer.append(push)
        self._sizes.append(size)
        self.buffered_bytes += size
        self._ready.set()

    def _fail(self, error: ActonError) -> None:
        if self._error is None:
            self._error = error
        self._ready.set()


class TypedSubscription(Generic[_T]):
    """A :class:`Subscription` whose pushes are decoded as ``_T``: what the
    ``subscribe_<type>()`` methods of generated clients return.

    ``async with client.subscribe_price_update() as updates: async for update in
    updates: ...``. Iterating without ``async with`` subscribes on the first item;
    then call :meth:`close` (or use ``contextlib.aclosing``) to unsubscribe.
    """

    def __init__(self, subscription: Subscription, decode: Callable[[Any], _T]) -> None:
        self.subscription = subscription
        self._decode = decode

    @property
    def missed(self) -> int:
        """Pushes lost because the consumer read too slowly."""
        return self.subscription.missed

    @property
    def undecodable(self) -> int:
        """Pushes skipped because their payload did not decode as ``_T``."""
        return self.subscription.undecodable

    async def start(self) -> Self:
        """Subscribes and waits for the server's acknowledgement."""
        await self.subscription.start()
        return self

    async def close(self) -> None:
        """Unsubscribes (see :meth:`Subscription.close`)."""
        await self.subscription.close()

    aclose = close

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> _T:
        while True:
            push = await self.subscription.__anext__()
            try:
                return self._decode(push.payload)
            except Exception:  # whatever the decoder raised, this push is unusable
                # One bad push (a hostile server, or a schema that drifted) is
                # skipped, not the end of the subscription.
                self.subscription.undecodable += 1


class _Socket(asyncio.Protocol):
    """The socket under a :class:`Connection`.

    Splits what arrives into frames and hands each to the connection in the event
    loop's own callback, so that an answer reaches the call waiting for it without
    a reader task in between (one turn of the loop a call, not two). While
    :meth:`hold` is in force it splits nothing further and stops reading the socket:
    frames wait in the kernel, and the server, writing into a socket nobody reads,
    slows down. Writers wait in :meth:`drain` while the transport's buffer is full.
    """

    def __init__(self, max_frame_size: int = MAX_FRAME_SIZE) -> None:
        self.transport: asyncio.Transport | None = None
        self.max_frame_size = min(max_frame_size, MAX_FRAME_SIZE)
        self._on_frame: Callable[[int, int, bytes], None] | None = None
        self._on_lost: Callable[[ActonError], None] | None = None
        self._lost: ActonError | None = None
        # Bytes of frames not split yet, and how many of them the next split needs.
        self._partial = bytearray()
        self._needed = 0
        self._held = False
        self._writing_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def bind(self, on_frame: Callable[[int, int, bytes], None], on_lost: Callable[[ActonError], None]) -> None:
        """Starts handing frames (and the end of the socket) to the connection."""
        self._on_frame = on_frame
        self._on_lost = on_lost
        if self._lost is not None:
            on_lost(self._lost)
        else:
            self._resume_split()

    @property
    def writing_paused(self) -> bool:
        """Whether the transport holds more unsent bytes than it should."""
        return self._writing_paused

    def hold(self) -> None:
        """Splits no further frame, and stops reading the socket, until :meth:`release`."""
        if not self._held:
            self._held = True
            if self.transport is not None and not self.transport.is_closing():
                self.transport.pause_reading()

    def release(self) -> None:
        """Ends :meth:`hold`: the frames already read are split, then reading resumes."""
        if self._held:
            self._held = False
            self._resume_split()
            if not self._held and self.transport is not None and not self.transport.is_closing():
                self.transport.resume_reading()

    async def drain(self) -> None:
        """Waits until the transport's buffer is below its limit (or the socket is lost)."""
        if not self._writing_paused:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._drain_waiters.append(waiter)
        await waiter

    # --- asyncio.Protocol ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if isinstance(transport, asyncio.Transport):
            self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self._partial or self._on_frame is None or self._held:
            self._partial += data
            if len(self._partial) < self._needed or self._on_frame is None or self._held:
                return
            data = bytes(self._partial)
            self._partial.clear()
        self._split(data)

    def eof_received(self) -> bool:
        return False  # the transport closes; connection_lost follows

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._wake_writers(None)

    def connection_lost(self, exc: Exception | None) -> None:
        error = ConnectionClosed() if exc is None else ConnectionClosed(f"the connection was lost: {exc}")
        self._writing_paused = False
        self._wake_writers(error)
        if not self.closed.done():
            self.closed.set_result(None)
        self._lose(error)

    # --- splitting ----------------------------------------------------------------

    def _resume_split(self) -> None:
        if self._partial and self._on_frame is not None and not self._held:
            data = bytes(self._partial)
            self._partial.clear()
            self._split(data)

    def _split(self, data: bytes) -> None:
        on_frame = self._on_frame
        if on_frame is None:
            return
        start, size = 0, len(data)
        needed = 0
        try:
            while not self._held:
                if size - start < 5:
                    needed = 5
                    break
                length = int.from_bytes(data[start : start + 4], "big")
                version = data[start + 4]
                if version == 0x02:
                    header = 7
                elif version == 0x01:
                    header = 6
                else:
                    raise ActonError("UNSUPPORTED_PROTOCOL_VERSION", f"version byte {version:#04x}")
                if length > self.max_frame_size:
                    raise _too_large(length, self.max_frame_size)
                if size - start < header + length:
                    needed = header + length
                    break
                kind = data[start + 5]
                fmt = data[start + 6] if header == 7 else Format.JSON
                payload = data[start + header : start + header + length]
                start += header + length
                on_frame(kind, fmt, payload)
        except ActonError as error:
            self._fail(error if isinstance(error, ConnectionClosed) else ConnectionClosed(str(error)))
            return
        except Exception as error:  # a frame we could not decode: the stream is lost
            self._fail(ConnectionClosed(f"unreadable frame: {error}"))
            return
        if start < size:
            self._partial += data[start:]
            self._needed = needed
        else:
            self._needed = 0

    def _fail(self, error: ActonError) -> None:
        """The byte stream cannot be followed any further: the socket is closed."""
        self._partial.clear()
        self._lose(error)
        if self.transport is not None:
            self.transport.close()

    def _lose(self, error: ActonError) -> None:
        if self._lost is None:
            self._lost = error
            if self._on_lost is not None:
                self._on_lost(error)

    def _wake_writers(self, error: ActonError | None) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(error)


def _peer_uid(transport: asyncio.Transport) -> int | None:
    """The user id of the process at the other end of a Unix socket, as the kernel
    reports it (Linux's ``SO_PEERCRED``); ``None`` where it cannot be read."""
    sock = transport.get_extra_info("socket")
    option = getattr(_socket_module, "SO_PEERCRED", None)
    if sock is None or option is None:
        return None
    try:
        credentials = sock.getsockopt(_socket_module.SOL_SOCKET, option, struct.calcsize("3i"))
    except OSError:
        return None
    _pid, uid, _gid = struct.unpack("3i", credentials)
    return int(uid)


async def _open(
    path: str, *, max_frame_size: int = MAX_FRAME_SIZE, require_server_uid: int | None = None
) -> tuple[asyncio.Transport, _Socket]:
    socket = _Socket(max_frame_size)
    try:
        await asyncio.get_running_loop().create_unix_connection(lambda: socket, path)
    except OSError as error:
        raise ConnectionClosed(f"cannot connect to {path}: {error}") from error
    if socket.transport is None:  # pragma: no cover - a Unix socket's transport is always one
        raise ConnectionClosed(f"cannot connect to {path}: no transport")
    if require_server_uid is not None:
        actual = _peer_uid(socket.transport)
        if actual != require_server_uid:
            socket.transport.abort()
            why = "its uid cannot be read" if actual is None else f"it runs as uid {actual}"
            raise UnexpectedServer(path, require_server_uid, actual, why)
    return socket.transport, socket


class _StreamItems(asyncio.Queue[tuple[int, int, Any]]):
    """A stream's frames not read yet, and their payload bytes."""

    def __init__(self) -> None:
        super().__init__()
        self._sizes: deque[int] = deque()
        self.bytes = 0

    def put_sized(self, item: tuple[int, int, Any], size: int) -> None:
        self._sizes.append(size)
        self.bytes += size
        self.put_nowait(item)

    async def take(self) -> tuple[int, int, Any]:
        item = await self.get()
        self.bytes -= self._sizes.popleft()
        return item

    def reaches(self, bound: BufferBound) -> bool:
        """Whether the frames waiting reach ``bound`` in number or in bytes."""
        return self.qsize() >= bound.items or self.bytes >= bound.bytes


class Connection:
    """One connection to an acton server; many calls may run on it at once.

    - Every call has a deadline: ``timeout`` seconds by default (a stream, none),
      or the call's own ``timeout=`` (``None``: no deadline).
    - Leaving a stream early, cancelling a call's task or passing its deadline
      tells the server (CANCEL), which stops the handler; servers that do not
      understand CANCEL (those of the published crate) are left alone.
    - A quiet connection sends a heartbeat every ``keepalive`` seconds, so that the
      server's idle timeout never cuts it.
    - After the connection is lost, the next call opens a new one (unless
      ``reconnect=False``); nothing is ever re-sent: calls in flight when it was
      lost raised :class:`ConnectionClosed`.
    - Buffers are bounded in items and in payload bytes: a stream's
      (``stream_buffer`` items, ``stream_buffer_bytes``: 1024 and 16 MiB by
      default) stops reading the socket when full, which slows the server's streams
      to this client's pace; a subscription's (``push_buffer``,
      ``push_buffer_bytes``: the same defaults) drops its oldest pushes. One item
      larger than the byte bound is still taken when nothing else waits.
    - A frame above ``max_frame_size`` (the protocol's 16 MiB by default, and at
      most) closes the connection with a clear error as soon as its header arrives.
    - ``require_server_uid`` connects only to a server whose process runs as that
      user id, as the kernel reports the peer's credentials (Linux's
      ``SO_PEERCRED``): a socket placed by someone else cannot forge it.
    """

    def __init__(
        self,
        transport: asyncio.Transport,
        socket: _Socket,
        *,
        fmt: Format = Format.JSON,
        timeout: float = 30.0,
        keepalive: float | None = 10.0,
        reconnect: bool = True,
        stream_buffer: int = DEFAULT_BUFFER_ITEMS,
        push_buffer: int = DEFAULT_BUFFER_ITEMS,
        stream_buffer_bytes: int = DEFAULT_BUFFER_BYTES,
        push_buffer_bytes: int = DEFAULT_BUFFER_BYTES,
        require_server_uid: int | None = None,
    ) -> None:
        self._transport = transport
        self._socket = socket
        self.format = fmt
        self.timeout = timeout
        self.keepalive = keepalive
        self.auto_reconnect = reconnect
        self.stream_bound = BufferBound.of(stream_buffer, stream_buffer_bytes)
        self.push_bound = BufferBound.of(push_buffer, push_buffer_bytes)
        self.stream_buffer = self.stream_bound.items
        self.push_buffer = self.push_bound.items
        self.max_frame_size = socket.max_frame_size
        self.require_server_uid = require_server_uid
        self._ids = itertools.count(1)
        self._prefix = f"py{os.getpid()}-{id(self):x}"
        self._waiters: dict[str, asyncio.Future[tuple[int, int, Any]]] = {}
        self._streams: dict[str, _StreamItems] = {}
        # The stream whose full buffer holds the socket's reading, if one does.
        self._holding: _StreamItems | None = None
        self._subscriptions: set[Subscription] = set()
        self._held: dict[tuple[Kind, str], int] = {}
        self._closed: ActonError | None = None
        self._user_closed = False
        self._can_cancel = False
        self.pushes_received = 0
        """PUSH frames received on this connection (for diagnostics)."""
        self.pushes_undecodable = 0
        """PUSH frames whose payload did not decode at all (no subscription could
        be told): skipped."""
        # The loop the connection lives on, kept: on Python 3.11
        # `asyncio.get_running_loop()` makes a system call (getpid) each time,
        # and a call would ask for it three times.
        self._loop = asyncio.get_running_loop()
        self._last_sent = self._loop.time()
        self.path: str | None = None
        socket.bind(self._on_frame, self._on_lost)
        self._keeping = self._loop.create_task(self._keepalive_loop())

    @classmethod
    async def connect(
        cls,
        path: str | os.PathLike[str],
        *,
        fmt: Format = Format.JSON,
        timeout: float = 30.0,
        keepalive: float | None = 10.0,
        reconnect: bool = True,
        stream_buffer: int = DEFAULT_BUFFER_ITEMS,
        push_buffer: int = DEFAULT_BUFFER_ITEMS,
        stream_buffer_bytes: int = DEFAULT_BUFFER_BYTES,
        push_buffer_bytes: int = DEFAULT_BUFFER_BYTES,
        max_frame_size: int = MAX_FRAME_SIZE,
        require_server_uid: int | None = None,
    ) -> Connection:
        """Connects to the server listening on the Unix socket ``path`` (see the
        class for the options); raises :class:`UnexpectedServer` when
        ``require_server_uid`` is given and the server runs as another user."""
        if fmt == Format.MSGPACK and _msgpack is None:
            raise ActonError("SERIALIZATION_ERROR", "MessagePack needs the `msgpack` package")
        transport, socket = await _open(
            os.fspath(path), max_frame_size=max_frame_size, require_server_uid=require_server_uid
        )
        connection = cls(
            transport,
            socket,
            fmt=fmt,
            timeout=timeout,
            keepalive=keepalive,
            reconnect=reconnect,
            stream_buffer=stream_buffer,
            push_buffer=push_buffer,
            stream_buffer_bytes=stream_buffer_bytes,
            push_buffer_bytes=push_buffer_bytes,
            require_server_uid=require_server_uid,
        )
        connection.path = os.fspath(path)
        await connection._probe()
        return connection

    async def _probe(self) -> None:
        """Asks the server what it supports (for CANCEL)."""
        try:
            answer = await self._control(
                Kind.DISCOVER,
                {"correlation_id": self._next_id(), "include_actors": False, "include_message_types": False},
                timeout=self.timeout,
            )
        except ActonError:
            self._can_cancel = False
            return
        version = answer.get("protocol_version")
        capabilities = version.get("capabilities") if isinstance(version, dict) else None
        self._can_cancel = isinstance(capabilities, dict) and capabilities.get("cancel") is True

    async def reconnect(self) -> None:
        """Opens a new socket after the connection was lost (or closed).

        Nothing is re-sent: a call that was in flight when the connection went away
        raised :class:`ConnectionClosed`, and only the caller knows whether
        repeating it is safe. Subscriptions ended with the old socket (their
        consumers saw :class:`ConnectionClosed`); subscribe again.
        """
        if self._closed is None:
            return
        if self.path is None:
            raise ConnectionClosed("this connection was not opened by path, so it cannot reconnect")
        self._transport, self._socket = await _open(
            self.path, max_frame_size=self.max_frame_size, require_server_uid=self.require_server_uid
        )
        self._closed = None
        self._user_closed = False
        self._held.clear()
        self._holding = None
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._last_sent = loop.time()
        self._socket.bind(self._on_frame, self._on_lost)
        if self._keeping.done():
            self._keeping = loop.create_task(self._keepalive_loop())
        await self._probe()

    async def _ensure_open(self) -> None:
        """Reopens a lost connection before a call, when allowed."""
        if self._closed is not None and self.auto_reconnect and not self._user_closed and self.path is not None:
            await self.reconnect()

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        """Whether the connection has closed."""
        return self._closed is not None

    async def close(self) -> None:
        """Closes the connection; pending calls raise :class:`ConnectionClosed`."""
        self._user_closed = True
        self._fail_all(ConnectionClosed("the connection was closed by the client"))
        self._keeping.cancel()
        self._transport.close()
        await self._socket.closed

    def _next_id(self) -> str:
        return f"{self._prefix}-{next(self._ids)}"

    async def _send(self, kind: Kind, payload: object | None) -> None:
        if self._closed is not None:
            raise self._closed
        try:
            self._transport.write(encode_frame(kind, self.format, payload))
            self._last_sent = self._loop.time()
            # Waiting for the socket only when the transport holds a backlog (a
            # server that stopped reading): a call's usual frame leaves at once.
            if self._socket.writing_paused:
                await self._socket.drain()
        except (ConnectionError, OSError) as error:
            self._fail_all(ConnectionClosed(f"writing failed: {error}"))
            raise ConnectionClosed(f"writing failed: {error}") from error

    def _cancel(self, correlation_id: str) -> None:
        """Tells the server a request's answers are no longer wanted (never waits)."""
        if not self._can_cancel or self._closed is not None:
            return
        with contextlib.suppress(ConnectionError, OSError, RuntimeError):
            self._transport.write(encode_frame(Kind.CANCEL, self.format, {"correlation_id": correlation_id}))

    def _limit(self, timeout: Timeout, *, stream: bool) -> float | None:
        """A call's deadline in seconds, or ``None`` for none."""
        return deadline_of(timeout, self.timeout, stream=stream)

    async def _exchange(self, kind: Kind, payload: dict[str, Any], limit: float | None) -> tuple[int, int, Any]:
        correlation_id = payload["correlation_id"]
        future: asyncio.Future[tuple[int, int, Any]] = self._loop.create_future()
        self._waiters[correlation_id] = future
        answered = False
        try:
            await self._send(kind, payload)
            if limit is None:
                result = await future
            else:
                # A little longer than the server's own deadline, whose TIMEOUT
                # answer says more. (A timer on the future: `asyncio.wait_for`
                # costs more than the rest of a call.)
                timer = self._loop.call_later(limit + 1.0, _expire, future, limit + 1.0)
                try:
                    result = await future
                finally:
                    timer.cancel()
            answered = True
            return result
        finally:
            self._waiters.pop(correlation_id, None)
            if not answered and kind == Kind.REQUEST:
                self._cancel(correlation_id)

    def _envelope(
        self, target: str, message_type: str, payload: object, *, reply: bool, stream: bool, limit: float | None
    ) -> dict[str, Any]:
        return {
            "correlation_id": self._next_id(),
            "target": target,
            "message_type": message_type,
            "payload": payload,
            "expects_reply": reply,
            "expects_stream": stream,
            "response_timeout_ms": _NO_DEADLINE_MS if limit is None else max(1, int(limit * 1000)),
        }

    async def request(
        self,
        target: str,
        message_type: str,
        payload: object,
        *,
        timeout: Timeout = DEFAULT_TIMEOUT,
        errors: Sequence[type[DeclaredError]] = (),
    ) -> Any:
        """Request-response: the reply's payload (decoded), or :class:`ActonError` (one
        of the `errors` the method declares, when its code names one)."""
        if self._closed is not None:
            await self._ensure_open()
        limit = self._limit(timeout, stream=False)
        envelope = self._envelope(target, message_type, payload, reply=True, stream=False, limit=limit)
        kind, _fmt, answer = await self._exchange(Kind.REQUEST, envelope, limit)
        if kind != Kind.RESPONSE or not answer.get("success", False):
            raise _error_from(answer, errors)
        return answer.get("payload")

    async def send(
        self, target: str, message_type: str, payload: object, *, timeout: Timeout = DEFAULT_TIMEOUT
    ) -> None:
        """Fire-and-forget: returns once the target's mailbox accepted the message."""
        await self._ensure_open()
        limit = self._limit(timeout, stream=False)
        envelope = self._envelope(target, message_type, payload, reply=False, stream=False, limit=limit)
        kind, _fmt, answer = await self._exchange(Kind.REQUEST, envelope, limit)
        if kind != Kind.RESPONSE or not answer.get("success", False):
            raise _error_from(answer)

    async def stream(
        self,
        target: str,
        message_type: str,
        payload: object,
        *,
        timeout: Timeout = DEFAULT_TIMEOUT,
        errors: Sequence[type[DeclaredError]] = (),
    ) -> AsyncGenerator[Any, None]:
        """Request-stream: yields each item's payload; raises :class:`ActonError` (one
        of the `errors` the method declares, when its code names one) if the stream
        fails. The deadline, when given, is the whole stream's; leaving the loop
        early cancels the stream on the server."""
        await self._ensure_open()
        limit = self._limit(timeout, stream=True)
        envelope = self._envelope(target, message_type, payload, reply=False, stream=True, limit=limit)
        correlation_id = envelope["correlation_id"]
        # Unbounded as a queue; bounded by the socket: at `stream_bound` (items or
        # bytes) it holds the reading (see `_on_frame`) until this consumer catches up.
        items = _StreamItems()
        self._streams[correlation_id] = items
        loop = asyncio.get_running_loop()
        deadline = None if limit is None else loop.time() + limit + 1.0
        finished = False
        try:
            await self._send(Kind.REQUEST, envelope)
            while True:
                if deadline is None:
                    kind, _fmt, frame = await items.take()
                else:
                    try:
                        kind, _fmt, frame = await asyncio.wait_for(items.take(), max(deadline - loop.time(), 0.0))
                    except TimeoutError:
                        raise RequestTimeout.after(limit or 0.0) from None
                if self._holding is items and not items.reaches(self.stream_bound):
                    self._release_reading()
                if kind == -1:
                    finished = True
                    raise frame  # the connection failed
                if kind != Kind.STREAM:
                    finished = True
                    raise _error_from(frame, errors)
                if frame.get("is_final"):
                    finished = True
                    if frame.get("error_code"):
                        raise _error_from(frame, errors)
                    return
                yield frame.get("payload")
        finally:
            self._streams.pop(correlation_id, None)
            if self._holding is items:
                self._release_reading()
            if not finished:
                self._cancel(correlation_id)

    def subscription(self, message_types: Sequence[str] = (), patterns: Sequence[str] = ()) -> Subscription:
        """A subscription to broadcasts of these types (and name patterns such as
        ``prices.*``), not yet started: ``async with connection.subscription([...]) as
        pushes: async for push in pushes: ...``."""
        return Subscription(self, message_types, patterns)

    async def subscribe(self, message_types: Sequence[str] = (), patterns: Sequence[str] = ()) -> Subscription:
        """Subscribes to broadcasts of these types (and name patterns) and waits
        for the server's acknowledgement; iterate the returned
        :class:`Subscription`, and close it to unsubscribe."""
        return await self.subscription(message_types, patterns).start()

    async def _hold(self, subscription: Subscription) -> None:
        """Counts a subscription in; subscribes on the server to what nothing held yet."""
        await self._ensure_open()
        if self._closed is not None:
            raise self._closed
        new_types = [t for t in subscription.types if self._held.get((Kind.SUBSCRIBE, t), 0) == 0]
        new_patterns = [p for p in subscription.patterns if self._held.get((Kind.SUBSCRIBE_PATTERNS, p), 0) == 0]
        self._subscriptions.add(subscription)
        for name in subscription.types:
            self._held[(Kind.SUBSCRIBE, name)] = self._held.get((Kind.SUBSCRIBE, name), 0) + 1
        for name in subscription.patterns:
            self._held[(Kind.SUBSCRIBE_PATTERNS, name)] = self._held.get((Kind.SUBSCRIBE_PATTERNS, name), 0) + 1
        try:
            if new_types:
                await self._control(Kind.SUBSCRIBE, {"correlation_id": self._next_id(), "message_types": new_types})
            if new_patterns:
                await self._control(
                    Kind.SUBSCRIBE_PATTERNS, {"correlation_id": self._next_id(), "patterns": new_patterns}
                )
        except BaseException:
            await self._release(subscription)
            raise

    async def _release(self, subscription: Subscription) -> None:
        """Counts a subscription out; unsubscribes on the server from what nothing holds."""
        if subscription not in self._subscriptions:
            return
        self._subscriptions.discard(subscription)
        gone: dict[Kind, list[str]] = {Kind.SUBSCRIBE: [], Kind.SUBSCRIBE_PATTERNS: []}
        for kind, names in ((Kind.SUBSCRIBE, subscription.types), (Kind.SUBSCRIBE_PATTERNS, subscription.patterns)):
            for name in names:
                count = self._held.get((kind, name), 0) - 1
                if count <= 0:
                    self._held.pop((kind, name), None)
                    gone[kind].append(name)
                else:
                    self._held[(kind, name)] = count
        if self._closed is not None:
            return
        with contextlib.suppress(ActonError):
            if gone[Kind.SUBSCRIBE]:
                await self._control(
                    Kind.UNSUBSCRIBE, {"correlation_id": self._next_id(), "message_types": gone[Kind.SUBSCRIBE]}
                )
            if gone[Kind.SUBSCRIBE_PATTERNS]:
                await self._control(
                    Kind.UNSUBSCRIBE_PATTERNS,
                    {"correlation_id": self._next_id(), "patterns": gone[Kind.SUBSCRIBE_PATTERNS]},
                )

    async def unsubscribe(self, message_types: Sequence[str] = ()) -> list[str]:
        """Ends server-side subscriptions (all of them for an empty list), whatever
        the local subscriptions hold; returns the types still subscribed."""
        answer = await self._control(
            Kind.UNSUBSCRIBE, {"correlation_id": self._next_id(), "message_types": list(message_types)}
        )
        return list(answer.get("subscribed_types") or [])

    async def discover(self) -> dict[str, Any]:
        """What the server offers: actors, message types, protocol version."""
        await self._ensure_open()
        answer = await self._control(
            Kind.DISCOVER, {"correlation_id": self._next_id(), "include_actors": True, "include_message_types": True}
        )
        return answer

    async def discover_schema(self) -> dict[str, Any]:
        """What the server offers, with its schema (``schema`` and ``schema_fingerprint``,
        absent from servers that serve none)."""
        await self._ensure_open()
        return await self._control(
            Kind.DISCOVER,
            {
                "correlation_id": self._next_id(),
                "include_actors": True,
                "include_message_types": True,
                "include_schema": True,
            },
        )

    async def check_schema(self, document: str, fingerprint: str, services: Sequence[str]) -> SchemaCheck:
        """Whether the server's schema fits this client's (``document``, with its
        ``fingerprint``) for ``services``; see :class:`SchemaCheck`."""
        return schema_check(await self.discover_schema(), document, fingerprint, services)

    async def heartbeat(self, timeout: float = 5.0) -> None:
        """Sends a heartbeat and waits for the server's."""
        future: asyncio.Future[tuple[int, int, Any]] = asyncio.get_running_loop().create_future()
        self._waiters["__heartbeat__"] = future
        try:
            await self._send(Kind.HEARTBEAT, None)
            try:
                await asyncio.wait_for(future, timeout)
            except TimeoutError:
                raise RequestTimeout.after(timeout) from None
        finally:
            self._waiters.pop("__heartbeat__", None)

    async def _control(self, kind: Kind, payload: dict[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
        answer_kind, _fmt, answer = await self._exchange(kind, payload, timeout or self.timeout)
        if answer_kind != Kind.RESPONSE or not answer.get("success", False):
            raise _error_from(answer)
        result: dict[str, Any] = answer
        return result

    def _fail_all(self, error: ActonError) -> None:
        if self._closed is None:
            self._closed = error
        for future in self._waiters.values():
            if not future.done():
                future.set_exception(error)
        for queue in self._streams.values():
            # The consumer reads the failure after the items it has not read yet.
            queue.put_sized((-1, 0, error), 0)
        for subscription in list(self._subscriptions):
            subscription._fail(error)
        self._subscriptions.clear()
        self._held.clear()

    async def _keepalive_loop(self) -> None:
        """Sends a heartbeat when nothing was sent for ``keepalive`` seconds."""
        if self.keepalive is None or self.keepalive <= 0:
            return
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ActonError):
            while not self._user_closed:
                quiet = loop.time() - self._last_sent
                if quiet >= self.keepalive and self._closed is None:
                    await self._send(Kind.HEARTBEAT, None)
                    quiet = 0.0
                await asyncio.sleep(max(self.keepalive - quiet, 0.05))

    def _on_lost(self, error: ActonError) -> None:
        """The socket is gone (or its byte stream could not be followed)."""
        self._fail_all(error)

    def _release_reading(self) -> None:
        self._holding = None
        self._socket.release()

    def _on_frame(self, kind: int, fmt: int, data: bytes) -> None:
        """One frame from the server, in the event loop's callback for the socket."""
        if kind == Kind.HEARTBEAT:
            waiter = self._waiters.get("__heartbeat__")
            if waiter is not None and not waiter.done():
                waiter.set_result((kind, fmt, None))
            return
        if kind == Kind.PUSH:
            self.pushes_received += 1
            push = _push_of(fmt, data)
            if push is None:
                self.pushes_undecodable += 1
                return
            for subscription in list(self._subscriptions):
                if subscription.wants(push.message_type):
                    subscription._offer(push, len(data), self.push_bound)
            return
        payload = decode_frame_payload(fmt, data)
        if not isinstance(payload, dict):
            return
        correlation_id = str(payload.get("correlation_id", ""))
        if correlation_id == CONNECTION_REJECTED:
            self._fail_all(_error_from(payload))
            return
        stream = self._streams.get(correlation_id)
        if stream is not None:
            stream.put_sized((kind, fmt, payload), len(data))
            # A full stream buffer stops the reading here: the server, writing into
            # a socket nobody reads, slows this client's streams.
            if stream.reaches(self.stream_bound) and self._holding is None:
                self._holding = stream
                self._socket.hold()
            return
        waiter = self._waiters.get(correlation_id)
        if waiter is not None and not waiter.done():
            waiter.set_result((kind, fmt, payload))


def _push_of(fmt: int, data: bytes) -> Push | None:
    """A PUSH frame's notification; ``None`` when it does not decode."""
    try:
        payload = decode_frame_payload(fmt, data)
        if not isinstance(payload, dict):
            return None
        dropped = payload.get("dropped", 0)
        return Push(
            message_type=str(payload.get("message_type", "")),
            payload=payload.get("payload"),
            notification_id=str(payload.get("notification_id", "")),
            timestamp_ms=int(payload.get("timestamp_ms", 0)),
            dropped=dropped if isinstance(dropped, int) else 0,
        )
    except (ActonError, ValueError, TypeError):
        return None


# --- Helpers of generated code: checked conversions from the wire form. ---


def _shape_error(expected: str, value: object) -> ActonError:
    return ActonError("SERIALIZATION_ERROR", f"expected {expected}, got {type(value).__name__}")


def expect_mapping(value: object, what: str) -> Mapping[str, Any]:
    """``value`` as a mapping, or an error naming ``what`` was expected."""
    if not isinstance(value, Mapping):
        raise _shape_error(f"an object for {what}", value)
    return value


def expect_list(value: object) -> list[Any]:
    """``value`` as a list."""
    if not isinstance(value, list):
        raise _shape_error("a list", value)
    return value


def _one_of(fields: Mapping[str, Any], name: str, aliases: tuple[str, ...]) -> str | None:
    """Which of ``name`` and its ``aliases`` (former names) ``fields`` holds; two of
    them at once are refused, as every reader refuses them."""
    present = [key for key in (name, *aliases) if key in fields]
    if len(present) > 1:
        raise ActonError("SERIALIZATION_ERROR", f"duplicate field `{name}` (given as {', '.join(present)})")
    return present[0] if present else None


def required(fields: Mapping[str, Any], name: str, owner: str, aliases: tuple[str, ...] = ()) -> Any:
    """A required field's value, under ``name`` or one of its ``aliases`` (former names)."""
    key = _one_of(fields, name, aliases) if aliases else (name if name in fields else None)
    if key is None:
        raise ActonError("SERIALIZATION_ERROR", f"{owner} has no field `{name}`")
    return fields[key]


def field_of(fields: Mapping[str, Any], name: str, aliases: tuple[str, ...]) -> Any:
    """An optional field's value (``None`` when absent or null), under ``name`` or one
    of its ``aliases`` (former names)."""
    key = _one_of(fields, name, aliases)
    return None if key is None else fields[key]


@dataclass(frozen=True)
class SchemaCheck:
    """Whether a client fits the server it talks to, by the rules of ``acton-gen diff``:
    ``status`` is ``compatible``, ``degraded`` (some of its methods are missing on the
    server), ``incompatible`` (some calls would fail or be misread) or ``unknown`` (the
    server serves no schema); ``differences`` says what differs."""

    status: str
    differences: list[str]


_SCALARS = frozenset(
    [
        "bool",
        "i8",
        "i16",
        "i32",
        "i64",
        "u8",
        "u16",
        "u32",
        "u64",
        "f32",
        "f64",
        "string",
        "bytes",
        "json",
        "timestamp",
        "duration",
        "list",
        "map",
    ]
)


def _items(value: Any, key: str) -> list[Any]:
    found = value.get(key) if isinstance(value, dict) else None
    return found if isinstance(found, list) else []


def _text(value: Any, key: str) -> str:
    found = value.get(key) if isinstance(value, dict) else None
    return found if isinstance(found, str) else ""


def _find(document: Any, key: str, field: str, name: str) -> Any:
    return next((item for item in _items(document, key) if _text(item, field) == name), None)


def schema_check(
    discovered: Mapping[str, Any], document: str, fingerprint: str, services: Sequence[str]
) -> SchemaCheck:
    """How a discovery answer's schema fits the client's ``document`` (with its
    ``fingerprint``) for ``services``."""
    served = discovered.get("schema")
    if not isinstance(served, dict):
        return SchemaCheck("unknown", ["the server serves no schema"])
    if discovered.get("schema_fingerprint") == fingerprint:
        return SchemaCheck("compatible", [])
    return compare_schemas(json.loads(document), served, services)


def compare_schemas(client: Any, server: Any, services: Sequence[str]) -> SchemaCheck:
    """The differences between a client's schema document and a server's, for the
    client's ``services`` (the same rules as the Rust client's ``schema_check``)."""
    incompatible: list[str] = []
    degraded: list[str] = []
    compatible: list[str] = []
    used: set[str] = set()
    for name in services:
        ours, theirs = _find(client, "services", "name", name), _find(server, "services", "name", name)
        if ours is None:
            continue
        subject = f"service {name}"
        if theirs is None:
            incompatible.append(f"{subject}: missing on the server")
            continue
        for method in _items(ours, "methods"):
            method_subject = f"{subject} method {_text(method, 'name')}"
            used.update(w for k in ("request", "answer") if isinstance(w := method.get(k), str))
            used.update(e for e in _items(method, "errors") if isinstance(e, str))
            served = next((m for m in _items(theirs, "methods") if _text(m, "name") == _text(method, "name")), None)
            if served is None:
                degraded.append(f"{method_subject}: missing on the server")
                continue
            for key in ("kind", "request", "answer"):
                if method.get(key) != served.get(key):
                    shown = [v if isinstance(v, str) else "nothing" for v in (served.get(key), method.get(key))]
                    incompatible.append(f"{method_subject}: its {key} is {shown[0]} on the server, {shown[1]} here")
        for served in _items(theirs, "methods"):
            if not any(_text(m, "name") == _text(served, "name") for m in _items(ours, "methods")):
                compatible.append(f"{subject} method {_text(served, 'name')}: offered by the server, unknown here")
        used.update(p for p in _items(ours, "pushes") if isinstance(p, str))
    pending = list(used)
    while pending:
        definition = _find(client, "types", "wire_name", pending.pop())
        fields = _items(definition, "fields") + [f for v in _items(definition, "variants") for f in _items(v, "fields")]
        for field in fields:
            for part in re.split(r"[<>,? ]", _text(field, "type")):
                if part and part not in _SCALARS and part not in used:
                    used.add(part)
                    pending.append(part)
    for wire in sorted(used):
        ours = _find(client, "types", "wire_name", wire)
        if ours is not None:
            _compare_type(ours, _find(server, "types", "wire_name", wire), wire, incompatible, compatible)
    status = "incompatible" if incompatible else "degraded" if degraded else "compatible"
    return SchemaCheck(status, incompatible + degraded + compatible)


def _compare_type(ours: Any, theirs: Any, wire: str, incompatible: list[str], compatible: list[str]) -> None:
    subject = f"type {wire}"
    if theirs is None:
        incompatible.append(f"{subject}: unknown to the server")
        return
    kind = _text(ours, "kind")
    if kind != _text(theirs, "kind"):
        incompatible.append(f"{subject}: is a {_text(theirs, 'kind')} on the server, a {kind} here")
        return
    open_ = ours.get("open") is True
    if kind == "enum":
        _compare_names(
            subject, "value", _items(ours, "values"), _items(theirs, "values"), open_, incompatible, compatible
        )
    elif kind == "union":
        ours_variants, theirs_variants = _items(ours, "variants"), _items(theirs, "variants")
        _compare_names(subject, "variant", ours_variants, theirs_variants, open_, incompatible, compatible)
        for variant in ours_variants:
            served = next((v for v in theirs_variants if _text(v, "name") == _text(variant, "name")), None)
            if served is not None:
                variant_subject = f"{subject} variant {_text(variant, 'name')}"
                _compare_fields(
                    variant_subject, _items(variant, "fields"), _items(served, "fields"), incompatible, compatible
                )
    else:
        _compare_fields(subject, _items(ours, "fields"), _items(theirs, "fields"), incompatible, compatible)


def _compare_names(
    subject: str,
    what: str,
    ours: list[Any],
    theirs: list[Any],
    open_: bool,
    incompatible: list[str],
    compatible: list[str],
) -> None:
    own_names = [_text(v, "name") for v in ours]
    served_names = [_text(v, "name") for v in theirs]
    for name in served_names:
        if name not in own_names:
            message = f"{subject} {what} {name}: sent by the server, unknown here"
            if open_:
                compatible.append(f"{message} (read as Unknown)")
            else:
                incompatible.append(message)
    incompatible.extend(
        f"{subject} {what} {name}: unknown to the server" for name in own_names if name not in served_names
    )


def _may_be_absent(field: Any) -> bool:
    return field.get("has_default") is True or _text(field, "type").endswith("?")


def _compare_fields(
    subject: str, ours: list[Any], theirs: list[Any], incompatible: list[str], compatible: list[str]
) -> None:
    for own in ours:
        field = f"{subject} field {_text(own, 'name')}"
        served = next((f for f in theirs if _text(f, "name") == _text(own, "name")), None)
        if served is None:
            if _may_be_absent(own):
                compatible.append(f"{field}: unknown to the server (may be absent here)")
            else:
                incompatible.append(f"{field}: unknown to the server, required here")
        elif _text(served, "type") != _text(own, "type"):
            incompatible.append(f"{field}: is {_text(served, 'type')} on the server, {_text(own, 'type')} here")
    for served in theirs:
        if any(_text(f, "name") == _text(served, "name") for f in ours):
            continue
        field = f"{subject} field {_text(served, 'name')}"
        if _may_be_absent(served):
            compatible.append(f"{field}: added on the server (may be absent)")
        else:
            incompatible.append(f"{field}: required by the server, unknown here")


def decode_json(value: Any) -> Any:
    """A ``json`` value: any value, as it came."""
    return value


def decode_bool(value: object) -> bool:
    """A boolean."""
    if not isinstance(value, bool):
        raise _shape_error("a boolean", value)
    return value


def decode_int(value: object) -> int:
    """An integer (not a boolean)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise _shape_error("an integer", value)
    return value


def decode_float(value: object) -> float:
    """A number."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise _shape_error("a number", value)
    return float(value)


def decode_str(value: object) -> str:
    """A string."""
    if not isinstance(value, str):
        raise _shape_error("a string", value)
    return value


def decode_bytes(value: object) -> bytes:
    """Binary data: bin in MessagePack, a base64 string in JSON."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except ValueError as error:
            raise ActonError("SERIALIZATION_ERROR", f"invalid base64: {error}") from error
    raise _shape_error("binary data", value)


_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)
_DURATION = re.compile(r"(\d+)(?:\.(\d{1,9}))?s")


def _fraction(micros: int) -> str:
    """``.5``, ``.25``: a fraction of a second without trailing zeros; ``""`` for 0."""
    return f".{micros:06d}".rstrip("0") if micros else ""


def decode_timestamp(value: object) -> _datetime.datetime:
    """A ``timestamp``: an RFC 3339 string, as an aware ``datetime`` in UTC.

    Python keeps microseconds: digits beyond the sixth are dropped.
    """
    if not isinstance(value, str) or (match := _TIMESTAMP.fullmatch(value)) is None:
        raise _shape_error("an RFC 3339 timestamp such as 2026-11-28T07:03:53Z", value)
    year, month, day, hour, minute, second, fraction, _z, sign, off_h, off_m = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        offset = _datetime.timedelta(hours=int(off_h or 0), minutes=int(off_m or 0))
        if int(off_h or 0) > 23 or int(off_m or 0) > 59:
            raise ValueError("the offset is out of range")
        moment = _datetime.datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            micros,
            tzinfo=_datetime.timezone(-offset if sign == "-" else offset),
        )
        return moment.astimezone(_datetime.UTC)
    except (ValueError, OverflowError) as error:
        raise ActonError("SERIALIZATION_ERROR", f"{value!r} is not a timestamp: {error}") from error


def encode_timestamp(value: _datetime.datetime) -> str:
    """The wire form of a ``timestamp``: RFC 3339 in UTC (``2026-11-28T07:03:53.5Z``).

    A naive ``datetime`` is refused: which zone it means is a guess.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"timestamp {value!r} has no time zone; use an aware datetime, such as datetime.now(UTC)")
    utc = value.astimezone(_datetime.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S").rjust(19, "0") + _fraction(utc.microsecond) + "Z"


def decode_duration(value: object) -> _datetime.timedelta:
    """A ``duration``: seconds with an ``s`` (``1.5s``), as a ``timedelta``.

    Python keeps microseconds: digits beyond the sixth are dropped.
    """
    if not isinstance(value, str) or (match := _DURATION.fullmatch(value)) is None:
        raise _shape_error('a duration such as "1.5s"', value)
    seconds, fraction = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        return _datetime.timedelta(seconds=int(seconds), microseconds=micros)
    except OverflowError as error:
        raise ActonError("SERIALIZATION_ERROR", f"{value!r} is too long a duration") from error


def encode_duration(value: _datetime.timedelta) -> str:
    """The wire form of a ``duration``: seconds with an ``s`` (``1.5s``); never negative."""
    if value < _datetime.timedelta(0):
        raise ValueError(f"duration {value!r} is negative; a duration is a length of time")
    seconds = value.days * 86_400 + value.seconds
    return f"{seconds}{_fraction(value.microseconds)}s"


def present(**values: Any) -> dict[str, Any]:
    """The keyword arguments that were given (not ``None``)."""
    return {name: value for name, value in values.items() if value is not None}


def list_of(item: Callable[[Any], _T]) -> Callable[[Any], list[_T]]:
    """A decoder of lists whose items ``item`` decodes."""
    return lambda value: [item(element) for element in expect_list(value)]


def map_of(item: Callable[[Any], _T]) -> Callable[[Any], dict[str, _T]]:
    """A decoder of string-keyed maps whose values ``item`` decodes."""
    return lambda value: {str(key): item(element) for key, element in expect_mapping(value, "a map").items()}


def optional_of(item: Callable[[Any], _T]) -> Callable[[Any], _T | None]:
    """A decoder of optional values (``None`` stays ``None``)."""
    return lambda value: None if value is None else item(value)


@dataclass(frozen=True)
class Unknown:
    """A value of an open enum, or a variant of an open union, that this code does not
    know: added to the schema after it was generated. ``wire`` is its wire form (the
    value's name, or the variant's whole object); it is sent back as it came."""

    wire: Any

    def to_wire(self) -> Any:
        """The wire form, as it came."""
        return self.wire


class _Wire(Protocol):
    def to_wire(self) -> Any: ...


def to_wire(value: _Wire) -> Any:
    """A generated value's wire form."""
    return value.to_wire()


def list_to(item: Callable[[_T], Any]) -> Callable[[Iterable[_T]], list[Any]]:
    """An encoder of lists whose items ``item`` encodes."""
    return lambda value: [item(element) for element in value]


def map_to(item: Callable[[_T], Any]) -> Callable[[Mapping[str, _T]], dict[str, Any]]:
    """An encoder of maps whose values ``item`` encodes."""
    return lambda value: {key: item(element) for key, element in value.items()}


def optional_to(item: Callable[[_T], Any]) -> Callable[[_T | None], Any]:
    """An encoder of optional values."""
    return lambda value: None if value is None else item(value)
