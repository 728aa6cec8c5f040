"""The progress plugin of a run (`-p matrix.run.progress`): one line every few cases.

`[jax-cpu] 803/2037 cases, 177 diverged, 2 crashed, about 27 s left`, on the controller.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import pytest

from matrix import variables as kcm
from matrix.run import cache, costs
from matrix.run.plugin_common import (
    CACHE_FILES,
    COLLECTED_IDS,
    REPLACED,
    is_worker,
    run_dir,
)
from matrix.run.protocol import CASE_FACTS, COLLECTED, case_of_nodeid


class _Progress:
    """Prints one line every few cases: environment, cases done of total, how many diverged
    from the reference, crashed or were not run so far, and an estimate of the time left.

    The estimate scales the measured cost of the cases not yet done (`matrix.run.costs`) by how
    long the done ones took here against their measured cost, so a slower machine or a
    loaded one is accounted for once a few cases ran; cases reported skipped (not run) cost
    nothing.
    """

    def __init__(self, environment: str) -> None:
        self.environment = environment
        self.total = 0
        self.done = 0
        self.bad: dict[str, int] = {}
        self.last = 0.0
        self.started = time.monotonic()
        self.cost: dict[str, float] = {}
        self.left = 0.0
        self.done_cost = 0.0
        self.measured = costs.measured(environment)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.total = sum(case_of_nodeid(i) is not None for i in ids)
        if not self.cost:  # every worker sends the same collection
            known = list(self.measured.values())
            median = sorted(known)[len(known) // 2] if known else costs.DEFAULT_COST_S
            self.cost = {i: self.measured.get(case_of_nodeid(i) or "", median)
                         for i in ids if case_of_nodeid(i) is not None}
            self.left = sum(self.cost.values())
            self.started = time.monotonic()
        workdir = run_dir()
        node.config.stash[COLLECTED_IDS] = list(ids)
        if workdir is not None:  # the fold tells deselected cases from lost ones with this
            workdir.mkdir(parents=True, exist_ok=True)
            (workdir / COLLECTED).write_text(json.dumps(ids), encoding="utf-8")
            # Written by the worker before it sent its collection: kept, so that a case that
            # deletes the work folder cannot make the cached cells look lost.
            node.config.stash[CACHE_FILES] = {
                name: (workdir / name).read_bytes()
                for name in (cache.PLAN, cache.USED, CASE_FACTS) if (workdir / name).exists()}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if case_of_nodeid(report.nodeid) is None:
            return
        when: str = report.when  # xdist's crash reports say "???"
        skipped = when == "setup" and report.skipped  # not run: no call report follows
        if when != "call" and not (when == "???" or report.failed or skipped):
            return
        if (when == "???") and dict(report.user_properties).get("ended_by") == REPLACED:
            return  # the case's own report was counted; its worker was replaced after it
        self.done += 1
        cost = self.cost.pop(report.nodeid, 0.0)
        self.left -= cost
        if not skipped:
            self.done_cost += cost
        if report.failed or skipped:
            key = "crashed" if when == "???" else "not run" if skipped else "diverged"
            self.bad[key] = self.bad.get(key, 0) + 1
        now = time.monotonic()
        if now - self.last > 5 or self.done == self.total:
            self.last = now
            sys.stdout.write(f"\n{self.line(now)}\n")
            sys.stdout.flush()

    def line(self, now: float) -> str:
        """`[jax-cpu] 803/2037 cases, 177 diverged, 2 crashed, about 27 s left`.

        `diverged`: cells whose observation differs from the reference (a raw verdict: the
        limitations joined at merge turn the known ones into `xfailed`), never `failed`.
        """
        counts = [f"{self.bad[k]} {k}" for k in ("diverged", "crashed", "not run")
                  if self.bad.get(k)]
        return (f"[{self.environment}] {self.done}/{self.total} cases, "
                f"{', '.join(counts) or 'none diverged'}{self._time_left(now)}")


    def _time_left(self, now: float) -> str:
        """`, about 3 min left`, once a few cases ran; empty before and at the end."""
        if self.done >= self.total or self.done_cost <= 0 or now - self.started < 10:
            return ""
        seconds = max(self.left, 0.0) * (now - self.started) / self.done_cost
        return (f", about {seconds / 60:.0f} min left" if seconds >= 90
                else f", about {seconds:.0f} s left")


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if is_worker(config) or config.pluginmanager.has_plugin("kcm-progress"):
        return
    environment = os.environ.get(kcm.ENVIRONMENT.name, os.environ.get("KERAS_BACKEND", "?"))
    config.pluginmanager.register(_Progress(environment), "kcm-progress")
