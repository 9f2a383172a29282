"""Clients that long-running programs can rely on, against a real desk-server
process: per-call deadlines, cancellation on the wire, keepalive, lazy reconnect,
subscriptions as scoped resources, bounded buffers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator

import pytest

from conftest import Server
from messages import CalculatorClient, Connection, ConnectionClosed, PricesClient, RequestTimeout


def run(test: Callable[[], Awaitable[None]], limit: float = 60) -> None:
    asyncio.run(asyncio.wait_for(test(), limit))


@pytest.fixture
def short_idle_server() -> Iterator[Server]:
    server = Server("--idle-timeout-ms", "500")
    yield server
    server.stop()


async def wait_until(condition: Callable[[], Awaitable[bool]], limit: float = 5.0) -> None:
    deadline = time.monotonic() + limit
    while not await condition():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.02)


def test_a_stream_has_no_deadline_unless_it_gives_one(server: Server) -> None:
    async def scenario() -> None:
        # Calls get the connection's 0.3 s; a stream of ~1.5 s runs to its end
        # with no deadline (explicitly, or by default).
        async with await CalculatorClient.connect(server.socket, timeout=0.3) as calc:
            for timeout in (None, ...):
                items = (
                    calc.count(up_to=15, delay_ms=100)
                    if timeout is ...
                    else calc.count(up_to=15, delay_ms=100, timeout=None)
                )
                assert [n.value async for n in items] == list(range(15))
            # A deadline given to a stream is the whole stream's.
            with pytest.raises(RequestTimeout):
                async for _ in calc.count(up_to=15, delay_ms=100, timeout=0.5):
                    pass
            # A call's own deadline overrides the connection's.
            assert (await calc.add(a=1, b=2, timeout=5.0)).sum == 3
            with pytest.raises(ValueError, match="positive"):
                await calc.add(a=1, b=2, timeout=-1)

    run(scenario)


def test_leaving_a_stream_stops_the_servers_handler(server: Server) -> None:
    async def scenario() -> None:
        async with await CalculatorClient.connect(server.socket) as calc:
            async for first in calc.count(up_to=10**9, delay_ms=1):
                assert first.value == 0
                assert (await calc.health()).active_streams == 1
                break

            async def stopped() -> bool:
                return (await calc.health()).active_streams == 0

            await wait_until(stopped)

            # Cancelling a task that waits on a stream tells the server too.
            async def consume() -> None:
                async for _ in calc.count(up_to=10**9, delay_ms=1):
                    pass

            task = asyncio.create_task(consume())
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await wait_until(stopped)

    run(scenario)


def test_an_idle_client_is_never_cut(short_idle_server: Server) -> None:
    async def scenario() -> None:
        async with await CalculatorClient.connect(short_idle_server.socket, keepalive=0.1) as calc:
            await asyncio.sleep(2.0)  # four idle timeouts of the server
            assert (await calc.add(a=2, b=2)).sum == 4
            assert not calc.connection.closed

    run(scenario)


def test_an_idle_client_survives_the_default_idle_timeout(server: Server) -> None:
    async def scenario() -> None:
        async with await CalculatorClient.connect(server.socket) as calc:
            await asyncio.sleep(40)  # the server's default idle timeout is 30 s
            assert (await calc.add(a=2, b=3)).sum == 5
            assert not calc.connection.closed

    run(scenario, limit=90)


def test_the_next_call_after_a_lost_connection_reconnects(short_idle_server: Server) -> None:
    async def scenario() -> None:
        # Without keepalive the server cuts the idle connection...
        async with await CalculatorClient.connect(short_idle_server.socket, keepalive=None) as calc:
            await asyncio.sleep(1.0)
            assert calc.connection.closed
            # ...and the next call opens a new one.
            assert (await calc.add(a=1, b=1)).sum == 2
        async with await CalculatorClient.connect(short_idle_server.socket, keepalive=None, reconnect=False) as calc:
            await asyncio.sleep(1.0)
            with pytest.raises(ConnectionClosed):
                await calc.add(a=1, b=1)

    run(scenario)


def test_a_subscription_is_a_scoped_resource(server: Server) -> None:
    async def scenario() -> None:
        async with await PricesClient.connect(server.socket) as prices:
            async with prices.subscribe_price_update() as updates, prices.subscribe_price_update() as others:
                first = await anext(updates)
                assert first.quote.symbol == "ACME"
                # One consumer leaving does not end the other's.
                await updates.close()
                await anext(others)  # the push both saw, at the latest
                assert (await anext(others)).sequence > first.sequence
            # Every consumer left: the server stops sending.
            before = prices.connection.pushes_received
            await asyncio.sleep(0.5)  # five broadcast periods
            assert prices.connection.pushes_received == before

    run(scenario)


def test_a_subscription_raises_when_the_server_dies() -> None:
    server = Server()

    async def scenario() -> None:
        async with (
            await PricesClient.connect(server.socket, reconnect=False) as prices,
            prices.subscribe_price_update() as updates,
        ):
            await anext(updates)
            server.kill()

            async def drain() -> None:
                while True:
                    await anext(updates)

            with pytest.raises(ConnectionClosed):
                await drain()

    try:
        run(scenario)
    finally:
        server.stop()


def test_a_slow_consumer_keeps_the_clients_memory_bounded(server: Server) -> None:
    async def scenario() -> None:
        async with await CalculatorClient.connect(server.socket) as calc:
            connection = calc.connection
            assert isinstance(connection, Connection)
            expected = 0
            buffered = 0
            async for item in calc.count(up_to=200_000):
                assert item.value == expected
                expected += 1
                if expected == 1:
                    await asyncio.sleep(1.0)  # the server keeps streaming meanwhile
                    buffered = max(q.qsize() for q in connection._streams.values())
            assert expected == 200_000, "nothing lost"
            assert 0 < buffered <= connection.stream_buffer

    run(scenario, limit=120)
