"""The condition IR: :mod:`.nodes` (the typed nodes), :mod:`.lower` (the only reader of rule-engine's tree),
:mod:`.walk` (traversals), :mod:`.python` (the executable meaning of atoms) and :mod:`.kleene` (the one
three-valued evaluator); and the values defined once beside them: :mod:`.numbers` (rule-engine's exact numbers),
:mod:`.regexes` (what may be matched, in linear time) and :mod:`.values` (what a host may send for each fact type).
See docs/internals.md for the path of a condition through them."""
