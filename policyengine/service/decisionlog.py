"""Decision logs: one structured record per decision request, through stdlib :mod:`logging`.

A :class:`DecisionLog` turns a request (its inputs, the decisions made, the snapshot that made them) into a plain
dict and emits it on the ``policyengine.decisions`` logger (or one you pass) at INFO, as the log record's
``decision`` attribute; the host routes that logger anywhere. :class:`JsonLinesFormatter` writes each record as one
JSON line (``policyengine serve --decision-log FILE|-`` uses it). A record::

    {"time": "2026-11-29T10:30:00.123456+00:00", "request_id": "5f0c...", "kind": "evaluate",
     "policy": "order-actions", "revision": "<sha256>", "store": null, "latency_ms": 0.041,
     "decisions": [{"policy": "order-actions@1", "store_override": "acme@1",
                    "facts": {"order.status": "Shipped", "user.role": "[masked]", ...},
                    "actions": [{"id": "edit", "state": "disabled", "reasons": ["shipped"]}, ...],
                    "errors": []}]}

``kind`` is ``evaluate`` (one decision), ``batch`` (one per pair, in input order), ``bulk`` (one per order, only the
bulk ``action``) or ``explain``. ``facts`` are the declared facts the deciding policy reads, as the adapter read them,
never the raw order or user. Privacy: ``mask`` and ``hash`` take fact names or glob patterns (``user.*``); a masked
value is logged as ``"[masked]"``, a hashed one as ``"sha256:<hex>"`` of its JSON text (an HMAC-SHA256 when
``hash_key`` is given: without a key a value from a small domain can be found by trying them all). ``sample`` is the
share of requests logged (0 to 1, drawn per request).
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .view import jsonable

if TYPE_CHECKING:
    from ..runtime.bulk import BulkResult
    from ..runtime.decision import Decisions
    from .view import EngineView

__all__ = ["LOGGER_NAME", "MASKED", "DecisionLog", "JsonLinesFormatter"]

LOGGER_NAME = "policyengine.decisions"
MASKED = "[masked]"


class DecisionLog:
    """Where and how decision records are written (see the module's documentation for the record)."""

    def __init__(self, logger: logging.Logger | str = LOGGER_NAME, *, sample: float = 1.0, mask: Iterable[str] = (),
                 hash: Iterable[str] = (), hash_key: bytes | None = None, seed: int | None = None) -> None:  # noqa: A002
        if not 0.0 <= sample <= 1.0:
            raise ValueError(f"sample must be between 0 and 1, got {sample}")
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        self.sample = sample
        self.mask = tuple(mask)
        self.hash = tuple(hash)
        self._hash_key = hash_key
        self._random = random.Random(seed)

    # -- redaction (decided per fact when an engine loads) -------------------------------------------------------
    def redaction(self, fact: str) -> Callable[[Any], Any] | None:
        """How ``fact``'s value is logged: None to keep it, else the function that masks or hashes it."""
        if any(fnmatch.fnmatchcase(fact, pattern) for pattern in self.mask):
            return _mask
        if any(fnmatch.fnmatchcase(fact, pattern) for pattern in self.hash):
            return self._digest
        return None

    def _digest(self, value: Any) -> str:
        text = json.dumps(jsonable(value), sort_keys=True).encode()
        if self._hash_key is not None:
            return "hmac-sha256:" + hmac.new(self._hash_key, text, hashlib.sha256).hexdigest()
        return "sha256:" + hashlib.sha256(text).hexdigest()

    # -- records ---------------------------------------------------------------------------------------------
    def wanted(self) -> bool:
        """Whether this request is logged: the logger listens at INFO and the request is in the sample."""
        if not self.logger.isEnabledFor(logging.INFO):
            return False
        return self.sample >= 1.0 or self._random.random() < self.sample

    def log(self, kind: str, view: EngineView, pairs: Sequence[tuple[Any, Any]], results: Sequence[Decisions], *,
            store: str | None, request_id: str | None, started: float, action: str | None = None,
            sampled: bool = False) -> None:
        """One record for a request that decided ``results`` for ``pairs`` (in the same order); ``started`` is
        the request's ``time.perf_counter()`` at its start. ``action`` keeps only that action (bulk); ``sampled`` says
        :meth:`wanted` was already asked for this request."""
        if not sampled and not self.wanted():
            return
        latency = time.perf_counter() - started
        decisions = [self._decision(view, d, order, user, action) for (order, user), d in zip(pairs, results, strict=True)]
        engine = view.engine
        record: dict[str, Any] = {"time": datetime.now(timezone.utc).isoformat(), "request_id": request_id, "kind": kind,
                                  "policy": engine.name, "revision": engine.revision, "store": store,
                                  "latency_ms": round(latency * 1000, 3)}
        if action is not None:
            record["action"] = action
        record["decisions"] = decisions
        self.logger.info("decision %s %s", kind, request_id, extra={"decision": record})

    def log_bulk(self, view: EngineView, result: BulkResult, orders: Sequence[Any], user: Any, *, store: str | None,
                 request_id: str | None, started: float) -> None:
        """One record for a bulk request: each order's decision of the bulk action (decided again, on the same
        engine, only when the request is logged)."""
        if not self.wanted():
            return
        pairs = [(order, user) for order in orders]
        results = view.engine.evaluate_many(pairs, store=store)
        self.log("bulk", view, pairs, results, store=store, request_id=request_id, started=started,
                 action=result.action, sampled=True)

    def _decision(self, view: EngineView, decisions: Decisions, order: Any, user: Any,
                  only: str | None) -> dict[str, Any]:
        actions = [{"id": d.action, "state": d.state, "reasons": list(view.reason_ids(decisions, d))}
                   for d in decisions.values() if only is None or d.action == only]
        return {"policy": decisions.policy, "store_override": decisions.store_override,
                "facts": view.facts(decisions, order, user), "actions": actions,
                "errors": [{"fact": p.fact, "message": p.message} for p in decisions.errors]}


def _mask(_value: Any) -> str:
    return MASKED


class JsonLinesFormatter(logging.Formatter):
    """Formats a decision record as one line of JSON (other records as ``{"time", "level", "message"}``)."""

    def format(self, record: logging.LogRecord) -> str:
        data = getattr(record, "decision", None)
        if data is None:
            data = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
                    "level": record.levelname, "message": record.getMessage()}
        return json.dumps(data, separators=(",", ":"), default=str)
