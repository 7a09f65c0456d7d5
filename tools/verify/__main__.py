"""`python -m tools.verify` (and `python3 verify.pyz` in a container)."""

import sys

from .cli import main

sys.exit(main())
