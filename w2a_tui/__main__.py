"""`python -m w2a_tui` is the same as the `w2a-tui` console script."""

from w2a_tui.cli import main

raise SystemExit(main())
