"""``python -m matsign`` is the ``matsign`` command."""

import sys

from matsign.cli import main

sys.exit(main())
