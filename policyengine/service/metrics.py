"""The service's Prometheus metrics (``GET /metrics``), in a registry of its own (no process-global state).

Requests and their latencies are counted per request in plain integers (a dict entry per route and status, a list
of bucket counts per route: well under a microsecond) and exported by a collector when Prometheus scrapes; with
several workers, the counts since the last flush are added to the shared files at most every tenth of a second
rather than per request (issue 24). The policy set's figures (revision served, reloads, failures, readiness) are read from
:attr:`LivePolicies.status` when Prometheus scrapes, so they can never drift.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import os
from collections.abc import Callable, Iterator, Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from ..runtime.decision import Decisions
from .live import LivePolicies

__all__ = ["ServiceMetrics"]

# Latency buckets around what one worker does: tens of microseconds for an evaluate, milliseconds for batches.
_OUTCOMES_LIMIT = 10_000
_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_BOUNDS = (*map(floatToGoString, _BUCKETS), "+Inf")
_REQUESTS_DOC = "HTTP requests, by route and status"
_LATENCY_DOC = "Time to answer a request, by route"


class _Requests:
    """Requests answered and their latencies, in plain numbers: ``counts[(route, method, status)]``, and per route
    a list of the count in each latency bucket (the last one: over every bound) followed by the sum of seconds."""

    __slots__ = ("counts", "latency")

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, int], int] = {}
        self.latency: dict[str, list[float]] = {}

    def add(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        counts = self.counts
        counts[key] = counts.get(key, 0) + 1
        row = self.latency.get(route)
        if row is None:
            row = self.latency[route] = [0.0] * (len(_BUCKETS) + 2)
        row[bisect.bisect_left(_BUCKETS, seconds)] += 1  # Prometheus buckets are "le": a bound counts in its bucket
        row[-1] += seconds


class _RequestCollector(Collector):
    def __init__(self, requests: _Requests) -> None:
        self._requests = requests

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        counts = CounterMetricFamily("policyengine_http_requests", _REQUESTS_DOC, labels=["route", "method", "status"])
        for (route, method, status), n in sorted(self._requests.counts.items()):
            counts.add_metric([route, method, str(status)], n)
        yield counts
        latency = HistogramMetricFamily("policyengine_http_request_duration_seconds", _LATENCY_DOC, labels=["route"])
        for route, row in sorted(self._requests.latency.items()):
            cumulative, buckets = 0.0, []
            for bound, in_bucket in zip(_BOUNDS, row[:-1], strict=True):
                cumulative += in_bucket
                buckets.append((bound, cumulative))
            latency.add_metric([route], buckets, row[-1])
        yield latency


class _PolicyCollector(Collector):
    def __init__(self, live: LivePolicies, decisions: Callable[[], Mapping[tuple[str, str], int]]) -> None:
        self._live = live
        self._decisions = decisions

    def collect(self) -> Iterator[InfoMetricFamily | GaugeMetricFamily | CounterMetricFamily]:
        decisions = CounterMetricFamily("policyengine_decisions", "Action decisions made (evaluate, batch, explain), "
                                        "by action and state", labels=["action", "state"])
        for (action, state), n in sorted(self._decisions().items()):
            decisions.add_metric([action, state], n)
        yield decisions
        status = self._live.status
        ready = GaugeMetricFamily("policyengine_ready", "1 once a policy set has loaded and serves")
        ready.add_metric([], 1.0 if status.ready else 0.0)
        yield ready
        reloads = CounterMetricFamily("policyengine_reloads", "Attempts to load the policy set, by result",
                                      labels=["result"])
        reloads.add_metric(["ok"], status.reloads)
        reloads.add_metric(["failed"], status.failures)
        yield reloads
        info = InfoMetricFamily("policyengine_policy", "The policy set serving (its revision)")
        failing = GaugeMetricFamily("policyengine_reload_failing", "1 while the newest policy files are refused")
        failing.add_metric([], 1.0 if status.failed is not None else 0.0)
        yield failing
        if status.serving is not None:
            engine = self._live.engine
            info.add_metric([], {"policy": engine.name, "version": str(engine.version),
                                 "revision": status.serving.revision or ""})
            yield info
            loaded = GaugeMetricFamily("policyengine_policy_loaded_timestamp_seconds",
                                       "When the serving policy set loaded (Unix time)")
            loaded.add_metric([], status.serving.at.timestamp())
            yield loaded


_FLUSH_SECONDS = 0.1
"""With several workers, a worker adds the requests it answered to the shared files this long after the first of them
(and when scraped)."""
_SYNC_EVERY = 256
"""With several workers, a worker adds its decision counts to the shared files every this many decision requests
(and when scraped): a scrape of any worker sees the others' within that many requests each."""


class _SharedPolicy:
    """The policy figures of one worker in the shared (multiprocess) files: readiness is the least of the workers',
    a refusal the most, reloads their sum, and the revision one series per worker (``pid`` label)."""

    def __init__(self, live: LivePolicies) -> None:
        self.live = live
        self.ready = Gauge("policyengine_ready", "1 once every worker serves a policy set", registry=None,
                           multiprocess_mode="min")
        self.failing = Gauge("policyengine_reload_failing", "1 while a worker refuses the newest policy files",
                             registry=None, multiprocess_mode="max")
        self.reloads = Gauge("policyengine_reloads_total", "Attempts to load the policy set, by result (all workers)",
                             ["result"], registry=None, multiprocess_mode="sum")
        self.info = Gauge("policyengine_policy_info", "The policy set each worker serves (its revision)",
                          ["policy", "version", "revision"], registry=None, multiprocess_mode="liveall")
        self.decisions = Counter("policyengine_decisions", "Action decisions made (evaluate, batch, explain), by "
                                 "action and state", ["action", "state"], registry=None)
        self.requests = Counter("policyengine_http_requests", _REQUESTS_DOC, ["route", "method", "status"],
                                registry=None)
        self.latency = Histogram("policyengine_http_request_duration_seconds", _LATENCY_DOC, ["route"],
                                 buckets=_BUCKETS, registry=None)
        self.served: tuple[str, str, str] | None = None

    def sync(self) -> None:
        status = self.live.status
        self.ready.set(1.0 if status.ready else 0.0)
        self.failing.set(1.0 if status.failed is not None else 0.0)
        self.reloads.labels("ok").set(status.reloads)
        self.reloads.labels("failed").set(status.failures)
        if status.serving is not None:
            engine = self.live.engine
            served = (engine.name, str(engine.version), status.serving.revision or "")
            if served != self.served:
                if self.served is not None:  # a series cannot leave the shared files: the old revision says 0
                    self.info.labels(*self.served).set(0.0)
                self.info.labels(*served).set(1.0)
                self.served = served


class ServiceMetrics:
    """Counters, histograms and the policy collector of one service (of one worker, sharing files with the others
    when ``PROMETHEUS_MULTIPROC_DIR`` is set: ``policyengine serve --workers N``)."""

    def __init__(self, live: LivePolicies) -> None:
        shared_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = _Requests()
        self._flushed = _Requests()  # with shared files: what is in them already
        self._flush_due = False
        self.shared: _SharedPolicy | None = None
        self._calls = 0
        # Decisions are counted per outcome: the engine shares one Decisions object per outcome, so counting the
        # objects' ids (in C: Counter.update) and holding the objects until the counts are folded into
        # (action, state) pairs (when scraped) costs tens of nanoseconds a decision. Only the event loop's thread
        # touches them.
        self.outcomes: collections.Counter[int] = collections.Counter()
        self._held: dict[int, Decisions] = {}
        self.decisions: dict[tuple[str, str], int] = {}
        if shared_dir is None:
            self.registry.register(_RequestCollector(self.requests))
            self.registry.register(_PolicyCollector(live, self.flatten))
        else:
            from prometheus_client import multiprocess

            multiprocess.MultiProcessCollector(self.registry, shared_dir)  # type: ignore[no-untyped-call]
            self.shared = _SharedPolicy(live)
            self.shared.sync()

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.add(route, method, status, seconds)
        if self.shared is not None and not self._flush_due:
            # the shared files get the requests of the last _FLUSH_SECONDS at once: writing them after every turn of
            # the event loop (one request, under load) cost a request about 15 us; a scrape of another worker sees
            # them within that time
            self._flush_due = True
            asyncio.get_running_loop().call_later(_FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        """With shared files: add the requests counted since the last flush to them."""
        self._flush_due = False
        shared, done, now = self.shared, self._flushed, self.requests
        if shared is None:
            return
        for key, n in now.counts.items():
            if n != done.counts.get(key, 0):
                shared.requests.labels(key[0], key[1], str(key[2])).inc(n - done.counts.get(key, 0))
                done.counts[key] = n
        for route, row in now.latency.items():
            before = done.latency.setdefault(route, [0.0] * len(row))
            if row == before:
                continue
            child = shared.latency.labels(route)
            # the histogram's own per-bucket values (prometheus-client 0.2x: _buckets, _sum): observe() would
            # take one call per request, and the counts here are already sorted into the same buckets
            for i, (now_in, before_in) in enumerate(zip(row[:-1], before[:-1], strict=True)):
                if now_in != before_in:
                    child._buckets[i].inc(now_in - before_in)
            child._sum.inc(row[-1] - before[-1])
            done.latency[route] = list(row)

    def count_decisions(self, results: Sequence[Decisions]) -> None:
        if len(results) == 1:  # one evaluate: Counter.update's own checks would cost more than the count
            key = id(results[0])
            self.outcomes[key] = self.outcomes.get(key, 0) + 1
            self._held[key] = results[0]
        else:
            ids = list(map(id, results))
            self.outcomes.update(ids)
            self._held.update(zip(ids, results, strict=True))
        if len(self.outcomes) > _OUTCOMES_LIMIT:
            self.flatten()
        if self.shared is not None:
            self._calls += 1
            if self._calls >= _SYNC_EVERY:
                self.sync()

    def sync(self) -> None:
        """With shared files: write this worker's decision counts and policy figures there (a reload, a scrape)."""
        if self.shared is None:
            return
        self._calls = 0
        before = dict(self.decisions)
        for key, n in self.flatten().items():
            if n > before.get(key, 0):
                self.shared.decisions.labels(*key).inc(n - before.get(key, 0))
        self.shared.sync()

    def flatten(self) -> dict[tuple[str, str], int]:
        """Fold the outcome counts into decisions by (action, state); the counts so far."""
        outcomes, held, self.outcomes, self._held = self.outcomes, self._held, collections.Counter(), {}
        for key, n in outcomes.items():
            for decision in held[key].values():
                pair = (decision.action, decision.state)
                self.decisions[pair] = self.decisions.get(pair, 0) + n
        return self.decisions

    def exposition(self) -> bytes:
        self.flush()
        self.sync()
        return generate_latest(self.registry)
