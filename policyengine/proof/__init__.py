"""Decision procedures shared by the lock proofs (:mod:`policyengine.locks`) and analysis
(:mod:`policyengine.analysis`): :mod:`.space` enumerates the combinations of finite facts a set of conditions reads
and decides, once for all of them, whether a question is enumerated;
:mod:`.implication` decides whether one policy widens another (the lock proofs), on :mod:`.bdd` decision diagrams
where conditions are plain boolean structure and by enumeration otherwise;
:mod:`.smt` decides what enumeration cannot (number, string and set facts) with the z3 solver, and
:mod:`.smt_locks` serves the lock proofs from it.
Depends on the pipeline and the runtime's interpreter."""
