"""Analysis of loaded policies: :mod:`.matrix`, :mod:`.diff`,
:mod:`.lint`, :mod:`.verify` and :mod:`.explain`. Depends on the engine and the runtime; presentation stays in
:mod:`policyengine.cli`."""
