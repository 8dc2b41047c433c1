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
- :mod:`policyengine.engine` and :mod:`policyengine.locks`: loading a directory, store dispatch, lock proofs;
- :mod:`policyengine.proof`: decision procedures shared by lock proofs and analysis;
- :mod:`policyengine.runtime`: generated evaluators, the interpreter, decisions, adapters, bulk, query plans;
- :mod:`policyengine.pipeline`: YAML with positions, JSON Schema validation, the AST, compilation, merging;
- :mod:`policyengine.errors`: the one error hierarchy, rooted at :class:`PolicyError`.
"""

from . import _parsetables  # noqa: F401  (first: rule-engine's prebuilt parse tables, see that module)
from .runtime.adapters import Adapter, DefaultAdapter, Getter
from .runtime.bulk import BulkGroup, BulkResult
from .runtime.plan import Plan, PlanError
from .runtime.decision import Decision, Decisions, DecisionsMeta, Effect, Source, State
from .runtime.reasons import Reason
from .engine import Engine, StorePolicy, load
from .errors import Diagnostic, FactError, FactProblem, PolicyError
from .pipeline.model import FactSpec
from .service.decisionlog import DecisionLog
from .service.live import LivePolicies, LiveStatus, live

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
