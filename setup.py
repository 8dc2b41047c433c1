"""Only the optional C batch loop lives here (all other metadata is in pyproject.toml): it is built when a C compiler
is present; without one the install succeeds and the engine runs its generated Python loop instead (same decisions,
see policyengine/_batch.c)."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("policyengine._batch", ["policyengine/_batch.c"], optional=True)])
