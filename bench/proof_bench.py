"""What proving (or refusing) one store override costs, in CPU seconds (``time.process_time``), issue 20.

Each override is about 4 KB, written next to the shipped base (``policies/order-actions.yaml``), and loaded with
``table_limit=0`` so that only reading, compiling and the lock proofs are timed. Printed beside each: the floor,
the same load of the base with an empty override (what reading and compiling cost), measured in the same run.
The solver is imported before timing (a one-time cost of the process, about 0.3 s, printed on its own line).

* ``bools_13``: 13 bool facts the store adds, read by a redefined ``is_admin`` and Delete's locked guard, and a
  new action performing ``delete_order`` (bench/lockproof.py's ``wide_override``): decision diagrams decide it.
* ``regex_13``: new ``delete_order`` actions over 13 bool facts and a regex: every combination is tried until the
  work budget (``MAX_PROOF_WORK``) refuses the file.
* ``strings``: new ``delete_order`` actions over string facts and regexes: the SMT solver decides them, within its
  work budget (``locks.SOLVER_RLIMIT``).
* ``numbers``: the same over number facts and nonlinear arithmetic.

Run: ``.venv/bin/python bench/proof_bench.py``. Target (issue 20): every row under 0.5 s of CPU.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lockproof  # noqa: E402  (bench/lockproof.py, next to this file)

SIZE = 4096


def _actions(allow: str, n: int = 13) -> str:
    parts = [lockproof.HEAD, lockproof._facts(n), "actions:\n"]
    total, i = sum(map(len, parts)), 0
    while True:
        facts = " or ".join(f"order.h{(i + k) % n}" for k in range(n))
        action = (f"  purge_{i}:\n    label: P{i}\n    allow: \"{allow.format(i=i % 3, facts=facts)}\"\n"
                  "    effects: [{operation: delete_order}]\n")
        if total + len(action) > SIZE:
            break
        parts.append(action)
        total += len(action)
        i += 1
    return "".join(parts)


def overrides() -> dict[str, str]:
    strings = _actions("user.role == 'admin' or order.note{i} =~ '^a.*b[0-9]{{2,5}}$' and ({facts})")
    numbers = _actions("user.role == 'admin' or order.n{i} * order.n{i} * order.n{i} == 7 + order.n{i} and ({facts})")
    return {
        "bools_13": lockproof.wide_override(13),
        "regex_13": _actions("user.role =~ '^(admin|member)$' and ({facts})"),
        "strings": strings.replace("facts:\n", "facts:\n" + "".join(f"  order.note{i}: {{type: string}}\n"
                                                                     for i in range(3)), 1),
        "numbers": numbers.replace("facts:\n", "facts:\n" + "".join(f"  order.n{i}: {{type: number}}\n"
                                                                     for i in range(3)), 1),
    }


def main() -> None:
    start = time.process_time()
    import z3  # noqa: F401 - the solver's import, once per process

    print(f"import z3: {time.process_time() - start:.3f} s CPU (once per process)")
    with tempfile.TemporaryDirectory(prefix="policyengine-proofbench-") as tmp:
        floor_dir = lockproof.policy_dir(Path(tmp) / "floor", lockproof.HEAD)
        lockproof.load_cpu(floor_dir, 110)  # warm up: imports and caches are not proof time
        floor = min(lockproof.load_cpu(floor_dir, 110)[0] for _ in range(3))
        print(f"floor (base + empty override): {floor:.3f} s CPU")
        for name, text in overrides().items():
            path = lockproof.policy_dir(Path(tmp) / name, text)
            cpu, outcome = min(lockproof.load_cpu(path, 110) for _ in range(3))
            print(f"{name:9} {len(text.encode()):5} B  {cpu:.3f} s CPU  ({cpu / floor:.1f}x floor)  {outcome}")


if __name__ == "__main__":
    main()
