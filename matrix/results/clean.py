"""The free text of a run: error messages cut to their cause, run files' strings cleaned.

A message comes from a backend, a worker's crash or a hand-edited run file:
`matrix.run.messages.clean_message` keeps its first meaningful line (the runner applies it
as it records); `sanitize_run` applies it to every string of a run that a report shows.
"""

from __future__ import annotations

from dataclasses import replace

from matrix.records import MESSAGE_LIMIT, EnvironmentInfo, Observation, Result, Run
from matrix.run.messages import clean_message

SHORT_LIMIT = 200
LIMITATION_LIMIT = 2000
#: Provenance fields that reports show as text.
_SHOWN = ("device_name", "date", "git_commit", "platform", "python")


def _clean(text: str | None, limit: int = MESSAGE_LIMIT) -> str | None:
    return None if text is None else clean_message(text, limit)


def sanitize_observation(obs: Observation) -> Observation:
    """An observation whose free text is one clean line (a run file may be hand-edited)."""
    return replace(obs, message=_clean(obs.message),
                   error_type=_clean(obs.error_type, SHORT_LIMIT),
                   device=_clean(obs.device, SHORT_LIMIT),
                   warnings=[clean_message(w, SHORT_LIMIT) for w in obs.warnings[:10]])


def sanitize_result(result: Result) -> Result:
    """A result whose observation, verdict and limitation text are clean and bounded."""
    verdict = replace(result.verdict, detail=_clean(result.verdict.detail))
    return replace(result, observed=sanitize_observation(result.observed), verdict=verdict,
                   limitation=_clean(result.limitation, LIMITATION_LIMIT))


def sanitize_environment(env: EnvironmentInfo) -> EnvironmentInfo:
    """An environment whose reason, versions and shown provenance are clean and bounded."""
    provenance = {k: _clean(v, SHORT_LIMIT) if isinstance(v, str) and k in _SHOWN else v
                  for k, v in env.provenance.items()}
    return replace(env, reason=_clean(env.reason), provenance=provenance,
                   versions={k: clean_message(v, SHORT_LIMIT) for k, v in env.versions.items()})


def sanitize_run(run: Run) -> Run:
    """A run whose untrusted strings are stripped of ANSI and control characters and cut."""
    return replace(run, environment=sanitize_environment(run.environment),
                   results=[sanitize_result(r) for r in run.results])


def error_observation(exc: BaseException) -> Observation:
    """The observation of an exception raised by Keras or the backend."""
    return Observation(kind="error", error_type=type(exc).__name__,
                       message=clean_message(str(exc)) or type(exc).__name__)

