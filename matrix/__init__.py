"""keras-compat-matrix: the harness that runs the case catalog and folds its results.

Modules, in dependency order: `environments` (the axes), `reference` (NumPy oracle),
`results` (data model and the fold of a pytest log into a run file), `report` (renderers).
None of them imports a deep learning framework; only `matrix/run/test_cases.py` does, inside a run.
"""
