"""The phone's record of the apns-ids it took (docs/device-side.md §1.10 "Written but not acknowledged")."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from device_sim.phone.presented import FILE_NAME, PresentedLog

A = "0a0a0a0a-0000-4000-8000-000000000001"
B = "0b0b0b0b-0000-4000-8000-000000000002"


def test_a_repeat_is_known_after_a_restart(tmp_path: Path) -> None:
    log = PresentedLog(tmp_path)
    assert log.first_time(A) and not log.first_time(A.upper())
    log.close()  # no orderly save needed: each id is written when taken (kill -9 keeps it)
    again = PresentedLog(tmp_path)
    assert A in again and not again.first_time(A) and again.first_time(B)
    assert (tmp_path / FILE_NAME).stat().st_mode & 0o777 == 0o600


def test_it_stays_bounded_and_the_file_is_compacted(tmp_path: Path) -> None:
    log = PresentedLog(tmp_path, keep=4)
    ids = [f"{i:08x}-0000-4000-8000-000000000000" for i in range(20)]
    for apns_id in ids:
        assert log.first_time(apns_id)
    assert len(log) == 4 and ids[0] not in log and ids[-1] in log
    assert len((tmp_path / FILE_NAME).read_text().splitlines()) <= 8
    reopened = PresentedLog(tmp_path, keep=4)
    assert ids[-1] in reopened and ids[0] not in reopened


def test_a_torn_line_is_skipped(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_text(f"{A}\n0b0b0b0b-00")
    log = PresentedLog(tmp_path)
    assert A in log and len(log) == 1


def test_a_planted_symlink_is_not_followed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Files the phone opens in its state dir are opened with O_NOFOLLOW (issue 14, Low)."""
    target = tmp_path / "elsewhere"
    target.write_text("")
    state = tmp_path / "state"
    state.mkdir()
    os.symlink(target, state / FILE_NAME)
    log = PresentedLog(state)
    assert log.first_time(A)  # the push is still shown once in this run
    assert target.read_text() == "" and "not read" in caplog.text and "not saved" in caplog.text
