"""policyengine: declarative, versioned YAML policies compiled to fast Python decisions.

Typical use::

    import policyengine

    engine = policyengine.load("policies")
    decisions = engine.evaluate(order, user)
    if decisions["reset"].enabled: ...

The pipeline is one module per stage, data flowing one way: :mod:`~policyengine.yamlsource` (load YAML with
positions), :mod:`~policyengine.validate` (JSON Schema), :mod:`~policyengine.model` (the policy AST),
:mod:`~policyengine.compiler` and :mod:`~policyengine.translate` (parse and type-check every condition with
rule-engine, translate it to Python), :mod:`~policyengine.merge` and :mod:`~policyengine.locks` (store overrides and
their lock proofs), :mod:`~policyengine.codegen` and :mod:`~policyengine.interpret` (the specialised and the
condition-by-condition evaluators) and :mod:`~policyengine.engine` (the public entry points). Analysis and tooling
(:mod:`~policyengine.space`, matrix, diff, lint, verify, explain, suites) build on the interpreter; presentation
lives in :mod:`policyengine.cli` only.
"""

from .adapters import Adapter, DefaultAdapter, Getter
from .bulk import BulkGroup, BulkResult
from .decision import Decision, Decisions, DecisionsMeta, Effect, Source, State
from .engine import Engine, StorePolicy, load
from .errors import Diagnostic, FactError, FactProblem, PolicyError
from .model import FactSpec

__all__ = [
    "Adapter",
    "BulkGroup",
    "BulkResult",
    "Decision",
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
    "PolicyError",
    "Source",
    "State",
    "StorePolicy",
    "load",
]

__version__ = "0.1.0"
