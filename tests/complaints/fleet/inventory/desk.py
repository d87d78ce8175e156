# pyinfra inventory: the fleet is inventory/desk.yml; this line loads and validates it.
from exitkit.fleet import pyinfra_inventory; globals().update(pyinfra_inventory(__file__))  # noqa: E702
