"""What APNs does with a request once judged, whichever door it came in by (the provider API or the
dashboard's console): begin its journey, and hand an accepted one to delivery (docs/apns-protocol.md §4, §8).
"""

from __future__ import annotations

from typing import Any

from apns_sim.delivery.store_and_forward import PushMessage
from apns_sim.model import journeys
from apns_sim.model.journeys import Journey
from apns_sim.push.reasons import Reason
from apns_sim.push.request import Accepted, PushRequest
from apns_sim.push.validation import Policy
from apns_sim.state import SimConfig, SimState

MAX_LOGGED_BODY = 5120  # a larger rejected body is not kept in the log (the largest Apple accepts: VoIP)


def policy_for(config: SimConfig) -> Policy:
    """The rules' knobs from the simulator's configuration (what a replaced token answers)."""
    return Policy(replaced_token=Reason.from_wire(config.replaced_token_reason))


def admit(state: SimState, environment: str, apns_id: str, outcome: Accepted, now: float, *,
          stages: list[dict[str, Any]] | None = None, **detail: Any) -> None:
    """An accepted request: its journey begins with ``accepted`` (plus ``detail``), then delivery takes it."""
    state.journeys.begin(Journey(
        apns_id=apns_id, token=outcome.token, topic=outcome.topic, environment=environment, status=200,
        push_type=outcome.push_type, priority=outcome.priority, body=outcome.payload, stages=stages or []),
        journeys.ACCEPTED, **detail)
    state.delivery.submit(PushMessage(
        apns_id=apns_id, token=outcome.token, device_id=outcome.device_id, bundle_id=outcome.bundle_id,
        topic=outcome.topic, environment=environment, payload=outcome.payload,
        push_type=outcome.push_type, priority=outcome.priority, expiration=outcome.expiration,
        collapse_id=outcome.collapse_id, accepted_at=now))


def request_journey(request: PushRequest, apns_id: str, environment: str, *, status: int, reason: str | None,
                    timestamp: int | None, stages: list[dict[str, Any]] | None = None) -> Journey:
    """The journey of a request that was not accepted, from what its path and headers say."""
    priority_header = request.header("apns-priority")
    priority = int(priority_header) if priority_header in ("1", "5", "10") else None
    return Journey(
        apns_id=apns_id, token=(request.device_token or "").lower(), topic=request.header("apns-topic") or "",
        environment=environment, status=status, reason=reason, timestamp=timestamp,
        push_type=request.header("apns-push-type"), priority=priority,
        body=request.body if request.body_size <= MAX_LOGGED_BODY else None, stages=stages or [])
