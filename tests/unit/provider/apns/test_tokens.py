"""JWT provider tokens (docs/apns-protocol.md §5), timed by a fake clock, never by sleeping (docs/style.md habit 3)."""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from provider.apns.tokens import TokenIssuer


class Clock:
    def __init__(self, now: float = 1_700_000_000.5) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def test_token_is_es256_with_kid_iss_and_integer_iat(key: ec.EllipticCurvePrivateKey) -> None:
    clock = Clock()
    issuer = TokenIssuer(key, key_id="ABC123DEFG", team_id="DEF123GHIJ", clock=clock)
    token = issuer.current()
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256" and header["kid"] == "ABC123DEFG"
    claims = jwt.decode(token, key.public_key(), algorithms=["ES256"], options={"verify_iat": False})
    assert claims == {"iss": "DEF123GHIJ", "iat": 1_700_000_000}
    assert isinstance(claims["iat"], int)
    assert issuer.authorization() == f"bearer {token}"


def test_token_is_cached_then_refreshed_after_refresh_after(key: ec.EllipticCurvePrivateKey) -> None:
    clock = Clock()
    issuer = TokenIssuer(key, key_id="K", team_id="T", refresh_after=30 * 60, clock=clock)
    first = issuer.current()
    clock.now += 30 * 60 - 1
    assert issuer.current() == first  # still fresh: renewing sooner than 20 min is an error (§5)
    clock.now += 1
    second = issuer.current()
    assert second != first and issuer.issued_at == int(clock.now)
    clock.now += 60
    assert issuer.current() == second


def test_default_refresh_is_fifty_minutes(key: ec.EllipticCurvePrivateKey) -> None:
    clock = Clock()
    issuer = TokenIssuer(key, key_id="K", team_id="T", clock=clock)
    first = issuer.current()
    clock.now += 49 * 60
    assert issuer.current() == first
    clock.now += 60
    assert issuer.current() != first


def test_expire_forces_a_new_token(key: ec.EllipticCurvePrivateKey) -> None:
    clock = Clock()
    issuer = TokenIssuer(key, key_id="K", team_id="T", clock=clock)
    first = issuer.current()
    clock.now += 1
    issuer.expire()
    assert issuer.current() != first


@pytest.mark.parametrize("refresh_after", [0, 19 * 60, 60 * 60, 61 * 60])
def test_refresh_after_must_lie_between_20_and_60_minutes(key, refresh_after: float) -> None:
    with pytest.raises(ValueError, match="refresh_after"):
        TokenIssuer(key, key_id="K", team_id="T", refresh_after=refresh_after)


def test_only_p256_keys_and_plain_ids(key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(ValueError, match="P-256"):
        TokenIssuer(ec.generate_private_key(ec.SECP384R1()), key_id="K", team_id="T")
    with pytest.raises(ValueError, match="key_id"):
        TokenIssuer(key, key_id="", team_id="T")
    with pytest.raises(ValueError, match="team_id"):
        TokenIssuer(key, key_id="K", team_id="bad id")


def test_repr_shows_no_secret(key: ec.EllipticCurvePrivateKey) -> None:
    issuer = TokenIssuer(key, key_id="K", team_id="T", clock=Clock())
    token = issuer.current()
    assert token not in repr(issuer) and "PRIVATE" not in repr(issuer)
