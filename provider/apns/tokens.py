"""Provider authentication tokens (JWT) for token-based connections (docs/apns-protocol.md §5).

A token is a JWS signed with ES256 by the team's ``.p8`` key: header ``{"alg": "ES256", "kid": KEY_ID}``,
claims ``{"iss": TEAM_ID, "iat": UNIX_SECONDS}``. APNs refuses a token older than one hour
(``ExpiredProviderToken``) and one renewed more than once per 20 minutes on a connection
(``TooManyProviderTokenUpdates``), so the issuer caches one token and renews it after ``refresh_after``
seconds, which must lie in [20 min, 60 min). The default, 50 minutes, is what pushy and apns2 use.

Time comes from an injected ``clock`` (seconds since the epoch) so tests advance it instead of sleeping
(docs/style.md habit 3).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

MIN_REFRESH = 20 * 60
MAX_AGE = 60 * 60
DEFAULT_REFRESH = 50 * 60
_ID = re.compile(r"[A-Za-z0-9]+")


class TokenIssuer:
    """Signs and caches the provider token; ``current()`` is cheap and safe to call per request."""

    def __init__(
        self,
        key: ec.EllipticCurvePrivateKey,
        *,
        key_id: str,
        team_id: str,
        refresh_after: float = DEFAULT_REFRESH,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("APNs provider tokens need an EC P-256 private key (the .p8 file)")
        if not _ID.fullmatch(key_id or ""):
            raise ValueError("key_id must be the alphanumeric Key ID shown with the .p8 key")
        if not _ID.fullmatch(team_id or ""):
            raise ValueError("team_id must be the alphanumeric Team ID")
        if not MIN_REFRESH <= refresh_after < MAX_AGE:
            raise ValueError(
                f"refresh_after must be at least {MIN_REFRESH} s (APNs: TooManyProviderTokenUpdates) and "
                f"below "
                f"{MAX_AGE} s (APNs: ExpiredProviderToken), got {refresh_after}"
            )
        self._key = key
        self.key_id = key_id
        self.team_id = team_id
        self.refresh_after = refresh_after
        self._clock = clock
        self._token: str | None = None
        self._issued_at: int | None = None

    def __repr__(self) -> str:  # never show the key or the token
        return f"TokenIssuer(key_id={self.key_id!r}, team_id={self.team_id!r})"

    @property
    def issued_at(self) -> int | None:
        """``iat`` of the cached token, or ``None`` before the first one."""
        return self._issued_at

    def current(self) -> str:
        """The cached token, or a fresh one if there is none or it is older than ``refresh_after``."""
        now = self._clock()
        if self._token is None or self._issued_at is None or now - self._issued_at >= self.refresh_after:
            self._issue(int(now))
        assert self._token is not None
        return self._token

    def expire(self) -> None:
        """Forget the cached token (after ``ExpiredProviderToken``); the next ``current()`` signs anew.

        Use it together with a new connection: renewing on the same connection within 20 minutes is itself
        an error (§5).
        """
        self._token = None
        self._issued_at = None

    def authorization(self) -> str:
        """The ``authorization`` header value: ``bearer <token>`` (§5)."""
        return f"bearer {self.current()}"

    def _issue(self, iat: int) -> None:
        self._token = jwt.encode(
            {"iss": self.team_id, "iat": iat},
            self._key,
            algorithm="ES256",
            headers={"kid": self.key_id},
        )
        self._issued_at = iat
