"""``python -m scenarios`` lists the stories; ``python -m scenarios NAME`` runs one (docs/architecture.md contract
6)."""

from __future__ import annotations

import sys

from scenarios.runner import main

if __name__ == "__main__":
    sys.exit(main())
