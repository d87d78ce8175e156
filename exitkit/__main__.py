import sys

from exitkit.cli import entry

sys.exit(entry())
