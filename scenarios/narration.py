"""How a story is told: rich narration for people, JSON lines for machines.

A :class:`Narrator` receives what happens (a stage begins, a step, a checked claim, a table, a finished
progress bar, the verdict) and renders it. :class:`RichNarrator` writes to a terminal with colours and live
progress bars; on a file or a pipe (CI logs) rich drops the colours and the live redraws, so the same text
stays readable line by line. :class:`JsonNarrator` prints one JSON object per line and nothing else, so a CI job
can parse stdout without stripping markup.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from typing import Any, Protocol, TextIO

from rich.console import Console, ConsoleOptions, RenderResult
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from pushsim_i18n import N_, Domain
from pushsim_i18n.wrap import breaks, display_width, wide

_ = Domain("scenarios").gettext

# One colour per stage of Apple's three, the same on the dashboard (docs/scenarios.md "Colours"): the
# certificates before the stages yellow, stage 1 (provider to APNs) blue, stage 2 (APNs to the iPhone) magenta,
# stage 3 (the iPhone to the app) green, for the device and the app alike.
STAGE_STYLES = {0: "bold yellow", 1: "bold blue", 2: "bold magenta", 3: "bold green"}
ACTOR_STAGES = {"portal": 0, "provider": 1, "apns": 2, "device": 3, "app": 3}
ACTOR_STYLES = {**{actor: STAGE_STYLES[number] for actor, number in ACTOR_STAGES.items()}, "story": "dim"}
# The parties as Apple names them, for a reader (the JSON lines keep the raw actor word for machines).
PARTIES = {"provider": N_("Provider"), "apns": N_("APNs"), "device": N_("iPhone"), "app": N_("App"),
           "portal": N_("Portal"), "story": N_("narrator")}
TABLE_EDGES = 3  # a table column's cells beyond its text: one padding space each side and one border line
NARROW = 32  # fewer columns than this left beside a step's time and actor: the text goes below them


class Bar(Protocol):
    def advance(self, amount: int = 1) -> None: ...


class Narrator(Protocol):
    def stage(self, title: str, actor: str, number: int | None = None) -> None:
        """``number``: which of Apple's three stages (1-3) this part of the story tells, if one."""

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

    def __init__(self, out: TextIO, *, width: int | None = None) -> None:
        # Off a terminal rich assumes 80 columns; CI logs are wider, and a wrapped table reads badly. $COLUMNS,
        # when set, still wins (rich reads it when no width is given).
        default = None if out.isatty() or os.environ.get("COLUMNS", "").isdigit() else 110
        self.console = Console(file=out, highlight=False, width=width or default)
        self._progress: Progress | None = None

    def stage(self, title: str, actor: str, number: int | None = None) -> None:
        self.console.print()
        # The rule takes the stage's colour when it tells one of the three (a fault on the provider's request
        # is stage 1 even though APNs acts), else its actor's; the party's label always its own colour, so APNs
        # is magenta wherever it acts (the stage's number is in the title).
        style = STAGE_STYLES[number] if number in (1, 2, 3) else ACTOR_STYLES.get(actor, "bold")
        party = ACTOR_STYLES.get(actor, "bold")
        label = Text.assemble((f"{party_label(actor)} ", party), ("▸ ", "dim"), (title, "bold")) \
            if actor != "story" else Text(title, style="bold")
        line_style = style if actor != "story" else "dim"
        if label.cell_len + 2 > self.console.width:  # rich would cut the title short with "…": wrap it instead
            self.console.print(_Hanging(Text(), label))
            self.console.rule(style=line_style)
        else:
            self.console.rule(label, align="left", style=line_style)

    def step(self, record: dict[str, Any]) -> None:
        actor = record["actor"]
        label = party_label(actor)
        pad = " " * (max(display_width(party_label(a)) for a in PARTIES) - display_width(label) + 1)
        self.console.print(_Hanging(Text.assemble((f"  {record['at']:6.2f}s ", "dim"),
                                                  (label + pad, ACTOR_STYLES.get(actor, ""))),
                                    Text(record["text"])))

    def check(self, claim: str, ok: bool) -> None:
        mark = Text("  ✓ ", "bold green") if ok else Text("  ✗ ", "bold red")
        self.console.print(_Hanging(mark, Text(claim, "" if ok else "red")))

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        table = Table(title=Text(title, style="bold"), title_justify="left", header_style="bold")
        cells = [["" if cell is None else str(cell) for cell in row] for row in rows]
        least, fits = _least_widths(columns, cells, self.console.width)
        for column, size in zip(columns, least, strict=True):
            # Too wide together: fixed widths, as rich will not fold a word below its own minimum by itself.
            table.add_column(column, overflow="fold", min_width=size if fits else None, width=None if fits else size)
        for row in cells:
            table.add_row(*(Text(cell) for cell in row))
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
        line = _("{description}: {completed}/{total} in {seconds}s").format(
            description=description, completed=completed, total=total, seconds=f"{seconds:.2f}")
        self.console.print(_Hanging(Text("  ▮ ", "bold"), Text(line)))

    def prompt(self, text: str) -> None:
        # Wrapped as a step is, under its own start; the last line ends without a newline, where the answer
        # is typed (and its ending stays exact: a presenter's script waits for it).
        head, indent = "  ⏸  ", " " * 5
        room = max(1, self.console.width - len(indent) - 1)
        body = text.rstrip()
        tail = text[len(body):]
        # The closing "(press Enter)" stays whole, on the last line if it fits there, else on its own line.
        cut = max(body.rfind("（"), body.rfind(" ("))
        ending, body = (body[cut:], body[:cut]) if cut > 0 else ("", body)
        lines = [body[a:b] for a, b in breaks(body, room)]
        if ending and display_width(lines[-1] + ending) > room:
            lines.append(ending.lstrip())
        else:
            lines[-1] += ending
        for number, line in enumerate(lines):
            last = number == len(lines) - 1
            self.console.print(Text((head if number == 0 else indent) + line + (tail if last else ""),
                                    style="bold yellow"), end="" if last else "\n", soft_wrap=True)
        self.console.file.flush()

    def verdict(self, name: str, ok: bool, error: str | None, seconds: float, checks: int, steps: int) -> None:
        self.console.print()
        if ok:
            body = Text("✓ " + _("{name}: the story holds ({checks} checks, {steps} steps, {seconds}s)").format(
                name=name, checks=checks, steps=steps, seconds=f"{seconds:.2f}"), style="bold green")
        else:
            body = Text("✗ " + _("{name}: FAILED after {seconds}s").format(name=name, seconds=f"{seconds:.2f}")
                        + f"\n  {error}", style="bold red")
        self.console.print(Panel(body, expand=False, border_style="green" if ok else "red"))


def party_label(actor: str) -> str:
    """The party's short name in the reader's language (``APNs``, ``应用``); an unknown actor as it is."""
    return _(PARTIES[actor]) if actor in PARTIES else actor


def _least_widths(columns: Sequence[str], cells: Sequence[Sequence[str]], width: int) -> tuple[list[int], bool]:
    """Each column at least as wide as its longest word (up to a UUID's 36), so that words wrap whole: rich
    otherwise squeezes a narrow column until ``ServiceUnavailable`` folds mid-word. When those widths together
    overflow the terminal, rich would cut the last columns and the right border off (issue 16: the ✓ column at
    80): the columns then get fixed widths that fit, Chinese giving way first (it may break between any two
    characters), an English word folding only when even that is not enough. Returns the widths and whether
    they are minimums (they fit) or fixed."""
    want, need = [], []
    for index, column in enumerate(columns):
        words = [word for text in [column, *(r[index] for r in cells if index < len(r))] for word in text.split()]
        want.append(min(max((display_width(word) for word in words), default=1), 36))
        need.append(min(max((_unbreakable(word) for word in words), default=1), 36))
    room = max(len(columns), width - TABLE_EDGES * len(columns) - 1)
    if sum(want) <= room:
        return want, True
    if sum(need) > room:
        return [max(1, most * room // sum(need)) for most in need], False
    spare, give = room - sum(need), [w - n for w, n in zip(want, need, strict=True)]
    return [n + g * spare // sum(give) for n, g in zip(need, give, strict=True)], False


def _unbreakable(word: str) -> int:
    """The widest piece of ``word`` a line cannot break: the word itself, or in Chinese its longest run
    without Chinese (a line may break beside any Chinese character), at least one character's two cells."""
    if not any(wide(c) for c in word):
        return display_width(word)
    # +2: a closing mark (，）) stays with the run before it
    return max([2, *(display_width(run) + 2 for run in re.split(r"[^\x00-\u2e7f]", word) if run)])


class _Hanging:
    """``prefix`` then ``body``, the body wrapped at word boundaries (by cell width, so Chinese too) with its
    continuation lines indented under its first. Rich's soft wrap broke words wherever the terminal's edge
    fell (``password-pr`` / ``otected``); only a word longer than a whole line (a URL) is split."""

    def __init__(self, prefix: Text, body: Text) -> None:
        self.prefix = prefix
        self.body = body

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        indent = self.prefix.cell_len
        prefix: Text | None = self.prefix
        if options.max_width - indent < NARROW:  # a narrow terminal: the prefix on a line of its own
            alone = self.prefix.copy()
            alone.rstrip()
            yield alone
            prefix, indent = None, min(indent, 4)
        for number, (start, end) in enumerate(breaks(self.body.plain, max(1, options.max_width - indent))):
            yield Text.assemble(prefix if number == 0 and prefix is not None else " " * indent,
                                self.body[start:end])


class JsonNarrator:
    """One JSON object per line on ``out``: stage, step, check, table, progress, then the verdict.

    A prompt (``--step``) goes to ``prompts`` (stderr), so stdout stays pure JSON lines.
    """

    def __init__(self, out: TextIO, prompts: TextIO) -> None:
        self.out = out
        self.prompts = prompts

    def _emit(self, record: dict[str, Any]) -> None:
        # ensure_ascii=False: Chinese narration stays readable UTF-8 in a CI log (docs/i18n.md)
        print(json.dumps(record, default=str, ensure_ascii=False), file=self.out, flush=True)

    def stage(self, title: str, actor: str, number: int | None = None) -> None:
        record: dict[str, Any] = {"type": "stage", "title": title, "actor": actor}
        if number is not None:
            record["number"] = number
        self._emit(record)

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
