"""What a notebook checks and shows: its claims (``claims``), the students' exercises
(``exercises``), interactive figures (``widgets``) and the run profiles (``profiles``)."""
