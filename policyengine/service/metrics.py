"""The service's Prometheus metrics (``GET /metrics``), in a registry of its own (no process-global state).

Request counters and latencies are updated per request; the policy set's figures (revision served, reloads,
failures, readiness) are read from :attr:`LivePolicies.status` when Prometheus scrapes, so they can never drift.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
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


class ServiceMetrics:
    """Counters, histograms and the policy collector of one service."""

    def __init__(self, live: LivePolicies) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("policyengine_http_requests", "HTTP requests, by route and status",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("policyengine_http_request_duration_seconds", "Time to answer a request, by route",
                                 ["route"], buckets=_BUCKETS, registry=self.registry)
        # Decisions are counted per outcome (the (action, state) of every action, one tuple per shared Decisions
        # object), in C (Counter.update), and folded into counts by (action, state) when scraped: an increment per
        # decision would cost more than deciding. Only the event loop's thread touches them.
        self.outcomes: collections.Counter[tuple[tuple[str, str], ...]] = collections.Counter()
        self.decisions: dict[tuple[str, str], int] = {}
        self.registry.register(_PolicyCollector(live, self.flatten))
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

    def flatten(self) -> dict[tuple[str, str], int]:
        """Fold the outcome counts into decisions by (action, state); the counts so far."""
        outcomes, self.outcomes = self.outcomes, collections.Counter()
        for states, n in outcomes.items():
            for key in states:
                self.decisions[key] = self.decisions.get(key, 0) + n
        return self.decisions

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
