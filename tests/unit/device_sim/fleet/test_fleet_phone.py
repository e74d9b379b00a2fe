"""A fleet phone's decisions (ack status, counters) and the fleet's argument checks, without sockets."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme

from apns_sim import courier
from device_sim.fleet.fleet import Fleet, FleetPhone
from device_sim.fleet.identities import PhoneIdentity
from device_sim.identity.store import Endpoints

BUNDLE = "com.example.fleet"


@pytest.fixture
def endpoints(tmp_path: Path) -> Endpoints:
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    return Endpoints(gateway_host="127.0.0.1", gateway_port=1, admin="http://127.0.0.1:2", ca_file=tmp_path / "ca.pem")


def _fleet(endpoints: Endpoints, **kwargs: object) -> Fleet:
    options: dict[str, object] = {"apps": [BUNDLE], "environment": "sandbox", "concurrency": 10,
                                  "keepalive_interval": 60.0, "name": "Fleet iPhone", "progress": None,
                                  "on_push": None}
    options.update(kwargs)
    return Fleet(endpoints, **options)  # type: ignore[arg-type]


def _push(token: bytes) -> courier.Push:
    return courier.Push(topic=courier.topic_hash(BUNDLE), token=token, payload=b"{}", message_id=1,
                        apns_id="0A5F5C2E-0000-4000-8000-000000000001")


def test_a_phone_acks_its_own_token_and_refuses_others(endpoints: Endpoints) -> None:
    """Status 0 for an installed app's token, 2 for a token no app on the phone has (device-side.md §6)."""
    seen: list[str | None] = []
    fleet = _fleet(endpoints, on_push=lambda phone, push: seen.append(push.apns_id))
    phone = FleetPhone(fleet, PhoneIdentity("DEVICE", b"key", b"cert"))
    phone.tokens[BUNDLE] = b"\x01" * 32
    assert phone.push_status("sandbox", _push(b"\x01" * 32)) == courier.ACK_OK
    assert phone.push_status("sandbox", _push(b"\x02" * 32)) == courier.ACK_APP_NOT_INSTALLED
    phone.push_acked("sandbox", _push(b"\x01" * 32))
    assert phone.received == 1 and fleet.received == 1 and seen == ["0A5F5C2E-0000-4000-8000-000000000001"]
    assert list(phone.filter_topics("sandbox")) == [BUNDLE]


def test_connected_count_follows_transitions_only(endpoints: Endpoints) -> None:
    """A repeated "disconnected" (each failed reconnect attempt reports one) must not count twice."""
    fleet = _fleet(endpoints)
    phone = FleetPhone(fleet, PhoneIdentity("DEVICE", b"key", b"cert"))
    phone.connection_changed("sandbox", False, "refused")
    assert fleet.connected == 0
    phone.connection_changed("sandbox", True, None)
    phone.connection_changed("sandbox", True, None)
    assert fleet.connected == 1 and phone.online
    phone.connection_changed("sandbox", False, "closed")
    phone.connection_changed("sandbox", False, "closed")
    assert fleet.connected == 0
    phone.base_token_changed(b"\x09" * 32)
    assert phone._base_token() == b"\x09" * 32


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"environment": "staging"}, "unknown environment"),
    ({"concurrency": 0}, "concurrency"),
    ({"apps": []}, "at least one app"),
    ({"apps": ["com.example.*"]}, "not a bundle id"),
])
def test_bad_arguments_are_refused_before_any_work(endpoints: Endpoints, kwargs: dict[str, object],
                                                   message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _fleet(endpoints, **kwargs)
