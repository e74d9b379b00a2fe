"""Turn a captured notification into an ``.apns`` file for the Xcode Simulator.

Since Xcode 11.4 the iOS Simulator accepts a simulated remote notification as a JSON file: drag it onto a
booted simulator, or run ``xcrun simctl push booted file.apns``. Xcode's release notes (11.4) set the format:
the payload itself (a dictionary with the ``aps`` key) plus a top-level ``"Simulator Target Bundle"`` naming
the app's bundle identifier. So a push captured here can be replayed on a real app in the Simulator.

The topic of a push is not always the bundle id: VoIP, complication, File Provider, Live Activity and the
other push types add a suffix (docs/apns-protocol.md §2.2), which is stripped here because the Simulator wants
the app itself. Pure functions: bytes in, bytes out, no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from apns_sim.errors import SimError

TARGET_KEY = "Simulator Target Bundle"
# Topic suffixes of the push types (docs/apns-protocol.md §2.2), longest first so ".voip-ptt" wins over ".voip".
TOPIC_SUFFIXES: tuple[str, ...] = tuple(sorted(
    (".voip", ".voip-ptt", ".complication", ".pushkit.fileprovider", ".push-type.liveactivity",
     ".location-query", ".push-type.widgets", ".push-type.controls"),
    key=len, reverse=True,
))
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class ApnsFileError(SimError, ValueError):
    """The notification cannot become an ``.apns`` file; the message says why."""


def target_bundle(topic: str) -> str:
    """The app's bundle id for a topic: ``com.example.app.voip`` -> ``com.example.app``."""
    for suffix in TOPIC_SUFFIXES:
        if topic.endswith(suffix) and len(topic) > len(suffix):
            return topic[: -len(suffix)]
    return topic


def build_apns_file(payload: Any, topic: str) -> bytes:
    """The ``.apns`` document: ``"Simulator Target Bundle"`` first, then the payload's own keys.

    Raises :class:`ApnsFileError` when the payload is not a JSON object with an ``aps`` dictionary (the
    Simulator refuses such a file) or when there is no topic to name the app.
    """
    if not isinstance(payload, Mapping):
        raise ApnsFileError("the notification's payload is not a JSON object, so the Simulator cannot read it")
    if not isinstance(payload.get("aps"), Mapping):
        raise ApnsFileError('the payload has no "aps" dictionary, which the Simulator requires')
    if not topic:
        raise ApnsFileError("the notification has no topic naming the app (the apns-topic header was missing)")
    document: dict[str, Any] = {TARGET_KEY: target_bundle(topic)}
    document.update((key, value) for key, value in payload.items() if key != TARGET_KEY)
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def apns_filename(topic: str, apns_id: str) -> str:
    """A download name that says which app and which push: ``com.example.app-<apns-id>.apns``."""
    name = f"{target_bundle(topic) or 'notification'}-{apns_id.lower()}"
    return _UNSAFE.sub("_", name) + ".apns"
