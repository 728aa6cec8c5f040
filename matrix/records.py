"""Records that travel between the harness's stages and processes, as typed values.

The leaf of the import graph (issue 22): it imports nothing of the project, so every stage,
`cases/` included, may use it. Today it holds `Shard`; the run-file records (observations,
verdicts, cases, environments) are to move here from `matrix.results`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SHARD = re.compile(r"([0-9]{1,6})/([0-9]{1,6})")


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count` (1-based) of a catalog split by measured cost.

    Written `I/N` where text carries it (`--shard 2/3`, a run file's
    `environment.provenance.shard`), `.shard-I-of-N` in file names; `Shard.parse` reads the
    text back, and is the only reader.
    """

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise ValueError(f"a shard is 1 <= index <= count; received {self.index}/{self.count}")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`I/N` with whole numbers 1 <= I <= N (at most six digits each).

        Raises:
            ValueError: anything else (a path, a negative number, I > N, N = 0); the message
                says what is expected.
        """
        match = _SHARD.fullmatch(text)
        if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
            raise ValueError("expected I/N with whole numbers 1 <= I <= N, e.g. 2/3")
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def suffix(self) -> str:
        """`.shard-I-of-N`: what a shard's run file and work folder add to their names."""
        return f".shard-{self.index}-of-{self.count}"


__all__ = ["Shard"]
