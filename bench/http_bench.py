"""HTTP benchmark of ``policyengine serve`` (issue 13): one worker on loopback, a bounded load generator of our own.

Not a test: it asserts nothing about timing. It starts ``policyengine serve policies --port 0 --no-watch`` (one uvicorn
worker), checks that the service answers exactly what the engine answers in process for the same orders, and then
measures, each run bounded in requests and seconds:

1. ``POST /v1/evaluate``, closed loop (each connection sends its next request when the answer is in), several
   connections: requests/s, p50, p99;
2. ``POST /v1/evaluate`` at a fixed rate (default 1,000 requests/s, open loop: latency is counted from when each
   request was due, so a stall cannot hide the requests it delayed): p50, p99, max;
3. ``POST /v1/evaluate/batch`` with 100 pairs per request, closed loop: requests/s and decisions/s;

beside the in-process figures: ``engine.evaluate`` per call and ``engine.evaluate_many`` decisions/s over the same
orders. The client runs on the same machine (and cores) as the server, in this process, with uvloop when present:
its own cost is counted against the service, so the figures are a floor.

    .venv/bin/python bench/http_bench.py            # about 30 s
    .venv/bin/python bench/http_bench.py --quick    # a smoke run, a few seconds
    .venv/bin/python bench/http_bench.py --json http-results.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import orderactions as oa  # noqa: E402

import policyengine  # noqa: E402

POLICIES = ROOT / "policies"


# -- the server ------------------------------------------------------------------------------------------------------
def start_server(path: Path) -> tuple[subprocess.Popen[bytes], str, int]:
    """``policyengine serve PATH --port 0`` in a subprocess; (process, host, port) once it is ready."""
    exe = Path(sys.executable).with_name("policyengine")
    proc = subprocess.Popen([str(exe), "serve", str(path), "--port", "0", "--no-watch", "--workers", "1"],
                            stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL)
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    host = port = None
    ready = False
    while time.monotonic() < deadline and not ready:
        line = proc.stderr.readline().decode()
        if not line:
            raise SystemExit(f"the server exited ({proc.wait()})")
        match = re.search(r"listening on http://([^:]+):(\d+)", line)
        if match:
            host, port = match.group(1), int(match.group(2))
        ready = "serving revision" in line
    if host is None or port is None or not ready:
        proc.kill()
        raise SystemExit("the server did not start")
    return proc, host, port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), to tell the server's own cost per request on a
    machine shared with other work."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(pid: int, run: Any) -> dict[str, float]:
    """``run()``'s figures, plus the server's CPU time per request and what one core of it would answer."""
    before = cpu_seconds(pid)
    figures = asyncio.run(run())
    cpu = cpu_seconds(pid) - before
    figures["server_cpu_us"] = cpu / figures["requests"] * 1e6
    figures["per_core_rps"] = figures["requests"] / cpu if cpu else float("nan")
    return figures


def request_bytes(path: str, body: Any) -> bytes:
    data = json.dumps(body).encode()
    return (f"POST {path} HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n"
            f"content-length: {len(data)}\r\n\r\n").encode() + data


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
                      limit: int) -> dict[str, float]:
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
                    connections: int) -> dict[str, float]:
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


# -- in process ---------------------------------------------------------------------------------------------------------
def in_process(pairs: list[tuple[Any, Any]], batches: list[list[tuple[Any, Any]]]) -> dict[str, float]:
    engine = policyengine.load(POLICIES)
    rounds = []
    for _ in range(5):
        t0 = time.perf_counter()
        for order, user in pairs:
            engine.evaluate(order, user)
        rounds.append((time.perf_counter() - t0) / len(pairs))
    per_call = statistics.median(rounds)
    rounds = []
    for _ in range(5):
        t0 = time.perf_counter()
        for batch in batches:
            engine.evaluate_many(batch)
        rounds.append(sum(map(len, batches)) / (time.perf_counter() - t0))
    return {"evaluate_us": per_call * 1e6, "evaluate_per_s": 1 / per_call,
            "evaluate_many_decisions_per_s": statistics.median(rounds)}


def check_answers(host: str, port: int, pairs: list[tuple[Any, Any]]) -> None:
    """The service answers what the engine answers in process (states and reasons of every action)."""
    engine = policyengine.load(POLICIES)

    async def run() -> list[Any]:
        conn = await Connection.open(host, port)
        out = []
        for order, user in pairs:
            status, body = await conn.call(request_bytes("/v1/evaluate", {"order": order, "user": user}))
            assert status == 200, body
            out.append(json.loads(body))
        conn.close()
        return out

    for (order, user), menu in zip(pairs, asyncio.run(run()), strict=True):
        expected = [(d.action, d.state, list(d.reasons)) for d in engine.evaluate(order, user).values()]
        got = [(a["id"], a["state"], [r["text"] for r in a["reasons"]]) for a in menu["actions"]]
        if got != expected:
            raise SystemExit(f"the service and the engine disagree on {order} {user}:\n{got}\n{expected}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: a few seconds")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each closed-loop run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rate", type=float, default=1000.0, help="requests/s of the fixed-rate run")
    parser.add_argument("--batch", type=int, default=100, help="pairs per batch request")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    seconds = 1.5 if args.quick else args.seconds
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    pairs = oa.random_pairs(2000, seed=13)
    batches = [pairs[i:i + args.batch] for i in range(0, len(pairs), args.batch)]
    evaluate_requests = [request_bytes("/v1/evaluate", {"order": o, "user": u}) for o, u in pairs]
    batch_requests = [request_bytes("/v1/evaluate/batch", {"pairs": [{"order": o, "user": u} for o, u in batch]})
                      for batch in batches]
    local = in_process(pairs, batches)
    proc, host, port = start_server(POLICIES)
    try:
        check_answers(host, port, pairs[:200])
        # warm up (first requests import and build what the server lazily needs)
        asyncio.run(closed_loop(host, port, evaluate_requests, 2, 0.5, 1000))
        pid = proc.pid
        evaluate = measured(pid, lambda: closed_loop(host, port, evaluate_requests, args.connections, seconds, 200_000))
        fixed = measured(pid, lambda: open_loop(host, port, evaluate_requests, args.rate, seconds, 32))
        batch = measured(pid, lambda: closed_loop(host, port, batch_requests, max(2, args.connections // 2), seconds,
                                                  50_000))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    batch["decisions_per_s"] = batch["rps"] * args.batch
    batch["per_core_decisions_per_s"] = batch["per_core_rps"] * args.batch
    results = {"cpus": os.cpu_count(), "in_process": local, "evaluate": evaluate, "evaluate_fixed_rate": fixed,
               "batch": batch, "batch_size": args.batch}
    print(f"HTTP service, one uvicorn worker on loopback (client in the same machine; {os.cpu_count()} CPUs)")
    print(f"  in process:          evaluate {local['evaluate_us']:.2f} us/call ({local['evaluate_per_s']:,.0f}/s); "
          f"evaluate_many {local['evaluate_many_decisions_per_s']:,.0f} decisions/s")
    print(f"  POST /v1/evaluate:   {evaluate['rps']:,.0f} req/s over {args.connections} connections, "
          f"p50 {evaluate['p50_ms']:.2f} ms, p99 {evaluate['p99_ms']:.2f} ms ({evaluate['requests']:,} requests, "
          f"{evaluate['failures']} failed)   [aim: >= 3,000 req/s]")
    print(f"                       server CPU {evaluate['server_cpu_us']:.0f} us/request: "
          f"{evaluate['per_core_rps']:,.0f} req/s per busy core")
    print(f"  at {fixed['rate']:,.0f} req/s:      p50 {fixed['p50_ms']:.2f} ms, p99 {fixed['p99_ms']:.2f} ms, "
          f"max {fixed['max_ms']:.2f} ms ({fixed['requests']:,} requests, {fixed['failures']} failed)   "
          f"[aim: p99 < 10 ms]")
    print(f"  POST /v1/evaluate/batch ({args.batch} pairs): {batch['rps']:,.0f} req/s = "
          f"{batch['decisions_per_s']:,.0f} decisions/s, p50 {batch['p50_ms']:.2f} ms, p99 {batch['p99_ms']:.2f} ms "
          f"({batch['failures']} failed)   [aim: >= 100,000 decisions/s]")
    print(f"                       server CPU {batch['server_cpu_us']:.0f} us/request: "
          f"{batch['per_core_rps'] * args.batch:,.0f} decisions/s per busy core")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 1 if evaluate["failures"] or fixed["failures"] or batch["failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
