"""The product team's toolkit: :mod:`.suites` runs YAML test suites (see also :mod:`policyengine.testing`, the
pytest helper). Depends on analysis and the engine."""
