"""The results stage: run files folded from a run's report log, read, merged and triaged.

- `ingest`: a pytest report log's events turned into results (`fold_reports`), the user
  properties the run's plugin writes for the fold (`NOT_RUN_PROPERTY`, `REPLACED_MARK`);
- `fold`: one environment's run file (`fold_run`, `not_run`), every case of the catalog a
  cell; `python -m matrix.results {fold,not-run}` (`__main__`);
- `io`: run files read and written at the JSON boundary (`load_run`, `dump_run`,
  `read_document`, the pydantic adapters);
- `merge`: shards combined, runs merged into the `Matrix`;
- `triage`: the known limitations joined to the raw verdicts at merge;
- `analysis`: what the merged matrix says across its columns (`divergent_cases`);
- `clean`: free text cut to its cause (`clean_message`); `outcomes`: a verdict's outcome.

The run-file records themselves live in the leaf `matrix.records`. This package re-exports
the names its readers outside the harness import from `matrix.results` (the report, the
tools and the catalog's expected answers).
"""

from __future__ import annotations

from matrix.records import (
    SCHEMA_VERSION,
    CaseInfo,
    EnvironmentInfo,
    Matrix,
    Observation,
    Outcome,
    Result,
    Run,
    Verdict,
)
from matrix.results.analysis import divergent_cases, silent_divergences
from matrix.results.io import MATRIX_ADAPTER, RunFileError, load_run, read_document
from matrix.results.merge import combine_shards, merge_runs, shard_of
from matrix.results.outcomes import MATCHED, RAN
from matrix.run.messages import clean_message

__all__ = [
    "MATCHED", "MATRIX_ADAPTER", "RAN", "SCHEMA_VERSION",
    "CaseInfo", "EnvironmentInfo", "Matrix", "Observation", "Outcome", "Result", "Run",
    "RunFileError", "Verdict", "clean_message", "combine_shards",
    "divergent_cases", "load_run", "merge_runs", "read_document", "shard_of",
    "silent_divergences",
]
