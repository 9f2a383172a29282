"""The Python client runtime against a real server process: every kind of call,
both formats, errors, a server that dies mid-request, many calls at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from conftest import Server
from runtime import ActonError, Connection, ConnectionClosed, Format, RateLimited

FORMATS = [Format.JSON, Format.MSGPACK]


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 30))


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_kind_of_call(server: Server, fmt: Format) -> None:
    async def scenario() -> None:
        async with await Connection.connect(server.socket, fmt=fmt) as connection:
            assert await connection.request("calculator", "AddRequest", {"a": 40, "b": 2}) == {"sum": 42}
            # b has a default in the schema.
            assert await connection.request("calculator", "AddRequest", {"a": 1}) == {"sum": 1}
            status = await connection.request("calculator", "HealthCheck", {})
            assert status["status"] == "ok"
            items = [item async for item in connection.stream("calculator", "CountRequest", {"up_to": 5})]
            assert items == [{"value": n} for n in range(5)]
            await connection.send("calculator", "LogEvent", {"line": "from python"})
            stored = await connection.request("kv_store", "Put", {"key": "py", "value": b"\x00\xff"})
            assert stored["key"] == "py"
            found = await connection.request("kv_store", "Get", {"key": "py"})
            value = found["value"]
            assert (value if isinstance(value, bytes) else __import__("base64").b64decode(value)) == b"\x00\xff"
            order = {"kind": "limit", "symbol": "ACME", "side": "buy", "size": 5, "price": 9.5}
            accepted = await connection.request("prices", "Order", order)
            assert accepted["order"] == order
            subscription = await connection.subscribe(["PriceUpdate"])
            first = await anext(subscription)
            second = await anext(subscription)
            assert first.message_type == "PriceUpdate"
            assert second.payload["sequence"] > first.payload["sequence"]
            found_actors = await connection.discover()
            assert {a["name"] for a in found_actors["actors"]} == {"calculator", "kv_store", "prices"}
            assert "AddRequest" in found_actors["message_types"]
            await connection.heartbeat()

    run(scenario)


def test_errors_carry_the_protocol_code(server: Server) -> None:
    async def scenario() -> None:
        async with await Connection.connect(server.socket) as connection:
            with pytest.raises(ActonError) as unknown_target:
                await connection.request("nobody", "AddRequest", {"a": 1, "b": 2})
            assert unknown_target.value.code == "ACTOR_NOT_FOUND"
            with pytest.raises(ActonError) as unknown_type:
                await connection.request("calculator", "Nope", {})
            assert unknown_type.value.code == "UNKNOWN_MESSAGE_TYPE"
            with pytest.raises(ActonError) as wrong_shape:
                await connection.request("calculator", "AddRequest", {"a": "one"})
            assert wrong_shape.value.code == "SERIALIZATION_ERROR"
            with pytest.raises(ActonError) as timeout:
                async for _ in connection.stream(
                    "calculator", "CountRequest", {"up_to": 100, "delay_ms": 50}, timeout=0.3
                ):
                    pass
            assert timeout.value.code == "TIMEOUT"
            # The connection still serves after every error.
            assert await connection.request("calculator", "AddRequest", {"a": 2, "b": 2}) == {"sum": 4}

    run(scenario)


def test_a_burst_past_the_rate_limit_is_refused(rate_limited_server: Server) -> None:
    async def scenario() -> None:
        async with await Connection.connect(rate_limited_server.socket) as connection:
            calls = [connection.request("calculator", "AddRequest", {"a": i, "b": 0}) for i in range(8)]
            results = await asyncio.gather(*calls, return_exceptions=True)
            refused = [r for r in results if isinstance(r, ActonError)]
            # Every frame costs a token: the discovery at connect took one of the 3.
            assert len(refused) == 6
            assert all(r.code == "RATE_LIMITED" and "retry after" in r.message for r in refused)
            assert all(isinstance(r, RateLimited) and (r.retry_after_ms or 0) >= 1 for r in refused)

    run(scenario)


def test_many_concurrent_calls_on_one_connection(server: Server) -> None:
    async def scenario() -> None:
        async with await Connection.connect(server.socket, fmt=Format.MSGPACK) as connection:
            # Four times what the actor's mailbox holds (256): the server holds
            # the connection's frames back while the mailbox is full, and every
            # call is answered.
            answers = await asyncio.gather(
                *(connection.request("calculator", "AddRequest", {"a": i, "b": 1}) for i in range(1000))
            )
            assert [a["sum"] for a in answers] == [i + 1 for i in range(1000)]

    run(scenario)


def test_a_server_that_dies_mid_request_never_leaves_the_client_hanging() -> None:
    server = Server()

    async def scenario() -> None:
        connection = await Connection.connect(server.socket)
        stream = connection.stream("calculator", "CountRequest", {"up_to": 1000, "delay_ms": 100})
        first = await anext(stream)
        assert first == {"value": 0}
        slow = connection.stream("calculator", "CountRequest", {"up_to": 10, "delay_ms": 5000})
        pending = asyncio.ensure_future(anext(slow))
        await asyncio.sleep(0.05)
        server.kill()
        started = time.monotonic()
        with pytest.raises(ConnectionClosed):
            async for _ in stream:
                pass
        with pytest.raises(ActonError):
            await pending
        with pytest.raises(ConnectionClosed):
            await connection.request("calculator", "AddRequest", {"a": 1, "b": 1})
        assert time.monotonic() - started < 5
        await connection.close()

    try:
        run(scenario)
    finally:
        server.stop()


def test_connecting_to_nothing_fails_clearly(tmp_path: object) -> None:
    async def scenario() -> None:
        with pytest.raises(ConnectionClosed) as error:
            await Connection.connect("/nonexistent/acton.sock")
        assert "cannot connect" in error.value.message

    run(scenario)


def test_reconnecting_after_the_server_restarts() -> None:
    server = Server()

    async def scenario() -> None:
        connection = await Connection.connect(server.socket)
        assert await connection.request("calculator", "AddRequest", {"a": 1, "b": 1}) == {"sum": 2}
        server.kill()
        with pytest.raises(ConnectionClosed):
            await connection.request("calculator", "AddRequest", {"a": 1, "b": 1})
        assert connection.closed
        with pytest.raises(ConnectionClosed):
            await connection.reconnect()  # nothing listens yet
        restarted = Server.at(server.socket)
        try:
            await connection.reconnect()
            assert not connection.closed
            assert await connection.request("calculator", "AddRequest", {"a": 2, "b": 3}) == {"sum": 5}
        finally:
            await connection.close()
            restarted.stop()

    try:
        run(scenario)
    finally:
        server.stop()
