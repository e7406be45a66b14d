"""``python -m hff_edu``: see :mod:`hff_edu.cli`."""
from .cli import main

raise SystemExit(main())
