"""The shared protocol test vectors decode and encode byte for byte."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import runtime
from runtime import Format, Kind

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "protocol.json"


def load() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(VECTORS.read_text(encoding="utf-8"))
    return document


def test_every_vector_decodes_to_its_meaning_and_encodes_to_its_bytes() -> None:
    document = load()
    vectors = document["vectors"]
    assert len(vectors) >= 30
    for vector in vectors:
        name = vector["name"]
        frame = bytes.fromhex(vector["hex"])
        kind = document["kinds"][vector["kind"]]
        fmt = document["formats"][vector["format"]]
        version = vector["version"]
        header = 7 if version == 2 else 6
        length = int.from_bytes(frame[:4], "big")
        assert length == len(frame) - header, name
        assert frame[4] == version, name
        assert frame[5] == kind, name
        if version == 2:
            assert frame[6] == fmt, name
        assert runtime.decode_frame_payload(fmt, frame[header:]) == vector["value"], name
        if not vector.get("decode_only"):
            payload = None if vector["type"] == "heartbeat" else vector["value"]
            assert runtime.encode_frame(Kind(kind), Format(fmt), payload).hex() == vector["hex"], name
