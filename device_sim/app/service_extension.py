"""The Notification Service Extension (docs/device-side.md §2.2, §2.3, §6 rule 27).

iOS runs an app's ``UNNotificationServiceExtension`` before showing a push only when ``aps`` has
``mutable-content: 1`` and an alert with a title, subtitle or body, and the app may show alerts. The
extension gets about 30 s to call its content handler with new content; when time runs out the system calls
``serviceExtensionTimeWillExpire`` for a last best attempt, and shows the original content if the handler was
never called.

In Python the extension is either a callable ``extension(payload) -> dict | None`` or an object with
``did_receive(payload)`` and, optionally, ``service_extension_time_will_expire() -> dict | None``; each may be
sync or async. Returning a payload dict is calling the content handler with it; returning None is never
calling it. Only an async extension can overrun its time limit (a sync one returns before anyone can stop it).
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("device_sim.service_extension")
DEFAULT_TIME_LIMIT = 30.0  # seconds, Apple's "about 30 seconds"

COMPLETED = "completed"
EXPIRED_BEST_ATTEMPT = "expired: showed the extension's best attempt"
EXPIRED_ORIGINAL = "expired: showed the original content"
NOT_CALLED = "content handler never called: showed the original content"
FAILED = "extension failed: showed the original content"


def extension_applies(payload: Any, *, alerts_allowed: bool) -> bool:
    """Whether iOS would run the extension for ``payload`` (rule 27)."""
    if not alerts_allowed or not isinstance(payload, dict):
        return False
    aps = payload.get("aps")
    if not isinstance(aps, dict) or aps.get("mutable-content") != 1:
        return False
    alert = aps.get("alert")
    if isinstance(alert, str):
        return bool(alert)  # a string alert is the body
    return isinstance(alert, dict) and any(alert.get(k) for k in ("title", "subtitle", "body"))


@dataclass(frozen=True, kw_only=True)
class ExtensionResult:
    """The content the system shows after the extension ran, and how the run ended."""

    payload: Any
    modified: bool
    outcome: str


async def _settle(value: Any, limit: float) -> Any:
    if inspect.isawaitable(value):
        return await asyncio.wait_for(value, limit)
    return value


async def run_extension(extension: Any, payload: Any, time_limit: float = DEFAULT_TIME_LIMIT) -> ExtensionResult:
    """Run ``extension`` on a copy of ``payload`` within ``time_limit`` seconds (rule 27)."""
    did_receive = getattr(extension, "did_receive", None) or extension
    original = ExtensionResult(payload=payload, modified=False, outcome=NOT_CALLED)
    try:
        result = await _settle(did_receive(copy.deepcopy(payload)), time_limit)
    except TimeoutError:
        expire = getattr(extension, "service_extension_time_will_expire", None)
        best = None
        if expire is not None:
            try:  # the system allows only a moment for the last attempt
                best = await _settle(expire(), min(1.0, time_limit))
            except Exception:
                log.exception("service extension: serviceExtensionTimeWillExpire failed")
        if isinstance(best, dict):
            return ExtensionResult(payload=best, modified=best != payload, outcome=EXPIRED_BEST_ATTEMPT)
        return ExtensionResult(payload=payload, modified=False, outcome=EXPIRED_ORIGINAL)
    except Exception:
        log.exception("service extension: didReceive failed")
        return ExtensionResult(payload=payload, modified=False, outcome=FAILED)
    if result is None:
        return original
    if not isinstance(result, dict):
        log.warning("service extension returned %s, not a payload dict: showing the original", type(result).__name__)
        return ExtensionResult(payload=payload, modified=False, outcome=FAILED)
    return ExtensionResult(payload=result, modified=result != payload, outcome=COMPLETED)


__all__ = ["DEFAULT_TIME_LIMIT", "ExtensionResult", "extension_applies", "run_extension"]
