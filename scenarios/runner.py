"""Finding and running scenarios."""

from __future__ import annotations

import argparse
import asyncio
import sys
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from scenarios.story import Story, StoryFailed

ScenarioFn = Callable[[Story], Awaitable[None]]


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    run: ScenarioFn


def catalogue() -> dict[str, Scenario]:
    """Every scenario, by name (imported lazily so listing is instant)."""
    from scenarios import certificate_workflow, three_stages

    items = [three_stages.SCENARIO, certificate_workflow.SCENARIO]
    return {s.name: s for s in items}


async def run_scenario(name: str, story: Story) -> None:
    scenario = catalogue()[name]
    await scenario.run(story)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scenarios", description="Runnable stories of the push flow.")
    parser.add_argument("name", nargs="?", help="scenario to run; omit to list them")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of narration")
    parser.add_argument("--step", action="store_true", help="pause between stages (for live demos)")
    args = parser.parse_args(argv)
    scenarios = catalogue()
    if args.name is None:
        width = max(len(n) for n in scenarios)
        for scenario in scenarios.values():
            print(f"{scenario.name:<{width}}  {scenario.summary}")
        return 0
    if args.name not in scenarios:
        print(f"scenarios: no scenario named {args.name!r}; run `python -m scenarios` to list them",
              file=sys.stderr)
        return 2
    story = Story(args.name, quiet=args.json, pause=args.step)
    try:
        asyncio.run(run_scenario(args.name, story))
    except StoryFailed as exc:
        if args.json:
            print(story.dumps(False, str(exc)))
        else:
            print(f"\nScenario {args.name} FAILED: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # the story broke in an unplanned way: say so, exit non-zero
        if args.json:
            print(story.dumps(False, f"{type(exc).__name__}: {exc}"))
        else:
            traceback.print_exc()
            print(f"\nScenario {args.name} FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(story.dumps(True))
    else:
        print(f"\nScenario {args.name} passed in {story.elapsed:.2f}s.")
    return 0
