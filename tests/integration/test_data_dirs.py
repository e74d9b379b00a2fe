"""Data dirs are the user's alone (issue 14, Low; docs/choices.md, docs/limits.md §4): 0700 directories, 0600
databases, no symlinked database, and a relative ``--data-dir`` that device-sim can follow."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from apns_sim.model.private_files import UnsafePath
from apns_sim.model.registry import Registry
from apns_sim.state import SimState
from device_sim import Phone
from device_sim.errors import DeviceSimError
from device_sim.identity.store import Endpoints, InputError
from provider.store import Store
from pushsim.harness import RunningSimulator


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


async def test_the_simulator_and_a_phone_keep_their_dirs_private(tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """A too-open existing data dir is tightened with a warning; the database and its WAL are 0600."""
    (tmp_path / "sim" / "apns").mkdir(parents=True, mode=0o755)
    os.chmod(tmp_path / "sim" / "apns", 0o755)
    phone_dir = tmp_path / "phone"
    phone_dir.mkdir(mode=0o755)
    os.chmod(phone_dir, 0o755)
    async with RunningSimulator.start(tmp_path / "sim") as sim:
        assert mode(sim.data_dir) == 0o700
        databases = [p for p in sim.data_dir.iterdir() if ".sqlite" in p.name or p.name.endswith((".db", "-wal"))]
        assert databases and all(mode(p) == 0o600 for p in databases), [(p.name, oct(mode(p))) for p in databases]
        async with Phone.open(sim.endpoints, state_dir=phone_dir) as phone:
            await phone.install_app("com.example.private").register()
        assert mode(phone_dir) == 0o700
    assert "now 0700" in caplog.text


def test_a_symlinked_database_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.sqlite3"
    elsewhere.write_bytes(b"")
    (tmp_path / "data").mkdir()
    os.symlink(elsewhere, tmp_path / "data" / "registry.sqlite3")
    with pytest.raises(UnsafePath, match="symlink"):
        Registry(tmp_path / "data" / "registry.sqlite3")
    os.symlink(elsewhere, tmp_path / "data" / "provider.sqlite3")
    with pytest.raises(OSError, match="symlink"):
        Store(tmp_path / "data" / "provider.sqlite3")


def test_the_provider_store_is_0600_in_a_0700_dir(tmp_path: Path) -> None:
    store = Store(tmp_path / "new" / "provider.sqlite3")
    try:
        assert mode(tmp_path / "new") == 0o700 and mode(tmp_path / "new" / "provider.sqlite3") == 0o600
    finally:
        store.close()


async def test_a_relative_data_dir_gives_an_endpoints_file_device_sim_can_follow(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On main ``--data-dir d`` wrote ``ca_file: d/ca.pem``, which device-sim read as ``d/d/ca.pem``."""
    monkeypatch.chdir(tmp_path)
    async with RunningSimulator.start(Path("rel")) as sim:
        endpoints = Endpoints.load(sim.endpoints_file)
        assert endpoints.ca_file.is_absolute() and endpoints.ca_file.is_file()
        async with Phone.open(sim.endpoints_file, state_dir=tmp_path / "phone") as phone:
            assert len(await phone.install_app("com.example.rel").register()) == 64


@pytest.mark.parametrize("plant", ["symlink", "writable"])
def test_a_planted_ca_in_the_data_dir_is_refused(tmp_path: Path, plant: str) -> None:
    """A CA or key file another user could have put in the data dir is refused, never used without a word."""
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    planted = tmp_path / "planted.pem"
    planted.write_text("-----BEGIN CERTIFICATE-----\n")
    if plant == "symlink":
        os.symlink(planted, data / "ca.pem")
    else:
        (data / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
        os.chmod(data / "ca.pem", 0o666)
    with pytest.raises(UnsafePath, match=r"ca\.pem"):
        SimState(data)


async def test_a_phone_refuses_a_ca_others_can_write_and_a_symlinked_state_file(tmp_path: Path) -> None:
    async with RunningSimulator.start(tmp_path / "sim") as sim:
        loose = tmp_path / "loose-ca.pem"
        loose.write_bytes(sim.ca_file.read_bytes())
        os.chmod(loose, 0o666)
        with pytest.raises(InputError, match="writable by others"):
            async with Phone.open({**sim.endpoints, "ca_file": str(loose)}, state_dir=tmp_path / "p1"):
                pass
        state = tmp_path / "p2"
        state.mkdir(mode=0o700)
        (tmp_path / "other.json").write_text('{"device_id": "D", "name": "x"}')
        os.symlink(tmp_path / "other.json", state / "device.json")
        with pytest.raises(DeviceSimError, match="symlink"):
            async with Phone.open(sim.endpoints, state_dir=state):
                pass
