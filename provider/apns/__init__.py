"""An APNs provider client: HTTP/2 + TLS, certificate or token (JWT) authentication.

It works against Apple's hosts unchanged; pointed at the simulator, only host, port and trust differ.
"""

from provider.apns.client import APPLE_HOSTS, APNsClient, resolve_endpoint
from provider.apns.credentials import (
    CertificateCredentials,
    Credentials,
    CredentialsError,
    TokenCredentials,
    client_ssl_context,
    load_cer_and_p12,
    load_certificate_credentials,
    load_p8,
    load_p12,
    load_pem,
    load_pem_pair,
)
from provider.apns.errors import ConnectFailed, ConnectionLost, RequestTimeout, StreamRefused, TransportError
from provider.apns.notification import Notification, alert, background, validate_payload
from provider.apns.protocol import Result
from provider.apns.reasons import Reason
from provider.apns.tokens import TokenIssuer

__all__ = [
    "APPLE_HOSTS",
    "APNsClient",
    "CertificateCredentials",
    "ConnectFailed",
    "ConnectionLost",
    "Credentials",
    "CredentialsError",
    "Notification",
    "Reason",
    "RequestTimeout",
    "Result",
    "StreamRefused",
    "TokenCredentials",
    "TokenIssuer",
    "TransportError",
    "alert",
    "background",
    "client_ssl_context",
    "load_cer_and_p12",
    "load_certificate_credentials",
    "load_p8",
    "load_p12",
    "load_pem",
    "load_pem_pair",
    "resolve_endpoint",
    "validate_payload",
]
