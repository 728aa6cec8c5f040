"""Bisect one cell across Keras releases: the first release in which it changed.

`nox -s bisect -- CASE_ID [--environment jax-cpu] [--from 3.0.0] [--to 3.15.1]` asks pip for
the Keras releases on the package index (`pip index versions keras`, which leaves out yanked
releases and pre-releases), keeps those in the range, and binary-searches them: each release
it tries is installed into one cached virtualenv per environment (`.nox/bisect-<environment>`,
ignored by git) with the environment's backend pinned as in `matrix/axes.toml`, and the case
runs there through the matrix's own program and judge (`matrix/run/observe.py`, which calls
`matrix.run.runner.observe` and `matrix.oracle.judge.judge`), so each observation is the one
a `run` would record. A release that pip cannot install beside the pinned backend, in which
Keras cannot be imported, in which the harness itself fails (a `HarnessError` observation,
verdict `harness_error`: the harness broke, not Keras), whose result line is malformed, or
where another Keras than the release asked for ran, is `not_run` with the reason, and the
search goes around it. Only CPU environments are bisected (a GPU environment is refused: nothing
here checks that its device is visible).

What counts as a change is the cell's **signature** (`signature`): the verdict's status and
cause, and the observation's kind, error type, shape, dtype and NaN count. Error messages and
the exact max abs error are not compared (their wording and last digits move between releases
without the behaviour changing). The search binary-searches "differs from the signature at
`--from`": it finds a release R whose signature differs from the start's while the newest
release before R that ran still had it. When the change is monotone (once changed, the cell
stays changed up to `--to`), R is the first release whose observation differs from the first
one; otherwise R is one such boundary, not necessarily the first: narrow the range to find
the others. When both ends give the same signature, nothing is searched: a change that
reverted inside the range (A -> B -> A) is not looked for. Where releases between the last
unchanged one and R did not run, the change lies somewhere from the first of those to R
(`not_run_between`).

The result is written as `<case>.<environment>.json` (the `Bisection` schema of
`matrix/bisections.py`: one file per case and environment, so bisecting one case on two
backends keeps both; validated on read by `load_bisection`) to the ignored
`reports/local/bisect/` by default, so a local bisect never dirties the git tree;
`nox -s publish-local` copies these files to the committed `reports/bisect/`, and the report
of a folder of run files reads the bisect files beside it (`<runs>/../bisect`, with
`matrix.bisections`, never this package): the HTML detail of the case then says "changed
in Keras X.Y.Z (was: ...)".

Bad input (an unknown case id or environment, a GPU environment, a malformed, empty or
reversed range, a range holding fewer than two releases, an `--output` that cannot be a
directory, a package index that cannot be read) is one line on stderr naming what to change,
exit status 2, checked before anything is installed, and nothing written.
This package never imports Keras (the search logic, `search`, runs against any function that
tries a release). Its modules: `search` (the binary search), `releases` (the range, the pinned
requirements), `trials` (the virtualenv, one release tried), `cli` (`python -m matrix.bisect`).
"""

from __future__ import annotations

from matrix.bisect.cli import main
from matrix.bisect.releases import (
    BisectError,
    harness_requirements,
    index_releases,
    pinned_requirements,
    releases_in,
)
from matrix.bisect.search import search, signature
from matrix.bisect.trials import ensure_virtualenv, trial_from_output
from matrix.bisections import (
    BisectFileError,
    Bisection,
    Trial,
    change_line,
    changes_in,
    load_bisection,
)

__all__ = [
    "BisectError",
    "BisectFileError",
    "Bisection",
    "Trial",
    "change_line",
    "changes_in",
    "ensure_virtualenv",
    "harness_requirements",
    "index_releases",
    "load_bisection",
    "main",
    "pinned_requirements",
    "releases_in",
    "search",
    "signature",
    "trial_from_output",
]
