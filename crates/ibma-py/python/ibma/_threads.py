"""NiMARE's ``n_cores``: how many threads a call runs on."""

from __future__ import annotations

import os
import warnings


def threads(n_cores: int) -> int:
    """Threads for ``n_cores``: all cores if it is 0 or negative, at most the number of cores
    (with a warning, as NiMARE logs one)."""
    available = os.cpu_count() or 1
    if isinstance(n_cores, bool) or not isinstance(n_cores, int):
        raise ValueError(f"n_cores must be an integer, not {n_cores!r}")
    if n_cores <= 0:
        return available
    if n_cores > available:
        warnings.warn(
            f"Desired number of cores ({n_cores}) greater than number available ({available}). "
            f"Setting to {available}.",
            UserWarning,
            stacklevel=3,
        )
        return available
    return n_cores
