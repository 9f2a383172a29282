"""The Python client against a hostile server: a plain Unix socket server in the
test's event loop that answers the client's control frames and then does what a
hostile (or broken) server would — a 16 MiB frame in 4 KiB writes, stream items
and pushes beyond the client's byte bounds, a frame header above the client's
maximum, a push that does not decode, a server running as another user."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import struct
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from runtime import (
    ActonError,
    Connection,
    ConnectionClosed,
    Format,
    Kind,
    TypedSubscription,
    UnexpectedServer,
    encode_frame,
    read_frame,
)

MiB = 1024 * 1024
OnRequest = Callable[[dict[str, Any], asyncio.StreamWriter], Coroutine[Any, Any, None]]


async def _nothing(_body: dict[str, Any], _writer: asyncio.StreamWriter) -> None:
    return None


class FakeServer:
    """A Unix socket server speaking just enough of the protocol; ``on_request`` is the hostile part."""

    def __init__(self, on_request: OnRequest = _nothing) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="acton-hostile-"))
        self.path = str(self.dir / "server.sock")
        self.on_request = on_request
        self.writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> FakeServer:
        self._server = await asyncio.start_unix_server(self._serve, self.path)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for writer in self.writers:
            writer.close()
        if self._server is not None:
            self._server.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        try:
            while True:
                kind, _fmt, data = await read_frame(reader)
                body: dict[str, Any] = {} if not data else json.loads(data)
                if kind == Kind.REQUEST:
                    asyncio.get_running_loop().create_task(self.on_request(body, writer))
                elif kind not in (Kind.HEARTBEAT, Kind.CANCEL):
                    answer = {"correlation_id": body.get("correlation_id"), "success": True}
                    writer.write(encode_frame(Kind.RESPONSE, Format.JSON, answer))
        except (ConnectionClosed, ConnectionError):
            pass

    async def connect(self, **options: Any) -> Connection:
        return await Connection.connect(self.path, keepalive=None, reconnect=False, timeout=20.0, **options)


def big_frame(kind: Kind, body: dict[str, Any], field: str, size: int) -> bytes:
    """A JSON frame whose ``field`` is a string of ``size`` bytes."""
    return encode_frame(kind, Format.JSON, {**body, field: "x" * size})


async def write_in_pieces(writer: asyncio.StreamWriter, data: bytes, piece: int) -> None:
    for start in range(0, len(data), piece):
        writer.write(data[start : start + piece])
        await writer.drain()
        await asyncio.sleep(0)


def run(test: Callable[[], Awaitable[None]], limit: float = 60) -> None:
    asyncio.run(asyncio.wait_for(test(), limit))


def test_a_16_mib_answer_in_4_kib_writes_arrives_in_time_linear_in_its_size() -> None:
    sizes: list[int] = []

    async def answer(body: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        reply = {"correlation_id": body["correlation_id"], "success": True}
        await write_in_pieces(writer, big_frame(Kind.RESPONSE, reply, "payload", sizes[-1]), 4096)

    async def scenario() -> None:
        async with FakeServer(answer) as server:
            connection = await server.connect()

            async def time_of(size: int) -> float:
                sizes.append(size)
                started = time.perf_counter()
                result = await connection.request("big", "Big", {})
                assert len(result) == size
                return time.perf_counter() - started

            small = await time_of(4 * MiB)
            large = await time_of(16 * MiB - 100)
            # Linear: about 4 times as long; quadratic: 16 times.
            assert large / small < 8, f"4 MiB in {small:.3f} s, 16 MiB in {large:.3f} s"
            await connection.close()

    run(scenario)


def test_a_frame_header_above_max_frame_size_closes_the_connection_with_a_clear_error() -> None:
    async def announce(_body: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        writer.write(struct.pack(">IBBB", 2049, 2, Kind.RESPONSE, Format.JSON))

    async def scenario() -> None:
        async with FakeServer(announce) as server:
            connection = await server.connect(max_frame_size=2048)
            with pytest.raises(ConnectionClosed, match=r"frame of 2049 bytes, above the limit of 2048 bytes"):
                await connection.request("x", "X", {})
            assert connection.closed

    run(scenario)


def test_a_streams_buffer_is_bounded_in_bytes_and_nothing_is_lost() -> None:
    item, count, bound = MiB, 24, 4 * MiB

    async def stream(body: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        head = {"correlation_id": body["correlation_id"], "is_final": False}
        for sequence in range(count):
            writer.write(big_frame(Kind.STREAM, {**head, "sequence": sequence}, "payload", item))
            await writer.drain()
        final = {"correlation_id": body["correlation_id"], "sequence": count, "is_final": True}
        writer.write(encode_frame(Kind.STREAM, Format.JSON, final))

    async def scenario() -> None:
        async with FakeServer(stream) as server:
            connection = await server.connect(stream_buffer_bytes=bound)
            received, most = 0, 0
            async for payload in connection.stream("s", "S", {}):
                assert len(payload) == item
                received += 1
                if received == 1:  # the consumer holds the first item; the server keeps writing
                    for _ in range(20):
                        await asyncio.sleep(0.025)
                        most = max([most, *(q.bytes for q in connection._streams.values())])
            assert received == count, "nothing lost"
            assert 0 < most <= bound + item + 1024, f"{most} bytes buffered, bound {bound}"
            await connection.close()

    run(scenario)


def push_frame(n: str, size: int, message_type: str = "Big") -> bytes:
    return big_frame(
        Kind.PUSH, {"message_type": message_type, "notification_id": n, "timestamp_ms": 1}, "payload", size
    )


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(3000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


def test_a_subscriptions_buffer_is_bounded_in_bytes_and_counts_what_it_drops() -> None:
    item, pushes, bound = MiB, 10, 3 * MiB

    async def scenario() -> None:
        async with FakeServer() as server:
            connection = await server.connect(push_buffer_bytes=bound)
            subscription = await connection.subscribe(["Big"])
            writer = server.writers[0]
            for n in range(pushes):
                writer.write(push_frame(f"n{n}", item))
            # One push alone larger than the bound is still taken (progress is possible).
            writer.write(push_frame("huge", 2 * bound))
            await until(lambda: connection.pushes_received == pushes + 1)
            last = await subscription.__anext__()
            assert last.notification_id == "huge"
            assert subscription.missed == pushes
            assert subscription.buffered_bytes == 0
            for n in range(pushes):
                writer.write(push_frame(f"m{n}", item))
            await until(lambda: connection.pushes_received == 2 * pushes + 1)
            assert subscription.buffered_bytes <= bound
            assert subscription.missed == pushes + 8  # two of about 1 MiB fit in 3 MiB
            await connection.close()

    run(scenario)


def test_a_push_that_does_not_decode_is_counted_and_skipped() -> None:
    def decode(payload: Any) -> float:
        if not isinstance(payload, dict) or not isinstance(payload.get("price"), float):
            raise ActonError("SERIALIZATION_ERROR", "not a Price")
        price: float = payload["price"]
        return price

    async def scenario() -> None:
        async with FakeServer() as server:
            connection = await server.connect()
            prices = await TypedSubscription(connection.subscription(["Price"]), decode).start()
            writer = server.writers[0]

            def push(payload: object) -> bytes:
                body = {"message_type": "Price", "notification_id": "n", "timestamp_ms": 1, "payload": payload}
                return encode_frame(Kind.PUSH, Format.JSON, body)

            writer.write(push({"price": "not a number"}))
            writer.write(struct.pack(">IBBB", 3, 2, Kind.PUSH, Format.JSON) + b"{{{")
            writer.write(push({"price": 42.5}))
            assert await prices.__anext__() == 42.5
            assert prices.undecodable == 1
            assert connection.pushes_undecodable == 1
            assert not connection.closed
            await connection.close()

    run(scenario)


def test_require_server_uid_refuses_a_server_of_another_user() -> None:
    async def scenario() -> None:
        async with FakeServer() as server:
            me = os.getuid()
            connection = await server.connect(require_server_uid=me)
            await connection.close()
            with pytest.raises(UnexpectedServer, match=rf"runs as uid {me}, not the required uid {me + 1}"):
                await server.connect(require_server_uid=me + 1)

    run(scenario)


@pytest.mark.skipif(os.getuid() != 0, reason="starting a server as another user needs root")
def test_require_server_uid_reads_the_peers_credentials_not_the_files_owner() -> None:
    """A server running as `nobody` whose socket file is given to root is still refused."""
    python = shutil.which("python3", path="/usr/bin:/bin") or "/usr/bin/python3"
    directory = Path(tempfile.mkdtemp(prefix="acton-other-user-"))
    directory.chmod(0o777)
    path = directory / "server.sock"
    serve = (
        "import socket, sys, time\n"
        "s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(); print('ready', flush=True)\n"
        "conns = []\n"
        "while True: conns.append(s.accept()[0])\n"
    )
    process = subprocess.Popen([python, "-c", serve, str(path)], user=65534, stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == b"ready"
        os.chown(path, 0, 0)

        async def scenario() -> None:
            with pytest.raises(UnexpectedServer, match=r"runs as uid 65534, not the required uid 0"):
                await Connection.connect(str(path), require_server_uid=0, keepalive=None, timeout=5.0)

        run(scenario)
    finally:
        process.kill()
        process.wait()
        shutil.rmtree(directory, ignore_errors=True)
