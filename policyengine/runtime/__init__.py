"""The runtime: deciding. :mod:`.codegen` generates the specialised evaluators (tables, closures, batch loops;
:mod:`._batch` is the optional C loop), :mod:`.interpret` is the condition-by-condition evaluator that analysis and
lock proofs use, :mod:`.decision` the result objects, :mod:`.adapters` how facts are read from host objects, and
:mod:`.bulk` the bulk summaries. Depends on the pipeline."""
