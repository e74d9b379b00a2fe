"""The HPACK encoder the provider's HTTP/2 connections use (RFC 7541), tuned for APNs' request shape.

A push is the same handful of headers every time (method, scheme, authority, topic, push type, the JWT) plus
two that are new on every request (the path with the device token, ``apns-id``; ``protocol.request_headers``
keeps those out of the table). Profiling the client showed HPACK near a fifth of its CPU per push, nearly all
of it spent re-deriving the same bytes; this encoder emits valid HPACK for much less.
"""

from __future__ import annotations

from typing import Any

import hpack


class HeaderEncoder(hpack.Encoder):
    """HPACK as ``h2``'s encoder does it, minus two costs that showed up per push (benchmarks/README.md).

    ``h2`` lets a connection swap its encoder (``H2Connection.encoder``); the connection does so.

    - No Huffman coding of literals. After the first request every stable header is a table index; what is
      left as literals is the path with the device token and the ``apns-id``, different each time.
      Huffman-coding them in pure Python was a tenth of the client's CPU per push, to save ~35 bytes.
    - A header already in the table is encoded as its index, and the index stays the same for as long as
      the table does not change. The representation is remembered until the next insertion (or size change)
      instead of being searched for and re-encoded on every request. Only indexed representations are
      remembered, only for plain (indexable) tuples, and only while the table's newest entry is the very
      object it was when they were recorded: any insertion replaces it.
    """

    def __init__(self) -> None:
        super().__init__()
        self._indexed: dict[tuple[bytes, bytes], bytes] = {}
        self._head: object = None

    def encode(self, headers: Any, huffman: bool = False) -> bytes:
        table = self.header_table
        if table.resized or not isinstance(headers, list):
            self._indexed.clear()
            return super().encode(headers, huffman=False)
        entries = table.dynamic_entries
        head = entries[0] if entries else None
        if head is not self._head:
            self._indexed.clear()
            self._head = head
        indexed = self._indexed
        block = []
        for header in headers:
            if type(header) is tuple:  # HeaderTuple subclasses carry their own indexing rule
                encoded = indexed.get(header)
                if encoded is None:
                    encoded = self.add(header, False, False)
                    head = entries[0] if entries else None
                    if head is not self._head:  # inserted: every dynamic index moved
                        indexed.clear()
                        self._head = head
                    elif encoded[0] & 0x80:  # an indexed representation of an unchanged table
                        indexed[header] = encoded
            else:
                encoded = self.add((header[0], header[1]), not header.indexable, False)
            block.append(encoded)
        return b"".join(block)
