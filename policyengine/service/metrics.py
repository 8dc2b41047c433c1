"""The service's Prometheus metrics (``GET /metrics``), in a registry of its own (no process-global state).

Request counters and latencies are updated per request; the policy set's figures (revision served, reloads,
failures, readiness) are read from :attr:`LivePolicies.status` when Prometheus scrapes, so they can never drift.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from ..runtime.decision import Decisions
from .live import LivePolicies
from .view import EngineView

__all__ = ["ServiceMetrics"]

# Latency buckets around what one worker does: tens of microseconds for an evaluate, milliseconds for batches.
_OUTCOMES_LIMIT = 10_000
_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


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
        target = self.registry if shared_dir is None else None
        self.requests = Counter("policyengine_http_requests", "HTTP requests, by route and status",
                                ["route", "method", "status"], registry=target)
        self.latency = Histogram("policyengine_http_request_duration_seconds", "Time to answer a request, by route",
                                 ["route"], buckets=_BUCKETS, registry=target)
        self.shared: _SharedPolicy | None = None
        self._calls = 0
        # Decisions are counted per outcome (the (action, state) of every action, one tuple per shared Decisions
        # object), in C (Counter.update), and folded into counts by (action, state) when scraped: an increment per
        # decision would cost more than deciding. Only the event loop's thread touches them.
        self.outcomes: collections.Counter[tuple[tuple[str, str], ...]] = collections.Counter()
        self.decisions: dict[tuple[str, str], int] = {}
        if shared_dir is None:
            self.registry.register(_PolicyCollector(live, self.flatten))
        else:
            from prometheus_client import multiprocess

            multiprocess.MultiProcessCollector(self.registry, shared_dir)  # type: ignore[no-untyped-call]
            self.shared = _SharedPolicy(live)
            self.shared.sync()
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (self.requests.labels(route, method, str(status)),
                                              self.latency.labels(route))
        children[0].inc()
        children[1].observe(seconds)

    def count_decisions(self, view: EngineView, results: Sequence[Decisions]) -> None:
        self.outcomes.update(map(view.states, results))
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
        outcomes, self.outcomes = self.outcomes, collections.Counter()
        for states, n in outcomes.items():
            for key in states:
                self.decisions[key] = self.decisions.get(key, 0) + n
        return self.decisions

    def exposition(self) -> bytes:
        self.sync()
        return generate_latest(self.registry)
