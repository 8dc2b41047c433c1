"""The service's Prometheus metrics (``GET /metrics``), in a registry of its own (no process-global state).

Request counters and latencies are updated per request; the policy set's figures (revision served, reloads,
failures, readiness) are read from :attr:`LivePolicies.status` when Prometheus scrapes, so they can never drift.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from .live import LivePolicies

__all__ = ["ServiceMetrics"]

# Latency buckets around what one worker does: tens of microseconds for an evaluate, milliseconds for batches.
_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class _PolicyCollector(Collector):
    def __init__(self, live: LivePolicies) -> None:
        self._live = live

    def collect(self) -> Iterator[InfoMetricFamily | GaugeMetricFamily | CounterMetricFamily]:
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
        self.decisions = Counter("policyengine_decisions", "Action decisions made, by action and state",
                                 ["action", "state"], registry=self.registry)
        self.registry.register(_PolicyCollector(live))
        self._decision_children: dict[tuple[str, str], Any] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def count_decisions(self, counts: Mapping[tuple[str, str], int]) -> None:
        children = self._decision_children
        for key, n in counts.items():
            child = children.get(key)
            if child is None:
                child = children[key] = self.decisions.labels(*key)
            child.inc(n)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
