import sys

from exitkit.cli import main

sys.exit(main())
