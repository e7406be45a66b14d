"""``python -m hff_edu``: see :mod:`hff_edu.cli`."""
from .cli import main

if __name__ == "__main__":  # not when a spawned worker process imports this module again
    raise SystemExit(main())
