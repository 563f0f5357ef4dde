"""Benchmarks of kel-flow (``make bench``, not part of ``make test``): API events under
load on PostgreSQL and SQLite, the deadline sweep at scale, event to e-mail through
Prefect, the demo's wall time, peak memory; `benchmarks.profile` for the hot paths.
Figures depend on the machine and on what else runs on it."""
