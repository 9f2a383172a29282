"""The client's frame splitter (``_Socket``) over a real socket pair: frames cut at
every byte, both protocol versions, empty payloads, a frame of 1 MiB in small
pieces, a header that breaks the protocol, and holding the reading."""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from collections.abc import Awaitable, Callable

import pytest

from messages._runtime import ActonError, ConnectionClosed, _Socket

Frame = tuple[int, int, bytes]


def v2(kind: int, fmt: int, payload: bytes) -> bytes:
    return struct.pack(">IBBB", len(payload), 2, kind, fmt) + payload


def v1(kind: int, payload: bytes) -> bytes:
    return struct.pack(">IBB", len(payload), 1, kind) + payload


class Peer:
    """A ``_Socket`` bound to lists, and the raw other end of its socket."""

    def __init__(self, socket_: _Socket, other: socket.socket) -> None:
        self.socket = socket_
        self.other = other
        self.frames: list[Frame] = []
        self.lost: list[ActonError] = []
        socket_.bind(lambda kind, fmt, data: self.frames.append((kind, fmt, data)), self.lost.append)

    async def send(self, data: bytes, pieces: int = 1) -> None:
        loop = asyncio.get_running_loop()
        cuts = sorted(random.sample(range(1, len(data)), min(pieces - 1, len(data) - 1))) if pieces > 1 else []
        for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True):
            await loop.sock_sendall(self.other, data[start:end])
            await asyncio.sleep(0)

    async def wait(self, condition: Callable[[], bool]) -> None:
        for _ in range(500):
            if condition():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the condition never held")


def with_peer(test: Callable[[Peer], Awaitable[None]]) -> None:
    async def scenario() -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        theirs.setblocking(False)
        wire = _Socket()
        transport, _ = await asyncio.get_running_loop().create_unix_connection(lambda: wire, sock=ours)
        try:
            await test(Peer(wire, theirs))
        finally:
            transport.close()
            theirs.close()

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_frames_cut_anywhere_arrive_whole_and_in_order() -> None:
    random.seed(7)
    sent = [(3, 1, b'{"n":%d}' % n) for n in range(50)] + [(2, 1, b""), (12, 2, b"\x80")]

    async def check(peer: Peer) -> None:
        data = b"".join(v2(*frame) for frame in sent)
        # One byte at a time, then random cuts.
        for pieces in (len(data), 7, 1):
            peer.frames.clear()
            await peer.send(data, pieces)
            await peer.wait(lambda: len(peer.frames) == len(sent))
            assert peer.frames == sent
        assert peer.lost == []

    with_peer(check)


def test_version_one_frames_are_json() -> None:
    async def check(peer: Peer) -> None:
        await peer.send(v1(2, b'{"a":1}') + v1(5, b"") + v2(2, 2, b"\x90"), pieces=5)
        await peer.wait(lambda: len(peer.frames) == 3)
        assert peer.frames == [(2, 1, b'{"a":1}'), (5, 1, b""), (2, 2, b"\x90")]

    with_peer(check)


def test_a_large_frame_in_small_pieces() -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB

    async def check(peer: Peer) -> None:
        await peer.send(v2(2, 1, payload) + v2(2, 1, b"after"), pieces=300)
        await peer.wait(lambda: len(peer.frames) == 2)
        assert peer.frames[0][2] == payload
        assert peer.frames[1][2] == b"after"

    with_peer(check)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (struct.pack(">IBBB", 1, 9, 2, 1), "version byte 0x09"),
        (struct.pack(">IBBB", 64 * 1024 * 1024, 2, 2, 1), "above the limit"),
    ],
)
def test_a_header_that_breaks_the_protocol_loses_the_connection(header: bytes, reason: str) -> None:
    async def check(peer: Peer) -> None:
        await peer.send(v2(2, 1, b"{}") + header + b"x")
        await peer.wait(lambda: bool(peer.lost))
        assert peer.frames == [(2, 1, b"{}")], "frames before the bad header still arrive"
        assert isinstance(peer.lost[0], ConnectionClosed)
        assert reason in str(peer.lost[0])
        assert peer.socket.transport is not None
        assert peer.socket.transport.is_closing()

    with_peer(check)


def test_a_frame_its_receiver_cannot_take_loses_the_connection() -> None:
    async def check(peer: Peer) -> None:
        def refuse(kind: int, fmt: int, data: bytes) -> None:
            raise ValueError("not JSON")

        peer.socket.bind(refuse, peer.lost.append)
        await peer.send(v2(2, 1, b"{"))
        await peer.wait(lambda: bool(peer.lost))
        assert "unreadable frame: not JSON" in str(peer.lost[0])

    with_peer(check)


def test_held_frames_wait_until_released() -> None:
    async def check(peer: Peer) -> None:
        peer.socket.hold()
        await peer.send(v2(2, 1, b"1") + v2(2, 1, b"2"), pieces=3)
        await asyncio.sleep(0.1)
        assert peer.frames == []
        peer.socket.release()
        await peer.wait(lambda: len(peer.frames) == 2)
        # Held again after the first frame of a pair: the second waits.
        peer.frames.clear()

        def hold_after_first(kind: int, fmt: int, data: bytes) -> None:
            peer.frames.append((kind, fmt, data))
            peer.socket.hold()

        peer.socket.bind(hold_after_first, peer.lost.append)
        await peer.send(v2(2, 1, b"3") + v2(2, 1, b"4"))
        await peer.wait(lambda: len(peer.frames) == 1)
        await asyncio.sleep(0.1)
        assert [data for _, _, data in peer.frames] == [b"3"]
        peer.socket.release()
        await peer.wait(lambda: len(peer.frames) == 2)
        assert [data for _, _, data in peer.frames] == [b"3", b"4"]

    with_peer(check)


def test_the_end_of_the_socket_is_reported_once() -> None:
    async def check(peer: Peer) -> None:
        await peer.send(v2(2, 1, b"{}"))
        peer.other.close()
        await peer.wait(lambda: bool(peer.lost))
        await asyncio.sleep(0.05)
        assert len(peer.lost) == 1
        assert isinstance(peer.lost[0], ConnectionClosed)
        await asyncio.wait_for(peer.socket.closed, 5)

    with_peer(check)
