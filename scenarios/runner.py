"""Finding and running scenarios: ``python -m scenarios [NAME] [--json] [--step]``."""

from __future__ import annotations

import asyncio
import importlib
import os
import shutil
import sys
import traceback
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from pushsim_i18n import Domain
from pushsim_i18n.cli import OneLineParser, add_lang_option, error_line, start
from pushsim_i18n.wrap import display_width, wrap
from scenarios.story import Story, StoryFailed, UsageError

_ = Domain("scenarios").gettext
PROG = "python -m scenarios"

ScenarioFn = Callable[[Story], Coroutine[Any, Any, None]]

# In the order a newcomer would read them: the happy path first, then each failure.
MODULES = (
    "three_stages",
    "tutorial_path",
    "registration_failure",
    "certificate_workflow",
    "token_auth",
    "offline_store_and_forward",
    "expiration_and_collapse",
    "uninstall_410",
    "bad_requests_tour",
    "wrong_environment",
    "provider_retries",
    "permission_denied",
    "background_throttling",
    "load_fleet",
    "then_and_now",
)


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    run: ScenarioFn


def catalogue() -> dict[str, Scenario]:
    """Every scenario, by name (imported here, not at import time, so ``scenarios.runner`` stays light)."""
    items = [importlib.import_module(f"scenarios.{module}").SCENARIO for module in MODULES]
    return {s.name: s for s in items}


def find(name: str) -> Scenario | None:
    """One scenario by name, importing only its module (``three-stages`` lives in ``scenarios.three_stages``),
    so running a story does not pay for importing every other one."""
    module = name.replace("-", "_")
    if module not in MODULES:
        return None
    scenario: Scenario = importlib.import_module(f"scenarios.{module}").SCENARIO
    return scenario if scenario.name == name else None


def execute(scenario: Scenario, story: Story) -> int:
    """Run one story to its verdict: 0 when it holds, 1 with the failed claim (or the error) otherwise."""
    try:
        asyncio.run(scenario.run(story))
    except StoryFailed as exc:
        story.verdict(False, str(exc))
        return 1
    except UsageError as exc:
        print(error_line(PROG, str(exc)), file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (``| head``): main() ends quietly, no traceback to tell
        raise
    except KeyboardInterrupt:  # Ctrl-C, also at a --step prompt: a verdict line, then the shell's 130
        story.verdict(False, _("interrupted"))
        return 130
    except Exception as exc:  # the story broke in an unplanned way: say where, exit non-zero
        traceback.print_exc(file=sys.stderr)
        story.verdict(False, f"{type(exc).__name__}: {exc}")
        return 1
    story.verdict(True)  # given already if the story lingered (--hold, the end of --step)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The CLI; a reader that stops reading (``python -m scenarios three-stages --json | head -3``) ends the
    run quietly with 141, as a shell tool killed by SIGPIPE does (docs/scenarios.md "Exit status")."""
    try:
        return _main(argv)
    except BrokenPipeError:
        # Python flushes stdout once more at exit and would complain of the same broken pipe: point it at
        # /dev/null first.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 141


def listing(scenarios: Sequence[Scenario], width: int | None) -> list[str]:
    """One line per scenario, its summary in a column; at ``width`` columns a summary wraps under itself
    (by display width, so Chinese too); ``None``: no wrapping (a pipe, a file)."""
    name_width = max(len(s.name) for s in scenarios)
    lines = []
    for scenario in scenarios:
        summary = _(scenario.summary)  # marked N_() where it is written
        room = (width or 0) - name_width - 2
        if width is None or display_width(summary) <= room or room < 20:
            lines.append(f"{scenario.name:<{name_width}}  {summary}")
            continue
        for number, part in enumerate(wrap(summary, room)):
            lines.append(f"{scenario.name if number == 0 else '':<{name_width}}  {part}")
    return lines


def _width() -> int | None:
    """The terminal's columns ($COLUMNS first, as rich does), or None off a terminal with no $COLUMNS."""
    if os.environ.get("COLUMNS", "").isdigit():
        return int(os.environ["COLUMNS"])
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else None


def _main(argv: Sequence[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else list(argv)
    try:
        start(PROG, args_in)  # UTF-8 output, argparse's own words in our catalog, the language chosen
    except SystemExit as exc:  # a language we do not have: start() printed the one line
        return int(exc.code or 2)
    parser = OneLineParser(prog=PROG, description=_(
        "Runnable, narrated stories of the push flow and its failures; each checks its own outcome."))
    parser.add_argument("name", nargs="?", help=_("scenario to run; omit to list them"))
    parser.add_argument("--json", action="store_true", help=_("one JSON object per line (steps, checks, verdict)"))
    parser.add_argument("--step", action="store_true", help=_(
        "teacher mode: pause and hold the simulator at each stage until Enter; at the end keep it up until Ctrl-C"))
    parser.add_argument("--hold", action="store_true", help=_(
        "after the verdict keep the simulator and its dashboard up until Ctrl-C"))
    add_lang_option(parser)
    args = parser.parse_args(args_in)
    if args.name is None:
        print("\n".join(listing(list(catalogue().values()), _width())))
        return 0
    found = find(args.name)
    if found is None:
        print(error_line(PROG, _("no scenario named {name!r}; run `python -m scenarios` to list them").format(
            name=args.name)), file=sys.stderr)
        return 2
    return execute(found, Story(args.name, json_lines=args.json, pause=args.step, hold=args.hold))
