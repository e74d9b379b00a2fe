"""``apns-sim serve`` legacy flags, ``apns-provider send --legacy`` and ``feedback`` (docs/legacy-binary.md).

The commands are in docs/cli.md.

The provider's CLI runs in a thread (it calls ``asyncio.run`` itself) against the running simulator over real TLS.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from apns_sim.cli import UsageError, _check_ports, _config, build_parser
from apns_sim.state import SimConfig
from provider import legacy
from provider.apns import load_pem
from provider.cli import main as provider_main
from pushsim.harness import RunningSimulator
from pushsim.phones import IPhoneFactory

BUNDLE = "com.example.oldway"


async def provider(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = await asyncio.to_thread(provider_main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def test_send_legacy_and_feedback_from_the_command_line(
        sim: RunningSimulator, iphones: IPhoneFactory, capsys: pytest.CaptureFixture[str]) -> None:
    """docs/cli.md, docs/legacy-binary.md §3, §4: send --legacy prints silence as success and exits 0, prints the
    error-response and exits 1 for a token APNs never issued; feedback lists the uninstalled app's token once."""
    bundle = sim.issue_certificate(BUNDLE)
    creds = ["--cert", str(bundle.cer), "--p12", str(bundle.p12), "--password", bundle.password]
    phone = await iphones()
    app = phone.install_app(BUNDLE, types=("alert",))
    token = await app.register(timeout=10)
    gateway = ["--endpoint", sim.endpoints["legacy_sandbox"], "--ca", str(sim.ca_file)]

    code, out, _ = await provider(capsys, "send", "--legacy", *gateway, "--token", token, "--alert", "the old way",
                                  "--format", "enhanced", "--identifier", "5", *creds)
    assert (code, json.loads(out)) == (0, {"interface": "binary", "written": 1, "error": None,
                                  "closed": False})
    assert (await app.next_notification(timeout=10)).payload["aps"]["alert"] == "the old way"

    code, out, _ = await provider(capsys, "send", "--legacy", *gateway, "--token", "ab" * 32, "--alert", "x",
                                  "--identifier", "6", *creds)
    assert code == 1
    assert json.loads(out)["error"] == {"status": 8, "description": "Invalid token", "identifier": 6}
    assert json.loads(out)["closed"] is True

    assert await phone.uninstall(BUNDLE)
    feedback = ["feedback", "--endpoint", sim.endpoints["feedback_sandbox"], "--ca", str(sim.ca_file), *creds]
    code, out, _ = await provider(capsys, *feedback)
    assert code == 0 and [e["token"] for e in json.loads(out)["feedback"]] == [token]
    code, out, _ = await provider(capsys, *feedback)
    assert (code, json.loads(out)) == (0, {"feedback": []})


@pytest.mark.parametrize(("extra", "message"), [
    (["--p8", "AuthKey.p8", "--key-id", "K", "--team-id", "T"], "only push certificates"),
    (["--push-type", "alert"], "HTTP/2 headers"),
    (["--endpoint", "no-port-here"], "host:port"),
])
async def test_send_legacy_refuses_what_the_binary_interface_never_had(
        sim: RunningSimulator, capsys: pytest.CaptureFixture[str], tmp_path: Path, extra: list[str],
        message: str) -> None:
    """docs/legacy-binary.md §1: no token auth, no HTTP/2 headers; bad input is one line and exit 2."""
    bundle = sim.issue_certificate(BUNDLE)
    key = tmp_path / "AuthKey.p8"
    key.write_bytes(sim.create_auth_key().p8_path.read_bytes())
    creds = [] if "--p8" in extra else ["--cert", str(bundle.pem)]
    argv = ["send", "--legacy", "--token", "ab" * 32, "--alert", "x", *creds, *extra]
    argv = [a.replace("AuthKey.p8", str(key)) for a in argv]
    code, out, err = await asyncio.to_thread(lambda: (provider_main(argv), *capsys.readouterr()))
    assert code == 2 and out == "" and message in err and len(err.splitlines()) == 1


def test_serve_takes_legacy_ports_and_the_payload_limit() -> None:
    """docs/cli.md: the four listeners' ports and the era's payload limit reach the simulator's config."""
    args = build_parser().parse_args(["serve", "--legacy-sandbox-port", "2195", "--feedback-production-port", "0",
                                      "--legacy-payload-limit", "256"])
    config = _config(args)
    assert (config.legacy_sandbox_port, config.feedback_production_port, config.legacy_payload_limit) == (2195, 0, 256)
    with pytest.raises(UsageError):
        _check_ports(build_parser().parse_args(["serve", "--feedback-sandbox-port", "70000"]))
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--legacy-payload-limit", "4096"])


async def test_the_payload_limit_knob_takes_effect(tmp_path: Path) -> None:
    """docs/legacy-binary.md §3: with the 256-byte limit of the early tutorials a 300-byte payload answers 7."""
    async with RunningSimulator.start(tmp_path / "sim", config=SimConfig(legacy_payload_limit=256)) as sim:
        credentials = load_pem(sim.issue_certificate(BUNDLE).pem)
        host, _, port = sim.endpoints["legacy_sandbox"].rpartition(":")
        body = json.dumps({"aps": {"alert": "x" * 280}}).encode()
        report = await legacy.send(credentials, [legacy.LegacyNotification(token="ab" * 32, payload=body,
                                                                           identifier=3)],
                                   host=host, port=int(port), ca_file=sim.ca_file)
    assert report.error == legacy.ErrorResponse(status=7, identifier=3)
