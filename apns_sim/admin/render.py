"""Notifications as the admin API answers them, safe for any payload the provider API accepted.

A 4 KiB payload can nest a thousand arrays deep. Python's ``json`` module parses and writes nesting by
recursion, so such a payload used to raise ``RecursionError`` inside the admin server: ``GET
/_sim/notifications`` answered 500, and with a dashboard open the event stream's listener raised inside the
push itself (docs/limits.md §3). Here the depth is measured first, without recursion, and a payload deeper than
:data:`apns_sim.limits.ADMIN_JSON_DEPTH` is shown as the text that was sent, with a ``payload_note`` saying why.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from aiohttp import web

from apns_sim.courier import deeper_than, json_depth
from apns_sim.limits import ADMIN_JSON_DEPTH
from apns_sim.model.journeys import Journey


def utf8_json(data: Any) -> str:
    """JSON with Chinese as it is, "你好", never "\\u4f60\\u597d" (docs/admin-api.md §2): a learner reads the
    answers with curl. ``default=str`` writes the odd value (a datetime, an enum) as its text, never a 500."""
    return json.dumps(data, ensure_ascii=False, default=str)


def json_answer(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """Every JSON answer of the admin server: UTF-8 text (``charset=utf-8``), written by :func:`utf8_json`."""
    return web.json_response(data, status=status, headers=headers, dumps=utf8_json)


def too_deep_note(depth: int) -> str:
    return f"nested {depth} levels deep (more than {ADMIN_JSON_DEPTH}): shown as the text that was sent"


def too_deep(data: bytes, limit: int = ADMIN_JSON_DEPTH) -> int:
    """How deep ``data`` nests when that is over the admin API's ``limit``, else 0."""
    return deeper_than(data, limit)


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
