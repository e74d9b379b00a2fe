"""What two languages cost: a message lookup, and a tool's start (docs/i18n.md; docs/benchmarks.md "Languages").

Prints, side by side in one run, English and Chinese: the time of one ``_()`` lookup (English is the msgid
itself, Chinese a dictionary lookup in the compiled catalog), of formatting a step with placeholders, and the
wall time of starting each tool for ``--help`` (import, argparse, catalog) against a bare ``python -c pass``;
with ``--before REF`` also the same starts from a checkout of REF (before the two languages), in English.

    .venv/bin/python benchmarks/i18n_bench.py [--runs N] [--before REF]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Iterator

import pushsim_i18n
from pushsim_i18n import Domain

MESSAGE = "APNs accepted the notification ({answers})"
# What each console script runs (pyproject [project.scripts]), with --help.
TOOLS = {
    "python -c pass": ["-c", "pass"],
    "apns-sim --help": ["-c", "import sys, apns_sim.cli as m; sys.argv[1:] = ['--help']; m.main()"],
    "device-sim --help": ["-c", "import sys, device_sim.cli as m; sys.argv[1:] = ['--help']; m.main()"],
    "apns-provider --help": ["-c", "import sys, provider.cli as m; sys.argv[1:] = ['--help']; m.main()"],
    "python -m scenarios --help": ["-m", "scenarios", "--help"],
}


def lookup_ns(language: str, number: int = 200_000) -> tuple[float, float]:
    pushsim_i18n.use(language)
    _ = Domain("scenarios").gettext
    bare = timeit.timeit(lambda: _(MESSAGE), number=number) / number * 1e9
    formatted = timeit.timeit(lambda: _(MESSAGE).format(answers="HTTP 200"), number=number) / number * 1e9
    return bare, formatted


def start_ms(argv: list[str], language: str, runs: int, cwd: str | None = None) -> float:
    """Median wall time of ``python ARGV``; ``cwd`` first on sys.path, so a checkout there is what runs."""
    env = {**os.environ, "PUSHSIM_LANG": language}
    times = []
    for _ in range(runs):
        begin = time.perf_counter()
        subprocess.run([sys.executable, *argv], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       cwd=cwd)
        times.append((time.perf_counter() - begin) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="starts per tool and language (median printed)")
    parser.add_argument("--before", metavar="REF", help="also time the starts of a checkout of REF (English)")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        before = stack.enter_context(_checkout(args.before)) if args.before else None
        head = f"{args.before[:10] + ' (en)':>14}" if args.before else ""
        print(f"{'':44} {'en':>10} {'zh':>10}{head}")
        en, zh = lookup_ns("en"), lookup_ns("zh")
        print(f"{'one _() lookup (ns)':44} {en[0]:10.0f} {zh[0]:10.0f}")
        print(f"{'_() then .format() (ns)':44} {en[1]:10.0f} {zh[1]:10.0f}")
        for name, argv in TOOLS.items():
            label = f"{name} (ms, median)"
            old = f"{start_ms(argv, 'en', args.runs, before):14.0f}" if before else ""
            print(f"{label:44} {start_ms(argv, 'en', args.runs):10.0f} {start_ms(argv, 'zh', args.runs):10.0f}{old}")


@contextlib.contextmanager
def _checkout(ref: str) -> Iterator[str]:
    """A detached worktree of ``ref`` in a temporary directory, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="i18n-bench-") as tmp:
        path = os.path.join(tmp, "tree")
        subprocess.run(["git", "worktree", "add", "-q", "--detach", path, ref], check=True)
        try:
            yield path
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", path], check=False)


if __name__ == "__main__":
    main()
