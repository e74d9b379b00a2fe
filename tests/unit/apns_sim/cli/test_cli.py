"""``apns-sim serve`` flags reach the simulator's configuration, and bad values are one-line usage errors.

The flags' effects are proven elsewhere over real sockets (test_delivery_lifecycle.py for batching and the
courier idle timeout, test_provider_api_knobs.py for the token knobs); this proves the wiring.
"""

from __future__ import annotations

import pytest

from apns_sim import cli


def _config(*argv: str) -> cli.SimConfig:
    return cli._config(cli.build_parser().parse_args(["serve", *argv]))


def test_defaults_send_at_once_and_drop_a_phone_after_two_keepalive_intervals() -> None:
    config = _config()
    assert config.delivery.batch_interval == 0.0
    assert config.courier_idle_timeout == 120.0
    assert config.replaced_token_reason == "BadDeviceToken" and config.token_rate_limit == 0.0


def test_every_knob_flag_lands_in_the_config() -> None:
    config = _config("--batch-interval", "1200", "--courier-idle-timeout", "5", "--token-rate-limit", "3",
                     "--replaced-token-reason", "ExpiredToken", "--storage-limit", "60", "--unregister-delay", "7",
                     "--idle-timeout", "30", "--max-concurrent-streams", "500")
    assert config.delivery.batch_interval == 1200.0
    assert config.delivery.storage_limit == 60.0 and config.delivery.unregister_delay == 7.0
    assert config.courier_idle_timeout == 5.0 and config.idle_timeout == 30.0
    assert config.token_rate_limit == 3.0 and config.replaced_token_reason == "ExpiredToken"
    assert config.max_concurrent_streams == 500


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--batch-interval", "-1", "--batch-interval must be 0 (off) or more seconds, not -1"),
    ("--courier-idle-timeout", "0", "--courier-idle-timeout must be more than 0 seconds, not 0"),
    ("--token-rate-limit", "-2", "--token-rate-limit must be 0 (off) or more, not -2"),
    ("--storage-limit", "-5", "storage_limit and unregister_delay must not be negative"),
    ("--max-concurrent-streams", "0", "max_concurrent_streams must be at least 1, not 0"),
    ("--idle-timeout", "0", "idle_timeout and courier_idle_timeout must be more than 0 seconds"),
])
def test_bad_values_exit_2_with_one_line(capsys: pytest.CaptureFixture[str], flag: str, value: str,
                                         message: str) -> None:
    assert cli.main(["serve", flag, value]) == 2
    err = capsys.readouterr().err
    assert err == f"apns-sim serve: error: {message}\n"  # named like argparse's own errors (docs/cli.md)
