"""The oracle: what NumPy says each case computes, and the judge of an observation against it.

Stage of the harness (issue 22): above the catalog (`cases/`, which it reads and which imports
nothing of `matrix`), below the run (`matrix/run/`). Its modules, by job:

- `arrays`: array types, the reference program's `Value`, `seeded_weights`;
- `lookup`, `recurrent`, `layers`, `index_ops`: the NumPy references of the Keras APIs;
- `subject_refs`, `path_refs`: the references of the catalog's records, by key, and
  `registry`, which resolves the key a record names (`reference_of`);
- `tolerance`: `TOLERANCES`, `tolerance`, `compare`;
- `expect`: a case's answer (`expected`, `Expected`, `ExpectedError`, `describe`);
- `judge`: an observation against that answer, a cell's raw `Verdict`;
- `catalog`: the catalog as a run loads it, every case's reference computed (`load_catalog`).

It imports nothing but NumPy, the standard library, the catalog and `matrix.records`: never
Keras or a framework, since it must not share code with what it judges.
"""
