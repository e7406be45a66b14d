"""``python -m hff_edu.course``: see :mod:`hff_edu.course.cli`."""
from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
