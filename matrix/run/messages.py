"""Error messages cut to their cause, as the runner records them (`clean_message`), and the
errors that are the machine's, not the backend's (`damaged_compile_artifact`).

Standard library alone: the runner imports it in the environment's process, the fold and the
report apply the same cleaning to what they read (`matrix.results.clean`).
"""

from __future__ import annotations

import re
from pathlib import Path

from matrix.records import MESSAGE_LIMIT

#: A terminal escape sequence (colour, cursor), as pip and pytest print them.
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
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
    text = ANSI.sub("", text)
    lines = [line.strip() for line in text.splitlines()]
    useful = [_TF_OP.sub("", _TF_NODE.sub("", line)) for line in lines
              if line and not _NOISE.match(line)]
    useful = [line for line in useful if line]
    first = useful[0] if useful else (lines[0] if lines else "")
    first = "".join(ch for ch in first if ch == "\t" or ch.isprintable())
    return first if len(first) <= limit else first[: limit - 1] + "…"
