"""The Python class of each estimator of the library's catalogue, by its command name.

``estimators.py`` registers each class as it defines it; a result loaded from a file
(``MetaResult.load``) finds its estimator's class here. So ``results.py`` imports nothing from
``estimators.py`` at run time (only its type, for annotations), and ``estimators.py`` imports
``results.py`` (``fit`` returns a ``MetaResult``): no import circle.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, TypeVar

from . import _ibma

C = TypeVar("C", bound=type)

#: Python class of each library command name.
CLASSES: Dict[str, Any] = {}


def register(cls: C) -> C:
    """Make ``cls`` the Python class of the library's estimator ``cls._command``."""
    command = cls._command  # type: ignore[attr-defined]
    assert command not in CLASSES, f"{command}: two classes"
    CLASSES[command] = cls
    return cls


def wrap(native: "_ibma.NativeEstimator", python: Optional[Dict[str, Any]] = None) -> Any:
    """The Python estimator for a native one (a loaded file's, a result's): an instance of the
    class registered for its name, holding a copy of it and ``python``'s Python-side arguments."""
    return CLASSES[native.name]._from_native(native, python)
