"""The reason/status table lives twice on purpose (docs/architecture.md): the simulator's and the provider's must agree.

If the provider imported the simulator's table, both would agree on the same bug; this contract test is
the one place that reads both. Source of truth for both: docs/apns-protocol.md §4.3.
"""

from __future__ import annotations

from apns_sim.push.reasons import Reason as SimReason
from provider.apns.reasons import Reason as ProviderReason
from provider.apns.reasons import lookup


def test_same_wire_strings_and_statuses() -> None:
    """§4.3: every reason the simulator can emit is known to the provider with the same HTTP status."""
    sim = {r.wire: r.status for r in SimReason}
    prov = {r.wire: r.status for r in ProviderReason}
    assert sim == {wire: prov[wire] for wire in sim}, "a reason's status differs between the two tables"
    assert set(sim) == set(prov), "one table knows a reason the other does not"


def test_the_table_is_apples_device_push_list() -> None:
    """§4.3 lists 32 device-push reasons; spot-check the ones providers act on."""
    wires = {r.wire: r.status for r in SimReason}
    assert len(wires) == 32
    assert wires["Unregistered"] == 410 and wires["BadDeviceToken"] == 400 and wires["PayloadTooLarge"] == 413
    assert wires["TooManyRequests"] == 429 and wires["Shutdown"] == 503 and wires["ExpiredProviderToken"] == 403


def test_provider_reads_every_simulator_reason() -> None:
    for reason in SimReason:
        found = lookup(reason.wire)
        assert found is not None and found.status == reason.status
