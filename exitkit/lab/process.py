"""Running the host's commands (podman, mmdebstrap, ssh-keygen) and telling the user what the lab does."""

from __future__ import annotations

import subprocess
import sys
from typing import Any


def run(cmd: list[str], check: bool = True, capture: bool = True, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=check, text=True, capture_output=capture, **kw)


def log(message: str) -> None:
    """On stderr, so a command's own output (stdout) stays clean."""
    print(f"[lab] {message}", file=sys.stderr, flush=True)
