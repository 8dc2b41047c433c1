"""Analysis of loaded policies: :mod:`.matrix`, :mod:`.diff`,
:mod:`.lint`, :mod:`.verify` and :mod:`.explain`, on the exact enumeration of :mod:`.machinery` and the questions of
:mod:`.decide`. Depends on the engine and the runtime; presentation stays in
:mod:`policyengine.cli`."""
