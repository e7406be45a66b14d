"""Tooling around the notebooks: executing them (``runner``), the student and teacher editions and
the course folder (``editions``); ``python -m hff_edu.course`` is its command line."""
