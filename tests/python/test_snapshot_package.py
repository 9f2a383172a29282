"""The every-feature schema's generated package (codegen/tests/snapshots/python) is
not only type-checked: it imports, and names that clash with a method's own
parameters (`self`, `timeout`) are mangled, keeping their wire names."""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_every_feature_package_imports_and_mangles_clashing_parameters() -> None:
    sys.path.insert(0, str(ROOT / "codegen" / "tests" / "snapshots" / "python"))
    try:
        client = importlib.import_module("shop.client")
        types = importlib.import_module("shop.types")
    finally:
        sys.path.pop(0)
    parameters = inspect.signature(client.CounterClient.find_one).parameters
    assert "self_" in parameters, "a field named `self` is the parameter `self_`"
    assert "timeout" in parameters, "the per-call deadline keeps its name"
    keywords = types.Keywords(type="t", class_=1, async_=True, self="s", camelCase="c", _private=2)
    assert keywords.to_wire()["self"] == "s"


def test_the_shared_value_vectors_round_trip() -> None:
    """tests/vectors/everything.json, shared with the Rust and TypeScript tests: each
    wire value decodes into its class (from JSON and from MessagePack) and encodes
    back to its canonical form."""
    import json

    import msgpack  # type: ignore[import-untyped]
    import pytest

    sys.path.insert(0, str(ROOT / "codegen" / "tests" / "snapshots" / "python"))
    try:
        types = importlib.import_module("shop.types")
        runtime = importlib.import_module("shop._runtime")
    finally:
        sys.path.pop(0)
    document = json.loads((ROOT / "tests" / "vectors" / "everything.json").read_text())
    assert document["vectors"]
    # Unions have a decoder function; other types a `from_wire` class method.
    decoders = {"Shape": types.decode_shape}
    for vector in document["vectors"]:
        decode = decoders.get(vector["type"]) or getattr(types, vector["type"]).from_wire
        expected = vector.get("canonical", vector["wire"])
        if vector.get("rejected"):
            with pytest.raises(runtime.ActonError):
                decode(json.loads(json.dumps(vector["wire"])))
            with pytest.raises(runtime.ActonError):
                decode(msgpack.unpackb(bytes.fromhex(vector["msgpack"])))
            continue
        from_json = decode(json.loads(json.dumps(vector["wire"])))
        assert from_json.to_wire() == expected, vector["name"]
        from_msgpack = decode(msgpack.unpackb(bytes.fromhex(vector["msgpack"])))
        repacked = msgpack.unpackb(msgpack.packb(from_msgpack.to_wire()))
        assert repacked == expected, vector["name"]
    unknown = types.Colour.from_wire("purple")
    assert isinstance(unknown, types.Unknown)
    assert unknown.wire == "purple"
    assert isinstance(types.decode_shape({"kind": "hexagon"}), types.Unknown)


def test_timestamps_and_durations_refuse_what_they_cannot_represent() -> None:
    import datetime

    import pytest

    sys.path.insert(0, str(ROOT / "codegen" / "tests" / "snapshots" / "python"))
    try:
        runtime = importlib.import_module("shop._runtime")
    finally:
        sys.path.pop(0)
    for bad in ["2026-02-29T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:00:00", 17]:
        with pytest.raises(runtime.ActonError):
            runtime.decode_timestamp(bad)
    with pytest.raises(ValueError, match="no time zone"):
        runtime.encode_timestamp(datetime.datetime(2026, 1, 1))
    assert runtime.encode_timestamp(runtime.decode_timestamp("0099-03-01T00:00:00+01:00")) == "0099-02-28T23:00:00Z"
    for bad in ["-1s", "1", "1.5ms", "1.0000000001s", 1.5]:
        with pytest.raises(runtime.ActonError):
            runtime.decode_duration(bad)
    with pytest.raises(ValueError, match="negative"):
        runtime.encode_duration(datetime.timedelta(seconds=-1))
    assert runtime.encode_duration(datetime.timedelta(days=1, microseconds=5)) == "86400.000005s"
