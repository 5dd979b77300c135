"""`python -m tools.simulate`: see tools/simulate/__init__.py."""

from tools.simulate.cli import main

raise SystemExit(main())
