"""APNs client cost: our ``provider.apns.APNsClient`` against aioapns 4.0 and a bare h2 client, in one run.

Not a test: a script that prints a table and one final JSON line. Issue 18's target is our client at 2x
aioapns' req/s, or, where h2 itself is the ceiling, at least 0.95x the bare client (benchmarks/bare_h2_client.py),
comparing medians of ``--rounds`` (default 3) rounds. docs/benchmarks.md has the figures to expect on a 2-core machine.

What it does, all on 127.0.0.1, port 0 (or a free port) and temporary directories, in well under three minutes
at the defaults:

1. sets up credentials with the simulator's portal (``apns-sim portal``: App ID, Keychain-style CSR and
   ``Push.p12``, push certificate, ``.p8`` key) and starts two servers as separate processes:
   - ``nghttpd`` (C, Debian ``nghttp2-server``) with a certificate from a trustme CA made at run time, serving
     an htdocs tree with one file per device token, so each ``POST /3/device/<token>`` (a distinct token and
     apns-id every time) gets a 200 and the server is never the bottleneck;
   - the simulator (``python -m apns_sim.cli serve``), with a device token minted by ``device-sim register``
     (the phone then goes offline, so each accepted push is validated, journaled and stored);
2. for each server and each client, runs a **worker subprocess** (this file with ``--worker``) so the CPU it
   reports (``time.process_time()`` around the measured part) belongs to that client alone. A worker opens its
   client, sends one push alone (connection, TLS, SETTINGS, the token gate when ``--auth token``), then
   ``--warmup`` pushes, then the measured ``--count`` pushes with ``--concurrency`` in flight over one
   connection (``max_connections=1`` for both clients);
3. prints, per run: wall time, req/s, client CPU seconds and CPU microseconds per push, the server's CPU per
   push over the same interval (from ``/proc``), and status counts; then the best round of each client and
   the ratios ours/aioapns; then one JSON line with all of it. Rounds alternate the order of the clients.

Both clients do the whole job a caller would ask of them, inside the measured part: build the request object
from a token and a payload dict (ours validates it), let the client pick the ``apns-id`` (uuid4), send, and
wait for the answer. Both get the same ``ssl.SSLContext`` trust (the server's CA, ALPN ``h2``); verification
is never turned off. aioapns hard-codes Apple's host and port, so it is pointed at the server by subclassing
its protocol class (``APNS_SERVER``, ``APNS_PORT``), as tests/integration/test_provider_api.py does.

Two concessions to aioapns against nghttpd, which is not APNs: aioapns matches a response to its request only
by the ``apns-id`` response header, which Apple and the simulator echo but nghttpd cannot, so aioapns' ``h2``
connection gets a small shim that adds the header from aioapns' own stream map (one dict lookup per
response); and aioapns parses every DATA frame as JSON while nghttpd always sends one (empty for an empty
file), so the token files hold ``{}``. Without them aioapns never completes a request there (or drops the
connection). Both clients receive the same response bytes.

Usage::

    python benchmarks/client_bench.py [--count 20000] [--concurrency 100] [--rounds 2]
                                      [--servers nghttpd,simulator] [--auth certificate|token]
                                      [--clients ours,aioapns] [--profile ours|aioapns [--py-spy DIR]]

Check ``uptime`` first: the machine is shared, and figures are only comparable within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import cProfile
import io
import json
import os
import platform
import pstats
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # ``python benchmarks/client_bench.py`` from a checkout
    sys.path.insert(0, str(ROOT))
NGHTTPD = shutil.which("nghttpd") or "/usr/sbin/nghttpd"
BUNDLE = "com.example.clientbench"
TEAM = "BENCHTEAM2"
PASSWORD = "bench-only"  # protects a throwaway .p12 in a temporary directory
PAYLOAD: dict[str, Any] = {
    "aps": {"alert": {"title": "Benchmark", "body": "One of many pushes from client_bench."}, "sound": "default",
            "badge": 1},
    "trace": "x" * 60,
}
DEADLINE = 165.0  # seconds for the whole run, setup included; runs that would not fit are skipped
WORKER_LIMIT = 60.0  # seconds for one worker
CLIENTS = ("ours", "aioapns", "bare")


# -- the worker: one client, one server, in its own process ---------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """What a worker needs; handed over in a JSON file named on its command line."""

    client: str
    server: str
    host: str
    port: int
    ca_file: str
    auth: str  # "certificate" or "token"
    client_pem: str  # push certificate and its key in one PEM (what aioapns loads)
    p8: str
    key_id: str
    tokens: list[str]  # cycled when shorter than the pushes to send
    count: int
    warmup: int
    concurrency: int
    server_pid: int
    echo_shim: bool  # aioapns only: add the apns-id nghttpd cannot echo
    profile: str | None = None
    py_spy: bool = False


Send = Callable[[str], Awaitable[int]]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far, from /proc (Linux); 0.0 if it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tokens(spec: Spec, start: int, n: int) -> Iterator[str]:
    tokens = spec.tokens
    return (tokens[(start + i) % len(tokens)] for i in range(n))


async def _drive(send: Send, tokens: Iterator[str], concurrency: int) -> tuple[dict[str, int], dict[str, int]]:
    """``concurrency`` senders share one token iterator; the same driver for both clients."""
    statuses: collections.Counter[str] = collections.Counter()
    errors: collections.Counter[str] = collections.Counter()

    async def sender() -> None:
        for token in tokens:
            try:
                statuses[str(await send(token))] += 1
            except Exception as exc:  # a benchmark counts failures instead of stopping at the first
                errors[type(exc).__name__] += 1

    await asyncio.gather(*(sender() for _ in range(concurrency)))
    return dict(statuses), dict(errors)


async def _measure(spec: Spec, send: Send) -> dict[str, Any]:
    await send(spec.tokens[0])  # connection, TLS, SETTINGS, the stream gate of a token connection
    await _drive(send, _tokens(spec, 1, max(spec.warmup - 1, 0)), spec.concurrency)
    profiler = cProfile.Profile() if spec.profile == spec.client and not spec.py_spy else None
    server0 = cpu_seconds(spec.server_pid)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if profiler is not None:
        profiler.enable()
    statuses, errors = await _drive(send, _tokens(spec, spec.warmup, spec.count), spec.concurrency)
    if profiler is not None:
        profiler.disable()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    server_cpu = cpu_seconds(spec.server_pid) - server0
    out: dict[str, Any] = {"statuses": statuses, "errors": errors, "wall_s": wall, "cpu_s": cpu,
                           "server_cpu_s": server_cpu}
    if profiler is not None:
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)
        out["profile"] = text.getvalue()
    return out


async def _run_ours(spec: Spec) -> dict[str, Any]:
    from provider.apns import APNsClient, Notification, load_p8, load_pem

    credentials = load_p8(spec.p8, spec.key_id, TEAM) if spec.auth == "token" else load_pem(spec.client_pem)
    client = APNsClient(credentials, environment="sandbox", endpoint=f"https://{spec.host}:{spec.port}",
                        ca_file=spec.ca_file, max_connections=1)

    async def send(token: str) -> int:
        result = await client.send(Notification(token=token, topic=BUNDLE, payload=PAYLOAD))
        return result.status

    async with client:
        return await _measure(spec, send)


async def _run_aioapns(spec: Spec) -> dict[str, Any]:
    import h2.connection
    import h2.events
    from aioapns import APNs, NotificationRequest, PushType
    from aioapns.connection import APNsDevelopmentClientProtocol

    class EchoingH2(h2.connection.H2Connection):
        """Adds the ``apns-id`` response header nghttpd cannot echo, from aioapns' own stream map."""

        apns_ids: dict[int, str] = {}

        def receive_data(self, data: Any) -> list[h2.events.Event]:
            events = super().receive_data(data)
            for event in events:
                if isinstance(event, h2.events.ResponseReceived) and event.stream_id is not None:
                    event.headers = [*(event.headers or []), (b"apns-id", self.apns_ids[event.stream_id].encode())]
            return events

    class Local(APNsDevelopmentClientProtocol):  # only host, port and trust differ from Apple
        APNS_SERVER = spec.host
        APNS_PORT = spec.port

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            if spec.echo_shim:
                self.conn = EchoingH2()
                self.conn.apns_ids = self.request_streams

    context = ssl.create_default_context(cafile=spec.ca_file)
    context.set_alpn_protocols(["h2"])
    if spec.auth == "token":
        client = APNs(key=Path(spec.p8).read_text(), key_id=spec.key_id, team_id=TEAM, topic=BUNDLE,
                      use_sandbox=True, ssl_context=context, max_connections=1)
    else:
        client = APNs(client_cert=spec.client_pem, topic=BUNDLE, use_sandbox=True, ssl_context=context,
                      max_connections=1)
    client.pool.protocol_class = Local

    async def send(token: str) -> int:
        request = NotificationRequest(device_token=token, message=PAYLOAD, push_type=PushType.ALERT)
        result = await client.send_notification(request)
        return int(result.status)

    try:
        return await _measure(spec, send)
    finally:
        client.pool.close()


async def _run_bare(spec: Spec) -> dict[str, Any]:
    from benchmarks.bare_h2_client import headers, new_apns_id, open_bare, token_header

    context = ssl.create_default_context(cafile=spec.ca_file)
    context.set_alpn_protocols(["h2"])
    authorization = None
    if spec.auth == "token":
        authorization = token_header(spec.p8, spec.key_id, TEAM)
    else:
        context.load_cert_chain(spec.client_pem)
    conn = await open_bare(spec.host, spec.port, context)
    fixed, body = headers(BUNDLE, authorization), json.dumps(PAYLOAD, separators=(",", ":")).encode()

    async def send(token: str) -> int:
        return await conn.post(f"/3/device/{token}", [*fixed, ("apns-id", new_apns_id())], body)

    try:
        return await _measure(spec, send)
    finally:
        assert conn.transport is not None
        conn.transport.close()


def worker(spec: Spec) -> int:
    run = {"ours": _run_ours, "aioapns": _run_aioapns, "bare": _run_bare}[spec.client]

    async def bounded() -> dict[str, Any]:
        async with asyncio.timeout(WORKER_LIMIT):
            return await run(spec)

    print(json.dumps(asyncio.run(bounded())), flush=True)
    return 0


# -- the orchestrator ---------------------------------------------------------------------------------------


@dataclass
class Row:
    server: str
    client: str
    round: int
    pushes: int
    ok: int
    other: int
    errors: int
    error_kinds: dict[str, int]
    wall_s: float
    req_per_s: float
    cpu_s: float
    cpu_us_per_push: float
    client_cpu_share: float
    server_cpu_us_per_push: float


@dataclass(frozen=True)
class Target:
    name: str
    host: str
    port: int
    ca_file: str
    pid: int
    tokens: list[str]
    echo_shim: bool


class Bench:
    def __init__(self, work: Path, args: argparse.Namespace) -> None:
        self.work = work
        self.args = args
        self.procs: list[subprocess.Popen[bytes]] = []
        self.started = time.monotonic()
        self.env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}

    def remaining(self) -> float:
        return DEADLINE - (time.monotonic() - self.started)

    def spawn(self, argv: list[str], stdout: int | IO[Any] = subprocess.PIPE) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=stdout, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        self.procs.append(proc)
        return proc

    def run(self, argv: list[str]) -> str:
        done = subprocess.run(argv, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv[:6])}... failed: {done.stderr.strip()}")
        return done.stdout

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)

    # -- setup --------------------------------------------------------------------------------------------

    def credentials(self) -> None:
        """App ID, CSR + Push.p12, push certificate and a .p8 key from the portal (files only)."""
        from cryptography.hazmat.primitives import serialization

        from provider.apns import load_cer_and_p12

        self.sim_data = self.work / "sim"
        keys = self.work / "keys"
        portal = [sys.executable, "-m", "apns_sim.cli", "portal", "--data-dir", str(self.sim_data)]
        self.run([*portal, "--create", "app-id", "create", BUNDLE, "--team-id", TEAM])  # a new data dir
        self.run([*portal, "csr", "--email", "bench@example.com", "--common-name", "Client Bench", "--password",
                  PASSWORD, "--out-dir", str(keys)])
        cer = keys / "aps_development.cer"
        self.run([*portal, "cert", "issue", "--app-id", BUNDLE, "--csr", str(keys / "Push.certSigningRequest"),
                  "--environment", "sandbox", "--out", str(cer)])
        key = json.loads(self.run([*portal, "key", "create", "--team-id", TEAM, "--out-dir", str(keys)]))
        self.p8, self.key_id = str(key["path"]), str(key["key_id"])
        creds = load_cer_and_p12(cer, keys / "Push.p12", PASSWORD)
        self.client_pem = keys / "client.pem"
        fd = os.open(self.client_pem, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(creds.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))
            fh.write(creds.certificate.public_bytes(serialization.Encoding.PEM))

    def start_nghttpd(self, n_tokens: int) -> Target:
        import trustme

        base = self.work / "nghttpd"
        devices = base / "htdocs" / "3" / "device"
        devices.mkdir(parents=True)
        tokens = [secrets.token_hex(32) for _ in range(n_tokens)]
        for token in tokens:  # one file per token: nghttpd answers each POST with 200 and this body
            (devices / token).write_bytes(b"{}")
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        cert.private_key_pem.write_to_path(str(base / "key.pem"))
        cert.cert_chain_pems[0].write_to_path(str(base / "cert.pem"))
        ca.cert_pem.write_to_path(str(base / "ca.pem"))
        with socket.socket() as probe:  # nghttpd cannot report a port-0 bind, so pick a free port first
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        proc = self.spawn([NGHTTPD, "-a", "127.0.0.1", "-d", str(base / "htdocs"), str(port),
                           str(base / "key.pem"), str(base / "cert.pem")], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"nghttpd did not start on port {port} (status {proc.poll()})")
            time.sleep(0.05)
        return Target("nghttpd", "127.0.0.1", port, str(base / "ca.pem"), proc.pid, tokens, echo_shim=True)

    def start_simulator(self) -> Target:
        proc = self.spawn([sys.executable, "-m", "apns_sim.cli", "serve", "--data-dir", str(self.sim_data)])
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"apns-sim serve exited before printing its endpoints (status {proc.poll()})")
        endpoints = json.loads(line)
        reg = self.run([sys.executable, "-m", "device_sim.cli", "register", "--endpoints",
                        str(self.sim_data / "endpoints.json"), "--app", BUNDLE, "--environment", "sandbox",
                        "--state-dir", str(self.work / "phone")])
        token = str(json.loads(reg.strip().splitlines()[-1])["token"])
        host, _, port = endpoints["sandbox"].removeprefix("https://").rpartition(":")
        return Target("simulator", host, int(port), str(endpoints["ca_file"]), proc.pid, [token],
                      echo_shim=False)

    # -- runs -----------------------------------------------------------------------------------------------

    def measure(self, target: Target, client: str, round_no: int) -> Row | None:
        """One worker run; ``None`` if it did not finish within the run's time budget."""
        a = self.args
        spec = Spec(client=client, server=target.name, host=target.host, port=target.port, ca_file=target.ca_file,
                    auth=a.auth, client_pem=str(self.client_pem), p8=self.p8, key_id=self.key_id,
                    tokens=target.tokens, count=a.count, warmup=a.warmup, concurrency=a.concurrency,
                    server_pid=target.pid, echo_shim=target.echo_shim and client == "aioapns", profile=a.profile,
                    py_spy=a.py_spy is not None)
        spec_file = self.work / f"spec-{target.name}-{client}.json"
        spec_file.write_text(json.dumps(asdict(spec)))
        timeout = max(10.0, min(WORKER_LIMIT + 10, self.remaining()))
        argv = [sys.executable, str(Path(__file__).resolve()), "--worker", str(spec_file)]
        if a.py_spy and a.profile == client:
            a.py_spy.mkdir(parents=True, exist_ok=True)
            py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
            argv = [py_spy, "record", "--rate", "250", "--format", "raw", "--output",
                    str(a.py_spy / f"{client}-{target.name}-{round_no}.txt"), "--", *argv]
        try:
            done = subprocess.run(argv, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        if done.returncode != 0 or "{" not in done.stdout:
            raise SystemExit(f"{client} against {target.name} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        out = json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])
        if "profile" in out:
            print(f"\n--- cProfile of {client} against {target.name} (sorted by own time) ---\n{out['profile']}",
                  file=sys.stderr)
        ok = int(out["statuses"].get("200", 0))
        wall, cpu = float(out["wall_s"]), float(out["cpu_s"])
        return Row(server=target.name, client=client, round=round_no, pushes=a.count, ok=ok,
                   other=sum(out["statuses"].values()) - ok, errors=sum(out["errors"].values()),
                   error_kinds=out["errors"],
                   wall_s=round(wall, 3), req_per_s=round(a.count / wall, 1), cpu_s=round(cpu, 3),
                   cpu_us_per_push=round(cpu * 1e6 / a.count, 1), client_cpu_share=round(cpu / wall, 2),
                   server_cpu_us_per_push=round(float(out["server_cpu_s"]) * 1e6 / a.count, 1))


def _table(rows: Sequence[Row]) -> str:
    head = (f"{'server':<10} {'client':<8} {'round':>5} {'pushes':>7} {'200':>6} {'other':>5} {'errors':>6} "
            f"{'wall s':>7} {'req/s':>7} {'CPU s':>6} {'CPU us/push':>11} {'client CPU':>10} {'server us/push':>14}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r.server:<10} {r.client:<8} {r.round:>5} {r.pushes:>7} {r.ok:>6} {r.other:>5} {r.errors:>6} "
                     f"{r.wall_s:>7.2f} {r.req_per_s:>7.0f} {r.cpu_s:>6.2f} {r.cpu_us_per_push:>11.1f} "
                     f"{r.client_cpu_share:>10.0%} {r.server_cpu_us_per_push:>14.1f}")
    return "\n".join(lines)


def _summary(rows: Sequence[Row]) -> dict[str, dict[str, Any]]:
    """Per server: each client's median round (by req/s) and our ratios to aioapns and to the bare client."""
    out: dict[str, dict[str, Any]] = {}
    for server in dict.fromkeys(r.server for r in rows):
        median = {}
        for c in CLIENTS:
            mine = sorted((r for r in rows if r.server == server and r.client == c), key=lambda r: r.req_per_s)
            if mine:
                median[c] = mine[(len(mine) - 1) // 2]  # the lower median: a real round, never an average
        entry: dict[str, Any] = {c: {"req_per_s": r.req_per_s, "cpu_us_per_push": r.cpu_us_per_push,
                                     "wall_s": r.wall_s, "rounds": sum(x.server == server and x.client == c
                                                                       for x in rows)} for c, r in median.items()}
        for other in ("aioapns", "bare"):
            if "ours" in median and other in median:
                entry[f"req_per_s_ratio_{other}"] = round(median["ours"].req_per_s / median[other].req_per_s, 2)
                entry[f"cpu_per_push_ratio_{other}"] = round(
                    median["ours"].cpu_us_per_push / median[other].cpu_us_per_push, 2)
        out[server] = entry
    return out


def _print_summary(summary: dict[str, dict[str, Any]]) -> None:
    print("\nmedian round per client; ratios = ours / other (req/s: higher is better; CPU/push: lower is better)")
    for server, entry in summary.items():
        parts = [f"{c} {entry[c]['req_per_s']:>6.0f} req/s {entry[c]['cpu_us_per_push']:>6.1f} us/push"
                 for c in CLIENTS if c in entry]
        ratios = [f"vs {o}: req/s x{entry[f'req_per_s_ratio_{o}']:.2f}, "
                  f"CPU/push x{entry[f'cpu_per_push_ratio_{o}']:.2f}"
                  for o in ("aioapns", "bare") if f"req_per_s_ratio_{o}" in entry]
        print(f"  {server:<10} " + " | ".join(parts + ratios))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="our APNs client vs aioapns, against nghttpd and the simulator")
    parser.add_argument("--count", type=int, default=20_000, help="pushes per measured run (default 20000)")
    parser.add_argument("--concurrency", type=int, default=100, help="pushes in flight (default 100)")
    parser.add_argument("--warmup", type=int, default=1_000, help="pushes before each measured run (default 1000)")
    parser.add_argument("--rounds", type=int, default=3, help="runs per client and server, interleaved (default 3)")
    parser.add_argument("--servers", default="nghttpd,simulator", help="comma-separated: nghttpd, simulator")
    parser.add_argument("--clients", default="ours,aioapns,bare", help="comma-separated: ours, aioapns, bare")
    parser.add_argument("--auth", choices=["certificate", "token"], default="certificate",
                        help="client certificate (mTLS) or .p8 token (JWT) for both clients (default certificate)")
    parser.add_argument("--profile", choices=CLIENTS, help="cProfile that client's measured part (slows it)")
    parser.add_argument("--py-spy", metavar="DIR", type=Path,
                        help="with --profile: sample that client's whole worker with py-spy instead of cProfile; "
                        "raw collapsed stacks go to DIR")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--worker", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(Spec(**json.loads(Path(args.worker).read_text())))
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    if not servers or set(servers) - {"nghttpd", "simulator"}:
        parser.error("--servers takes nghttpd and/or simulator")
    if "nghttpd" in servers and not os.path.exists(NGHTTPD):
        print("nghttpd not found (Debian package nghttp2-server)", file=sys.stderr)
        return 2
    clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    if not clients or set(clients) - set(CLIENTS):
        parser.error("--clients takes ours, aioapns and/or bare")
    if args.count < 1 or args.concurrency < 1 or args.rounds < 1 or args.warmup < 1:
        parser.error("--count, --concurrency, --rounds and --warmup must be positive")

    work = Path(tempfile.mkdtemp(prefix="pushsim-client-bench-"))
    bench = Bench(work, args)
    rows: list[Row] = []
    try:
        bench.credentials()
        targets = [bench.start_nghttpd(args.count + args.warmup) if s == "nghttpd" else bench.start_simulator()
                   for s in servers]
        load = os.getloadavg()
        print(f"{platform.node()}: {os.cpu_count()} CPUs, load {load[0]:.2f}; python {platform.python_version()}; "
              f"payload {len(json.dumps(PAYLOAD, separators=(',', ':')))} bytes; {args.auth} auth; "
              f"{args.count} pushes, {args.concurrency} in flight, 1 connection", file=sys.stderr)
        stopped = False
        for round_no in range(1, args.rounds + 1):
            order = clients[round_no % len(clients):] + clients[:round_no % len(clients)]  # rotate the first
            for target in targets:
                for client in order:
                    row = bench.measure(target, client, round_no) if bench.remaining() >= 25 else None
                    if row is None:
                        stopped = True
                        break
                    rows.append(row)
                    print(_table(rows[-1:]).splitlines()[-1], file=sys.stderr)
        if stopped:
            print("stopped early: a run did not finish in its time, or the time budget is spent", file=sys.stderr)
    finally:
        bench.stop_all()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    rows.sort(key=lambda r: (servers.index(r.server), CLIENTS.index(r.client), r.round))
    print(_table(rows))
    summary = _summary(rows)
    _print_summary(summary)
    print(json.dumps({"count": args.count, "concurrency": args.concurrency, "auth": args.auth,
                      "cpus": os.cpu_count(), "rows": [asdict(r) for r in rows], "summary": summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
