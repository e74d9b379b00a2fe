"""The binary interface's codec, bytes only (docs/legacy-binary.md §2, §3; docs/limits.md §5).

Table-driven: every command, every status code, every way a frame can be cut or oversized. The decoder is fed
in memory, one chunk at a time, as TCP might hand it over (habit 8).
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apns_sim import limits
from apns_sim.legacy import frames
from apns_sim.legacy.frames import FrameDecoder, FrameError, Notification, Status

TOKEN = bytes(range(32))
PAYLOAD = b'{"aps":{"alert":"hi"}}'


def note(command: int, **overrides: object) -> Notification:
    values: dict[str, object] = {"command": command, "token": TOKEN, "payload": PAYLOAD}
    if command != frames.SIMPLE:
        values.update(identifier=42, expiry=1_700_000_000)
    values.update(overrides)
    return Notification(**values)  # type: ignore[arg-type]


def item(item_id: int, data: bytes) -> bytes:
    return struct.pack(">BH", item_id, len(data)) + data


def frame(*items: bytes) -> bytes:
    body = b"".join(items)
    return struct.pack(">BI", 2, len(body)) + body


@pytest.mark.parametrize("command", [frames.SIMPLE, frames.ENHANCED, frames.FRAME])
def test_every_command_round_trips(command: int) -> None:
    """§2.1-§2.3: what a provider encodes in each format decodes to the same notification."""
    original = note(command)
    assert FrameDecoder().receive_data(frames.encode_notification(original)) == [original]


def test_the_simple_formats_imply_priority_10_and_command_2_carries_it() -> None:
    """§2.1, §2.2: commands 0 and 1 have no priority (10 implied); item 5 sets it."""
    assert FrameDecoder().receive_data(frames.encode_notification(note(frames.ENHANCED)))[0].priority == 10
    low = note(frames.FRAME, priority=5)
    assert FrameDecoder().receive_data(frames.encode_notification(low)) == [low]


@pytest.mark.parametrize("command", [frames.SIMPLE, frames.ENHANCED, frames.FRAME])
@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_a_notification_split_across_reads_is_reassembled(command: int, size: int) -> None:
    """§2: TCP may cut anywhere; the decoder waits for the rest, whatever the cut."""
    data = frames.encode_notification(note(command)) * 2
    decoder = FrameDecoder()
    out: list[object] = []
    for start in range(0, len(data), size):
        out += decoder.receive_data(data[start:start + size])
    assert out == [note(command), note(command)] and decoder.pending == 0


@pytest.mark.parametrize("command", [frames.SIMPLE, frames.ENHANCED, frames.FRAME])
def test_a_truncated_notification_is_held_never_returned(command: int) -> None:
    """§2: a connection that ends inside a notification leaves it pending, never delivered."""
    data = frames.encode_notification(note(command))
    decoder = FrameDecoder()
    assert decoder.receive_data(data[:-1]) == [] and decoder.pending == len(data) - 1


BAD = [
    # (bytes, status, identifier): §3, the first refusal; sizes are judged on the length field alone
    (struct.pack(">BH", 0, 0) + struct.pack(">H", 2) + b"{}", Status.MISSING_DEVICE_TOKEN, 0),
    (struct.pack(">BIIH", 1, 9, 0, 0) + struct.pack(">H", 2) + b"{}", Status.MISSING_DEVICE_TOKEN, 9),
    (frame(item(2, b"{}"), item(3, b"\0\0\0\x05")), Status.MISSING_DEVICE_TOKEN, 5),
    (frame(item(1, TOKEN), item(3, b"\0\0\0\x06")), Status.MISSING_PAYLOAD, 6),
    (struct.pack(">BIIH", 1, 7, 0, 32) + TOKEN + struct.pack(">H", 0), Status.MISSING_PAYLOAD, 7),
    (struct.pack(">BIIH", 1, 8, 0, 101), Status.INVALID_TOKEN_SIZE, 8),
    (struct.pack(">BH", 0, 60_000), Status.INVALID_TOKEN_SIZE, 0),
    (frame(item(1, b"\1" * 101), item(2, b"{}")), Status.INVALID_TOKEN_SIZE, 0),
    (struct.pack(">BH", 0, 32) + TOKEN + struct.pack(">H", 2049), Status.INVALID_PAYLOAD_SIZE, 0),
    (struct.pack(">BI", 2, limits.LEGACY_MAX_FRAME_BYTES + 1) + item(3, b"\0\0\0\x0b"),
     Status.INVALID_PAYLOAD_SIZE, 11),
    (frame(item(1, TOKEN), item(2, b"x" * 2049)), Status.INVALID_PAYLOAD_SIZE, 0),
    (frame(item(1, TOKEN), item(2, b"{}"), item(5, b"\x07")), Status.PROCESSING_ERROR, 0),
    (frame(item(1, TOKEN), item(2, b"{}"), item(9, b"?")), Status.PROTOCOL_ERROR, 0),
    (frame(item(1, TOKEN), item(1, TOKEN), item(2, b"{}")), Status.PROTOCOL_ERROR, 0),
    (frame(item(1, TOKEN), item(2, b"{}"), item(3, b"\0\x01")), Status.PROTOCOL_ERROR, 0),
    (frame(item(1, TOKEN)), Status.MISSING_PAYLOAD, 0),
    (struct.pack(">BI", 2, 5) + b"\x01\x00\x20ab", Status.PROTOCOL_ERROR, 0),  # an item cut by its frame
    (b"\x03\x00", Status.PROTOCOL_ERROR, 0),  # no such command
]


@pytest.mark.parametrize(("data", "status", "identifier"), BAD)
def test_bad_notifications_are_refused_with_apples_status(data: bytes, status: Status, identifier: int) -> None:
    """§3: one FrameError with the status and the refused notification's identifier."""
    (error,) = FrameDecoder().receive_data(data)
    assert isinstance(error, FrameError) and (error.status, error.identifier) == (status, identifier)


def test_after_the_first_refusal_nothing_more_is_read() -> None:
    """§3: what follows the bad notification on the connection is discarded, even complete notifications."""
    good = frames.encode_notification(note(frames.ENHANCED))
    bad = struct.pack(">BIIH", 1, 99, 0, 101)
    decoder = FrameDecoder()
    out = decoder.receive_data(good + bad + good)
    assert out[0] == note(frames.ENHANCED) and isinstance(out[1], FrameError) and len(out) == 2
    assert decoder.failed and decoder.receive_data(good) == []


def test_the_payload_limit_knob() -> None:
    """§3: 256 bytes in the early tutorials' day; 2 KB from iOS 8 on (the default)."""
    payload = b"x" * 300
    assert FrameDecoder(256).receive_data(frames.encode_notification(note(frames.FRAME, payload=payload)))[0] == \
        FrameError(status=Status.INVALID_PAYLOAD_SIZE, identifier=42, command=frames.FRAME)
    assert FrameDecoder().receive_data(frames.encode_notification(note(frames.FRAME, payload=payload))) == [
        note(frames.FRAME, payload=payload)]


@pytest.mark.parametrize("status", list(Status))
def test_every_status_code_encodes_as_six_bytes(status: Status) -> None:
    """§3: command 8, status, identifier (big-endian), for 0-8, 10, 128 and 255."""
    packet = frames.encode_error(status, 0x01020304)
    assert packet == bytes([8, int(status), 1, 2, 3, 4])
    assert frames.decode_error(packet) == FrameError(status=status, identifier=0x01020304)
    assert status.description


def test_the_status_table_is_apples() -> None:
    """§3: the documented codes, 9 not among them."""
    assert sorted(int(s) for s in Status) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 128, 255]
    with pytest.raises(ValueError):
        frames.decode_error(bytes([9, 8, 0, 0, 0, 0]))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=12))
def test_any_bytes_in_any_cut_never_raise(chunks: list[bytes]) -> None:
    """docs/limits.md §5: hostile input gives notifications or one FrameError, never an exception or a buffer past
    the largest valid notification."""
    decoder = FrameDecoder()
    for chunk in chunks:
        for result in decoder.receive_data(chunk):
            assert isinstance(result, (Notification, FrameError))
        assert decoder.pending <= limits.LEGACY_MAX_FRAME_BYTES + 5
