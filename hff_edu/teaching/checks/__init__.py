"""The course's exercises, declared one module per notebook (``nb00`` ... ``nb08``): each module's
``@exercise`` declarations fill :data:`hff_edu.teaching.exercises.REGISTRY` when this package is
imported. The answers are not here: the checks test properties and hidden cases, and the right
option of a choice is stored as a digest (:func:`hff_edu.teaching.exercises.digest`)."""
from __future__ import annotations

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
