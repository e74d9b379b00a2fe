"""h2's server connection with RFC 9113's stream errors where h2 ends the whole connection.

h2 4.x answers five malformed inputs that concern a single stream with a connection GOAWAY, which kills every
other push in flight on that connection (docs/limits.md §1.5, found by the abuse suite's fuzzing):

- a ``content-length`` that is not a number, disagrees with itself, or with the DATA received (RFC 9113 §8.1.1:
  malformed, a stream error PROTOCOL_ERROR);
- trailers without END_STREAM (RFC 9113 §8.1: malformed, a stream error PROTOCOL_ERROR);
- a stream that depends on itself, in PRIORITY or in HEADERS (RFC 9113 §5.3.1, RFC 7540 §5.3.1: a stream error
  PROTOCOL_ERROR);
- WINDOW_UPDATE with increment 0 on a stream (RFC 9113 §6.9: a stream error PROTOCOL_ERROR), and a PRIORITY frame whose
  length is not 5 (RFC 9113 §6.3: a stream error FRAME_SIZE_ERROR); hyperframe refuses both while parsing;
- HEADERS on a stream the client already ended (half-closed remote: RFC 9113 §5.1, a stream error STREAM_CLOSED).

It also drops h2's count of open streams on every new stream (a scan of all of them: quadratic in a read that
opens thousands, docs/limits.md §1.1): the connection core enforces its own stream limit, and
:meth:`StrictH2Connection.prune` forgets closed streams once per read instead.

Each is answered here with RST_STREAM on that stream only (RFC 9113 §5.4.2) and reported to the caller as a
:class:`h2.events.StreamReset` (``remote_reset`` False), so the connection core forgets the stream too. The
header block was decoded before h2 raised in every HEADERS case, so HPACK state stays in step; everything else
h2 calls a connection error stays one.
"""

from __future__ import annotations

import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.stream
from h2.frame_buffer import FrameBuffer
from hyperframe.flags import Flag
from hyperframe.frame import DataFrame, Frame, HeadersFrame, PriorityFrame

_PRIORITY, _WINDOW_UPDATE = 0x2, 0x8
# h2 raises plain ProtocolError for these; the text is all that tells them apart (pinned by the unit tests).
_STREAM_LEVEL = ("Invalid content-length header", "Conflicting content-length headers",
                 "Trailers must have END_STREAM set", "may not depend on itself")
_Codes = h2.errors.ErrorCodes


class _StreamFault(Frame):
    """Stands in for a frame hyperframe cannot parse but RFC 9113 calls a stream error."""

    type = None
    defined_flags: list[Flag] = []

    def __init__(self, stream_id: int, code: _Codes) -> None:
        super().__init__(stream_id)
        self.code = code


class _FrameBuffer(FrameBuffer):
    def __next__(self) -> Frame:
        data = self._data
        if len(data) >= 9 and not self._headers_buffer and not self._preamble_len:
            length = int.from_bytes(data[:3], "big")
            kind = data[3]
            sid = int.from_bytes(data[5:9], "big") & 0x7FFFFFFF
            if sid and len(data) >= 9 + length and length <= self.max_frame_size:
                fault = None
                if kind == _PRIORITY and length != 5:
                    fault = _Codes.FRAME_SIZE_ERROR
                elif kind == _WINDOW_UPDATE and length == 4 and not int.from_bytes(data[9:13], "big") & 0x7FFFFFFF:
                    fault = _Codes.PROTOCOL_ERROR
                if fault is not None:
                    del data[:9 + length]
                    return _StreamFault(sid, fault)
        return super().__next__()


class StrictH2Connection(h2.connection.H2Connection):
    """``H2Connection`` (server side) answering the stream errors above with RST_STREAM only."""

    def __init__(self, config: h2.config.H2Configuration) -> None:
        super().__init__(config=config)
        self.incoming_buffer = _FrameBuffer(server=True)

    @property
    def open_inbound_streams(self) -> int:
        return 0  # only h2's own MAX_CONCURRENT_STREAMS check asks, and ProviderConnection enforces the limit

    def prune(self) -> None:
        """Forget closed streams (what h2 did on every new stream), once per read."""
        self._open_streams(1)

    def _receive_frame(self, frame: Frame) -> list[h2.events.Event]:
        if isinstance(frame, _StreamFault):
            if frame.stream_id > self.highest_inbound_stream_id and frame.code == _Codes.PROTOCOL_ERROR:
                # WINDOW_UPDATE on an idle stream is a connection error (RFC 9113 §5.1), malformed or not
                raise h2.exceptions.ProtocolError("WINDOW_UPDATE on an idle stream")
            return self._stream_error(frame.stream_id, frame.code, 0)
        try:
            return super()._receive_frame(frame)
        except h2.exceptions.StreamClosedError:
            if isinstance(frame, HeadersFrame) and self._half_closed_remote(frame.stream_id):
                return self._stream_error(frame.stream_id, _Codes.STREAM_CLOSED, 0)
            raise
        except h2.exceptions.ProtocolError as exc:
            if not isinstance(frame, DataFrame | HeadersFrame | PriorityFrame) or not frame.stream_id:
                raise
            if not isinstance(exc, h2.exceptions.InvalidBodyLengthError) and not any(
                    text in str(exc) for text in _STREAM_LEVEL):
                raise
            length = frame.flow_controlled_length if isinstance(frame, DataFrame) else 0
            return self._stream_error(frame.stream_id, _Codes.PROTOCOL_ERROR, length)

    def _half_closed_remote(self, sid: int) -> bool:
        stream = self.streams.get(sid)
        return stream is not None and stream.state_machine.state == h2.stream.StreamState.HALF_CLOSED_REMOTE

    def _stream_error(self, sid: int, code: _Codes, consumed: int) -> list[h2.events.Event]:
        # an idle stream is never reset (RFC 9113 §6.4) and a closed one not twice: both only drop the frame
        if sid in self.streams and not self.streams[sid].closed:
            self.reset_stream(sid, code)
        if consumed:
            # the DATA counted against the connection window although no stream will acknowledge it
            self.acknowledge_received_data(consumed, sid)
        return [h2.events.StreamReset(stream_id=sid, error_code=code, remote_reset=False)]
