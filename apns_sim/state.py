"""Everything one running simulator shares: its data dir, CA, model, clock, journeys, delivery and knobs.

Adapters (provider API listeners, the device gateway, the admin server) receive this one object; the
core modules below it receive only the parts they need.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from apns_sim import limits
from apns_sim.delivery.store_and_forward import Delivery, DeliveryConfig
from apns_sim.faults.plan import FaultPlan
from apns_sim.limits import ACTIVATION_BURST, ACTIVATION_RATE
from apns_sim.model.app_status import AppReports
from apns_sim.model.clock import Clock
from apns_sim.model.journeys import JourneyLog
from apns_sim.model.private_files import check_trusted, private_dir
from apns_sim.model.registry import Registry
from apns_sim.pki import Authority, load_or_create_authority
from apns_sim.pki.authority import authority_files

DB_NAME = "pushsim.sqlite3"
REPLACED_TOKEN_REASONS = ("BadDeviceToken", "ExpiredToken")


@dataclass(frozen=True, kw_only=True)
class SimConfig:
    """Knobs for behaviour Apple does not pin down (each documented in the README)."""

    host: str = "127.0.0.1"
    sandbox_port: int = 0
    production_port: int = 0
    gateway_port: int = 0
    admin_port: int = 0
    # The retired binary interface (docs/legacy-binary.md): its gateway and feedback service per environment,
    # port 0 = a free port, and the payload limit of the era (256 bytes before iOS 8, 2 KB after; §3).
    legacy_sandbox_port: int = 0
    legacy_production_port: int = 0
    feedback_sandbox_port: int = 0
    feedback_production_port: int = 0
    legacy_payload_limit: int = limits.LEGACY_DEFAULT_PAYLOAD_BYTES
    # Streams a connection may open once authenticated (Apple has advertised 500 and 1000; §7).
    max_concurrent_streams: int = 1000
    # Close a provider connection idle this long with GOAWAY IdleTimeout (Apple's value is unconfirmed).
    idle_timeout: float = 3600.0
    # Consecutive pushes to one token per second before TooManyRequests (threshold unconfirmed; 0 = off).
    token_rate_limit: float = 0.0
    # What a token replaced by a newer one (restore, erase, reinstall) answers: "BadDeviceToken" (400, the
    # default) or "ExpiredToken" (410 with a timestamp); Apple documents both, the trigger of the second is
    # unconfirmed (docs/apns-protocol.md §4.3, §8).
    replaced_token_reason: str = "BadDeviceToken"
    # Drop a phone that misses keep-alives for this long (device-side §1.9: two intervals).
    courier_idle_timeout: float = 120.0
    # Device activations per second per client address, in bursts of up to activation_burst; beyond, 429 with
    # Retry-After (0 = no limit; docs/limits.md §2).
    activation_rate: float = ACTIVATION_RATE
    activation_burst: int = ACTIVATION_BURST
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)

    def __post_init__(self) -> None:
        if self.replaced_token_reason not in REPLACED_TOKEN_REASONS:
            raise ValueError(f"replaced_token_reason must be one of {', '.join(REPLACED_TOKEN_REASONS)}, "
                             f"not {self.replaced_token_reason!r}")
        if self.token_rate_limit < 0:
            raise ValueError("token_rate_limit must be 0 (off) or a positive number of pushes per second")
        if self.max_concurrent_streams < 1:  # 0 would leave every push waiting for a stream that never comes
            raise ValueError(f"max_concurrent_streams must be at least 1, not {self.max_concurrent_streams}")
        if self.activation_rate < 0 or self.activation_burst < 1:
            raise ValueError("activation_rate must be 0 (off) or positive, and activation_burst at least 1")
        if self.legacy_payload_limit not in limits.LEGACY_PAYLOAD_LIMITS:
            raise ValueError(f"legacy_payload_limit must be 256 or 2048 bytes, not {self.legacy_payload_limit}")
        if self.idle_timeout <= 0 or self.courier_idle_timeout <= 0:
            raise ValueError("idle_timeout and courier_idle_timeout must be more than 0 seconds")


class SimState:
    """The shared state of one simulator instance."""

    def __init__(self, data_dir: Path, config: SimConfig | None = None, clock: Clock | None = None) -> None:
        self.data_dir = data_dir
        self.config = config or SimConfig()
        self.clock = clock or Clock()
        private_dir(data_dir)  # 0700: the CA key, provider keys and tokens live here (docs/limits.md §4)
        for path in (*vars(authority_files(data_dir)).values(), data_dir / DB_NAME):
            check_trusted(path)  # a planted CA or key is refused, never used without a word
        self.authority: Authority = load_or_create_authority(data_dir, self.clock.now())
        self.registry = Registry(data_dir / DB_NAME)
        self.journeys = JourneyLog(self.clock.time)
        self.delivery = Delivery(self.registry, self.journeys, self.clock, self.config.delivery)
        self.faults = FaultPlan(self.clock.time)  # fault injection (apns_sim.faults.plan), seed 0 until reseeded
        # [sim] what the phones say about their apps (courier AppStatus): written by the gateway, read by the
        # dashboard's phone view; here rather than on the gateway because the admin app only gets this object
        self.app_reports = AppReports()

    @property
    def ca_file(self) -> Path:
        return self.data_dir / "ca.pem"

    def close(self) -> None:
        self.registry.close()
