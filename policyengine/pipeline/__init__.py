"""The pipeline: load -> validate -> compile. :mod:`.yamlsource` reads YAML keeping every position,
:mod:`.validate` checks it against the JSON Schemas, :mod:`.model` is the policy AST, :mod:`.compiler` and
:mod:`.translate` parse and type-check every condition with rule-engine and translate it to Python, :mod:`.merge`
applies a store override to its base. Depends on :mod:`policyengine.errors` only."""
