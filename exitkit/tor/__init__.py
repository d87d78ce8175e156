"""The Tor exit: its instances, torrc and families (relay), its files (files), its fleet checks (checks),
the Tor Project's repository and its pinned key (repository).

Pure logic: nothing here knows of hosts; ``deploys/tor.py`` turns it into operations
and ``exitkit.control`` keeps the family key and fingerprints on the control machine.
"""

from exitkit.tor.checks import fleet_checks
from exitkit.tor.files import TORPROJECT_KEYRING, TORPROJECT_SOURCES, tor_files, torproject_repository
from exitkit.tor.relay import (
                               STATE_COMMAND,
                               Family,
                               TorInstance,
                               TorState,
                               contact_info,
                               families,
                               family_key_problem,
                               instance_nickname,
                               instances,
                               parse_tor_state,
                               render_torrc_file,
)
from exitkit.tor.reload import torrc_digest

__all__ = ["STATE_COMMAND", "TORPROJECT_KEYRING", "TORPROJECT_SOURCES", "Family", "TorInstance", "TorState",
           "contact_info", "families", "family_key_problem", "fleet_checks", "instance_nickname", "instances",
           "parse_tor_state",
           "render_torrc_file", "tor_files", "torproject_repository", "torrc_digest"]
