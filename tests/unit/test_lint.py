"""ruff and mypy as part of the fast tests, so ``./kit test`` (and CI) fails on a new warning.

Both run from this venv with the settings in pyproject.toml; a failure shows
their own report. ``./kit lint`` runs the same two commands.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Already free of findings: a new one here fails the run today.
CLEAN_PATHS = ("tests", "bench", "deploys/ops.py")


def run(*command: str) -> subprocess.CompletedProcess:
    """A tool of this venv (python -m), from the project root so pyproject.toml applies."""
    return subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True)


def report(result: subprocess.CompletedProcess) -> str:
    return f"{' '.join(result.args[2:])} exited {result.returncode}:\n{result.stdout}{result.stderr}"


def test_ruff_finds_nothing_where_the_code_is_clean():
    result = run("ruff", "check", "--no-cache", *CLEAN_PATHS)
    assert result.returncode == 0, report(result)


def test_ruff_finds_nothing():
    result = run("ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, report(result)


def test_mypy_finds_nothing():
    result = run("mypy")
    assert result.returncode == 0, report(result)
