"""HPACK decoding that remembers: providers send the same header blocks and values over and over.

A provider resends the same provider token (JWT, ~200 bytes, a Huffman-coded literal that HPACK keeps out
of the dynamic table: docs/apns-protocol.md §5 asks for the same token for up to an hour), the same
``apns-topic`` and, often, header blocks identical byte for byte. Pure-Python Huffman decoding costs tens
of microseconds per value, so the provider API decodes through :class:`CachingDecoder`, which gives exactly
the headers and errors ``hpack.Decoder`` gives, with two bounded caches:

- whole header blocks: a block that neither changes the dynamic table nor depends on a different one
  decodes to the same headers as last time; the key is the block's bytes plus a version of the table that
  changes on every insertion and resize, so a block is only reused while the table it refers to is the same;
- Huffman-coded strings: the same coded bytes always decode to the same text.

The caches live in one decoder instance (one per provider connection): nothing in the ``hpack`` or ``h2``
modules is patched, so other users of ``hpack`` in the process (the provider client, tests) keep stock
behaviour. Only successful decodes are remembered; a malformed block raises every time.
"""

from __future__ import annotations

import hpack
from hpack.exceptions import HPACKDecodingError
from hpack.hpack import decode_integer
from hpack.huffman_table import decode_huffman
from hpack.struct import HeaderTuple, NeverIndexedHeaderTuple
from hpack.table import HeaderTable

BLOCK_CACHE_SIZE = 64  # distinct header blocks remembered per connection
HUFFMAN_CACHE_SIZE = 256  # distinct Huffman-coded strings remembered per connection
MAX_CACHED_BLOCK = 4096  # bytes; bigger blocks are rare and not worth keeping


class VersionedHeaderTable(HeaderTable):
    """hpack's table, counting its changes: a cached block is valid only for the version it was decoded at.

    Insertions count here; resizes (a dynamic table size update in a block) are counted by the decoder.
    """

    def __init__(self) -> None:
        super().__init__()
        self.version = 0

    def add(self, name: bytes, value: bytes) -> None:
        self.version += 1
        super().add(name, value)


class CachingDecoder(hpack.Decoder):
    """``hpack.Decoder`` with a per-instance cache of header blocks and of Huffman-decoded strings."""

    def __init__(self, max_header_list_size: int = hpack.hpack.DEFAULT_MAX_HEADER_LIST_SIZE) -> None:
        super().__init__(max_header_list_size)
        self.header_table: VersionedHeaderTable = VersionedHeaderTable()
        self.max_allowed_table_size = self.header_table.maxsize
        self._blocks: dict[bytes, tuple[tuple[int, int, int, bool], list[HeaderTuple]]] = {}
        self._huffman: dict[bytes, bytes] = {}

    def decode(self, data: bytes, raw: bool = False) -> list[HeaderTuple]:
        table = self.header_table
        data = bytes(data)
        # Everything the result depends on besides the bytes: the table, the size limit, raw or text.
        context = (table.version, table.maxsize, self.max_header_list_size, raw)
        hit = self._blocks.get(data)
        if hit is not None and hit[0] == context:
            self._assert_valid_table_size()  # what decode() checks last, against the current maximum
            return list(hit[1])
        headers = list(super().decode(data, raw))
        if table.version == context[0] and len(data) <= MAX_CACHED_BLOCK:
            # The block changed nothing (no insertion, no resize): the same bytes will mean the same again.
            if len(self._blocks) >= BLOCK_CACHE_SIZE:
                self._blocks.clear()  # a provider's blocks repeat; a full cache means they do not: start over
            self._blocks[data] = (context, headers)
            return list(headers)
        return headers

    def _update_encoding_context(self, data: bytes | memoryview) -> int:
        self.header_table.version += 1  # a resize may evict entries: blocks decoded before no longer apply
        return int(super()._update_encoding_context(data))

    def _huffman_decode(self, coded: bytes) -> bytes:
        value = self._huffman.get(coded)
        if value is None:
            value = decode_huffman(coded)
            if len(self._huffman) >= HUFFMAN_CACHE_SIZE:
                self._huffman.clear()
            self._huffman[coded] = value
        return value

    def _decode_literal(self, data: bytes | memoryview, should_index: bool) -> tuple[HeaderTuple, int]:
        """hpack 4.x's ``Decoder._decode_literal``, unchanged except that Huffman strings go through the cache."""
        if isinstance(data, memoryview):
            data = data.tobytes()
        total_consumed = 0
        if should_index:
            indexed_name = data[0] & 0x3F
            name_len = 6
            not_indexable = False
        else:
            high_byte = data[0]
            indexed_name = high_byte & 0x0F
            name_len = 4
            not_indexable = bool(high_byte & 0x10)
        if indexed_name:
            index, consumed = decode_integer(data, name_len)
            name = self.header_table.get_by_index(index)[0]
            total_consumed = consumed
            length = 0
        else:
            data = data[1:]
            length, consumed = decode_integer(data, 7)
            name = data[consumed:consumed + length]
            if len(name) != length:
                raise HPACKDecodingError("Truncated header block")
            if data[0] & 0x80:
                name = self._huffman_decode(name)
            total_consumed = consumed + length + 1
        data = data[consumed + length:]
        length, consumed = decode_integer(data, 7)
        value = data[consumed:consumed + length]
        if len(value) != length:
            raise HPACKDecodingError("Truncated header block")
        if data[0] & 0x80:
            value = self._huffman_decode(value)
        total_consumed += length + consumed
        header: HeaderTuple = NeverIndexedHeaderTuple(name, value) if not_indexable else HeaderTuple(name, value)
        if should_index:
            self.header_table.add(name, value)
        return header, total_consumed
