"""One exit policy, written once by the operator, with one meaning, rendered four ways.

The operator picks a preset and may add accept/reject entries in tor's syntax.
``build_policy`` validates them and returns an ``ExitPolicy`` whose ``allows``
method *is* the meaning of the policy: tor's first-match semantics over the
effective rules, and reject when nothing matches. Every renderer (torrc, Nym's
exit-policy file, nftables, the notice-page summary) is derived from the same
effective rules, and the unit tests read each rendering back with an
independent interpreter and compare it with ``allows``.

The modules, each importing only the ones above it:

- ``rules``: ``Rule``, ``PolicyError``, ``PolicySection``, the types, the
  always-rejected ranges, and ``parse_rule`` (the operator's entries);
- ``geometry``: address x port box arithmetic over rules (what an earlier
  rule leaves a later one to decide);
- ``presets``: the presets, ``ExitPolicy`` (the effective order of the rules),
  ``accepts_anything`` and ``build_policy`` with its checks of the entries;
- ``render``: ``render_torrc``, ``render_nym``, ``render_nftables``,
  ``policy_id`` and ``summarise``/``PolicySummary``;
- ``enforcement``: ``enforcement(settings)``, the one claim of where the
  policy holds (nftables on forwarded traffic, on a tor exit's own exit
  connections when it has exit addresses, or only the exit software's policy);
- ``files``: the relay's files, ``policy_files`` (the nftables ruleset at
  ``NFTABLES_RULESET`` and the unit that loads it at boot).

Import from ``exitkit.policy``; the modules are an internal layout.
Pure logic: no host access, no I/O, no network (``files`` reads its unit from the templates).
"""

from exitkit.policy.enforcement import TCP_ONLY_NETWORKS, Enforcement, enforcement, exit_addresses
from exitkit.policy.files import NFTABLES_RULESET, policy_files
from exitkit.policy.presets import (
    PRESETS,
    TOR_DEFAULT_REJECTED_PORTS,
    TOR_PRESETS_FROM,
    TOR_REDUCED_ACCEPTED_PORTS,
    ExitPolicy,
    accepts_anything,
    build_policy,
    is_exit_preset,
)
from exitkit.policy.render import (
    SERVICE_NAMES,
    PolicySummary,
    policy_id,
    render_nftables,
    render_nym,
    render_torrc,
    summarise,
)
from exitkit.policy.rules import (
    ALL_PORTS,
    ALWAYS_REJECTED,
    EXTRA_REJECTED_NETS,
    PORT_PROTOCOLS,
    PORTLESS_RULE,
    TOR_PRIVATE_NETS,
    PolicyError,
    PolicySection,
    Rule,
    parse_rule,
)

__all__ = [
    "ALL_PORTS",
    "ALWAYS_REJECTED",
    "EXTRA_REJECTED_NETS",
    "Enforcement",
    "ExitPolicy",
    "NFTABLES_RULESET",
    "PORTLESS_RULE",
    "PORT_PROTOCOLS",
    "PRESETS",
    "PolicyError",
    "PolicySection",
    "PolicySummary",
    "Rule",
    "SERVICE_NAMES",
    "TCP_ONLY_NETWORKS",
    "TOR_DEFAULT_REJECTED_PORTS",
    "TOR_PRESETS_FROM",
    "TOR_PRIVATE_NETS",
    "TOR_REDUCED_ACCEPTED_PORTS",
    "accepts_anything",
    "build_policy",
    "enforcement",
    "exit_addresses",
    "is_exit_preset",
    "parse_rule",
    "policy_files",
    "policy_id",
    "render_nftables",
    "render_nym",
    "render_torrc",
    "summarise",
]
