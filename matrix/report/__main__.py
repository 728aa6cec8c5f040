"""`python -m matrix.report`: see `matrix.report.cli.main`."""

from matrix.report.cli import main

raise SystemExit(main())
