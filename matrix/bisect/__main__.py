"""`python -m matrix.bisect`: see `matrix.bisect.cli.main`."""

from matrix.bisect.cli import main

raise SystemExit(main())
