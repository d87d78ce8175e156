"""The abuse contact of an address, from an RDAP answer (RFC 9083: an IP network object and its entities).

Pure: ``rdap_url`` says what to ask, ``abuse_contact`` reads the JSON the caller fetched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AbuseContact:
    email: str
    name: str          # the abuse entity's fn, else its handle
    network: str       # the network's name and handle, as the registry gives them


def rdap_url(server: str, address: str) -> str:
    """RFC 9082's lookup of the network holding ``address``."""
    return f"{server.rstrip('/')}/ip/{address}"


def abuse_contact(document: Any) -> AbuseContact | None:
    """The first entity with the role 'abuse' that has an email (entities nest: RIPE puts it under the org)."""
    if not isinstance(document, dict):
        return None
    network = " ".join(str(document.get(k, "")) for k in ("name", "handle") if document.get(k)).strip()
    for entity in _entities(document):
        if "abuse" in (entity.get("roles") or []):
            card = _vcard(entity)
            if card.get("email"):
                return AbuseContact(card["email"], card.get("fn") or str(entity.get("handle", "")), network)
    return None


def _entities(node: dict) -> list[dict]:
    """Every entity below ``node``, breadth first (the network's own contacts before their members)."""
    found, queue = [], [node]
    while queue:
        current = queue.pop(0)
        for entity in current.get("entities") or []:
            if isinstance(entity, dict):
                found.append(entity)
                queue.append(entity)
    return found


def _vcard(entity: dict) -> dict[str, str]:
    """fn and email of a jCard (RFC 7095: ["vcard", [[name, params, type, value], ...]])."""
    card = entity.get("vcardArray")
    out: dict[str, str] = {}
    if isinstance(card, list) and len(card) == 2 and isinstance(card[1], list):
        for item in card[1]:
            if isinstance(item, list) and len(item) >= 4 and item[0] in ("fn", "email") and isinstance(item[3], str):
                out.setdefault(item[0], item[3])
    return out
