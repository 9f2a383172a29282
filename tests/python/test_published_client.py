"""The example Python client of the published acton-reactive crate (10.x), taken
from the crate's package (the test command fetches it: ``ACTON_REACTIVE10_PYTHON``),
against our server: it keeps working with what this project added to the protocol,
declared errors among them."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType

import pytest

from conftest import Server


def published_client() -> ModuleType:
    path = os.environ.get("ACTON_REACTIVE10_PYTHON")
    if not path or not Path(path).is_file():
        pytest.fail(
            "set ACTON_REACTIVE10_PYTHON to the published crate's "
            "examples/ipc_client_libraries/python/acton_ipc.py (scripts/test.sh does)"
        )
    spec = importlib.util.spec_from_file_location("acton_ipc", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["acton_ipc"] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 30))


def test_a_declared_error_reads_as_a_code_and_a_message(server: Server) -> None:
    acton_ipc = published_client()

    async def scenario() -> None:
        async with acton_ipc.ActonIpcClient(server.socket) as client:
            with pytest.raises(acton_ipc.ServerError) as missing:
                await client.request("kv_store", "Get", {"key": "missing"})
            assert missing.value.code == "NotFound"
            assert "Nothing is stored under the key" in str(missing.value)

            with pytest.raises(acton_ipc.ServerError) as by_zero:
                await client.request("calculator", "DivideRequest", {"dividend": 1, "divisor": 0})
            assert by_zero.value.code == "DivisionByZero"

            # The same connection keeps working.
            answer = await client.request("calculator", "AddRequest", {"a": 2, "b": 3})
            assert answer.success
            assert answer.payload == {"sum": 5}

    run(scenario)
