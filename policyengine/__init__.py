"""policyengine: declarative, versioned YAML policies compiled to fast Python decisions.

Typical use::

    import policyengine

    engine = policyengine.load("policies")
    decisions = engine.evaluate(order, user)
    if decisions["reset"].enabled: ...

The pipeline is one module per stage: :mod:`~policyengine.yamlsource` (load), :mod:`~policyengine.validate`
(JSON Schema), :mod:`~policyengine.model` and :mod:`~policyengine.compiler` (parse and type-check every condition),
:mod:`~policyengine.codegen` (generate the evaluators) and :mod:`~policyengine.engine` (the public entry points).
"""

from .adapters import Adapter, DefaultAdapter, Getter
from .decision import Decision, Decisions, Effect, State
from .engine import Engine, load
from .errors import Diagnostic, FactError, FactProblem, PolicyError
from .model import FactSpec

__all__ = [
    "Adapter",
    "Decision",
    "Decisions",
    "DefaultAdapter",
    "Diagnostic",
    "Effect",
    "Engine",
    "FactError",
    "FactProblem",
    "FactSpec",
    "Getter",
    "PolicyError",
    "State",
    "load",
]

__version__ = "0.1.0"
