"""The generated Python package (`generated/python`, pip-installed by the test
command) against a real desk-server process, and its wire form."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import pytest

from conftest import Server
from messages import (
    ActonError,
    AddRequest,
    CalculatorClient,
    DivisionByZero,
    ErrorCode,
    Format,
    KvStoreClient,
    Level,
    NotFound,
    OrderLimit,
    OrderMarket,
    Overflow,
    PricesClient,
    PriceUpdate,
    Quote,
    RequestTimeout,
    Side,
    decode_order,
)

FORMATS = [Format.JSON, Format.MSGPACK]


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 30))


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_method_kind_through_the_generated_clients(server: Server, fmt: Format) -> None:
    async def scenario() -> None:
        async with await CalculatorClient.connect(server.socket, fmt=fmt) as calc:
            assert (await calc.add(a=40, b=2)).sum == 42
            assert (await calc.add(a=7)).sum == 7
            assert [n.value async for n in calc.count(up_to=5)] == [0, 1, 2, 3, 4]
            await calc.log(line="from the generated client", level=Level.WARN)
            health = await calc.health()
            assert health.status == "ok"

            kv = KvStoreClient(calc.connection)
            stored = await kv.put(key="gen", value=b"\x00\x01\xff", ttl_ms=None)
            assert stored.key == "gen"
            assert (await kv.get(key="gen")).value == b"\x00\x01\xff"
            assert [k.key async for k in kv.list_keys(prefix="ge")] == ["gen"]

            prices = PricesClient(calc.connection)
            order = OrderLimit(symbol="ACME", side=Side.BUY, size=10, price=99.5)
            accepted = await prices.place(order)
            assert accepted.order == order
            subscribed = await prices.subscribe(symbols=["ACME"])
            assert subscribed.symbols == ["ACME"]
            updates = prices.subscribe_price_update()
            async with contextlib.aclosing(updates):
                first = await anext(updates)
                second = await anext(updates)
            assert isinstance(first, PriceUpdate)
            assert first.quote.symbol == "ACME"
            assert first.quote.venue == "XNAS"
            assert second.sequence > first.sequence

    run(scenario)


@pytest.mark.parametrize("fmt", FORMATS)
def test_declared_errors_raise_as_their_own_exceptions(server: Server, fmt: Format) -> None:
    async def scenario() -> None:
        async with await CalculatorClient.connect(server.socket, fmt=fmt) as calc:
            kv = KvStoreClient(calc.connection)
            with pytest.raises(NotFound) as missing:
                await kv.get(key="missing")
            assert missing.value.key == "missing"
            assert missing.value.code == "NotFound"
            assert isinstance(missing.value, ActonError)
            assert "Nothing is stored under the key" in missing.value.message

            with pytest.raises(DivisionByZero) as by_zero:
                await calc.divide(dividend=7, divisor=0)
            assert by_zero.value.dividend == 7
            quotient = await calc.divide(dividend=-7, divisor=2)
            assert (quotient.quotient, quotient.remainder) == (-3, -1)

            # A stream ends with a declared error after its items.
            seen: list[int] = []

            async def read_all() -> None:
                async for item in calc.factorials(up_to=30):
                    seen.append(item.value)

            with pytest.raises(Overflow) as overflow:
                await read_all()
            assert overflow.value.at == 13
            assert len(seen) == 13
            assert seen[-1] == 479_001_600
            assert (await calc.add(a=1, b=1)).sum == 2, "the connection still serves"

    run(scenario)


def test_server_errors_raise_with_their_code(server: Server) -> None:
    async def scenario() -> None:
        async with await CalculatorClient.connect(server.socket, timeout=0.3) as calc:
            # The stream outlives its deadline (sent to the server as response_timeout_ms).
            with pytest.raises(RequestTimeout) as error:
                async for _ in calc.count(up_to=100, delay_ms=100, timeout=0.3):
                    pass
            assert error.value.code == ErrorCode.TIMEOUT
            assert isinstance(error.value, TimeoutError), "server and client timeouts are one class"
            assert (await calc.add(a=1, b=1)).sum == 2, "the connection still serves"

    run(scenario)


def test_check_schema_compares_with_the_schema_the_server_serves(server: Server) -> None:
    async def scenario() -> None:
        async with await CalculatorClient.connect(server.socket) as calc:
            check = await calc.check_schema()
            assert (check.status, check.differences) == ("compatible", [])

    run(scenario)


def test_schema_comparison_follows_the_diff_rules() -> None:
    # The same cases as the Rust client's schema_check tests.
    import copy
    import json

    from messages import _runtime, _schema

    own = json.loads(_schema.SCHEMA)
    assert _runtime.compare_schemas(own, own, ["calculator"]).status == "compatible"
    server = copy.deepcopy(own)
    calculator = next(s for s in server["services"] if s["name"] == "calculator")
    calculator["methods"] = [m for m in calculator["methods"] if m["name"] != "log"]
    degraded = _runtime.compare_schemas(own, server, ["calculator"])
    assert degraded.status == "degraded"
    assert degraded.differences == ["service calculator method log: missing on the server"]
    level = next(t for t in server["types"] if t["wire_name"] == "Level")
    level["values"].append({"name": "trace"})
    incompatible = _runtime.compare_schemas(own, server, ["calculator"])
    assert incompatible.status == "incompatible"
    assert incompatible.differences[0] == "type Level value trace: sent by the server, unknown here"
    assert _runtime.compare_schemas(own, server, ["kv_store"]).status == "compatible"


def test_the_wire_form_of_the_dataclasses() -> None:
    quote = Quote(symbol="A", side=Side.SELL, price=1.5, size=2**63, venue=None, extra={"k": [1, None]})
    wire = quote.to_wire()
    assert wire == {
        "symbol": "A",
        "side": "sell",
        "price": 1.5,
        "size": 2**63,
        "tags": [],
        "attributes": {},
        "extra": {"k": [1, None]},
    }
    assert "venue" not in wire, "an absent optional is left out"
    assert Quote.from_wire(wire) == quote
    # Defaults fill what is absent; unknown fields are ignored.
    assert AddRequest.from_wire({"a": 1, "later_field": True}) == AddRequest(a=1, b=0)
    # A union reads by its tag.
    market = decode_order({"kind": "market", "symbol": "A", "side": "buy", "size": 1})
    assert market == OrderMarket(symbol="A", side=Side.BUY, size=1)
    assert market.to_wire()["kind"] == "market"
    # Wrong shapes are errors with the protocol's code, not crashes.
    for bad in ({"a": "one"}, {"b": 1}, ["a"], None):
        with pytest.raises(ActonError) as error:
            AddRequest.from_wire(bad)
        assert error.value.code == "SERIALIZATION_ERROR"
    with pytest.raises(ActonError):
        decode_order({"kind": "stop"})
    with pytest.raises(ActonError):
        Side.from_wire("middle")
