"""``HeaderEncoder`` emits exactly what hpack's own encoder emits (RFC 7541), only faster.

The connection swaps h2's encoder for ``provider.apns.header_encoder.HeaderEncoder``, which remembers indexed
representations between requests. A cache like that is only safe if its bytes never differ from the reference
encoder's, through table insertions, evictions and size changes; a server that decodes a stale index would
read another header (e.g. another app's topic). Each block here is compared byte for byte with
``hpack.Encoder().encode(..., huffman=False)`` fed the same headers in the same order, and decoded by a real
``hpack.Decoder`` (docs/apns-protocol.md §2.1 for the headers; §7 for the HTTP/2 connection).
"""

from __future__ import annotations

import random

import h2.utilities
import hpack
import pytest

from provider.apns.header_encoder import HeaderEncoder
from provider.apns.notification import Notification, alert
from provider.apns.protocol import request_headers

AUTHORITY = "api.sandbox.push.apple.com"


def _request(rng: random.Random, *, topic: str, jwt: str | None, push_type: str = "alert") -> list:
    note = Notification(
        token=rng.randbytes(rng.choice([32, 32, 64, 100])).hex(),
        topic=topic,
        payload=alert("hi"),
        push_type=push_type,
        priority=rng.choice([None, 5, 10]),
        collapse_id=rng.choice([None, "score", f"c{rng.randrange(1000)}"]),
    ).with_apns_id()
    headers = request_headers(note, authority=AUTHORITY, authorization=f"bearer {jwt}" if jwt else None)
    return list(h2.utilities.utf8_encode_headers(headers))  # what h2 hands its encoder (bytes, same types)


def _check(ours: HeaderEncoder, ref: hpack.Encoder, decoder: hpack.Decoder, headers: list) -> None:
    block = ours.encode(headers)
    assert block == ref.encode(headers, huffman=False)
    decoded = decoder.decode(block, raw=True)
    assert decoded == [(bytes(k), bytes(v)) for k, v in headers]
    # the per-push literals (path, apns-id) stay out of the table on the wire (RFC 7541 §6.2.3)
    never = {bytes(h[0]) for h in decoded if isinstance(h, hpack.NeverIndexedHeaderTuple)}
    assert never == {b":path", b"apns-id"}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_byte_identical_to_hpack_through_insertions_evictions_and_resizes(seed: int) -> None:
    """§2.1 headers, §7 connection: stable headers become indexes; bytes never differ from hpack's."""
    rng = random.Random(seed)
    ours, ref, decoder = HeaderEncoder(), hpack.Encoder(), hpack.Decoder()
    topics = [f"com.example.app{i}" for i in range(6)]
    jwt = "eyJhbGciOiJFUzI1NiJ9.e30." + "x" * 80
    for i in range(400):
        if i % 97 == 50:  # a JWT refresh: a new authorization value enters the table
            jwt = jwt[:-8] + f"{i:08d}"
        if i % 131 == 70:  # the server's SETTINGS_HEADER_TABLE_SIZE changes (RFC 7541 §4.2)
            size = rng.choice([0, 128, 512, 4096])
            ours.header_table_size = size
            ref.header_table_size = size
        push_type = rng.choice(["alert", "alert", "background"])
        headers = _request(rng, topic=rng.choice(topics), jwt=jwt if rng.random() < 0.9 else None,
                           push_type=push_type)
        _check(ours, ref, decoder, headers)


def test_repeated_requests_reuse_indexes() -> None:
    """§7: after the first request the stable headers cost one index byte each; the block shrinks."""
    rng = random.Random(7)
    ours, ref, decoder = HeaderEncoder(), hpack.Encoder(), hpack.Decoder()
    sizes = []
    for _ in range(5):
        headers = _request(rng, topic="com.example.app", jwt="a.b.c" * 40)
        headers = [h for h in headers if bytes(h[0]) not in (b"apns-priority", b"apns-collapse-id")]
        block = ours.encode(headers)
        assert block == ref.encode(headers, huffman=False)
        assert decoder.decode(block, raw=True) == [(bytes(k), bytes(v)) for k, v in headers]
        sizes.append(len(block))
    assert sizes[1] < sizes[0] - 200  # the JWT and topic are indexes now
    assert len(set(sizes[1:])) == 1  # and stay so: only the token and apns-id are literals


def test_tiny_table_evicts_on_every_request() -> None:
    """RFC 7541 §4.4: an entry larger than the table empties it; indexes must never outlive their entry."""
    rng = random.Random(11)
    ours, ref, decoder = HeaderEncoder(), hpack.Encoder(), hpack.Decoder()
    ours.header_table_size = ref.header_table_size = 64
    for i in range(60):
        headers = _request(rng, topic=f"com.example.t{i % 3}", jwt=None)
        _check(ours, ref, decoder, headers)
