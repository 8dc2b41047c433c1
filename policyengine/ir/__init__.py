"""The condition IR: :mod:`.nodes` (the typed nodes), :mod:`.lower` (the only reader of rule-engine's tree),
:mod:`.walk` (traversals), :mod:`.python` (the executable meaning of atoms) and :mod:`.kleene` (the one
three-valued evaluator). See docs/internals.md for the path of a condition through them."""
