"""Decision procedures shared by the lock proofs (:mod:`policyengine.locks`) and analysis
(:mod:`policyengine.analysis`): :mod:`.space` enumerates the combinations of finite facts a set of conditions reads.
Depends on the pipeline and the runtime's interpreter."""
