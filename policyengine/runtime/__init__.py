"""The runtime: deciding. :mod:`.codegen` generates the specialised evaluators (tables, closures, batch loops;
:mod:`.emit_evaluator` writes their source from each condition's IR; :mod:`._batch` is the optional C loop),
:mod:`.interpret` is the condition-by-condition evaluator that analysis and lock proofs use, :mod:`.plan` the query
plans, :mod:`.decision` the result objects, :mod:`.adapters` how facts are read from host objects, and
:mod:`.bulk` the bulk summaries. Depends on the pipeline and the condition IR (:mod:`policyengine.ir`)."""
