"""``import policyengine`` loads only what it must: the solver, SQL, the service, the analyses and the CLI load on
first use, and every public name is still importable from the package (issue 24). Each check runs in a fresh
interpreter, since this test process has imported everything already."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import policyengine

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("z3", "sqlalchemy", "starlette", "uvicorn", "policyengine.analysis", "policyengine.cli",
         "policyengine.service", "policyengine.sql", "policyengine.runtime.plan")


def _loaded_after(code: str) -> list[str]:
    probe = (f"import sys\n{code}\n"
             f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n")
    run = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True,
                         timeout=120)
    return list(eval(run.stdout.splitlines()[-1]))  # noqa: S307 - our own probe's printed list


def test_import_policyengine_imports_none_of_the_optional_layers() -> None:
    assert _loaded_after("import policyengine") == []
    assert _loaded_after("import policyengine\nassert 'policyengine.engine' not in sys.modules") == []


def test_load_and_evaluate_import_no_solver_sql_service_analysis_or_cli() -> None:
    """The planner is loaded: every policy's plan budget is checked at load (issue 21)."""
    code = ("import policyengine\nengine = policyengine.load('policies')\n"
            "order = {'status': 'Error', 'has_shipment': False, 'sent_to_warehouse': False,"
            " 'store': {'id': 'globex', 'manual_fulfillment': True}}\n"
            "assert engine.evaluate(order, {'role': 'admin'})['reset'].enabled\n"
            "assert engine.evaluate_many([(order, {'role': 'admin'})])[0]['reset'].enabled\n")
    assert _loaded_after(code) == ["policyengine.runtime.plan"]


def test_every_public_name_is_importable_from_the_package() -> None:
    code = ("import policyengine\nfrom policyengine import *  # noqa\n"
            "missing = [n for n in policyengine.__all__ if getattr(policyengine, n, None) is None]\n"
            "assert not missing, missing\nassert set(policyengine.__all__) <= set(dir(policyengine))\n")
    assert set(_loaded_after(code)) == {"policyengine.service", "policyengine.runtime.plan"}  # DecisionLog, live, Plan
    assert policyengine.load.__module__ == "policyengine.loader"
    assert policyengine.LivePolicies.__name__ == "LivePolicies"


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        policyengine.no_such_name  # noqa: B018
    except AttributeError as err:
        assert "no_such_name" in str(err)
    else:
        raise AssertionError("policyengine.no_such_name did not raise AttributeError")
