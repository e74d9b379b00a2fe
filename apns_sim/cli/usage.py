"""argparse's usage errors as one line, as ``device-sim`` and ``apns-provider`` print them.

argparse's default is the usage block (four lines and more for ``apns-sim portal cert issue``) before the error;
a learner then hunts for the one line that matters. The sub-command's name is kept, and ``--help`` is named.
The line itself, in English or Chinese, is the shared one of :mod:`pushsim_i18n.cli`.
"""

from __future__ import annotations

from pushsim_i18n import cli as shared


class OneLineParser(shared.OneLineParser):
    """Sub-parsers made by ``add_subparsers`` inherit the class, so every level answers in one line."""

    HINT = True
