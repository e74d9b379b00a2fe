"""A bare asyncio + ``h2`` TLS server: parse the JSON body, answer 200 + ``apns-id``, nothing else.

The yardstick of docs/benchmarks.md ("bare Python asyncio + h2 server"): what one Python process can
do with the same HTTP/2 library and no APNs logic at all. ``benchmarks/server_bench.py`` runs it next to
the simulator so both are measured in one run on the same machine.

It gets the same flow-control treatment as the simulator (a 16 MiB connection window granted at once,
received data acknowledged as it arrives) so that the comparison measures APNs logic, not window tuning.
Everything else is h2's defaults (inbound header validation on, Huffman-coded responses), as a first
server would be written and as docs/benchmarks.md measured it. ``--lean`` turns h2's header
validation and Huffman coding off, as the simulator's core does (it checks requests itself): the
stricter yardstick of what the simulator's APNs logic costs.

    python benchmarks/bare_h2_server.py [--port 0] [--lean]

prints one JSON line ``{"url": "https://127.0.0.1:PORT"}`` when ready and serves until SIGINT/SIGTERM.
The certificate is a throwaway self-signed P-256 one made at start (h2load does not verify it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import signal
import ssl
import tempfile
import uuid
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import hpack
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CONNECTION_WINDOW = 16 * 1024 * 1024


def _tls_context() -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    fd, path = tempfile.mkstemp(suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        ctx.load_cert_chain(path)
    finally:
        os.unlink(path)
    ctx.set_alpn_protocols(["h2"])
    return ctx


class _PlainEncoder(hpack.Encoder):
    def encode(self, headers: Any, huffman: bool = True) -> bytes:
        return super().encode(headers, huffman=False)


class BareProtocol(asyncio.Protocol):
    lean = False

    def __init__(self) -> None:
        if self.lean:
            config = h2.config.H2Configuration(
                client_side=False, header_encoding=None, validate_inbound_headers=False,
                normalize_inbound_headers=False, validate_outbound_headers=False, normalize_outbound_headers=False)
        else:
            config = h2.config.H2Configuration(client_side=False, header_encoding=None)
        self.conn = h2.connection.H2Connection(config)
        if self.lean:
            self.conn.encoder = _PlainEncoder()
        self.transport: asyncio.Transport | None = None
        self.bodies: dict[int, list[bytes]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.conn.initiate_connection()
        self.conn.increment_flow_control_window(CONNECTION_WINDOW - 65535)
        transport.write(self.conn.data_to_send())

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.transport.write(self.conn.data_to_send())
            self.transport.close()
            return
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                self.bodies[event.stream_id] = []
            elif isinstance(event, h2.events.DataReceived):
                self.bodies.setdefault(event.stream_id, []).append(event.data)
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                self._answer(event.stream_id)
            elif isinstance(event, h2.events.StreamReset):
                self.bodies.pop(event.stream_id, None)
        out = self.conn.data_to_send()
        if out:
            self.transport.write(out)

    def _answer(self, stream_id: int) -> None:
        body = b"".join(self.bodies.pop(stream_id, []))
        status = b"200"
        try:
            json.loads(body)
        except ValueError:
            status = b"400"
        with contextlib.suppress(h2.exceptions.StreamClosedError):
            self.conn.send_headers(stream_id, [(b":status", status), (b"apns-id", str(uuid.uuid4()).encode())],
                                   end_stream=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--lean", action="store_true", help="no h2 header validation, no Huffman coding")
    args = parser.parse_args()
    BareProtocol.lean = args.lean
    loop = asyncio.get_running_loop()
    server = await loop.create_server(BareProtocol, args.host, args.port, ssl=_tls_context())
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"url": f"https://{args.host}:{port}"}), flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
