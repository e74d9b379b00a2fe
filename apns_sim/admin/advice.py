"""What each of Apple's rejection reasons means, and what a provider should do about it, in plain words.

The dashboard shows this next to every rejected push, so that a person learning APNs reads the fix, not only
the code. Written from docs/apns-protocol.md §4.3 (the reason table, A-RESP) and §4.4 (Apple's retry
guidance: 5xx may be retried with back-off; never retry BadDeviceToken, DeviceTokenNotForTopic, Forbidden,
ExpiredToken, Unregistered, PayloadTooLarge; TooManyRequests after a delay), plus §5 (provider tokens), §6
(certificates) and §8 (device tokens). One entry per :class:`~apns_sim.push.reasons.Reason`; a unit test proves
none is missing. Pure data: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apns_sim.admin.words import say
from apns_sim.push.reasons import Reason
from pushsim_i18n import N_

# How Apple says to treat a retry (§4.4), as a short word the page can show as a badge.
FIX_AND_RESEND = N_("fix the request, then send again")
DO_NOT_RETRY = N_("do not retry")
RETRY_LATER = N_("retry later, with back-off")
NEW_CONNECTION = N_("open a new connection")
FIX_CREDENTIALS = N_("fix the credentials, then send again")


@dataclass(frozen=True, kw_only=True)
class Advice:
    """``meaning``: what APNs is saying; ``action``: what the provider should do; ``retry``: §4.4's rule."""

    meaning: str
    action: str
    retry: str

    def as_json(self, reason: Reason, language: str = "en") -> dict[str, Any]:
        """The reason's advice in ``language`` (docs/admin-api.md §2); the reason word never changes."""
        return {"reason": reason.wire, "status": reason.status, "meaning": say(language, self.meaning),
                "action": say(language, self.action), "retry": say(language, self.retry)}


def _a(meaning: str, action: str, retry: str) -> Advice:
    return Advice(meaning=meaning, action=action, retry=retry)


ADVICE: dict[Reason, Advice] = {
    # 400
    Reason.BAD_COLLAPSE_ID: _a(N_("The apns-collapse-id header is longer than 64 bytes."),
                               N_("Shorten the collapse identifier to 64 bytes or fewer (UTF-8)."), FIX_AND_RESEND),
    Reason.BAD_DEVICE_TOKEN: _a(
        N_("The device token is not valid, or it belongs to the other environment (a sandbox token sent to "
        "production, or the reverse)."),
        N_("Check the token is the app's hex token and that you push to the environment the app was built for. "
        "A token that keeps failing is stale: stop using it until the app registers again."), DO_NOT_RETRY),
    Reason.BAD_EXPIRATION_DATE: _a(N_("The apns-expiration header is not a UNIX time in seconds."),
                                   N_("Send whole seconds since 1970 (or 0 for a single delivery attempt)."),
                                   FIX_AND_RESEND),
    Reason.BAD_MESSAGE_ID: _a(N_("The apns-id header is not a UUID."),
                              N_("Send a canonical UUID (8-4-4-4-12 hex digits) or leave the header out and let APNs "
                              "make one."), FIX_AND_RESEND),
    Reason.BAD_PRIORITY: _a(N_("The apns-priority header is not 10, 5 or 1."),
                            N_("Use 10 (deliver now), 5 (power-aware) or 1 (lowest), or leave it out."),
                            FIX_AND_RESEND),
    Reason.BAD_TOPIC: _a(N_("The apns-topic header is not a valid topic."),
                         N_("Send the app's bundle ID, plus the push type's suffix where one is needed (.voip, ...)."),
                         FIX_AND_RESEND),
    Reason.DEVICE_TOKEN_NOT_FOR_TOPIC: _a(
        N_("The device token belongs to another app than the topic names."),
        N_("Send this token only with its own app's bundle ID as the topic; keep tokens per app."), DO_NOT_RETRY),
    Reason.DUPLICATE_HEADERS: _a(N_("A header was sent more than once."),
                                 N_("Send each apns-* header at most once."), FIX_AND_RESEND),
    Reason.IDLE_TIMEOUT: _a(N_("The connection was idle too long and APNs is closing it."),
                            N_("Open a new connection when you next have something to send."), NEW_CONNECTION),
    Reason.INVALID_PUSH_TYPE: _a(N_("The apns-push-type header is not a push type APNs knows."),
                                 N_("Use alert, background, voip, complication, fileprovider, mdm, liveactivity, "
                                 "location, pushtotalk, widgets or controls."), FIX_AND_RESEND),
    Reason.MISSING_DEVICE_TOKEN: _a(N_("The request path has no device token."),
                                    N_("POST to /3/device/<token>."), FIX_AND_RESEND),
    Reason.MISSING_TOPIC: _a(
        N_("No apns-topic header, and APNs cannot guess it (a provider token, or a certificate with several "
        "topics)."), N_("Send apns-topic with the app's bundle ID."), FIX_AND_RESEND),
    Reason.PAYLOAD_EMPTY: _a(N_("The request has no payload."),
                             N_('Send a JSON payload, at least {"aps":{}}.'), FIX_AND_RESEND),
    Reason.TOPIC_DISALLOWED: _a(
        N_("This credential may not push to that topic: another app's bundle ID, a suffix that does not match "
        "the push type, or an App ID without push enabled."),
        N_("Use the certificate or key of the team that owns the App ID, with the topic its push type needs."),
        FIX_AND_RESEND),
    # 403
    Reason.BAD_CERTIFICATE: _a(N_("The client certificate is not valid: expired, revoked or not a push certificate."),
                               N_("Download a new push certificate from the developer portal and use it."),
                               FIX_CREDENTIALS),
    Reason.BAD_CERTIFICATE_ENVIRONMENT: _a(
        N_("The certificate is for the other environment (a development certificate on production, or the "
        "reverse)."), N_("Connect to the environment the certificate was issued for, or issue one for this "
        "environment."), FIX_CREDENTIALS),
    Reason.EXPIRED_PROVIDER_TOKEN: _a(N_("The provider token (JWT) is more than one hour old."),
                                      N_("Sign a new token at least every hour (every 20 to 60 minutes)."),
                                      FIX_CREDENTIALS),
    Reason.FORBIDDEN: _a(N_("The action is not allowed."),
                         N_("Check the credential is allowed to do this; do not repeat the request unchanged."),
                         DO_NOT_RETRY),
    Reason.INVALID_PROVIDER_TOKEN: _a(
        N_("The provider token could not be verified: wrong key, key ID or team ID, a bad signature, or a "
        "revoked key."), N_("Sign the JWT with ES256 using the .p8 key whose key ID (kid) and team ID (iss) you "
        "send."), FIX_CREDENTIALS),
    Reason.MISSING_PROVIDER_TOKEN: _a(
        N_("There is no client certificate and no authorization header."),
        N_('Send "authorization: bearer <JWT>" or connect with a push certificate.'), FIX_CREDENTIALS),
    Reason.UNRELATED_KEY_ID_IN_TOKEN: _a(
        N_("The token's key ID is not related to the key used for this connection's first push."),
        N_("Open a new connection for the other key."), NEW_CONNECTION),
    Reason.BAD_ENVIRONMENT_KEY_ID_IN_TOKEN: _a(
        N_("The signing key is for the other environment."),
        N_("Use a key made for this environment (or for both), or send to the key's environment."),
        FIX_CREDENTIALS),
    # 404, 405
    Reason.BAD_PATH: _a(N_("The request path is not /3/device/<token>."), N_("POST to /3/device/<token>."),
                        FIX_AND_RESEND),
    Reason.METHOD_NOT_ALLOWED: _a(N_("The request method is not POST."), N_("Use POST."), FIX_AND_RESEND),
    # 410
    Reason.EXPIRED_TOKEN: _a(N_("The device token has expired."),
                             N_("Stop sending to this token; wait for the app to register a new one."), DO_NOT_RETRY),
    Reason.UNREGISTERED: _a(
        N_("The device token is no longer active for this topic (the app was deleted or push was turned off). "
        "The timestamp says since when."),
        N_("Stop sending to this token. Use it again only if the app registers it with a later timestamp."),
        DO_NOT_RETRY),
    # 413
    Reason.PAYLOAD_TOO_LARGE: _a(N_("The payload is larger than allowed (4096 bytes; 5120 for VoIP)."),
                                 N_("Send less: shorten the text, drop custom keys, or send a reference the app "
                                 "fetches."), DO_NOT_RETRY),
    # 429
    Reason.TOO_MANY_PROVIDER_TOKEN_UPDATES: _a(
        N_("The provider token was replaced more than once in 20 minutes on this connection."),
        N_("Reuse one token for 20 to 60 minutes; do not sign a new one per request."), RETRY_LATER),
    Reason.TOO_MANY_REQUESTS: _a(N_("Too many pushes in a row to the same device token."),
                                 N_("Slow down for this token and retry after a delay."), RETRY_LATER),
    # 5xx
    Reason.INTERNAL_SERVER_ERROR: _a(N_("APNs had an internal error."), N_("Retry later with back-off."), RETRY_LATER),
    Reason.SERVICE_UNAVAILABLE: _a(N_("APNs is unavailable."), N_("Retry later with back-off, on a new connection."),
                                   RETRY_LATER),
    Reason.SHUTDOWN: _a(N_("This APNs server is shutting down."),
                        N_("Open a new connection and send the push there."), NEW_CONNECTION),
}


def advice_for(wire: str | None) -> Advice | None:
    """The advice for a wire reason string; None for a reason Apple's table does not have."""
    if not wire:
        return None
    try:
        return ADVICE.get(Reason.from_wire(wire))
    except ValueError:
        return None


def advice_table(language: str = "en") -> list[dict[str, Any]]:
    """Every reason with its advice in ``language``, in the enum's order (for ``GET /_sim/reasons?lang=``)."""
    return [ADVICE[reason].as_json(reason, language) for reason in Reason]
