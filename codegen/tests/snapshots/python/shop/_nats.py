"""The NATS transport of the generated clients: the same calls as
:class:`Connection`, to servers that serve their actors on NATS
(``desk-server --nats URL``), as docs/nats.md specifies.

Needs the ``nats-py`` package, which the package's ``nats`` extra installs
(``pip install 'PACKAGE[nats]'``); nothing here is imported by socket users.
Requests go to ``{prefix}.{service}.{MessageType}``; servers with the same prefix
share them (replicas), so a call reaches whichever replica NATS picks.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from collections.abc import AsyncGenerator, Sequence
from typing import Any, Final

from ._runtime import (
    DEFAULT_BUFFER_BYTES,
    DEFAULT_BUFFER_ITEMS,
    DEFAULT_TIMEOUT,
    ActonError,
    BufferBound,
    ConnectionClosed,
    DeclaredError,
    ErrorCode,
    Format,
    Push,
    RequestTimeout,
    SchemaCheck,
    Subscription,
    Timeout,
    _error_from,
    deadline_of,
    decode_frame_payload,
    encode_payload,
    schema_check,
)

try:  # nats-py is optional: the package's `nats` extra.
    import nats as _nats  # type: ignore[import-not-found, unused-ignore]
    import nats.errors as _nats_errors  # type: ignore[import-not-found, unused-ignore]
    from nats.aio.client import Client as _NatsClient  # type: ignore[import-not-found, unused-ignore]
    from nats.aio.msg import Msg as _Msg  # type: ignore[import-not-found, unused-ignore]
    from nats.aio.subscription import (  # type: ignore[import-not-found, unused-ignore]
        Subscription as _NatsSubscription,
    )
except ImportError:  # pragma: no cover - exercised where nats-py is absent
    _nats = None  # type: ignore[assignment, unused-ignore]

__all__ = ["NatsConnection"]

FORMAT: Final = "Acton-Format"
CALL: Final = "Acton-Call"
TIMEOUT_MS: Final = "Acton-Timeout-Ms"
SEQUENCE: Final = "Acton-Sequence"
FINAL: Final = "Acton-Final"
CANCEL_DIGEST: Final = "Acton-Cancel-Digest"
CANCEL_SECRET: Final = "Acton-Cancel-Secret"
NOTIFICATION_ID: Final = "Acton-Notification-Id"
TIMESTAMP_MS: Final = "Acton-Timestamp-Ms"
ERROR: Final = "Nats-Service-Error"
ERROR_CODE: Final = "Nats-Service-Error-Code"

_FORMAT_NAMES: Final = {Format.JSON: "json", Format.MSGPACK: "msgpack"}
_FORMATS_BY_NAME: Final = {name: fmt for fmt, name in _FORMAT_NAMES.items()}
# What a call without a deadline waits for (the server cuts it to its own longest).
_NO_DEADLINE_S: Final = 365 * 24 * 3600.0


def _header(msg: _Msg, name: str) -> str | None:
    headers = msg.headers or {}
    return headers.get(name)


def _payload(msg: _Msg) -> Any:
    name = _header(msg, FORMAT) or "json"
    fmt = _FORMATS_BY_NAME.get(name)
    if fmt is None:
        raise ActonError(ErrorCode.PROTOCOL_ERROR, f"the server answered in an unknown format `{name}`")
    return decode_frame_payload(fmt, msg.data)


def _failure(msg: _Msg, declared: Sequence[type[DeclaredError]] = ()) -> ActonError | None:
    """The error an answer carries, if it is one."""
    code = _header(msg, ERROR_CODE)
    if code is None:
        return None
    answer = {"error_code": code, "error": _header(msg, ERROR) or "", "payload": _payload(msg)}
    return _error_from(answer, declared)


class NatsConnection:
    """One connection to a NATS server, reaching the actors served under ``prefix``.

    Calls, streams, sends and push subscriptions work as on :class:`Connection`.
    What differs: NATS has no back-pressure, so a stream read too slowly loses
    items, which fails the stream with ``STREAM_ERROR`` rather than skipping them
    silently. Leaving a stream early cancels it on the server, as on the socket.
    NATS reconnects by itself; calls in flight while it is away fail with a
    timeout.
    """

    def __init__(
        self,
        client: _NatsClient,
        *,
        prefix: str,
        fmt: Format = Format.JSON,
        timeout: float = 30.0,
        stream_buffer: int = DEFAULT_BUFFER_ITEMS,
        push_buffer: int = DEFAULT_BUFFER_ITEMS,
        stream_buffer_bytes: int = DEFAULT_BUFFER_BYTES,
        push_buffer_bytes: int = DEFAULT_BUFFER_BYTES,
    ) -> None:
        self._client = client
        self.prefix = prefix
        self.format = fmt
        self.timeout = timeout
        self.stream_bound = BufferBound.of(stream_buffer, stream_buffer_bytes)
        self.push_bound = BufferBound.of(push_buffer, push_buffer_bytes)
        self.stream_buffer = self.stream_bound.items
        self.push_buffer = self.push_bound.items
        self._held: dict[Subscription, list[_NatsSubscription]] = {}
        self.pushes_received = 0

    @classmethod
    async def connect(
        cls,
        url: str | Sequence[str],
        *,
        prefix: str = "acton",
        fmt: Format = Format.JSON,
        timeout: float = 30.0,
        user_credentials: str | None = None,
        token: str | None = None,
        name: str | None = None,
        stream_buffer: int = DEFAULT_BUFFER_ITEMS,
        push_buffer: int = DEFAULT_BUFFER_ITEMS,
        stream_buffer_bytes: int = DEFAULT_BUFFER_BYTES,
        push_buffer_bytes: int = DEFAULT_BUFFER_BYTES,
    ) -> NatsConnection:
        """Connects to the NATS server(s) at ``url`` (``nats://host:4222``);
        ``user_credentials`` is a NATS credentials file, ``token`` a token. A stream
        whose reader leaves ``stream_buffer`` items (or ``stream_buffer_bytes`` of
        payload) unread fails with ``STREAM_ERROR``; a subscription keeps the newest
        ``push_buffer`` pushes (and ``push_buffer_bytes`` of payload)."""
        if _nats is None:
            raise ActonError(
                ErrorCode.CONNECTION_CLOSED,
                "NATS needs the nats-py package: install this package with its `nats` extra",
            )
        servers = [url] if isinstance(url, str) else list(url)
        try:
            client = await _nats.connect(
                servers=servers,
                name=name or "acton-client",
                user_credentials=user_credentials,
                token=token,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                connect_timeout=min(timeout, 10.0),
                pending_size=8 * 1024 * 1024,
            )
        except Exception as error:  # nats-py raises several unrelated types here
            raise ConnectionClosed(f"cannot connect to NATS at {', '.join(servers)}: {error}") from error
        return cls(
            client,
            prefix=prefix,
            fmt=fmt,
            timeout=timeout,
            stream_buffer=stream_buffer,
            push_buffer=push_buffer,
            stream_buffer_bytes=stream_buffer_bytes,
            push_buffer_bytes=push_buffer_bytes,
        )

    @property
    def closed(self) -> bool:
        """Whether the connection has been closed."""
        return bool(self._client.is_closed)

    async def close(self) -> None:
        """Ends the subscriptions and closes the connection (after sending what is
        queued)."""
        for subscription in list(self._held):
            await subscription.close()
        if not self._client.is_closed:
            await self._client.drain()

    async def reconnect(self) -> None:
        """NATS reconnects by itself; this only checks that the connection was not
        closed for good."""
        if self._client.is_closed:
            raise ConnectionClosed("the NATS connection was closed")

    async def __aenter__(self) -> NatsConnection:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _subject(self, target: str, message_type: str) -> str:
        return f"{self.prefix}.{target}.{message_type}"

    def _limit(self, timeout: Timeout, *, stream: bool) -> float | None:
        return deadline_of(timeout, self.timeout, stream=stream)

    def _headers(self, call: str, limit: float | None) -> dict[str, str]:
        headers = {FORMAT: _FORMAT_NAMES[self.format], CALL: call}
        if limit is not None:
            headers[TIMEOUT_MS] = str(max(1, int(limit * 1000)))
        else:
            headers[TIMEOUT_MS] = str(int(_NO_DEADLINE_S * 1000))
        return headers

    async def _call(self, call: str, target: str, message_type: str, payload: object, timeout: Timeout) -> _Msg:
        if self._client.is_closed:
            raise ConnectionClosed("the NATS connection is closed")
        limit = self._limit(timeout, stream=False)
        body = encode_payload(self.format, payload)
        # A little longer than the server's own deadline, whose TIMEOUT says more.
        wait = _NO_DEADLINE_S if limit is None else limit + 1.0
        try:
            return await self._client.request(
                self._subject(target, message_type), body, timeout=wait, headers=self._headers(call, limit)
            )
        except _nats_errors.NoRespondersError:
            raise ActonError(
                ErrorCode.ACTOR_NOT_FOUND, f"no server serves `{target}` on NATS under the prefix `{self.prefix}`"
            ) from None
        except _nats_errors.TimeoutError:
            raise RequestTimeout.after(wait) from None
        except (_nats_errors.ConnectionClosedError, _nats_errors.ConnectionDrainingError) as error:
            raise ConnectionClosed(f"the NATS connection is closed: {error}") from error
        except _nats_errors.MaxPayloadError as error:
            raise ActonError(
                ErrorCode.LIMIT_EXCEEDED, f"the request is larger than the NATS server takes: {error}"
            ) from error

    async def request(
        self,
        target: str,
        message_type: str,
        payload: object,
        *,
        timeout: Timeout = DEFAULT_TIMEOUT,
        errors: Sequence[type[DeclaredError]] = (),
    ) -> Any:
        """Request-response: the reply's payload (decoded), or :class:`ActonError`."""
        msg = await self._call("reply", target, message_type, payload, timeout)
        failure = _failure(msg, errors)
        if failure is not None:
            raise failure
        return _payload(msg)

    async def send(
        self, target: str, message_type: str, payload: object, *, timeout: Timeout = DEFAULT_TIMEOUT
    ) -> None:
        """Fire-and-forget: returns once the target's mailbox accepted the message."""
        msg = await self._call("send", target, message_type, payload, timeout)
        failure = _failure(msg)
        if failure is not None:
            raise failure

    async def stream(
        self,
        target: str,
        message_type: str,
        payload: object,
        *,
        timeout: Timeout = DEFAULT_TIMEOUT,
        errors: Sequence[type[DeclaredError]] = (),
    ) -> AsyncGenerator[Any, None]:
        """Request-stream: yields each item's payload; raises :class:`ActonError` if
        the stream fails, or with ``STREAM_ERROR`` if items were lost because they
        were read too slowly."""
        if self._client.is_closed:
            raise ConnectionClosed("the NATS connection is closed")
        limit = self._limit(timeout, stream=True)
        inbox = self._client.new_inbox()
        # Bounded: once `stream_bound` (items or bytes) would be passed, the stream
        # is lost (NATS would drop items anyway) and the reader learns it at its
        # next item.
        arrived: asyncio.Queue[_Msg | None] = asyncio.Queue()
        waiting = 0  # payload bytes in `arrived`
        lost = False

        async def arrive(msg: _Msg) -> None:
            nonlocal lost, waiting
            if lost:
                return
            size = len(msg.data)
            if not arrived.empty() and (
                arrived.qsize() >= self.stream_bound.items or waiting + size > self.stream_bound.bytes
            ):
                lost = True
                while not arrived.empty():
                    arrived.get_nowait()
                arrived.put_nowait(None)
                return
            waiting += size
            arrived.put_nowait(msg)

        replies = await self._client.subscribe(inbox, cb=arrive)
        loop = asyncio.get_running_loop()
        deadline = None if limit is None else loop.time() + limit + 1.0
        expected = 0
        ended = False  # by the server: nothing to cancel
        # Only its digest travels with the request: only this caller can cancel it.
        cancel_secret = secrets.token_hex(16)
        headers = self._headers("stream", limit)
        headers[CANCEL_DIGEST] = hashlib.sha256(cancel_secret.encode()).hexdigest()
        try:
            body = encode_payload(self.format, payload)
            await self._client.publish(self._subject(target, message_type), body, reply=inbox, headers=headers)
            while True:
                remaining = None if deadline is None else max(deadline - loop.time(), 0.001)
                if self._client.is_closed:
                    raise ConnectionClosed("the NATS connection is closed")
                try:
                    next_msg = await asyncio.wait_for(arrived.get(), remaining)
                except TimeoutError:
                    raise RequestTimeout.after(limit or 0.0) from None
                if next_msg is None:
                    raise ActonError(
                        ErrorCode.STREAM_ERROR,
                        f"the stream was dropped: more than {self.stream_bound.items} items"
                        f" or {self.stream_bound.bytes} bytes waited unread",
                    )
                msg = next_msg
                waiting -= len(msg.data)
                if msg.headers and msg.headers.get("Status") == "503":
                    ended = True
                    raise ActonError(
                        ErrorCode.ACTOR_NOT_FOUND,
                        f"no server serves `{target}` on NATS under the prefix `{self.prefix}`",
                    )
                sequence = int(_header(msg, SEQUENCE) or "0")
                if sequence != expected:
                    raise ActonError(
                        ErrorCode.STREAM_ERROR,
                        f"{sequence - expected} items of the stream were lost (read too slowly)",
                    )
                if _header(msg, FINAL) == "true":
                    ended = True
                    failure = _failure(msg, errors)
                    if failure is not None:
                        raise failure
                    return
                expected += 1
                yield _payload(msg)
        finally:
            if not self._client.is_closed:
                await replies.unsubscribe()
                if not ended:
                    # Given up on (left early, read too slowly, timed out): the
                    # server stops producing it.
                    await self._client.publish(
                        f"{self.prefix}._cancel", inbox.encode(), headers={CANCEL_SECRET: cancel_secret}
                    )

    def subscription(self, message_types: Sequence[str] = (), patterns: Sequence[str] = ()) -> Subscription:
        """A subscription to broadcasts of these types (and name patterns such as
        ``prices.*``), not yet started."""
        return Subscription(self, message_types, patterns)

    async def subscribe(self, message_types: Sequence[str] = (), patterns: Sequence[str] = ()) -> Subscription:
        """Subscribes to broadcasts of these types (and name patterns), and returns
        once the NATS server has the subscription."""
        return await self.subscription(message_types, patterns).start()

    async def _hold(self, subscription: Subscription) -> None:
        if self._client.is_closed:
            raise ConnectionClosed("the NATS connection is closed")
        push_prefix = f"{self.prefix}.push."

        async def deliver(msg: _Msg) -> None:
            message_type = msg.subject[len(push_prefix) :]
            if not subscription.wants(message_type):
                return
            self.pushes_received += 1
            try:
                payload = _payload(msg)
            except (ActonError, ValueError):
                # Skipped and counted: one bad message on a push subject is not the
                # end of the subscription.
                subscription.undecodable += 1
                return
            push = Push(
                message_type=message_type,
                payload=payload,
                notification_id=_header(msg, NOTIFICATION_ID) or "",
                timestamp_ms=int(_header(msg, TIMESTAMP_MS) or "0"),
            )
            subscription._offer(push, len(msg.data), self.push_bound)

        # Patterns are matched here: one subscription to every push covers them.
        subjects = [push_prefix + ">"] if subscription.patterns else [push_prefix + t for t in subscription.types]
        held = [await self._client.subscribe(subject, cb=deliver) for subject in subjects]
        self._held[subscription] = held
        await self._client.flush()

    async def _release(self, subscription: Subscription) -> None:
        for held in self._held.pop(subscription, []):
            if not self._client.is_closed:
                await held.unsubscribe()

    async def discover_schema(self) -> dict[str, Any]:
        """The served schema (``schema`` and ``schema_fingerprint``, absent from
        servers that serve none), and the exposed actors and registered types."""
        try:
            msg = await self._client.request(f"{self.prefix}._discover", b"", timeout=self.timeout)
        except _nats_errors.NoRespondersError:
            raise ActonError(ErrorCode.ACTOR_NOT_FOUND, f"no server serves on NATS under `{self.prefix}`") from None
        except _nats_errors.TimeoutError:
            raise RequestTimeout.after(self.timeout) from None
        answer = json.loads(msg.data)
        if not isinstance(answer, dict):
            raise ActonError(ErrorCode.PROTOCOL_ERROR, "the discovery answer is not an object")
        return answer

    async def check_schema(self, document: str, fingerprint: str, services: Sequence[str]) -> SchemaCheck:
        """Whether the server's schema fits this client's for ``services``."""
        return schema_check(await self.discover_schema(), document, fingerprint, services)
