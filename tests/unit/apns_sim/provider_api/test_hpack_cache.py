"""The provider API's caching HPACK decoder gives exactly what hpack's decoder gives (RFC 7541), faster.

Providers resend the same provider token for up to an hour (docs/apns-protocol.md §5), so the simulator caches
decoded header blocks and Huffman strings per connection; these tests hold it to stock behaviour.
"""

from __future__ import annotations

import hpack
import hpack.hpack
import hpack.huffman_table
import pytest
from hpack.exceptions import HPACKDecodingError, InvalidTableSizeError

from apns_sim.provider_api import hpack_cache
from apns_sim.provider_api.hpack_cache import CachingDecoder

JWT = b"bearer eyJhbGciOiJFUzI1NiIsImtpZCI6IkFCQzEyM0RFRkcifQ." + b"x" * 150
STABLE = [(b":method", b"POST"), (b":scheme", b"https"), (b":authority", b"127.0.0.1"),
          (b"apns-topic", b"com.example.app"), (b"apns-push-type", b"alert")]


def _request(path: bytes, apns_id: bytes | None = None) -> list[tuple[bytes, bytes]]:
    headers = [*STABLE, (b":path", path), (b"authorization", JWT)]
    return headers + ([(b"apns-id", apns_id)] if apns_id else [])


def _lockstep(blocks: list[bytes]) -> list[list[tuple[bytes, bytes]]]:
    stock, ours = hpack.Decoder(), CachingDecoder()
    out = []
    for block in blocks:
        expected = stock.decode(block, raw=True)
        got = ours.decode(block, raw=True)
        assert got == expected and [type(h) for h in got] == [type(h) for h in expected]
        out.append(got)
    return out


def test_same_results_as_hpack_for_repeated_and_changing_blocks() -> None:
    """RFC 7541 §6: indexed fields, literals with and without indexing, never-indexed, Huffman or not."""
    encoder = hpack.Encoder()
    blocks = []
    for i in range(40):
        path = f"/3/device/{i % 3:064x}".encode()
        sensitive = [(b"authorization", JWT)]
        headers = _request(path, f"{i:08d}-0000-4000-8000-000000000000".encode() if i % 4 == 0 else None)
        blocks.append(encoder.encode([hpack.NeverIndexedHeaderTuple(n, v) if (n, v) in sensitive else (n, v)
                                      for n, v in headers], huffman=i % 5 != 0))
    decoded = _lockstep(blocks + blocks[-5:])
    assert dict(decoded[-1])[b"authorization"] == JWT


def test_a_repeated_block_is_not_decoded_again(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []
    real = hpack_cache.decode_huffman
    monkeypatch.setattr(hpack_cache, "decode_huffman", lambda data: calls.append(data) or real(data))
    first = hpack.Encoder().encode([hpack.NeverIndexedHeaderTuple(n, v) for n, v in _request(b"/3/device/aa")])
    fresh = CachingDecoder()
    headers = fresh.decode(first, raw=True)
    count = len(calls)
    assert count >= 2 and dict(headers)[b"authorization"] == JWT
    assert fresh.decode(first, raw=True) == headers
    assert len(calls) == count  # the whole block came from the cache


def test_the_provider_token_is_huffman_decoded_once_across_different_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Per-request :path and apns-id differ (our provider's shape); the token's Huffman string repeats."""
    calls: list[bytes] = []
    real = hpack_cache.decode_huffman
    monkeypatch.setattr(hpack_cache, "decode_huffman", lambda data: calls.append(data) or real(data))
    encoder, decoder = hpack.Encoder(), CachingDecoder()
    for i in range(5):
        block = encoder.encode([hpack.NeverIndexedHeaderTuple(n, v) if n in (b"authorization", b":path") else (n, v)
                                for n, v in _request(f"/3/device/{i:064x}".encode())])
        assert dict(decoder.decode(block, raw=True))[b"authorization"] == JWT
    coded_jwt = hpack.huffman.HuffmanEncoder(hpack.huffman_constants.REQUEST_CODES,
                                             hpack.huffman_constants.REQUEST_CODES_LENGTH).encode(JWT)
    assert calls.count(coded_jwt) == 1


def test_a_table_size_update_invalidates_cached_blocks() -> None:
    """RFC 7541 §6.3/§4.3: a size update evicts entries; a block that referred to them must fail again."""
    encoder = hpack.Encoder()
    first = encoder.encode([(b"x-custom", b"value")])  # literal with incremental indexing: new entry 62
    again = encoder.encode([(b"x-custom", b"value")])  # now just "indexed 62"
    decoder = CachingDecoder()
    assert decoder.decode(first, raw=True) == [(b"x-custom", b"value")]
    assert decoder.decode(again, raw=True) == [(b"x-custom", b"value")]
    assert decoder.decode(again, raw=True) == [(b"x-custom", b"value")]  # from the cache
    decoder.decode(b"\x20", raw=True)  # size update to 0: the table is emptied
    decoder.decode(b"\x3f\xe1\x1f", raw=True)  # and grown back to 4096, empty
    with pytest.raises(HPACKDecodingError):
        decoder.decode(again, raw=True)  # entry 62 is gone: stock hpack fails here too
    stock = hpack.Decoder()
    for block in (first, again, b"\x20", b"\x3f\xe1\x1f"):
        stock.decode(block, raw=True)
    with pytest.raises(HPACKDecodingError):
        stock.decode(again, raw=True)


def test_limits_still_apply_to_cached_blocks() -> None:
    """h2 lowers max_allowed_table_size when our SETTINGS are acked; a cached block must not bypass it."""
    decoder = CachingDecoder()
    block = hpack.Encoder().encode([(b":method", b"POST")])
    decoder.decode(block, raw=True)
    decoder.max_allowed_table_size = 100
    with pytest.raises(InvalidTableSizeError):
        decoder.decode(block, raw=True)
    small = CachingDecoder(max_header_list_size=64)
    big = hpack.Encoder().encode([(b"authorization", JWT)])
    for _ in range(2):
        with pytest.raises(hpack.OversizedHeaderListError):
            small.decode(big, raw=True)


def test_the_hpack_module_itself_is_not_patched() -> None:
    assert hpack.hpack.decode_huffman is hpack.huffman_table.decode_huffman
    assert hpack.Decoder._decode_literal is not CachingDecoder._decode_literal
    assert type(hpack.Decoder().header_table) is hpack.table.HeaderTable


def test_the_private_decoder_methods_we_override_still_exist() -> None:
    """The cache overrides three private methods of hpack's Decoder; if a new hpack renamed them, the
    overrides would silently stop running and a cached block could outlive a table change."""
    for name in ("_decode_literal", "_update_encoding_context", "_assert_valid_table_size"):
        assert callable(getattr(hpack.Decoder, name, None)), f"hpack.Decoder.{name} is gone: review hpack_cache.py"
