"""What each limitation is seen to explain on the run files, written for a person to review.

`python -m matrix.results.behaviours [--runs DIR] [--out FILE] [--device DEVICE ...]` reads
the run files (`matrix.results.collect`), joins the written limitations to their cells
(`matrix.results.triage.observed_behaviours`) and writes `cases/limitation_behaviours.json`;
the diff is reviewed like code. Records that state their own `explains` are left out.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from matrix.results.collect import collect
from matrix.results.triage import observed_behaviours


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m matrix.results.behaviours [--runs DIR] [--out FILE]`: writes what each
    limitation is seen to explain on the run files (`observed_behaviours`) to
    `cases/limitation_behaviours.json`, for a person to review (records that state their
    own `explains` are left out).

    Returns:
        0; 2 with one line when the runs folder cannot be read.
    """
    import argparse
    import json

    from cases.limitations import BEHAVIOURS_FILE, WRITTEN_LIMITATIONS

    parser = argparse.ArgumentParser(prog="python -m matrix.results.behaviours",
                                     description="write what each limitation is seen to explain")
    parser.add_argument("--runs", type=Path, default=Path("reports/runs"))
    parser.add_argument("--out", type=Path, default=BEHAVIOURS_FILE)
    parser.add_argument("--device", action="append", default=None,
                     help="read the cells of this device only (default: cpu; repeatable)")
    args = parser.parse_args(argv)
    if not args.runs.is_dir():
        print(f"error: --runs {args.runs}: no such folder", file=sys.stderr)
        return 2
    own = [lim for lim in WRITTEN_LIMITATIONS if not lim.explains]
    found = observed_behaviours(collect(args.runs), own, args.device or ["cpu"])
    compact = {lim: {"explains": [{k: v for k, v in b.items() if v is not None}
                                  for b in entry["explains"]],
                     "observed_on": entry["observed_on"]} for lim, entry in found.items()}
    lines = [f" {json.dumps(lim)}: {json.dumps(entry, sort_keys=True)}"
             for lim, entry in compact.items()]
    args.out.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")
    print(f"{args.out}: the behaviours of {len(found)} limitations")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
