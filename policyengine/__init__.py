"""policyengine: declarative, versioned YAML policies compiled to fast Python decisions.

Typical use::

    import policyengine

    engine = policyengine.load("policies")
    decisions = engine.evaluate(order, user)
    if decisions["reset"].enabled: ...

The package is laid out by role, each folder depending only on those below it:

- :mod:`policyengine.cli`: one module per command (presentation only);
- :mod:`policyengine.service`: live reloading, decision logs and the HTTP service (``policyengine serve``);
- :mod:`policyengine.sql`: query plans as SQLAlchemy expressions, and bulk answered by the database;
- :mod:`policyengine.toolkit` and :mod:`policyengine.testing`: YAML test suites and the pytest helper;
- :mod:`policyengine.analysis`: matrix, diff, lint, verify, explain;
- :mod:`policyengine.loader`, :mod:`policyengine.engine` and :mod:`policyengine.locks`: loading a directory, store
  dispatch, lock proofs;
- :mod:`policyengine.proof`: decision procedures shared by lock proofs and analysis;
- :mod:`policyengine.runtime`: generated evaluators, the interpreter, decisions, adapters, bulk, query plans;
- :mod:`policyengine.pipeline`: YAML with positions, JSON Schema validation, the AST, compilation, merging;
- :mod:`policyengine.errors`: the one error hierarchy, rooted at :class:`PolicyError`.

``import policyengine`` imports none of them: each public name is imported on first use (a module
``__getattr__``), so a process that only loads and evaluates never imports the solver, SQL, the service, the
analyses or the CLI, and one that never touches the package pays nothing for it.
"""

from __future__ import annotations

from . import _parsetables  # noqa: F401  (first: rule-engine's prebuilt parse tables, see that module; cheap)

TYPE_CHECKING = False  # not typing's: importing typing alone costs more than the rest of `import policyengine`
if TYPE_CHECKING:
    from typing import Any

    from .engine import Engine, StorePolicy
    from .errors import Diagnostic, FactError, FactProblem, PolicyError
    from .loader import load
    from .pipeline.model import FactSpec
    from .runtime.adapters import Adapter, DefaultAdapter, Getter
    from .runtime.bulk import BulkGroup, BulkResult
    from .runtime.decision import Decision, Decisions, DecisionsMeta, Effect, Source, State
    from .runtime.plan import Plan, PlanError
    from .runtime.reasons import Reason
    from .service.decisionlog import DecisionLog
    from .service.live import LivePolicies, LiveStatus, live

_WHERE = {
    "Adapter": "runtime.adapters", "DefaultAdapter": "runtime.adapters", "Getter": "runtime.adapters",
    "BulkGroup": "runtime.bulk", "BulkResult": "runtime.bulk",
    "Plan": "runtime.plan", "PlanError": "runtime.plan",
    "Decision": "runtime.decision", "Decisions": "runtime.decision", "DecisionsMeta": "runtime.decision",
    "Effect": "runtime.decision", "Source": "runtime.decision", "State": "runtime.decision",
    "Reason": "runtime.reasons",
    "Engine": "engine", "StorePolicy": "engine", "load": "loader",
    "Diagnostic": "errors", "FactError": "errors", "FactProblem": "errors", "PolicyError": "errors",
    "FactSpec": "pipeline.model",
    "DecisionLog": "service.decisionlog",
    "LivePolicies": "service.live", "LiveStatus": "service.live", "live": "service.live",
}
"""Each public name's module (relative to the package), imported when the name is first read."""

__all__ = [
    "Adapter",
    "BulkGroup",
    "BulkResult",
    "Decision",
    "DecisionLog",
    "Decisions",
    "DecisionsMeta",
    "DefaultAdapter",
    "Diagnostic",
    "Effect",
    "Engine",
    "FactError",
    "FactProblem",
    "FactSpec",
    "Getter",
    "LivePolicies",
    "LiveStatus",
    "Plan",
    "PlanError",
    "PolicyError",
    "Reason",
    "Source",
    "State",
    "StorePolicy",
    "live",
    "load",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'policyengine' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{where}", __name__), name)
    globals()[name] = value  # once: later reads are plain module attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})
