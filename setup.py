"""Only the optional C batch loop lives here (all other metadata is in pyproject.toml): it is built when a C compiler
is present; without one the install succeeds and the engine runs its generated Python loop instead (same decisions,
see policyengine/runtime/_batch.c)."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("policyengine.runtime._batch", ["policyengine/runtime/_batch.c"], optional=True)])
