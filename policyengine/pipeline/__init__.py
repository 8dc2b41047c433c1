"""The pipeline: load -> validate -> compile. :mod:`.yamlsource` reads YAML keeping every position,
:mod:`.validate` checks it against the JSON Schemas, :mod:`.model` is the policy AST, :mod:`.compiler` has rule-engine
parse every condition and :mod:`policyengine.ir` lower it (type-checked) into the condition IR, :mod:`.merge` applies a
store override to its base. Depends on :mod:`policyengine.errors` and :mod:`policyengine.ir` only."""
