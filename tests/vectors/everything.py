"""Writes tests/vectors/everything.json: wire values of the every-feature schema's
types, with their MessagePack bytes, for the round-trip tests of every language."""
import json, msgpack, sys
from pathlib import Path

vectors = [
    {
        "name": "timestamps and durations at millisecond precision",
        "type": "Times",
        "wire": {
            "at": "2026-11-28T07:03:53.5Z",
            "took": "90s",
            "timeout": "0.25s",
            "history": ["1970-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z", "1969-12-31T23:59:59.001Z"],
            "budgets": {"a": "1.5s", "b": None, "c": "0.000001s", "d": "86400s"},
        },
    },
    {
        "name": "timestamps with an offset are read in UTC; defaults are filled in",
        "type": "Times",
        "wire": {
            "at": "2026-11-28T08:03:53.5+01:00",
            "took": "0s",
            "deadline": "2000-02-29t23:59:59-00:30",
            "history": [],
            "budgets": {},
        },
        "canonical": {
            "at": "2026-11-28T07:03:53.5Z",
            "took": "0s",
            "deadline": "2000-03-01T00:29:59Z",
            "timeout": "1.5s",
            "history": [],
            "budgets": {},
        },
    },
    {"name": "a known value of an open enum", "type": "Colour", "wire": "green"},
    {"name": "an unknown value of an open enum is kept", "type": "Colour", "wire": "purple"},
    {
        "name": "a known variant of an open union; defaults are filled in",
        "type": "Shape",
        "wire": {"kind": "circle", "radius": 2.5},
        "canonical": {"kind": "circle", "radius": 2.5, "label": "circle"},
    },
    {"name": "a variant without fields", "type": "Shape", "wire": {"kind": "point"}},
    {
        "name": "an unknown variant of an open union is kept whole",
        "type": "Shape",
        "wire": {"kind": "hexagon", "sides": 6, "side": 1.5, "name": "h"},
    },
    {
        "name": "fields read under their former names (aliases) are written under their names",
        "type": "Renamed",
        "wire": {"name": "a", "total": 3, "length": 5},
        "canonical": {"title": "a", "count": 3, "size": 5},
    },
    {
        "name": "a field given under its name and an alias is refused",
        "type": "Renamed",
        "wire": {"label": "x", "title": "t"},
        "rejected": True,
    },
    {
        "name": "a field given under two aliases is refused",
        "type": "Renamed",
        "wire": {"name": "x", "label": "t"},
        "rejected": True,
    },
    {
        "name": "types from imported files (common.Money, units.Grams), their defaults filled in",
        "type": "Priced",
        "wire": {
            "price": {"cents": 250, "weight": {"value": 1.5}},
            "history": [{"cents": -1, "currency": "USD"}],
        },
        "canonical": {
            "price": {"cents": 250, "currency": "EUR", "weight": {"value": 1.5}},
            "priority": "high",
            "history": [{"cents": -1, "currency": "USD"}],
        },
    },
]
for vector in vectors:
    vector["msgpack"] = msgpack.packb(vector["wire"]).hex()
document = {
    "description": "Values of the every-feature schema (codegen/tests/everything.yaml) in their wire form. Each language decodes `wire` (as JSON, and `msgpack` as MessagePack) into its generated type, encodes it again, and must get `canonical` (or `wire` when there is none) back, as a value; a `rejected` vector must fail to decode.",
    "schema": "codegen/tests/everything.yaml",
    "vectors": vectors,
}
Path(sys.argv[1]).write_text(json.dumps(document, indent=2) + "\n")
