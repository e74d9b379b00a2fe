"""How a story is told: rich narration for people, JSON lines for machines.

A :class:`Narrator` receives what happens (a stage begins, a step, a checked claim, a table, a finished
progress bar, the verdict) and renders it. :class:`RichNarrator` writes to a terminal with colours and live
progress bars; on a file or a pipe (CI logs) rich drops the colours and the live redraws, so the same text
stays readable line by line. :class:`JsonNarrator` prints one JSON object per line and nothing else, so a CI job
can parse stdout without stripping markup.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol, TextIO

from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

# One colour per party of Apple's three stages, so a reader sees at a glance who acts.
ACTOR_STYLES = {
    "provider": "bold blue",
    "apns": "bold magenta",
    "device": "bold green",
    "app": "bold cyan",
    "portal": "bold yellow",
    "story": "dim",
}
ACTOR_WIDTH = max(len(a) for a in ACTOR_STYLES)


class Bar(Protocol):
    def advance(self, amount: int = 1) -> None: ...


class Narrator(Protocol):
    def stage(self, title: str, actor: str) -> None: ...

    def step(self, record: dict[str, Any]) -> None:
        """``record``: stage, actor, text, at (seconds since the start), plus any details."""

    def check(self, claim: str, ok: bool) -> None: ...

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None: ...

    def progress_start(self, description: str, total: int) -> Bar: ...

    def progress_end(self, description: str, completed: int, total: int, seconds: float) -> None: ...

    def prompt(self, text: str) -> None: ...

    def verdict(self, name: str, ok: bool, error: str | None, seconds: float, checks: int, steps: int) -> None: ...


class _NullBar:
    def advance(self, amount: int = 1) -> None:
        pass


class _RichBar:
    def __init__(self, progress: Progress, task: Any) -> None:
        self._progress = progress
        self._task = task

    def advance(self, amount: int = 1) -> None:
        self._progress.advance(self._task, amount)


class RichNarrator:
    """Readable narration; colours and live bars only on a terminal."""

    def __init__(self, out: TextIO) -> None:
        terminal = out.isatty()
        # Off a terminal rich assumes 80 columns; CI logs are wider, and a wrapped table reads badly.
        self.console = Console(file=out, highlight=False, width=None if terminal else 110)
        self._progress: Progress | None = None

    def stage(self, title: str, actor: str) -> None:
        self.console.print()
        style = ACTOR_STYLES.get(actor, "bold")
        label = Text.assemble((f"{actor.upper()} ", style), ("▸ ", "dim"), (title, "bold")) if actor != "story" \
            else Text(title, style="bold")
        self.console.rule(label, align="left")

    def step(self, record: dict[str, Any]) -> None:
        actor = record["actor"]
        line = Text.assemble((f"  {record['at']:6.2f}s ", "dim"),
                             (f"{actor:<{ACTOR_WIDTH}} ", ACTOR_STYLES.get(actor, "")), record["text"])
        self.console.print(line, soft_wrap=True)

    def check(self, claim: str, ok: bool) -> None:
        mark = ("  ✓ ", "bold green") if ok else ("  ✗ ", "bold red")
        self.console.print(Text.assemble(mark, (claim, "" if ok else "red")), soft_wrap=True)

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        table = Table(title=Text(title, style="bold"), title_justify="left", header_style="bold")
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*(Text("" if cell is None else str(cell)) for cell in row))
        self.console.print(table)

    def progress_start(self, description: str, total: int) -> Bar:
        if not self.console.is_terminal:
            return _NullBar()  # a log file gets the settled line only, not a redraw per advance
        self._progress = Progress(TextColumn("  {task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), console=self.console, transient=True)
        self._progress.start()
        return _RichBar(self._progress, self._progress.add_task(description, total=total))

    def progress_end(self, description: str, completed: int, total: int, seconds: float) -> None:
        if self._progress is not None:
            self._progress.stop()  # transient: the live bar goes; one settled line stays, also in CI logs
            self._progress = None
        self.console.print(Text.assemble(("  ▮ ", "bold"), f"{description}: {completed}/{total} in {seconds:.2f}s"))

    def prompt(self, text: str) -> None:
        self.console.print(Text(f"  ⏸  {text}", style="bold yellow"), end="")
        self.console.file.flush()

    def verdict(self, name: str, ok: bool, error: str | None, seconds: float, checks: int, steps: int) -> None:
        self.console.print()
        if ok:
            body = Text(f"✓ {name}: the story holds ({checks} checks, {steps} steps, {seconds:.2f}s)",
                        style="bold green")
        else:
            body = Text(f"✗ {name}: FAILED after {seconds:.2f}s\n  {error}", style="bold red")
        self.console.print(Panel(body, expand=False, border_style="green" if ok else "red"))


class JsonNarrator:
    """One JSON object per line on ``out``: stage, step, check, table, progress, then the verdict.

    A prompt (``--step``) goes to ``prompts`` (stderr), so stdout stays pure JSON lines.
    """

    def __init__(self, out: TextIO, prompts: TextIO) -> None:
        self.out = out
        self.prompts = prompts

    def _emit(self, record: dict[str, Any]) -> None:
        print(json.dumps(record, default=str), file=self.out, flush=True)

    def stage(self, title: str, actor: str) -> None:
        self._emit({"type": "stage", "title": title, "actor": actor})

    def step(self, record: dict[str, Any]) -> None:
        self._emit({"type": "step", **record})

    def check(self, claim: str, ok: bool) -> None:
        self._emit({"type": "check", "claim": claim, "ok": ok})

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self._emit({"type": "table", "title": title, "columns": list(columns), "rows": [list(r) for r in rows]})

    def progress_start(self, description: str, total: int) -> Bar:
        return _NullBar()

    def progress_end(self, description: str, completed: int, total: int, seconds: float) -> None:
        self._emit({"type": "progress", "description": description, "completed": completed, "total": total,
                    "seconds": round(seconds, 3)})

    def prompt(self, text: str) -> None:
        print(text, file=self.prompts, end="", flush=True)

    def verdict(self, name: str, ok: bool, error: str | None, seconds: float, checks: int, steps: int) -> None:
        self._emit({"type": "verdict", "scenario": name, "ok": ok, "error": error, "seconds": round(seconds, 3),
                    "checks": checks, "steps": steps})
