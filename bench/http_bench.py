"""HTTP benchmark of ``policyengine serve`` beside its floor: a bare ASGI app returning the same bytes (issue 24).

Not a test: it asserts nothing about timing. It starts ``policyengine serve policies --port 0 --no-watch`` with one
worker and with N workers (default: one per core), checks that the service answers exactly what the engine answers in
process, records the service's answer to every request it will send, and starts the floor the same way: a bare ASGI
app (this file, ``--bare``) that reads the request body and answers the recorded bytes with the same headers, run by
uvicorn with the same settings (``http=httptools``, ``loop=uvloop``, no access log, no lifespan, the same forked
workers on one shared socket). Then, in interleaved rounds, each bounded in requests and seconds:

1. ``POST /v1/evaluate``, closed loop over several keep-alive connections: requests/s, p50, p99, and the server's CPU
   time per request (all its processes, from ``/proc``), for 1 and N workers, beside the bare app's;
2. ``POST /v1/evaluate/batch`` with 100 pairs per request: decisions/s and server CPU per request, likewise;
3. ``POST /v1/evaluate`` at a fixed rate (default 1,000 requests/s, open loop: latency counted from when each
   request was due), one worker: p50, p99, max.

A third server, one worker, is the bare app that also parses each request body with orjson (``--parse``): the
floor of any service that reads the JSON, printed beside the bare app's.

The ratios service / bare are printed per figure as the median and range over the rounds. The client runs on the
same machine (and cores), in this process, with uvloop: its cost falls on both servers alike. The server CPU per
request is the steadiest figure on a shared machine; req/s and p99 move with the machine's load.

    .venv/bin/python bench/http_bench.py            # 3 rounds, about 90 s
    .venv/bin/python bench/http_bench.py --quick    # a smoke run, about 20 s
    .venv/bin/python bench/http_bench.py --rounds 5 --json http-results.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
POLICIES = ROOT / "policies"
Figures = dict[str, float]


# -- the servers ------------------------------------------------------------------------------------------------------
class Server:
    """A server in a subprocess (``policyengine serve`` or the bare app): its process, address and worker count."""

    def __init__(self, name: str, command: list[str], workers: int, env: dict[str, str] | None = None) -> None:
        self.name, self.workers = name, workers
        self.proc = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     env=None if env is None else {**os.environ, **env})
        self.lines: list[str] = []
        # stderr is read by a thread for the server's whole life: the wait below has a bound, and a server that logs
        # a lot never blocks on a full pipe
        threading.Thread(target=self._drain, daemon=True).start()
        deadline = time.monotonic() + 120
        self.host, self.port = "", 0
        while time.monotonic() < deadline and self.proc.poll() is None:
            text = "".join(self.lines)
            match = re.search(r"listening on http://([^:]+):(\d+)", text)
            if match and text.count("serving revision") >= workers:
                self.host, self.port = match.group(1), int(match.group(2))
                return
            time.sleep(0.05)
        self.stop()
        raise SystemExit(f"{name}: the server did not start:\n{''.join(self.lines)}")

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.decode(errors="replace"))

    def cpu_seconds(self) -> float:
        """User + system CPU of the server's processes (the parent and its live workers) so far."""
        pids = [self.proc.pid]
        try:
            pids += [int(p) for p in Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()]
        except OSError:
            pass
        total = 0.0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def service(workers: int, source: str | None = None) -> Server:
    """``policyengine serve`` with this many workers; from another source tree's ``policyengine`` package when
    ``source`` is given (``--compare``: an older version of the service measured in the same run)."""
    exe = Path(sys.executable).with_name("policyengine")
    return Server(f"service x{workers}" if source is None else f"compared x{workers}",
                  [str(exe), "serve", str(POLICIES), "--port", "0", "--no-watch", "--workers", str(workers)], workers,
                  None if source is None else {"PYTHONPATH": source})


def bare(workers: int, answers: Path, parse: bool = False) -> Server:
    return Server(f"{'parse' if parse else 'bare'} x{workers}",
                  [sys.executable, __file__, "--bare", str(answers), "--workers", str(workers),
                   *(["--parse"] if parse else [])], workers)


def run_bare(answers_file: str, workers: int, parse: bool = False) -> int:
    """The floor: a bare ASGI app answering each recorded request with the service's bytes and headers, on a socket
    bound and shared by forked workers as ``policyengine serve`` does, under the same uvicorn settings. With
    ``parse``, it also parses each body with orjson first: the least any service reading the JSON does."""
    import socket

    import orjson
    import uvicorn

    from policyengine.service.workers import supervise

    answers: dict[tuple[str, bytes], bytes] = pickle.loads(Path(answers_file).read_bytes())
    fallback = next(iter(answers.values()))
    request_id = b"0" * 32  # the service's ids have 32 characters

    async def app(scope: Any, receive: Any, send: Any) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if parse:
            orjson.loads(body)
        reply = answers.get((scope["path"], body), fallback)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(reply)).encode()),
                                (b"x-request-id", request_id)]})
        await send({"type": "http.response.body", "body": reply})

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    print(f"bare: listening on http://127.0.0.1:{sock.getsockname()[1]}", file=sys.stderr, flush=True)

    def worker() -> int:
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", server_header=False,
                                http="httptools", loop="uvloop", timeout_keep_alive=5, timeout_graceful_shutdown=10)
        server = uvicorn.Server(config)
        print("bare: serving revision (recorded answers)", file=sys.stderr, flush=True)
        try:
            server.run(sockets=[sock])
        except KeyboardInterrupt:
            pass
        return 0

    return worker() if workers == 1 else supervise(workers, worker)


# -- the client -------------------------------------------------------------------------------------------------------
def request_bytes(path: str, body: Any) -> tuple[bytes, bytes]:
    """(the whole HTTP request, its body)."""
    data = json.dumps(body).encode()
    head = (f"POST {path} HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n"
            f"content-length: {len(data)}\r\n\r\n").encode()
    return head + data, data


class Connection:
    """One keep-alive HTTP/1.1 connection: send a request, read one response (status and body)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        return cls(*await asyncio.open_connection(host, port))

    async def call(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        match = re.search(rb"(?i)content-length:\s*(\d+)", head)
        body = await self.reader.readexactly(int(match.group(1))) if match else b""
        return status, body

    def close(self) -> None:
        self.writer.close()


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def closed_loop(host: str, port: int, requests: Sequence[bytes], connections: int, seconds: float,
                      limit: int) -> Figures:
    """Each connection sends requests back to back (cycling through ``requests``) until ``seconds`` or ``limit``."""
    conns = [await Connection.open(host, port) for _ in range(connections)]
    latencies: list[float] = []
    failures = 0
    end = time.perf_counter() + seconds
    sent = 0

    async def worker(conn: Connection, offset: int) -> None:
        nonlocal failures, sent
        i = offset
        while time.perf_counter() < end and sent < limit:
            sent += 1
            t0 = time.perf_counter()
            status, _ = await conn.call(requests[i % len(requests)])
            latencies.append(time.perf_counter() - t0)
            failures += status != 200
            i += connections

    started = time.perf_counter()
    await asyncio.gather(*(worker(c, k) for k, c in enumerate(conns)))
    elapsed = time.perf_counter() - started
    for conn in conns:
        conn.close()
    return {"requests": len(latencies), "failures": failures, "seconds": elapsed, "rps": len(latencies) / elapsed,
            "p50_ms": percentile(latencies, 0.50) * 1e3, "p99_ms": percentile(latencies, 0.99) * 1e3}


async def open_loop(host: str, port: int, requests: Sequence[bytes], rate: float, seconds: float,
                    connections: int) -> Figures:
    """Requests due every 1/rate s, whatever the answers; latency from when each was due (no coordinated omission)."""
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await Connection.open(host, port))
    total = int(rate * seconds)
    latencies: list[float] = []
    failures = 0

    async def one(due: float, request: bytes) -> None:
        nonlocal failures
        conn = await pool.get()
        status, _ = await conn.call(request)
        latencies.append(time.perf_counter() - due)
        failures += status != 200
        pool.put_nowait(conn)

    start = time.perf_counter() + 0.05
    tasks = []
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(due, requests[i % len(requests)])))
    await asyncio.gather(*tasks)
    while not pool.empty():
        pool.get_nowait().close()
    return {"requests": total, "failures": failures, "rate": rate, "p50_ms": percentile(latencies, 0.50) * 1e3,
            "p99_ms": percentile(latencies, 0.99) * 1e3, "max_ms": max(latencies) * 1e3}


def measured(server: Server, run: Callable[[], Awaitable[Figures]]) -> Figures:
    """``run()``'s figures, plus the server's CPU time per request."""
    before = server.cpu_seconds()
    figures: Figures = asyncio.run(run())  # type: ignore[arg-type]
    cpu = server.cpu_seconds() - before
    figures["server_cpu_us"] = cpu / figures["requests"] * 1e6
    return figures


# -- answers ----------------------------------------------------------------------------------------------------------
def record_answers(server: Server, requests: dict[str, list[tuple[bytes, bytes]]]) -> dict[tuple[str, bytes], bytes]:
    """The service's answer to every request the bench sends, by (path, body): what the bare app replays."""

    async def run() -> dict[tuple[str, bytes], bytes]:
        conn = await Connection.open(server.host, server.port)
        out = {}
        for path, pairs in requests.items():
            for whole, body in pairs:
                status, answer = await conn.call(whole)
                assert status == 200, answer
                out[(path, body)] = answer
        conn.close()
        return out

    return asyncio.run(run())


def check_answers(answers: dict[tuple[str, bytes], bytes], pairs: list[tuple[Any, Any]], bodies: list[bytes]) -> None:
    """The service answers what the engine answers in process (states and reasons of every action)."""
    import policyengine

    engine = policyengine.load(POLICIES)
    for (order, user), body in zip(pairs, bodies, strict=True):
        menu = json.loads(answers[("/v1/evaluate", body)])
        expected = [(d.action, d.state, list(d.reasons)) for d in engine.evaluate(order, user).values()]
        got = [(a["id"], a["state"], [r["text"] for r in a["reasons"]]) for a in menu["actions"]]
        if got != expected:
            raise SystemExit(f"the service and the engine disagree on {order} {user}:\n{got}\n{expected}")


# -- report -----------------------------------------------------------------------------------------------------------
def spread(values: Sequence[float], fmt: str) -> str:
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(statistics.median(values), fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def report(runs: dict[str, list[Figures]], workers: int, batch_size: int) -> list[str]:
    lines = []
    for kind, label in (("evaluate", "POST /v1/evaluate"), ("batch", f"POST /v1/evaluate/batch ({batch_size} pairs)")):
        lines.append(f"  {label}")
        for n in sorted({1, workers}):
            svc, floor = runs[f"{kind} service x{n}"], runs[f"{kind} bare x{n}"]
            ratio = {k: [s[k] / b[k] for s, b in zip(svc, floor, strict=True)]
                     for k in ("server_cpu_us", "p99_ms", "rps")}
            per = "decisions/s" if kind == "batch" else "req/s"
            scale = batch_size if kind == "batch" else 1
            for name, figures in (("service", svc), ("bare app", floor)):
                lines.append(f"    {n} worker{'s' if n > 1 else ' '} {name:8}  "
                             f"{spread([f['rps'] * scale for f in figures], ',.0f')} {per}, "
                             f"p99 {spread([f['p99_ms'] for f in figures], '.2f')} ms, "
                             f"server CPU {spread([f['server_cpu_us'] for f in figures], '.0f')} us/request")
            lines.append(f"    {n} worker{'s' if n > 1 else ' '} ratio     server CPU "
                         f"{spread(ratio['server_cpu_us'], '.2f')}x, p99 {spread(ratio['p99_ms'], '.2f')}x, "
                         f"throughput {spread(ratio['rps'], '.2f')}x (service / bare)")
            parsed = runs.get(f"{kind} parse x{n}")
            if parsed:  # the bare app that also parses each body: the floor of any service reading the JSON
                cpu = [f["server_cpu_us"] for f in parsed]
                lines.append(f"    {n} worker  bare app + orjson.loads of the body: server CPU {spread(cpu, '.0f')} "
                             f"us/request; service / it: "
                             f"{spread([s['server_cpu_us'] / p for s, p in zip(svc, cpu, strict=True)], '.2f')}x, "
                             f"it / bare: {spread([p / b['server_cpu_us'] for p, b in zip(cpu, floor, strict=True)], '.2f')}x")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: one short round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (each server, each load)")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each closed-loop run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)), help="N (default: cores)")
    parser.add_argument("--rate", type=float, default=1000.0, help="requests/s of the fixed-rate run")
    parser.add_argument("--batch", type=int, default=100, help="pairs per batch request")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--compare", metavar="SRC", help="also measure the service of another source tree (a directory "
                                                          "holding its policyengine package), one worker")
    parser.add_argument("--bare", metavar="ANSWERS", help=argparse.SUPPRESS)
    parser.add_argument("--parse", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bare:
        return run_bare(args.bare, args.workers, args.parse)
    rounds, seconds = (1, 1.0) if args.quick else (args.rounds, args.seconds)
    import uvloop

    uvloop.install()
    sys.path.insert(0, str(BENCH))
    import orderactions as oa

    pairs = oa.random_pairs(2000, seed=13)
    batches = [pairs[i:i + args.batch] for i in range(0, len(pairs), args.batch)]
    requests = {"/v1/evaluate": [request_bytes("/v1/evaluate", {"order": o, "user": u}) for o, u in pairs],
                "/v1/evaluate/batch": [request_bytes("/v1/evaluate/batch",
                                                     {"pairs": [{"order": o, "user": u} for o, u in batch]})
                                       for batch in batches]}
    evaluate_requests = [whole for whole, _ in requests["/v1/evaluate"]]
    batch_requests = [whole for whole, _ in requests["/v1/evaluate/batch"]]
    servers: list[Server] = []
    runs: dict[str, list[Figures]] = {}
    try:
        counts = sorted({1, args.workers})
        for n in counts:
            servers.append(service(n))
        answers = record_answers(servers[0], requests)
        check_answers(answers, pairs, [body for _, body in requests["/v1/evaluate"]])
        with tempfile.NamedTemporaryFile(suffix=".pickle", delete=False) as file:
            file.write(pickle.dumps(answers))
        try:
            for n in counts:
                servers.append(bare(n, Path(file.name)))
            servers.append(bare(1, Path(file.name), parse=True))
        finally:
            os.unlink(file.name)
        if args.compare:
            servers.append(service(1, args.compare))
        for server in servers:  # warm up (first requests build what the server builds lazily)
            asyncio.run(closed_loop(server.host, server.port, evaluate_requests, 2, 0.3, 500))
            asyncio.run(closed_loop(server.host, server.port, batch_requests, 2, 0.3, 50))
        for _ in range(rounds):
            for server in servers:
                runs.setdefault(f"evaluate {server.name}", []).append(measured(server, partial(
                    closed_loop, server.host, server.port, evaluate_requests, args.connections, seconds, 200_000)))
                runs.setdefault(f"batch {server.name}", []).append(measured(server, partial(
                    closed_loop, server.host, server.port, batch_requests, max(2, args.connections // 2), seconds,
                    50_000)))
        fixed = {server.name: measured(server, partial(open_loop, server.host, server.port, evaluate_requests,
                                                       args.rate, seconds, 32))
                 for server in servers if server.workers == 1 and server.name.split()[0] in ("service", "bare")}
    finally:
        for server in servers:
            server.stop()
    print(f"HTTP service beside a bare ASGI app returning the same bytes (uvicorn, httptools, uvloop; loopback, client "
          f"on the same {os.cpu_count()} CPUs; {rounds} round{'s' if rounds > 1 else ''} of {seconds:g} s, "
          f"{args.connections} connections; median (min-max))")
    for line in report(runs, args.workers, args.batch):
        print(line)
    if args.compare:
        for kind in ("evaluate", "batch"):
            old, new = runs[f"{kind} compared x1"], runs[f"{kind} service x1"]
            print(f"  {kind}, 1 worker, {args.compare}: server CPU {spread([f['server_cpu_us'] for f in old], '.0f')} "
                  f"us/request; this tree / it: "
                  f"{spread([n['server_cpu_us'] / o['server_cpu_us'] for n, o in zip(new, old, strict=True)], '.2f')}x")
    for name, figures in fixed.items():
        print(f"  {name} at {figures['rate']:,.0f} req/s: p50 {figures['p50_ms']:.2f} ms, p99 {figures['p99_ms']:.2f} "
              f"ms, max {figures['max_ms']:.2f} ms ({figures['failures']:.0f} failed)")
    if args.json:
        Path(args.json).write_text(json.dumps({"cpus": os.cpu_count(), "runs": runs, "fixed_rate": fixed,
                                               "batch_size": args.batch, "workers": args.workers}, indent=2))
    failed = sum(f["failures"] for figures in runs.values() for f in figures) + sum(f["failures"] for f in fixed.values())
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
