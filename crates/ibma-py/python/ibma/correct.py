"""Multiple-comparison corrections of a result (NiMARE's ``nimare.correct``)."""

from __future__ import annotations

import secrets
from typing import Any, Optional

from ._threads import threads
from .results import MetaResult

__all__ = ["Corrector", "FDRCorrector", "FWECorrector"]


class Corrector:
    """Base class of the correctors: :meth:`transform` returns a corrected copy of a result."""

    method: str

    def transform(self, result: MetaResult) -> MetaResult:
        """Apply the correction to a result.

        Parameters
        ----------
        result : :class:`~ibma.MetaResult`
            A result of an ibma estimator.

        Returns
        -------
        :class:`~ibma.MetaResult`
            A copy of ``result`` with the corrected "p", "z" and "logp" maps added, named
            NiMARE's way (e.g. "z_corr-FDR_method-indep").
        """
        if not isinstance(result, MetaResult):
            raise ValueError(
                "First argument to transform() must be an instance of class MetaResult, not "
                f"{type(result)}."
            )
        return self._transform(result)

    def _transform(self, result: MetaResult) -> MetaResult:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(method={self.method!r})"


class FDRCorrector(Corrector):
    """False discovery rate correction (NiMARE ``FDRCorrector``).

    Parameters
    ----------
    method : {'indep', 'negcorr'}, optional
        'indep' (the default): Benjamini-Hochberg, for independent or positively correlated
        tests; 'negcorr': Benjamini-Yekutieli, for any dependence.
    alpha : :obj:`float`, optional
        The FDR the corrected maps are meant to be thresholded at. Default is 0.05. The
        step-up procedure only rescales p values, so the maps do not depend on it.

    Notes
    -----
    The family is every voxel with a p value (NaN voxels are left out), as in NiMARE.
    """

    def __init__(self, method: str = "indep", alpha: float = 0.05, **kwargs: Any) -> None:
        if method not in ("indep", "negcorr"):
            raise ValueError(f"Unsupported FDR correction method '{method}'; use 'indep' or 'negcorr'")
        if kwargs:
            raise TypeError(f"FDRCorrector got unexpected keyword argument(s): {', '.join(map(repr, kwargs))}")
        self.method = method
        self.alpha = alpha

    def _transform(self, result: MetaResult) -> MetaResult:
        procedure = "Benjamini-Hochberg" if self.method == "indep" else "Benjamini-Yekutieli"
        description = f"False discovery rate correction used the {procedure} step-up procedure."
        return result._derived(result._native.correct(f"fdr-{self.method}"), description)


class FWECorrector(Corrector):
    """Family-wise error rate correction (NiMARE ``FWECorrector``).

    Parameters
    ----------
    method : {'bonferroni', 'montecarlo'}, optional
        'bonferroni' (the default), or 'montecarlo': the voxel-level maximum-statistic null
        from sign flips of the studies' maps. NiMARE offers 'montecarlo' for ``PermutedOLS``
        (whose flips and maps ibma reproduces exactly); ibma offers it for every one-sample
        estimator, refitting it on each flip.
    n_iters : :obj:`int`, optional
        Sign flips for 'montecarlo'. Default: 5000.
    n_cores : :obj:`int`, optional
        Threads for 'montecarlo'; 0 or negative: every core. Default is 1 (as NiMARE). The
        maps do not depend on it.
    seed : :obj:`int`, optional
        Seed of the flips (an ibma argument): default the estimator's ``random_state``
        (``PermutedOLS``) or 42.

    Notes
    -----
    'montecarlo' refits on the inputs the result keeps (or, for a loaded result, on the
    dataset path it was fitted on). Ctrl-C stops it.
    """

    def __init__(
        self,
        method: str = "bonferroni",
        n_iters: Optional[int] = None,
        n_cores: int = 1,
        seed: Optional[int] = None,
        **kwargs: Any,
    ) -> None:
        if method not in ("bonferroni", "montecarlo"):
            raise ValueError(f"Unsupported FWE correction method '{method}'; use 'bonferroni' or 'montecarlo'")
        if method == "montecarlo" and n_iters is not None:
            if isinstance(n_iters, bool) or not isinstance(n_iters, int) or n_iters <= 0:
                raise ValueError("n_iters must be a positive integer when method='montecarlo'.")
        if kwargs:
            raise TypeError(f"FWECorrector got unexpected keyword argument(s): {', '.join(map(repr, kwargs))}")
        self.method = method
        self.n_iters = n_iters
        self.n_cores = n_cores
        self.seed = seed

    def _transform(self, result: MetaResult) -> MetaResult:
        if self.method == "bonferroni":
            description = "Family-wise error rate correction used the Bonferroni procedure."
            return result._derived(result._native.correct("bonferroni"), description)
        n_iters = 5000 if self.n_iters is None else self.n_iters
        seed = self.seed
        if seed is None:
            seed = result.estimator.get_params().get("random_state", 42)
        if seed is None:
            seed = secrets.randbelow(2**32)  # NiMARE's random_state=None: a fresh stream
        native = result._native.montecarlo(n_iters, int(seed), threads(self.n_cores))
        description = (
            f"Voxel-level family-wise error rate correction used the null distribution of the "
            f"maximum statistic over {n_iters} sign flips of the studies' maps (seed {seed})."
        )
        return result._derived(native, description)
