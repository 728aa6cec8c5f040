"""Known divergences: where a backend (or Keras on every backend) differs from the reference.

A `Limitation` selects cells by backend, device and case axes, says in one line why, and links
the public report or source that explains it. In a run, a covered cell is marked `xfail`
(strict): it is `xfailed` while the divergence holds and `xpassed` once it is gone, so a stale
limitation is visible in the matrix. A limitation that matches no case fails the harness tests.
This is the `Limitation` idea of JAX's test harnesses, checked against what was observed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cases.core import Case


@dataclass(frozen=True, kw_only=True)
class Limitation:
    """One known divergence.

    Attributes:
        description: one line: what the backend does instead of what the reference expects.
        link: the upstream issue, doc or source line that explains it.
        backends: the backends it holds on (`keras.backend.backend()` names); empty = all.
        devices: `cpu` / `gpu`; empty = all.
        axes: case axes and the values they must take, e.g. `{"values": ("negative",)}`;
            a case lacking one of these axes is not covered.
    """

    description: str
    link: str
    backends: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    axes: Mapping[str, tuple[str | int, ...]] = field(default_factory=dict)

    def covers(self, case: Case, backend: str, device: str) -> bool:
        """Whether this limitation covers `case` run on `backend` and `device`."""
        if self.backends and backend not in self.backends:
            return False
        if self.devices and device not in self.devices:
            return False
        return all(key in case.axes and case.axes[key] in values
                   for key, values in self.axes.items())


def covering(limitations: Sequence[Limitation], case: Case, backend: str,
             device: str) -> Limitation | None:
    """The first limitation that covers the cell, or None."""
    for limitation in limitations:
        if limitation.covers(case, backend, device):
            return limitation
    return None


KERAS_EMBEDDING_SRC = (
    "https://github.com/keras-team/keras/blob/v3.15.1/keras/src/layers/core/embedding.py"
)

LIMITATIONS: tuple[Limitation, ...] = ()
