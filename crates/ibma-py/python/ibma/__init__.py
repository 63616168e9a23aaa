"""ibma: image-based meta-analysis with NiMARE 0.22.1's numbers, computed in Rust.

A drop-in for ``nimare.meta.ibma``: the same estimator classes, keyword arguments and defaults
(``from ibma import DerSimonianLaird`` for ``from nimare.meta.ibma import DerSimonianLaird``),
``fit`` on a dataset folder, NiMARE's dataset JSON, a NiMARE ``Dataset`` or NumPy arrays
(:class:`Inputs`), a :class:`MetaResult` with NumPy maps and nibabel images, and the
correctors of :mod:`ibma.correct` and the jackknife of :mod:`ibma.diagnostics`.

Example
-------
>>> import ibma                                                   # doctest: +SKIP
>>> result = ibma.DerSimonianLaird().fit("nidm_pain21")           # doctest: +SKIP
>>> result = ibma.correct.FDRCorrector(method="indep").transform(result)  # doctest: +SKIP
>>> result.get_map("z_corr-FDR_method-indep")                     # doctest: +SKIP
"""

from . import correct, diagnostics, estimators
from ._ibma import __version__
from .estimators import (
    FFX_GLM,
    MFX_GLM,
    RFX_GLM,
    DerSimonianLaird,
    Estimator,
    Fishers,
    FixedEffectsHedges,
    Hedges,
    PermutedOLS,
    SampleSizeBasedLikelihood,
    Stouffers,
    VarianceBasedLikelihood,
    WeightedLeastSquares,
    WeightedStouffers,
)
from .inputs import Inputs
from .results import MetaResult

__all__ = ["__version__", "correct", "diagnostics", *estimators.__all__, "Inputs", "MetaResult"]
