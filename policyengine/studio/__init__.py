"""``policyengine studio``: a local web app where the product team edits a policy directory and sees, before
saving, what the edit does: its problems at their lines, the Actions menu for an order, the test suites, the
decision matrix and diff, and (with a database) the orders it changes. See ``docs/studio.md``.

:mod:`.workspace` reads and saves files inside the directory only; :mod:`.session` computes each answer from the
set as edited; :mod:`.app` is the Starlette app and its safety checks; ``static/`` holds every asset of the page.
"""

from __future__ import annotations

__all__: list[str] = []
