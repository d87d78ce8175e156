"""The lab: disposable local relays (Debian 13 or 12 containers with systemd and sshd, on rootful podman).

The demo (``./kit demo``), the tests, the benchmark and an operator's rehearsal
all deploy to this kind of machine over SSH with the real ``pyinfra`` command.
Relays live on internal podman networks: the control machine reaches them at
their addresses there (ssh, http) and with ``podman exec``; they reach nothing
but the control machine's apt proxy and resolver (``fence``).

    python -m exitkit.lab demo                 # 3 relays + deploy, reused if up
    python -m exitkit.lab up --name x --size 5 [--release bookworm]
    python -m exitkit.lab down --name demo
    python -m exitkit.lab image [--release trixie]   # build a release's relay image if its recipe changed
    python -m exitkit.lab rehearse inventory/<fleet>.py [--keep]

Modules: ``image`` (what a relay is made of, per Debian release, and the host it
runs on), ``addresses`` (networks and addresses per fleet), ``fence`` (the apt
proxy and resolver relays may reach, nothing else),
``containers`` (fleets of relays: up, wait, down), ``runs`` (fleet folders and
the pyinfra command line), ``rehearse`` (an operator's fleet on lab relays),
``dns`` (a dnsmasq on 127.0.0.1 for the reverse-DNS checks), ``demo``.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
# Where the lab keeps its fleets' keys, fleet folders and DNS servers' state.
LAB = Path(os.environ.get("EXITKIT_LAB", PROJECT / ".lab"))
