"""Notifications as the admin API answers them, safe for any payload the provider API accepted.

A 4 KiB payload can nest a thousand arrays deep. Python's ``json`` module parses and writes nesting by
recursion, so such a payload used to raise ``RecursionError`` inside the admin server: ``GET
/_sim/notifications`` answered 500, and with a dashboard open the event stream's listener raised inside the
push itself (docs/limits.md §3). Here the depth is measured first, without recursion, and a payload deeper than
:data:`apns_sim.limits.ADMIN_JSON_DEPTH` is shown as the text that was sent, with a ``payload_note`` saying why.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from apns_sim.limits import ADMIN_JSON_DEPTH
from apns_sim.model.journeys import Journey

_OPEN, _CLOSE = frozenset(b"[{"), frozenset(b"]}")
_QUOTE, _BACKSLASH = ord('"'), ord("\\")


def json_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in ``data``, brackets inside strings not counted.

    A loop over the bytes, not a parser: it cannot recurse, and it does not care whether ``data`` is valid JSON
    (text that is not JSON counts its brackets the same way, which errs on the side of showing text).
    """
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == _BACKSLASH:
                escaped = True
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif byte in _CLOSE:
            depth = max(depth - 1, 0)
    return deepest


def too_deep_note(depth: int) -> str:
    return f"nested {depth} levels deep (more than {ADMIN_JSON_DEPTH}): shown as the text that was sent"


def too_deep(data: bytes, limit: int = ADMIN_JSON_DEPTH) -> int:
    """``json_depth(data)`` when it is over ``limit``, else 0.

    Counting brackets is done in C and almost every payload has fewer than ``limit`` of them, which settles it
    without the byte loop: this runs for every stage a dashboard's event stream carries, inside the push.
    """
    if data.count(b"[") + data.count(b"{") <= limit:
        return 0
    depth = json_depth(data)
    return depth if depth > limit else 0


def notification_json(journey: Journey) -> dict[str, Any]:
    """``journey.as_json()``, except that a payload too deep to parse safely comes back as its text."""
    body = journey.body
    depth = too_deep(body) if body else 0
    if not depth:
        try:
            return journey.as_json()
        except RecursionError:  # not expected below the limit; the log must still never answer 500
            pass
    # A copy without the body skips the parse; the caller gets the bytes as text instead.
    out = dataclasses.replace(journey, body=None).as_json()
    out["payload"] = (body or b"").decode("utf-8", "replace")
    out["payload_note"] = too_deep_note(depth or json_depth(body or b""))
    return out
