"""Provider API throughput: the simulator (full path) against a bare ``h2`` server, side by side, with h2load.

Not a test: a script that prints a table and one final JSON line. Issue 3's target is the simulator at
>= 0.8x the bare server at 1 connection x 100 streams (docs/benchmarks.md has the expected figures).

What it does, all on 127.0.0.1 and in temporary directories, in under two minutes:

1. starts ``apns-sim serve`` (``python -m apns_sim.cli serve``) and ``benchmarks/bare_h2_server.py`` as
   separate processes, reading the JSON line each prints when ready;
2. creates an App ID and a .p8 key with ``apns-sim portal``; starts ``device-sim run`` in the background so
   the device token's phone is **online** and every accepted push goes the whole way (validation, journey
   log, courier delivery to the phone, the phone's acknowledgement);
3. signs a provider token (PyJWT, ES256, ``kid``/``iss``/``iat``) and runs ``h2load -c1 -m100 -n N`` with
   ``authorization``, ``apns-topic`` and ``apns-push-type`` headers and a ~200-byte JSON body, first a short
   warm-up, then the measured run, against the simulator's sandbox URL and against the bare server;
4. prints req/s, mean and p50/p99 latency (from h2load's per-request log), non-2xx and errors, each
   server's CPU per request and share of a core (from /proc) and the phone's, the ratios simulator/bare
   (by req/s, the issue's target, and by CPU per request), and how many notifications the phone received.

h2load does not verify the server certificate (it is a load tool, not one of our tests; our tests always
verify). Usage::

    python benchmarks/server_bench.py [--requests 20000] [--four] [--rounds 1] [--lean-bare] [--py-spy DIR]

``--four`` adds a 4 connections x 100 streams row; ``--rounds 2`` measures each row twice, interleaved;
``--lean-bare`` runs the bare server without h2's header validation and Huffman coding; ``--py-spy DIR``
profiles each server's first measured run. Check ``uptime`` first: the machine is shared and the figures
are only comparable within one run. Results and a profile: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import jwt

ROOT = Path(__file__).resolve().parent.parent
H2LOAD = shutil.which("h2load") or "/usr/bin/h2load"
BUNDLE = "com.example.bench"
TEAM = "BENCHTEAM1"
PAYLOAD = {"aps": {"alert": {"title": "Benchmark", "body": "One of many identical pushes from h2load."},
                   "sound": "default", "badge": 1}, "trace": "x" * 60}
DEADLINE = 110.0  # seconds for the whole run, setup included


@dataclass
class Result:
    target: str
    connections: int
    streams: int
    requests: int
    seconds: float
    req_per_s: float
    succeeded: int
    non_2xx: int
    errored: int
    mean_ms: float | None
    p50_ms: float | None
    p99_ms: float | None
    server_cpu_us: float | None = None  # server process CPU (user + system) per request
    server_cpu_share: float | None = None  # of one core, over the run's wall time
    phone_cpu_share: float | None = None  # the phone process, simulator runs only


class Bench:
    def __init__(self, work: Path, args: argparse.Namespace) -> None:
        self.work = work
        self.args = args
        self.procs: list[subprocess.Popen[bytes]] = []
        self.started = time.monotonic()
        self.pids: dict[str, int] = {}
        self.phone_pid = 0
        self.env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}

    # -- processes ----------------------------------------------------------------------------------

    def spawn(self, argv: list[str], stdout: int | IO[Any] = subprocess.PIPE) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=stdout, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        self.procs.append(proc)
        return proc

    def first_json_line(self, proc: subprocess.Popen[bytes], what: str) -> dict[str, Any]:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # both servers print their JSON line within a second or two
        if not line:
            raise SystemExit(f"{what} exited before printing its endpoints (status {proc.poll()})")
        return dict(json.loads(line))

    def run(self, argv: list[str]) -> str:
        done = subprocess.run(argv, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv[:4])}... failed: {done.stderr.strip()}")
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

    def remaining(self) -> float:
        return DEADLINE - (time.monotonic() - self.started)

    # -- setup --------------------------------------------------------------------------------------

    def start_simulator(self) -> dict[str, Any]:
        data = self.work / "sim"
        proc = self.spawn([sys.executable, "-m", "apns_sim.cli", "serve", "--data-dir", str(data)])
        endpoints = self.first_json_line(proc, "apns-sim serve")
        self.sim_pid = self.pids["simulator"] = proc.pid
        portal = [sys.executable, "-m", "apns_sim.cli", "portal", "--data-dir", str(data)]
        self.run([*portal, "app-id", "create", BUNDLE, "--team-id", TEAM])
        key = json.loads(self.run([*portal, "key", "create", "--team-id", TEAM, "--out-dir",
                                   str(self.work / "keys")]).splitlines()[0])
        self.key_id, self.p8 = key["key_id"], Path(key["path"]).read_bytes()
        return endpoints

    def start_phone(self) -> str:
        """``device-sim run``: the phone stays online; its event lines go to a file we read at the end."""
        self.phone_log = self.work / "phone.jsonl"
        with self.phone_log.open("wb") as out:
            self.phone_pid = self.spawn([sys.executable, "-m", "device_sim.cli", "run", "--endpoints",
                        str(self.work / "sim" / "endpoints.json"), "--app", BUNDLE, "--environment", "sandbox",
                        "--state-dir", str(self.work / "phone")], stdout=out).pid
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for line in self.phone_log.read_text().splitlines():
                event = json.loads(line)
                if event.get("event") == "registered":
                    return str(event["token"])
            time.sleep(0.1)
        raise SystemExit("device-sim did not register within 30 s")

    def start_bare(self) -> str:
        lean = ["--lean"] if self.args.lean_bare else []
        proc = self.spawn([sys.executable, str(ROOT / "benchmarks" / "bare_h2_server.py"), *lean])
        self.pids["bare"] = proc.pid
        return str(self.first_json_line(proc, "bare_h2_server")["url"])

    def bearer(self) -> str:
        return jwt.encode({"iss": TEAM, "iat": int(time.time())}, self.p8, algorithm="ES256",
                          headers={"kid": self.key_id})

    def notifications_received(self) -> int:
        return sum(1 for line in self.phone_log.read_text().splitlines() if '"event": "notification"' in line)

    def wait_for_phone(self, expected: int, limit: float = 20.0) -> int:
        """Let the phone finish its backlog, so it does not compete for the CPU with the next run."""
        deadline = time.monotonic() + min(limit, max(0.0, self.remaining() - 10))
        received = self.notifications_received()
        while received < expected and time.monotonic() < deadline:
            time.sleep(0.2)
            received = self.notifications_received()
        return received

    def profile(self, target: str, output: Path) -> subprocess.Popen[bytes]:
        """py-spy on one server process; SIGINT makes it write collapsed stacks ("raw") to ``output``."""
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        output.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen([py_spy, "record", "--pid", str(self.pids[target]), "--format", "raw",
                                 "--rate", "250", "--output", str(output)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        time.sleep(1.0)  # py-spy attaches
        return proc

    # -- h2load -------------------------------------------------------------------------------------

    def h2load(self, target: str, url: str, connections: int, streams: int, requests: int) -> Result:
        payload = self.work / "payload.json"
        log = self.work / f"h2load-{target}-{connections}.log"
        log.unlink(missing_ok=True)
        argv = [H2LOAD, f"-c{connections}", f"-m{streams}", f"-n{requests}", "-d", str(payload),
                "--log-file", str(log),
                "-H", f"authorization: bearer {self.bearer()}", "-H", f"apns-topic: {BUNDLE}",
                "-H", "apns-push-type: alert", "-H", "apns-priority: 10", url]
        timeout = max(5.0, min(60.0, self.remaining()))
        server_pid = self.pids[target]
        cpu0, phone0, wall0 = cpu_seconds(server_pid), cpu_seconds(self.phone_pid), time.monotonic()
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        server_cpu, wall = cpu_seconds(server_pid) - cpu0, time.monotonic() - wall0
        phone_cpu = cpu_seconds(self.phone_pid) - phone0
        out = done.stdout
        finished = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", out)
        counts = re.search(r"requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, "
                           r"(\d+) errored", out)
        codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
        if not (finished and counts and codes):
            raise SystemExit(f"could not read h2load's output:\n{out}\n{done.stderr}")
        seconds = float(finished[1]) / (1000 if finished[2] == "ms" else 1)
        latencies = []
        if log.exists():
            for line in log.read_text().splitlines():
                parts = line.split("\t")
                if len(parts) >= 3:
                    latencies.append(int(parts[2]) / 1000)
        latencies.sort()
        return Result(
            target=target, connections=connections, streams=streams, requests=requests, seconds=seconds,
            req_per_s=float(finished[3]), succeeded=int(codes[1]), non_2xx=sum(int(codes[i]) for i in (2, 3, 4)),
            errored=int(counts[3]) + int(counts[4]),
            mean_ms=round(statistics.fmean(latencies), 2) if latencies else None,
            p50_ms=round(latencies[len(latencies) // 2], 2) if latencies else None,
            p99_ms=round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 2) if latencies else None,
            server_cpu_us=round(server_cpu * 1e6 / requests, 1), server_cpu_share=round(server_cpu / wall, 2),
            phone_cpu_share=round(phone_cpu / wall, 2) if target == "simulator" else None,
        )


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _table(rows: list[Result]) -> str:
    head = f"{'target':<10} {'conn x streams':>14} {'requests':>8} {'req/s':>7} {'mean ms':>8} {'p50 ms':>7} " \
           f"{'p99 ms':>7} {'2xx':>6} {'non-2xx':>7} {'errors':>6} {'CPU us/req':>10} {'server CPU':>10} " \
           f"{'phone CPU':>9}"
    lines = [head, "-" * len(head)]
    for r in rows:
        phone = "-" if r.phone_cpu_share is None else f"{r.phone_cpu_share:.0%}"
        lines.append(f"{r.target:<10} {f'{r.connections} x {r.streams}':>14} {r.requests:>8} {r.req_per_s:>7.0f} "
                     f"{r.mean_ms or 0:>8.2f} {r.p50_ms or 0:>7.2f} {r.p99_ms or 0:>7.2f} {r.succeeded:>6} "
                     f"{r.non_2xx:>7} {r.errored:>6} {r.server_cpu_us or 0:>10.0f} {r.server_cpu_share or 0:>10.0%} "
                     f"{phone:>9}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description="h2load: the simulator vs a bare h2 server, side by side")
    parser.add_argument("--requests", type=int, default=20_000, help="requests per measured run (default 20000)")
    parser.add_argument("--warmup", type=int, default=2_000, help="requests per warm-up run (default 2000)")
    parser.add_argument("--streams", type=int, default=100, help="streams per connection (default 100)")
    parser.add_argument("--four", action="store_true", help="also measure 4 connections")
    parser.add_argument("--rounds", type=int, default=1, help="measure each row this many times, interleaved")
    parser.add_argument("--lean-bare", action="store_true",
                        help="run the bare server without h2 header validation and Huffman coding (stricter)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (h2load logs)")
    parser.add_argument("--py-spy", metavar="DIR", type=Path,
                        help="profile each server during its first measured run with py-spy (`pip install py-spy`); "
                        "collapsed stacks go to DIR/simulator.txt and DIR/bare.txt")
    args = parser.parse_args()
    if not os.path.exists(H2LOAD):
        print("h2load not found (Debian package nghttp2-client)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="pushsim-bench-"))
    bench = Bench(work, args)
    try:
        (work / "payload.json").write_text(json.dumps(PAYLOAD, separators=(",", ":")))
        endpoints = bench.start_simulator()
        token = bench.start_phone()
        bare = bench.start_bare()
        urls = {"simulator": f"{endpoints['sandbox']}/3/device/{token}", "bare": f"{bare}/3/device/{token}"}
        print(f"simulator pid {bench.sim_pid}; payload {len(json.dumps(PAYLOAD, separators=(',', ':')))} bytes; "
              f"phone online with token {token[:16]}...", file=sys.stderr)
        shapes = [(1, args.streams)] + ([(4, args.streams)] if args.four else [])
        accepted = 0
        for target in urls:  # warm-up: caches, the phone's connection and the token gate settle
            warm = bench.h2load(target, urls[target], 1, args.streams, args.warmup)
            if target == "simulator":
                accepted += warm.succeeded
        bench.wait_for_phone(accepted)
        rows: list[Result] = []
        profiled: set[str] = set()
        for _ in range(args.rounds):
            for connections, streams in shapes:
                for target in urls:
                    if bench.remaining() < 10:
                        print("stopping early: the run's time budget is spent", file=sys.stderr)
                        break
                    profiler = None
                    if args.py_spy and target not in profiled:
                        profiled.add(target)
                        profiler = bench.profile(target, args.py_spy / f"{target}.txt")
                    row = bench.h2load(target, urls[target], connections, streams, args.requests)
                    rows.append(row)
                    if profiler is not None and profiler.poll() is None:
                        profiler.send_signal(signal.SIGINT)
                        profiler.wait(15)
                    if target == "simulator":
                        accepted += row.succeeded
                        bench.wait_for_phone(accepted)
        received = bench.wait_for_phone(accepted, limit=5)
    finally:
        bench.stop_all()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}", file=sys.stderr)
    bare_mode = "lean (no h2 header validation, no Huffman)" if args.lean_bare else "h2 defaults"
    print(f"bare server: {bare_mode}; simulator: full path, phone online")
    print(_table(rows))
    ratios: dict[str, float] = {}
    cpu_ratios: dict[str, float] = {}
    for connections, streams in shapes:
        sim = [r for r in rows if r.target == "simulator" and r.connections == connections]
        bare_rows = [r for r in rows if r.target == "bare" and r.connections == connections]
        if sim and bare_rows:
            ratio = statistics.fmean(r.req_per_s for r in sim) / statistics.fmean(r.req_per_s for r in bare_rows)
            cpu = statistics.fmean(r.server_cpu_us or 0 for r in bare_rows) / max(
                1e-9, statistics.fmean(r.server_cpu_us or 0 for r in sim))
            ratios[f"{connections}x{streams}"] = round(ratio, 3)
            cpu_ratios[f"{connections}x{streams}"] = round(cpu, 3)
            verdict = "meets" if ratio >= 0.8 else "below"
            print(f"ratio simulator/bare at {connections} x {streams}: {ratio:.2f} req/s ({verdict} the 0.8 target); "
                  f"{cpu:.2f} by server CPU per request (bare us/req / simulator us/req)")
    print(f"phone received {received} notifications of {accepted} accepted by the simulator")
    print(json.dumps({"bare": "lean" if args.lean_bare else "default",
                      "results": [asdict(r) for r in rows], "ratio": ratios, "cpu_ratio": cpu_ratios,
                      "phone_received": received,
                      "simulator_accepted": accepted}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
