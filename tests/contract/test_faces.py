"""The import paths that existed before the move into subpackages keep working (issue 13: "keep a face module
where a path moves"). Each old module that became a package re-exports the public names it defined; the
logger names users configure logging by are kept too."""

from __future__ import annotations

import importlib
import logging

import pytest

OLD_NAMES = {
    "apns_sim.gateway": ["ALPN", "HANDSHAKE_TIMEOUT", "MAX_MESSAGE_SIZE", "PROOF_MAX_SKEW_MS", "CourierConnection",
                         "DeviceGateway", "environment_for_server_name"],
    "apns_sim.faults": ["FaultPlan", "FaultStatus", "Injected", "Listener"],
    "apns_sim.admin": ["CLOCK_KEYS", "MAX_EPOCH", "MAX_WAIT", "READERS", "RESET_HOOKS", "SSE_HEARTBEAT", "STATE",
                       "create_admin_app"],
    "apns_sim.portal": ["CSR_FILENAME", "P12_FILENAME", "AppIdCreated", "AuthKeyCreated", "AuthKeyRevoked",
                        "CertificateIssued", "CertificateRevoked", "KeychainRequest", "Listing", "Portal",
                        "PortalError", "PortalStore", "app_id_json", "auth_key_json", "certificate_json",
                        "check_team_id", "parse_bundle_id"],
    "apns_sim.delivery": ["BATCHED", "DEFAULT_STORAGE_LIMIT", "RESTORED", "Delivery", "DeliveryConfig", "PushMessage",
                          "Scheduler", "Sender", "loop_scheduler"],
    "apns_sim.pki": ["Authority", "PkiError", "PushIdentity", "export_p12", "issue_push_certificate", "load_p12"],
    "apns_sim.simulator": ["Simulator"],
    "apns_sim.state": ["SimConfig", "SimState"],
    "device_sim": ["Phone"],
    "device_sim.app": ["HISTORY", "App", "AppConfig", "PhoneRules", "check_types"],
    "device_sim.phone": ["OFFLINE_MODES", "TOKEN_ERROR_DOMAIN", "Listener", "Phone", "check_bundle_id",
                         "courier_ssl_context", "entitlement_for"],
    "device_sim.fleet": ["Fleet", "FleetPhone", "FleetProgress", "ProgressCallback", "PushCallback"],
    "provider.apns": ["APNsClient", "Notification", "alert", "load_pem_pair", "TransportError"],
    "provider.apns.credentials": ["load_cer_and_p12"],
    "provider.apns.protocol": ["ConnectFailed", "ConnectionLost", "RequestTimeout", "StreamRefused",
                               "TransportError"],
    "provider.web": ["ServiceConfig", "create_app"],
}


@pytest.mark.parametrize("module", sorted(OLD_NAMES))
def test_old_import_paths_still_offer_their_names(module: str) -> None:
    imported = importlib.import_module(module)
    assert [name for name in OLD_NAMES[module] if not hasattr(imported, name)] == []


@pytest.mark.parametrize("module, logger", [
    ("apns_sim.gateway.session", "apns_sim.gateway"),
    ("apns_sim.gateway.listener", "apns_sim.gateway"),
    ("apns_sim.provider_api.listener", "apns_sim.server"),
    ("device_sim.app.receiving", "device_sim.app"),
    ("device_sim.app.service_extension", "device_sim.service_extension"),
    ("device_sim.phone.phone", "device_sim.phone"),
    ("device_sim.fleet.fleet", "device_sim.fleet"),
])
def test_logger_names_did_not_move_with_the_modules(module: str, logger: str) -> None:
    log = importlib.import_module(module).log
    assert isinstance(log, logging.Logger) and log.name == logger
