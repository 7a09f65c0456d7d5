"""python -m tools.import_nginx --from FILE... --out Pulumi.<stack>.yaml [--platform P] [--force]"""

from __future__ import annotations

import sys

from tools.import_nginx.cli import main

if __name__ == "__main__":
    sys.exit(main())
