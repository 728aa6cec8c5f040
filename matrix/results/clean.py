"""The free text of a run: error messages cut to their cause, run files' strings cleaned.

A message comes from a backend, a worker's crash or a hand-edited run file: `clean_message`
keeps its first meaningful line, without ANSI escapes or control characters, cut to a limit;
`sanitize_run` applies it to every string of a run that a report shows.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from matrix.records import MESSAGE_LIMIT, EnvironmentInfo, Observation, Result, Run

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
# Lines that frame an error rather than state it: Keras's layer wrapper, TensorFlow's graph
# execution banner and the traceback it appends, xdist's node markers.
_NOISE = re.compile(
    r"^(Exception encountered when calling|Arguments received by|Graph execution error"
    r"|Detected at node|File \"|Traceback \(most recent|\[\[|•)"
)
_TF_NODE = re.compile(r"^\{\{function_node [^}]*\}\}\s*")
_TF_OP = re.compile(r"\s*\[Op:[^\]]*\]$")


#: An error a compile cache's damaged file gives: Inductor loads a kernel (`.so`) from its
#: on-disk cache (`/tmp/torchinductor_<user>` by default) that an interrupted compile left
#: empty or cut. Seen here: a run killed while compiling left a 0-byte `.so`, and eight
#: later LSTM `jit_compile` cells raised `InductorError: ImportError: <it>: file too short`.
_DAMAGED_ARTIFACT = re.compile(
    r"(/\S*torchinductor\S*?\.so): (file too short|invalid ELF header|"
    r"cannot read file data|ELF load command)")


def damaged_compile_artifact(message: str | None) -> Path | None:
    """The compile-cache file an error blames for being damaged, or None.

    Such an error is the machine's (a file an interrupted compile left behind), not the
    backend's answer: the runner records a harness error and removes the file, so the next
    run compiles the kernel again.
    """
    found = _DAMAGED_ARTIFACT.search(message or "")
    return Path(found.group(1)) if found else None


def clean_message(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """The first meaningful line of an error message, ANSI escapes stripped, cut to `limit`.

    Keras wraps a layer's error as "Exception encountered when calling Embedding.call()."
    followed by the original message, and TensorFlow prefixes graph errors with a banner and a
    traceback; those lines are skipped, and TensorFlow's `{{function_node ...}}` prefix and
    `[Op:...]` suffix are cut, so the cell shows the cause, e.g.
    "indices[0,1] = 10 is not in [0, 10)". Control characters other than tab are removed.
    """
    text = _ANSI.sub("", text)
    lines = [line.strip() for line in text.splitlines()]
    useful = [_TF_OP.sub("", _TF_NODE.sub("", line)) for line in lines
              if line and not _NOISE.match(line)]
    useful = [line for line in useful if line]
    first = useful[0] if useful else (lines[0] if lines else "")
    first = "".join(ch for ch in first if ch == "\t" or ch.isprintable())
    return first if len(first) <= limit else first[: limit - 1] + "…"


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

