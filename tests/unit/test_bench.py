"""The bench's own arithmetic: where a converge's time went, the table, and the README's bench section."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from exitkit.lab import PROJECT

spec = importlib.util.spec_from_file_location("bench_converge", PROJECT / "bench" / "converge.py")
assert spec and spec.loader
bench = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = bench  # dataclasses look their module up there
spec.loader.exec_module(bench)


def test_each_phase_lasts_until_the_next_one_starts():
    lines = [(1.0, "--> Connecting to hosts...\n"), (2.5, "    [relay-1] Connected\n"),
             (3.0, "--> Preparing operation files...\n"), (9.0, "--> Beginning operation run...\n"),
             (9.5, "--> Starting operation: Base system | Install the relay's packages \n"),
             (40.0, "--> Starting operation: Notice page | Web root \n"), (41.0, "--> Results:\n")]
    assert bench.phases(lines, 42.0) == [
        ("Loading config and inventory", 1.0), ("Connecting to hosts", 2.0), ("Preparing operation files", 6.0),
        ("Beginning operation run", 0.5), ("Base system | Install the relay's packages", 30.5),
        ("Notice page | Web root", 1.0), ("Results:", 1.0)]


def test_the_table_gives_the_first_converge_as_a_multiple_of_the_floor():
    floor = bench.Converge(10.0, 4, 6, 80.0, fetched=0, served=50_000_000)
    first = bench.Converge(13.0, 150, 50, 120.0, fetched=40_000_000, served=50_000_000)
    again = bench.Converge(4.0, 80, 0, 100.0)
    row = bench.table([(3, floor, first, again)]).splitlines()[-1]
    assert row == "| 3 | 10.0 s | 13.0 s | 1.3× | 150 | 120 | warm (0/50 MB) / cold (40/50 MB) | 4.0 s | 80 | 0 |"


def test_the_readme_table_is_replaced_between_its_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{bench.README_START}\nold\n{bench.README_END}\nafter\n")
    bench.write_readme("| new |", readme)
    assert readme.read_text() == f"before\n{bench.README_START}\n| new |\n{bench.README_END}\nafter\n"
    readme.write_text("no markers\n")
    with pytest.raises(SystemExit):
        bench.write_readme("| new |", readme)


def test_the_proxy_cache_is_emptied_only_while_the_labs_cache_is_held_aside():
    from exitkit.lab import fence
    if fence.ACNG_HELD.exists():
        pytest.skip("a cold bench holds the cache right now")
    with pytest.raises(RuntimeError, match="throw away"):
        fence.empty_apt_cache()
