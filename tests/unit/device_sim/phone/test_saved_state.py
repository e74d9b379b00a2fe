"""What the phone reads back from its own device.json must never wedge it (issue 14 item 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from device_sim.identity.store import DeviceStore

APP = {"bundle_id": "com.example.app", "environment": "development", "types": ["alert", "badge"]}


@pytest.mark.parametrize("bad", [4294967296, -1, "7", 1.5, True, None, [3]])
def test_a_bad_saved_badge_is_repaired_to_0_with_a_warning(tmp_path: Path, bad: object,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    state = {"device_id": "D", "name": "iPhone", "apps": {"com.example.app": {**APP, "badge": bad,
                                                                              "voip_failures": bad}}}
    (tmp_path / "device.json").write_text(json.dumps(state))
    loaded = DeviceStore(tmp_path).load("iPhone")
    assert loaded.apps["com.example.app"].badge == 0 and loaded.apps["com.example.app"].voip_failures == 0
    assert "using 0" in caplog.text


def test_a_good_saved_badge_is_kept(tmp_path: Path) -> None:
    state = {"device_id": "D", "name": "iPhone", "apps": {"com.example.app": {**APP, "badge": 2**31 - 1}}}
    (tmp_path / "device.json").write_text(json.dumps(state))
    assert DeviceStore(tmp_path).load("iPhone").apps["com.example.app"].badge == 2**31 - 1
