# pyinfra group data: the settings are in nym_gateways.yml beside this file.
from exitkit.fleet import group_settings; globals().update(group_settings(__file__))  # noqa: E702
