"""``python -m kseg``: the command line."""

import sys

from kseg.cli import main

sys.exit(main())
