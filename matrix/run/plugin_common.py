"""What the three pytest plugins of a run share (`matrix.run.crash`, `.selection`,
`.progress`): the work folder, the case of an item, the stash keys, the per-case time limits.

Standard library, pytest and the standard-library harness modules alone: the controller loads
it too, and never imports a framework.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from matrix import variables as kcm
from matrix.run.protocol import REPLACED_MARK


def run_dir() -> Path | None:
    """The run's work folder (`$KCM_RUN_DIR`); None outside a run (the unit tests)."""
    raw = os.environ.get(kcm.RUN_DIR.name)
    return Path(raw) if raw else None


def is_worker(config: pytest.Config) -> bool:
    """Whether this process is an xdist worker (not the controller)."""
    return hasattr(config, "workerinput")


def case_of(item: pytest.Item) -> Any:
    """The `Case` a `test_case` item runs; None for the environment check."""
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("case") if callspec is not None else None






#: On the controller: the node ids the workers collected (the report-log keeper writes
#: them again if a case deletes the work folder).
COLLECTED_IDS = pytest.StashKey[list[str]]()


#: On the controller: the cache plan, the list of served cases and the case facts
#: (`matrix.run.facts`), as read at collection.
CACHE_FILES = pytest.StashKey[dict[str, bytes]]()


#: Per node id, the time limit of the cases whose limit is not the run's (worker side).
LIMITS: dict[str, float] = {}


#: The `ended_by` label of a worker `matrix.run.crash` ended after a poisoning case.
REPLACED = REPLACED_MARK
