"""Measuring how deep a payload nests, without recursion (docs/limits.md §3, ADMIN_JSON_DEPTH)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from apns_sim.admin.render import json_depth, too_deep
from apns_sim.limits import ADMIN_JSON_DEPTH

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab'),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                                 max_size=3), max_leaves=30)


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


@given(JSON)
def test_json_depth_agrees_with_the_parsed_value_and_ignores_brackets_in_strings(value: object) -> None:
    """Brackets and escaped quotes inside strings do not count; the loop never recurses."""
    assert json_depth(json.dumps(value).encode()) == _depth(value)


def test_too_deep_is_zero_up_to_the_limit_and_the_depth_past_it() -> None:
    at_limit = b"[" * ADMIN_JSON_DEPTH + b"]" * ADMIN_JSON_DEPTH
    assert too_deep(at_limit) == 0
    assert too_deep(b"[" + at_limit + b"]") == ADMIN_JSON_DEPTH + 1
    assert too_deep(b"[]" * 5000) == 0  # many brackets, all shallow
    assert too_deep(b"[" * 5000) == 5000  # not JSON at all: counted the same way, shown as text
