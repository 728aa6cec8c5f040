"""The case catalog: Keras programs described as data, and the known divergences.

Importing this package imports NumPy and nothing heavier: no Keras, no backend.
`cases.model` holds the data model (a case is a small program of `Step`s on named `Tensor`
inputs), `cases.subjects` one record per Keras API under test, the family modules
(`embedding`, `mask_consumers`, `modes`, `policies`, `padding`, `user_reports`) build cases by
plain loops over axes, `cases.limitations` the known divergences, and `cases.load` adds the
case modules a user keeps elsewhere (`nox -- --catalog path/to/my_cases.py`), refusing a
malformed catalog before anything runs.
The catalog is data and imports nothing of `matrix`: the NumPy oracle that judges it is
`matrix/oracle/`; `matrix/run/test_cases.py` executes it in a run.
"""

from __future__ import annotations

from cases.load import Catalog, builtin_cases, read_catalog
from cases.model import Case, CatalogError, Fit, Nested, Step, Tensor, chain

__all__ = ["Case", "Catalog", "CatalogError", "Fit", "Nested", "Step", "Tensor",
           "builtin_cases", "chain", "read_catalog"]
