"""The generated Python clients over NATS (``connect_nats``), against real
desk-server processes serving on a real nats-server: every method kind, typed
errors, pushes, schema checks, two replicas with one killed under load, and a
reader that falls behind."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator

import nats
import pytest

from conftest import NatsServer, Server
from messages import (
    ActonError,
    CalculatorClient,
    DivisionByZero,
    ErrorCode,
    Format,
    KvStoreClient,
    NatsConnection,
    NotFound,
    Overflow,
    PricesClient,
    RequestTimeout,
)


def run(test: Callable[[], Awaitable[None]], limit: float = 60) -> None:
    asyncio.run(asyncio.wait_for(test(), limit))


def desk_on(nats_server: NatsServer, prefix: str) -> Server:
    return Server("--nats", nats_server.url, "--nats-prefix", prefix)


@pytest.fixture
def desk(nats_server: NatsServer) -> Iterator[Server]:
    server = desk_on(nats_server, "desk")
    yield server
    server.stop()


def test_every_method_kind_works_over_nats(nats_server: NatsServer, desk: Server) -> None:
    async def scenario() -> None:
        async with await CalculatorClient.connect_nats(nats_server.url, prefix="desk") as calc:
            assert (await calc.add(a=20, b=22)).sum == 42
            with pytest.raises(DivisionByZero) as division:
                await calc.divide(dividend=7, divisor=0)
            assert division.value.dividend == 7
            assert [item.value async for item in calc.count(up_to=5)] == [0, 1, 2, 3, 4]
            seen: list[int] = []

            async def factorials() -> None:
                async for factorial in calc.factorials(up_to=20):
                    seen.append(factorial.n)

            with pytest.raises(Overflow) as overflow:
                await factorials()
            assert overflow.value.at == 13
            assert seen == list(range(13))
            await calc.log(line="over nats")
            check = await calc.check_schema()
            assert check.status == "compatible", check.differences
        async with await KvStoreClient.connect_nats(nats_server.url, prefix="desk") as kv:
            await kv.put(key="k", value=b"\x00\xff")
            assert (await kv.get(key="k")).value == b"\x00\xff"
            with pytest.raises(NotFound) as missing:
                await kv.get(key="absent")
            assert missing.value.key == "absent"
            assert [key.key async for key in kv.list_keys()] == ["k"]

    run(scenario)


def test_pushes_arrive_through_nats(nats_server: NatsServer, desk: Server) -> None:
    async def scenario() -> None:
        async with await PricesClient.connect_nats(nats_server.url, prefix="desk") as prices:
            async with prices.subscribe_price_update() as updates:
                sequences = []
                async for update in updates:
                    assert update.quote.symbol == "ACME"
                    sequences.append(update.sequence)
                    if len(sequences) == 3:
                        break
            assert sequences == sorted(sequences)
            assert len(set(sequences)) == 3

    run(scenario)


def test_messagepack_and_errors_before_the_actor(nats_server: NatsServer, desk: Server) -> None:
    async def scenario() -> None:
        connection = await NatsConnection.connect(nats_server.url, prefix="desk")
        async with CalculatorClient(connection) as calc:
            with pytest.raises(ActonError) as unknown:
                await connection.request("calculator", "NoSuchType", {})
            assert unknown.value.code == ErrorCode.UNKNOWN_MESSAGE_TYPE
            with pytest.raises(ActonError) as malformed:
                await connection.request("calculator", "AddRequest", {"a": "forty"})
            assert malformed.value.code == ErrorCode.SERIALIZATION_ERROR
            with pytest.raises(ActonError) as nobody:
                await connection.request("nobody", "AddRequest", {"a": 1})
            assert nobody.value.code == ErrorCode.ACTOR_NOT_FOUND
            assert (await calc.add(a=1)).sum == 1, "still serving"
        # MessagePack (msgpack is in tests/python/requirements.txt).
        async with await CalculatorClient.connect_nats(nats_server.url, prefix="desk", fmt=Format.MSGPACK) as calc:
            assert (await calc.add(a=2, b=3)).sum == 5
            with pytest.raises(DivisionByZero):
                await calc.divide(dividend=1, divisor=0)

    run(scenario)


def test_a_wrong_prefix_is_a_clear_error_not_a_hang(nats_server: NatsServer, desk: Server) -> None:
    async def scenario() -> None:
        async with await CalculatorClient.connect_nats(nats_server.url, prefix="elsewhere") as calc:
            started = time.monotonic()
            with pytest.raises(ActonError) as error:
                await calc.add(a=1)
            assert error.value.code == ErrorCode.ACTOR_NOT_FOUND
            assert "elsewhere" in error.value.message
            with pytest.raises(ActonError) as stream_error:
                async for _ in calc.count(up_to=3):
                    pass
            assert stream_error.value.code == ErrorCode.ACTOR_NOT_FOUND
            assert time.monotonic() - started < 5

    run(scenario)


async def _served_by(url: str, prefix: str) -> dict[str, int]:
    """Requests each replica's calculator took, by replica id ($SRV.STATS)."""
    client = await nats.connect(url)
    inbox = client.new_inbox()
    answers = await client.subscribe(inbox)
    await client.publish("$SRV.STATS.calculator", b"", reply=inbox)
    counts: dict[str, int] = {}
    while True:
        try:
            msg = await answers.next_msg(timeout=0.5)
        except nats.errors.TimeoutError:
            break
        stats = json.loads(msg.data)
        if stats["metadata"]["acton.prefix"] == prefix:
            counts[stats["id"]] = sum(e["num_requests"] for e in stats["endpoints"])
    await client.close()
    return counts


def test_two_replicas_share_the_load_and_one_killed_loses_only_its_requests(nats_server: NatsServer) -> None:
    first = desk_on(nats_server, "replicas")
    second = desk_on(nats_server, "replicas")
    try:

        async def scenario() -> None:
            async with await CalculatorClient.connect_nats(nats_server.url, prefix="replicas", timeout=2.0) as calc:
                # Both take requests.
                for a in range(200):
                    assert (await calc.add(a=a, b=1)).sum == a + 1
                served = await _served_by(nats_server.url, "replicas")
                assert len(served) == 2, served
                assert all(count > 10 for count in served.values()), served

                # Under load (slow streams in flight on both), one is killed.
                async def one_call(a: int) -> str:
                    try:
                        items = [item.value async for item in calc.count(up_to=5, delay_ms=100, timeout=3.0)]
                        assert items == [0, 1, 2, 3, 4]
                        return "ok"
                    except RequestTimeout:
                        return "timeout"
                    except ActonError as error:
                        return str(error.code)

                calls = [asyncio.create_task(one_call(a)) for a in range(40)]
                await asyncio.sleep(0.2)
                first.kill()
                outcomes = await asyncio.wait_for(asyncio.gather(*calls), 15)
                assert outcomes.count("ok") > 0, outcomes
                assert outcomes.count("ok") < len(outcomes), "the killed replica held some of them"
                assert set(outcomes) <= {"ok", "timeout"}, outcomes
                # Everything from now on reaches the survivor.
                for a in range(50):
                    assert (await calc.add(a=a)).sum == a

        run(scenario)
    finally:
        first.stop() if first.process.poll() is None else None
        second.stop()


def test_a_reader_that_falls_behind_fails_its_stream_and_hurts_nobody(nats_server: NatsServer, desk: Server) -> None:
    async def scenario() -> None:
        slow = await NatsConnection.connect(nats_server.url, prefix="desk", stream_buffer=16)
        async with (
            CalculatorClient(slow) as slow_calc,
            await CalculatorClient.connect_nats(nats_server.url, prefix="desk") as calc,
        ):
            received = 0

            async def read_slowly() -> None:
                nonlocal received
                async for _ in slow_calc.count(up_to=100_000):
                    received += 1
                    if received == 1:
                        # Meanwhile everyone else is served promptly.
                        started = time.monotonic()
                        for a in range(20):
                            assert (await calc.add(a=a)).sum == a
                        assert time.monotonic() - started < 5
                        await asyncio.sleep(0.5)

            with pytest.raises(ActonError) as lost:
                await read_slowly()
            assert lost.value.code == ErrorCode.STREAM_ERROR
            assert received < 100_000
            # The slow client's connection still works.
            assert (await slow_calc.add(a=5)).sum == 5

    run(scenario)


def test_leaving_a_stream_early_cancels_it_on_the_server(nats_server: NatsServer, desk: Server) -> None:
    async def scenario() -> None:
        async with await CalculatorClient.connect_nats(nats_server.url, prefix="desk") as calc:
            async for item in calc.count(up_to=1_000_000, delay_ms=1):
                if item.value == 2:
                    assert (await calc.health()).active_streams == 1
                    break
            deadline = time.monotonic() + 5
            while (await calc.health()).active_streams != 0:
                assert time.monotonic() < deadline, "the server stopped the stream"
                await asyncio.sleep(0.02)

    run(scenario)


def test_nats_tooling_lists_the_schemas_services_and_methods(nats_server: NatsServer, desk: Server) -> None:
    async def scenario() -> None:
        client = await nats.connect(nats_server.url)
        try:
            msg = await client.request("$SRV.INFO.calculator", b"", timeout=5)
            info = json.loads(msg.data)
            assert info["type"] == "io.nats.micro.v1.info_response"
            assert info["description"] == "Arithmetic."
            endpoints = {endpoint["name"]: endpoint for endpoint in info["endpoints"]}
            assert set(endpoints) == {"add", "divide", "count", "factorials", "log", "health"}
            assert endpoints["add"]["subject"] == "desk.calculator.AddRequest"
            assert endpoints["add"]["queue_group"] == "acton"
            assert endpoints["divide"]["metadata"]["errors"] == "DivisionByZero"
            assert endpoints["count"]["metadata"]["call"] == "stream"
            assert endpoints["log"]["metadata"]["call"] == "send"
            assert info["metadata"]["acton.schema"].startswith("fnv1a64:")
        finally:
            await client.close()

    run(scenario)
