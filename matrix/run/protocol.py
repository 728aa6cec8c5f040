"""What a run's pytest process tells the fold across the process boundary, in one place.

The pytest process (`matrix/run/test_cases.py` and its plugins) and the fold
(`matrix.results.ingest`, `matrix.run.resume`) meet only in pytest-reportlog's event stream: node
ids, user properties, xdist's wording for a dead worker. Each of those strings is declared
here, once; nothing else spells them. Standard library alone (the noxfile's process imports
`matrix.run.resume`).
"""

from __future__ import annotations

import re

#: The test function that runs one case: node ids `<module>::test_case[<case id>]`.
CASE_TEST = "test_case"
#: The test that records the environment's provenance (`<module>::test_environment`).
ENVIRONMENT_TEST = "test_environment"
#: xdist's report of a worker that died running a case ("worker 'gw0' crashed while running
#: '<node id>'"); pytest-xdist's wording, not ours.
CRASH_MARK = "crashed while running"
#: The user property (`item.user_properties`) of a case skipped because it cannot run here
#: or was left out (a cut mode, the sample), with the reason as its value: the fold's verdict
#: `not_run` (any other skip is `not_applicable`).
NOT_RUN_PROPERTY = "not_run"
#: `ended_by` of a worker pytest-timeout ended.
TIMEOUT_MARK = "timeout"
#: `ended_by` of a worker ended on purpose after a case poisoned its CUDA context
#: (`matrix/run/crash.py`): the case's own reports decide its cell, not xdist's crash report.
REPLACED_MARK = "replaced"

#: The node ids a run's pytest collected, as a JSON list, in its work folder beside the
#: report log: written by the controller (`matrix/run/progress.py`), merged on resume
#: (`matrix/run/resume.py`), read by the fold (a `-k` slice keeps only these cases).
COLLECTED = "collected.json"
#: The file of the run's work folder where its pytest process writes, at collection, what
#: the fold needs of every case of its catalog (`matrix.records.CaseFacts`).
CASE_FACTS = "case-facts.json"

_CASE = re.compile(r"::" + CASE_TEST + r"\[(.*)\]$")


def case_of_nodeid(nodeid: str) -> str | None:
    """The case id of a `<module>::test_case[<id>]` node id; None for any other test.

    The module path is not read: a report log written before the run's modules moved
    (node ids `cases/test_cases.py::...`) reads the same.
    """
    match = _CASE.search(nodeid)
    return match.group(1) if match else None
