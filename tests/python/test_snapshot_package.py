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
