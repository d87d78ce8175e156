"""What the kit keeps on the control machine, in the operator's fleet folder: the tor family key
(secret, 0600) and the fingerprints the last deploy saw (public).

The one module that writes files on the control machine during a deploy (the history too); the
pure logic it serves lives in the concerns (``exitkit.tor``).
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from exitkit.history import POLICY_DIR, RunRecord, StoredPolicy, history_path, parse_history, stored_policy
from exitkit.settings import RelaySettings
from exitkit.tor import instances

FAMILY_KEY_HEADER = b"== ed25519v1-secret: fmly-id ==\x00"


def family_key(seed: bytes | None = None) -> tuple[bytes, str]:
    """A new family key as tor's ``--keygen-family`` writes it, and its FamilyId.

    The file holds tor's header and the expanded ed25519 secret key (SHA-512 of
    the seed, clamped); the id is the public key in unpadded base64.
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    seed = seed or os.urandom(32)
    expanded = bytearray(hashlib.sha512(seed).digest())
    expanded[0] &= 248
    expanded[31] &= 127
    expanded[31] |= 64
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return FAMILY_KEY_HEADER + bytes(expanded), base64.b64encode(public).decode().rstrip("=")


def ensure_family_key(folder: Path, family: str) -> tuple[Path, str]:
    """The fleet's family key on the control machine, made once, and its FamilyId.

    Kept as tor's ``--keygen-family`` keeps it (``<family>.secret_family_key``,
    0600 in a 0700 folder, beside ``<family>.public_family_id``), so a key made
    with tor itself can be dropped in instead. Never printed.
    """
    secret, public = folder / f"{family}.secret_family_key", folder / f"{family}.public_family_id"
    if not secret.exists():
        key, family_id = family_key()
        write_secret(secret, key)
        public.write_text(family_id + "\n")
    family_id = _read_family_id(public)
    if not re.fullmatch(r"[A-Za-z0-9+/]{43}", family_id):
        raise ValueError(f"{public}: expected the FamilyId that tor --keygen-family wrote beside {secret.name}")
    return secret, family_id


def existing_family_key(folder: Path, family: str) -> bytes | None:
    """The family key this control machine already holds, or None; never makes one."""
    secret = folder / f"{family}.secret_family_key"
    return secret.read_bytes() if secret.exists() else None


FINGERPRINT_CACHE = Path(".exitkit") / "tor-fingerprints.json"  # in the fleet folder; public fingerprints only
CONTROL_LOCK = Path(".exitkit") / "control.lock"  # held while a run changes the cache or the history
FAMILY_KEYS = Path("secrets") / "tor-family"  # in the fleet folder; the family keys, 0600


@contextmanager
def _one_writer(fleet_dir: Path) -> Iterator[None]:
    """Two runs from one fleet folder (two terminals, a CI job beside an operator) change the fingerprint cache
    and the history one after the other, so neither loses the other's entries or interleaves its lines."""
    path = fleet_dir / CONTROL_LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def replace_text(path: Path, text: str) -> None:
    """Replace a file on the control machine by rename, so a reader never sees half of it (a staged name of this
    process's own, so two runs never write one staged file)."""
    staged = path.with_name(f".{path.name}.{os.getpid()}.exitkit-new")
    staged.write_text(text, encoding="utf-8")
    staged.replace(path)


def known_fingerprints(fleet_dir: Path) -> dict[str, dict[str, str]]:
    """Relay -> data dir -> fingerprint, as the last deploy saw them on the relays."""
    path = fleet_dir / FINGERPRINT_CACHE
    return json.loads(path.read_text()) if path.exists() else {}


def remember_fingerprints(fleet_dir: Path, found: dict[tuple[str, str], str]) -> None:
    """Keep the fingerprints seen per relay, so an unreachable member keeps its family place."""
    if all(known_fingerprints(fleet_dir).get(name, {}).get(data_dir) == fingerprint
           for (name, data_dir), fingerprint in found.items()):
        return  # nothing new: no lock taken, nothing written
    with _one_writer(fleet_dir):
        before = known_fingerprints(fleet_dir)
        cache = {name: dict(dirs) for name, dirs in before.items()}
        for (name, data_dir), fingerprint in found.items():
            cache.setdefault(name, {})[data_dir] = fingerprint
        if cache != before:
            replace_text(fleet_dir / FINGERPRINT_CACHE, json.dumps(cache, indent=1, sort_keys=True) + "\n")


def remembered(fleet_dir: Path, name: str, settings: RelaySettings) -> dict[tuple[str, str], str]:
    """(relay, data dir) -> fingerprint last seen, for the instances this relay's settings still have."""
    dirs = {instance.data_dir for instance in instances(settings)}
    return {(name, data_dir): fingerprint
            for data_dir, fingerprint in known_fingerprints(fleet_dir).get(name, {}).items() if data_dir in dirs}


def known_family_id(fleet_dir: Path, family: str) -> str:
    """The FamilyId of a family key already made on the control machine ("" when there is none yet)."""
    return _read_family_id(fleet_dir / FAMILY_KEYS / f"{family}.public_family_id") if family else ""


def _read_family_id(public: Path) -> str:
    """The FamilyId in a ``<family>.public_family_id`` file (its last word), "" if there is no such file."""
    return public.read_text().split()[-1] if public.exists() else ""


def write_secret(path: Path, data: bytes) -> None:
    """A secret on the control machine: 0600 in 0700 folders, written once, never printed."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)


def append_history(fleet_dir: Path, records: list[RunRecord], policies: list[dict]) -> Path | None:
    """Add one run's records to the fleet's history, and keep each policy they name once (by id)."""
    if not records:
        return None
    path = history_path(fleet_dir, records[0].fleet)
    with _one_writer(fleet_dir):
        for document in policies:
            kept = fleet_dir / POLICY_DIR / f"{document['policy_id']}.json"
            if not kept.exists():
                kept.parent.mkdir(parents=True, exist_ok=True)
                replace_text(kept, json.dumps(document, indent=1, ensure_ascii=False) + "\n")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as out:
            out.write("".join(record.to_line() + "\n" for record in records))
    return path


def read_history(fleet_dir: Path, fleet: str) -> list[RunRecord]:
    """The fleet's history, oldest first ([] before its first deploy)."""
    path = history_path(fleet_dir, fleet)
    return parse_history(path.read_text(encoding="utf-8"), str(path)) if path.exists() else []


def read_policy(fleet_dir: Path, policy_id: str) -> StoredPolicy | None:
    """A policy kept beside the history, or None when this folder has no copy of it."""
    path = fleet_dir / POLICY_DIR / f"{policy_id}.json"
    return stored_policy(json.loads(path.read_text(encoding="utf-8"))) if path.exists() else None
