"""Test collection and the environment of the processes the tests start.

The `tests` session (`noxfile.py`) runs the fast tests on two xdist workers (`-n 2 -m "not
e2e"`) and then the end-to-end tests (marker `e2e`) in one process, one after another: they
create virtualenvs under `.nox/` and run `nox` sessions whose work folders and locks are per
environment, so two at once would wait on or clear each other's. (`--dist loadgroup` would
say so with one marker, but pytest-xdist 3.8 under pytest 9.2 no longer groups: it writes the
group into a node-id field pytest no longer reads; pytest-dev/pytest-xdist#1386.)

xdist tells its workers who they are through variables (`PYTEST_XDIST_WORKER`, ...) that
every child process inherits: a `run` session started by a test would take its own pytest
controller for a worker (`cases/conftest.py`). They are removed here, in the worker, once
xdist has read its own.
"""

from __future__ import annotations

import os

for _name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
    os.environ.pop(_name, None)
