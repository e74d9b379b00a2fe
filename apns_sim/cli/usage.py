"""argparse's usage errors as one line, as ``device-sim`` and ``apns-provider`` print them.

argparse's default is the usage block (four lines and more for ``apns-sim portal cert issue``) before the error;
a learner then hunts for the one line that matters. The sub-command's name is kept, and ``--help`` is named.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn


class OneLineParser(argparse.ArgumentParser):
    """Sub-parsers made by ``add_subparsers`` inherit the class, so every level answers in one line."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(2)
