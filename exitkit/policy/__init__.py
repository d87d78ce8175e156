"""The exit policy package; everything is in exitkit.policy.rules for now (split next)."""

from exitkit.policy.rules import *  # noqa: F401,F403
from exitkit.policy.rules import __all__  # noqa: F401
