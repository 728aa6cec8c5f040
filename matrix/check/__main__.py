"""`python -m matrix.check`: see `matrix.check.cli.main`."""

from matrix.check.cli import main

raise SystemExit(main())
