"""Tests under tests/fleet need the local container fleet; everything else is pure and fast."""

from pathlib import Path

import pytest


def pytest_collection_modifyitems(items):
    fleet_dir = Path(__file__).parent / "fleet"
    for item in items:
        if fleet_dir in Path(item.fspath).parents:
            item.add_marker(pytest.mark.fleet)
