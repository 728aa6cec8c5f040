"""Test collection: the end-to-end tests share one xdist worker.

The `tests` session runs pytest with `-n 2 --dist loadgroup` (`noxfile.py`): the
end-to-end tests (marker `e2e`) create virtualenvs under `.nox/` and run `nox` sessions
whose work folders and locks are per environment, so two of them at once would wait on or
clear each other's. They run one after another in the group `e2e`, while the other tests
fill the second worker.

xdist tells its workers who they are through variables (`PYTEST_XDIST_WORKER`, ...) that
every child process inherits: a `run` session started by a test would take its own pytest
controller for a worker (`cases/conftest.py`). They are removed here, in the worker, once
xdist has read its own.
"""

from __future__ import annotations

import os

import pytest

E2E_GROUP = "e2e"

for _name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
    os.environ.pop(_name, None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("e2e") is not None:
            item.add_marker(pytest.mark.xdist_group(E2E_GROUP))
