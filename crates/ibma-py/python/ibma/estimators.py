"""Estimators with NiMARE 0.22.1's class names, keyword arguments and defaults.

Each class is a thin shell over one estimator of the ibma library: its keyword arguments are
set on the library's typed estimator through ``ibma::params`` (the table the ``ibma`` command
line's ``--set`` goes through), so the names, defaults, accepted values and error messages are
the library's. A few of NiMARE's arguments have no counterpart in the library (``groupby``,
``weight_scheme``, ``rho``, ``memory``, ...); they are kept here and say what they do.
"""

from __future__ import annotations

import json
import os
from typing import Any, ClassVar, Dict, Optional, Type, TypeVar, Union

import numpy as np

from . import _ibma
from ._nimare import dataset_json, is_nimare_dataset, nimare_mask
from .inputs import Inputs, MaskLike, native_mask
from .results import MetaResult

__all__ = [
    "Estimator",
    "Fishers",
    "Stouffers",
    "WeightedLeastSquares",
    "DerSimonianLaird",
    "Hedges",
    "SampleSizeBasedLikelihood",
    "VarianceBasedLikelihood",
    "PermutedOLS",
    "FixedEffectsHedges",
    "FFX_GLM",
    "MFX_GLM",
    "RFX_GLM",
    "WeightedStouffers",
]

E = TypeVar("E", bound="Estimator")
DatasetLike = Union[str, "os.PathLike[str]", Inputs, Any]

#: NiMARE's weight schemes for images within a dependence group.
_WEIGHT_SCHEMES = ("rescale", "individual", "collapse")

#: Keyword arguments whose value ``None`` means "an empty list" to the library.
_EMPTY_WHEN_NONE = ("moderators", "contrast", "groups")

# Shared blocks of the parameter tables (numpydoc), substituted into the class docstrings.
_DOC = {
    "common": """aggressive_mask : :obj:`bool`, optional
        Keep only voxels where every study has a usable value. If False (the default), each
        set of voxels covered by the same studies (a "bag") is fitted on those studies, and a
        voxel covered by fewer than two studies is NaN.
    groupby : None or False, optional
        NiMARE's dependence groups. None (the default) groups images by study: with one
        image per study, every image is independent. False treats every image as
        independent (several contrasts of one study then count as separate studies). A
        metadata field name or an array of labels is NiMARE 0.22.1's dependence modelling,
        which this version of the ibma library does not have: it raises
        :obj:`NotImplementedError`.
    mask : :obj:`str`, path or nibabel image, optional
        Analysis mask, overriding the dataset's (NiMARE's dataset JSON carries none; without
        one the mask is every voxel some study has data in).
    memory, memory_level : optional
        Accepted for NiMARE compatibility; ibma caches nothing.
    generate_description : :obj:`bool`, optional
        Whether the result gets a methods description. Default is True.
    **kwargs
        ibma's own parameters (``derive``, ``resample``, ...; ``ibma estimators`` on the
        command line lists them) and NiMARE's ``resample__interpolation``.""",
    "regression": """weight_scheme : {'rescale', 'individual', 'collapse'}, optional
        NiMARE's weighting of images within a dependence group. Only dependence groups use
        it (see ``groupby``), so it changes nothing here. Default is 'rescale'.
    rho : :obj:`float`, optional
        NiMARE's assumed within-group correlation, in [0, 1]; as ``weight_scheme``, it only
        matters with dependence groups. Default is 0.8.
    small_sample_correction : None or {'knapp-hartung', 'knapp-hartung-conservative', 'wald'}, optional
        Inference on the pooled estimate. None (the default) keeps the estimator's own:
        Knapp-Hartung where tau^2 is estimated, Wald where it is given.""",
    "two_sided": """two_sided : :obj:`bool`, optional
        If True (the default), a two-sided test: both positive and negative effects count.
        If False, only positive effects do (upper tail).""",
    "maps_test": """"z", "p", "logp" (-log10 p), "dof\"""",
}


def _doc(cls: Type[E]) -> Type[E]:
    """Fill the ``{name}`` blocks of a class docstring from :data:`_DOC`."""
    if cls.__doc__:
        cls.__doc__ = cls.__doc__.format(**_DOC)
    return cls


class Estimator:
    """Base class of ibma's estimators: NiMARE's ``Estimator`` interface.

    Parameters are keyword arguments of the constructor, read back by :meth:`get_params` and
    changed by :meth:`set_params`. :meth:`fit` takes a dataset and returns a
    :class:`~ibma.MetaResult`.
    """

    #: The library's command name of the estimator.
    _command: ClassVar[str] = ""
    #: NiMARE arguments kept in Python (the library has no field for them), with defaults.
    _python_defaults: ClassVar[Dict[str, Any]] = {
        "groupby": None,
        "mask": None,
        "memory": None,
        "memory_level": 0,
        "generate_description": True,
    }

    _native: "_ibma.NativeEstimator"
    _python: Dict[str, Any]

    def _setup(self, params: Dict[str, Any]) -> None:
        """Configure a new estimator: NiMARE's defaults, then ``params``."""
        object.__setattr__(self, "_native", _ibma.NativeEstimator(self._command))
        object.__setattr__(self, "_python", dict(self._python_defaults))
        self._apply(params)

    def _apply(self, params: Dict[str, Any]) -> None:
        """Set ``params`` on copies and keep them only if every value and the combination are
        valid (an unknown name is :obj:`TypeError`, a bad value :obj:`ValueError`)."""
        native = self._native.copy()
        python = dict(self._python)
        for key, value in params.items():
            if key in python:
                python[key] = _check_python_param(key, value)
            elif key.startswith("resample__") and key != "resample__interpolation":
                raise TypeError(
                    f"{type(self).__name__}: {key}: ibma resamples with resample__interpolation "
                    "(linear or nearest) only"
                )
            elif key == "small_sample_correction" and value is None:
                native.set_text(key, "auto")
            elif value is None and key not in _EMPTY_WHEN_NONE:
                continue  # None: keep the default (NiMARE's meaning of None here)
            else:
                native.set_json(key, json.dumps(_library_value(key, value)))
        native.validate()
        object.__setattr__(self, "_native", native)
        object.__setattr__(self, "_python", python)

    @classmethod
    def _wrap(cls, native: "_ibma.NativeEstimator", python: Optional[Dict[str, Any]] = None) -> "Estimator":
        """The Python estimator for a native one (a loaded file, a result's estimator)."""
        klass = _CLASSES[native.name]
        est = klass.__new__(klass)
        object.__setattr__(est, "_native", native.copy())
        defaults = dict(klass._python_defaults)
        defaults.update({k: v for k, v in (python or {}).items() if k in defaults})
        object.__setattr__(est, "_python", defaults)
        return est

    def get_params(self, deep: bool = True) -> Dict[str, Any]:
        """Get the parameters of this estimator.

        Parameters
        ----------
        deep : :obj:`bool`, optional
            Accepted for NiMARE compatibility (ibma's parameters are not nested).

        Returns
        -------
        params : :obj:`dict`
            Parameter names (NiMARE's) mapped to their values.
        """
        params = dict(json.loads(self._native.params_json()))
        params.update(self._python)
        return params

    def set_params(self: E, **params: Any) -> E:
        """Set the parameters of this estimator.

        Raises :obj:`ValueError` for a name it does not have or a value it does not take.

        Returns
        -------
        self
        """
        try:
            self._apply(params)
        except TypeError as e:
            raise ValueError(str(e)) from None
        return self

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        params = self.get_params()
        if name in params:
            return params[name]
        raise AttributeError(f"{type(self).__name__} has no attribute or parameter {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if not name.startswith("_") and name in self.get_params():
            self.set_params(**{name: value})
        else:
            object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        defaults = type(self)().get_params()
        changed = [f"{k}={v!r}" for k, v in self.get_params().items() if defaults.get(k) != v]
        return f"{type(self).__name__}({', '.join(changed)})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.get_params() == other.get_params()  # type: ignore[union-attr]

    def __getstate__(self) -> Dict[str, Any]:
        # Pickling (joblib, copy.deepcopy): the library's parameters as JSON, and the rest.
        return {"params": self._native.params_json(), "python": self._python}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        native = _ibma.NativeEstimator(self._command)
        for key, value in json.loads(state["params"]):
            native.set_json(key, json.dumps(value))
        object.__setattr__(self, "_native", native)
        object.__setattr__(self, "_python", dict(state["python"]))

    def copy(self: E) -> E:
        """An independent copy with the same parameters."""
        return self._wrap(self._native, self._python)  # type: ignore[return-value]

    def save(self, filename: Union[str, "os.PathLike[str]"], compress: bool = True) -> None:
        """Save the estimator's parameters to a file (ibma's saved format, gzip-compressed JSON).

        The library's parameters are stored; ``mask``, ``groupby``, ``random_state`` and the
        other arguments kept in Python are not, and load with their defaults.

        Parameters
        ----------
        filename : :obj:`str`
            File to write.
        compress : :obj:`bool`, optional
            Gzip-compress the file. Default is True.
        """
        self._native.save(os.fspath(filename), compress)

    @classmethod
    def load(cls: Type[E], filename: Union[str, "os.PathLike[str]"], compressed: bool = True) -> E:
        """Load an estimator saved by :meth:`save` (or by the ibma library).

        Parameters
        ----------
        filename : :obj:`str`
            File to read.
        compressed : :obj:`bool`, optional
            Whether the file is gzip-compressed. Default is True.

        Returns
        -------
        The estimator, of the class the file holds; :obj:`OSError` if that is not ``cls``.
        """
        est = cls._wrap(_ibma.NativeEstimator.load(os.fspath(filename), compressed))
        if not isinstance(est, cls):
            raise OSError(f"{os.fspath(filename)}: holds a {type(est).__name__}, not a {cls.__name__}")
        return est  # type: ignore[return-value]

    def fit(self, dataset: DatasetLike, drop_invalid: bool = True) -> MetaResult:
        """Fit the estimator to a dataset.

        Parameters
        ----------
        dataset : path, :class:`~ibma.Inputs` or NiMARE ``Dataset``
            An ibma-dataset folder or its ``dataset.json``; NiMARE's dataset JSON (give
            ``mask`` to the estimator, or the union of the studies' data is the mask); a
            NiMARE ``Dataset`` object (read through its ``images`` and ``metadata`` tables and
            its masker's mask); or :class:`~ibma.Inputs` (arrays in memory).
        drop_invalid : :obj:`bool`, optional
            If True (the default), studies without the data this estimator needs (or without a
            usable voxel) are left out, with a warning; if False, they are an error
            (:obj:`ValueError`).

        Returns
        -------
        :class:`~ibma.MetaResult`
            The maps, over the analysis mask.
        """
        native = self._native
        independent = self._python.get("groupby") is False
        try:
            if isinstance(dataset, Inputs):
                if self._python["mask"] is not None:
                    raise ValueError("Inputs carry their own mask: give it to Inputs(mask=...), not to the estimator")
                fitted = _ibma.fit_inputs(native, dataset._native, drop_invalid, None)
            elif isinstance(dataset, (str, os.PathLike)):
                mask = native_mask(self._python["mask"]) if self._python["mask"] is not None else None
                fitted = _ibma.fit_path(native, os.fspath(dataset), None, mask, independent, drop_invalid, None)
            elif is_nimare_dataset(dataset):
                text, several = dataset_json(dataset)
                if several and not independent:
                    raise NotImplementedError(_DEPENDENT)
                mask_like = self._python["mask"] if self._python["mask"] is not None else nimare_mask(dataset)
                fitted = _ibma.fit_path(native, None, text, native_mask(mask_like), independent, drop_invalid, None)
            else:
                raise TypeError(
                    f"{type(self).__name__}.fit: expected a dataset path, ibma.Inputs or a NiMARE Dataset, "
                    f"not {type(dataset).__name__}"
                )
        except ValueError as e:
            if "dependent images" in str(e) and not independent:
                raise NotImplementedError(f"{e}\n{_DEPENDENT}") from None
            raise
        estimator = self._wrap(fitted.estimator(), self._python)
        return MetaResult._fitted(fitted, estimator)


_DEPENDENT = (
    "Several images of one study are dependent (NiMARE's groupby=None models that), and this "
    "version of the ibma library does not model dependence yet; pass groupby=False to treat "
    "every image as an independent study."
)


def _check_python_param(key: str, value: Any) -> Any:
    """Check a value of an argument kept in Python."""
    if key == "groupby":
        if value is None or value is False:
            return value
        raise NotImplementedError(
            f"groupby={value!r}: dependence groups (NiMARE 0.22.1's groupby by a metadata field or "
            "labels) are not in this version of the ibma library; groupby=None (one image per "
            "study) and groupby=False (every image independent) work"
        )
    if key == "weight_scheme":
        if value not in _WEIGHT_SCHEMES:
            raise ValueError(f"Invalid weight_scheme '{value}'; must be one of {sorted(_WEIGHT_SCHEMES)}.")
        return value
    if key == "rho":
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ValueError(f"Invalid rho {value!r}; must be a number.")
        if not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"Invalid rho {value!r}; must lie in [0, 1].")
        return float(value)
    if key == "generate_description":
        return bool(value)
    if key == "random_state":
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < 2**32):
            raise ValueError(f"Invalid random_state {value!r}; must be None or an integer in [0, 2**32).")
        return None if value is None else int(value)
    return value


def _library_value(key: str, value: Any) -> Any:
    """A keyword argument's value as the JSON value the library's field reads."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None:
        return ""
    if key == "moderators" and isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if key == "contrast" and isinstance(value, (list, tuple, np.ndarray)):
        rows = np.atleast_2d(np.asarray(value, dtype=float))
        return "; ".join(" ".join(repr(float(x)) for x in row) for row in rows)
    return value


@_doc
class Fishers(Estimator):
    """Fisher's combination of the studies' z maps (NiMARE ``Fishers``).

    Parameters
    ----------
    {two_sided}
    use_sample_size : :obj:`bool`, optional
        Weight each study by its sample size (a scaled chi-squared reference). Default is False.
    {common}

    Notes
    -----
    Requires ``z`` images (derived from t and a sample size, or from con and se/varcope, in an
    ibma-dataset), and sample sizes when weighted. Maps: {maps_test}.
    """

    _command = "fishers"

    def __init__(
        self,
        two_sided: bool = True,
        use_sample_size: bool = False,
        aggressive_mask: bool = False,
        *,
        groupby: Any = None,
        mask: Optional[MaskLike] = None,
        memory: Any = None,
        memory_level: int = 0,
        generate_description: bool = True,
        **kwargs: Any,
    ) -> None:
        self._setup(dict(locals_(locals()), **kwargs))


@_doc
class Stouffers(Estimator):
    """Stouffer's combination of the studies' z maps (NiMARE ``Stouffers``).

    Parameters
    ----------
    use_sample_size : :obj:`bool`, optional
        Weight each z by the square root of its study's sample size ("weighted Stouffer's").
        Default is False.
    {two_sided}
    {common}

    Notes
    -----
    Requires ``z`` images, and sample sizes when weighted. Maps: {maps_test}. ibma's seed-era
    options (``inference="rfx"``, ``null="empirical"``) are keyword arguments too.
    """

    _command = "stouffers"

    def __init__(
        self,
        use_sample_size: bool = False,
        two_sided: bool = True,
        aggressive_mask: bool = False,
        *,
        groupby: Any = None,
        mask: Optional[MaskLike] = None,
        memory: Any = None,
        memory_level: int = 0,
        generate_description: bool = True,
        **kwargs: Any,
    ) -> None:
        self._setup(dict(locals_(locals()), **kwargs))


class _Regression(Estimator):
    """The PyMARE-backed estimators of NiMARE: they share the dependence arguments."""

    _python_defaults = dict(Estimator._python_defaults, weight_scheme="rescale", rho=0.8)


@_doc
class WeightedLeastSquares(_Regression):
    """Weighted least squares with a fixed between-study variance (NiMARE ``WeightedLeastSquares``).

    Parameters
    ----------
    tau2 : :obj:`float`, optional
        The between-study variance, fixed. Default is 0 (fixed effects).
    {regression}
    {common}

    Notes
    -----
    Requires ``beta`` (con) and ``varcope`` images. Maps: "est", "se", {maps_test} and the
    heterogeneity maps "q", "q_p", "q_logp", "i2", "h". ``moderators`` and ``contrast`` (ibma
    keyword arguments) fit a meta-regression on study covariates.
    """

    _command = "weighted-least-squares"

    def __init__(
        self,
        tau2: float = 0,
        weight_scheme: str = "rescale",
        rho: float = 0.8,
        small_sample_correction: Optional[str] = None,
        aggressive_mask: bool = False,
        *,
        groupby: Any = None,
        mask: Optional[MaskLike] = None,
        memory: Any = None,
        memory_level: int = 0,
        generate_description: bool = True,
        **kwargs: Any,
    ) -> None:
        self._setup(dict(locals_(locals()), **kwargs))


@_doc
class DerSimonianLaird(_Regression):
    """Random effects with the DerSimonian-Laird estimate of tau^2 (NiMARE ``DerSimonianLaird``).

    Parameters
    ----------
    {regression}
    {common}

    Notes
    -----
    Requires ``beta`` (con) and ``varcope`` images. Maps: "est", "se", "tau2", {maps_test} and
    the heterogeneity maps "q", "q_p", "q_logp", "i2", "h".
    """

    _command = "dersimonian-laird"

    def __init__(
        self,
        weight_scheme: str = "rescale",
        rho: float = 0.8,
        small_sample_correction: Optional[str] = None,
        aggressive_mask: bool = False,
        *,
        groupby: Any = None,
        mask: Optional[MaskLike] = None,
        memory: Any = None,
        memory_level: int = 0,
        generate_description: bool = True,
        **kwargs: Any,
    ) -> None:
        self._setup(dict(locals_(locals()), **kwargs))


@_doc
class Hedges(_Regression):
    """Random effects with Hedges' estimate of tau^2 (NiMARE ``Hedges``).

    Parameters
    ----------
    {regression}
    {common}

    Notes
    -----
    Requires ``beta`` (con) and ``varcope`` images. Maps as :class:`DerSimonianLaird`.
    """

    _command = "hedges"

    def __init__(
        self,
        weight_scheme: str = "rescale",
        rho: float = 0.8,
        small_sample_correction: Optional[str] = None,
        aggressive_mask: bool = False,
        *,
        groupby: Any = None,
        mask: Optional[MaskLike] = None,
        memory: Any = None,
        memory_level: int = 0,
        generate_description: bool = True,
        **kwargs: Any,
    ) -> None:
        self._setup(dict(locals_(locals()), **kwargs))


@_doc
class SampleSizeBasedLikelihood(_Regression):
    """Random effects by maximum likelihood from con maps and sample sizes (NiMARE
    ``SampleSizeBasedLikelihood``).

    Parameters
    ----------
    method : {{'ml', 'reml'}}, optional
        Maximum or restricted maximum likelihood. Default is 'ml'.
    {regression}
    {common}

    Notes
    -----
    Requires ``beta`` (con) images and sample sizes. Maps: "est", "se", "tau2", "sigma2",
    {maps_test} and the heterogeneity maps. Where all studies of a bag share one sample size,
    tau^2 and sigma^2 cannot be told apart: those voxels are NaN, with a warning (NiMARE fails
    the whole fit; ``nimare_strict=True`` does that too).
    """

    _command = "sample-size-based-likelihood"

    def __init__(
        self,
        method: str = "ml",
        weight_scheme: str = "rescale",
        rho: float = 0.8,
        small_sample_correction: Optional[str] = None,
        aggressive_mask: bool = False,
        *,
        groupby: Any = None,
        mask: Optional[MaskLike] = None,
        memory: Any = None,
        memory_level: int = 0,
        generate_description: bool = True,
        **kwargs: Any,
    ) -> None:
        self._setup(dict(locals_(locals()), **kwargs))


@_doc
class VarianceBasedLikelihood(_Regression):
    """Random effects by maximum likelihood from con and varcope maps (NiMARE
    ``VarianceBasedLikelihood``).

    Parameters
    ----------
    method : {{'ml', 'reml'}}, optional
        Maximum or restricted maximum likelihood. Default is 'ml'.
    {regression}
    {common}

    Notes
    -----
    Requires ``beta`` (con) and ``varcope`` images. Maps as :class:`DerSimonianLaird`.
    """

    _command = "variance-based-likelihood"

    def __init__(
        self,
        method: str = "ml",
        weight_scheme: str = "rescale",
        rho: float = 0.8,
        small_sample_correction: Optional[str] = None,
        aggressive_mask: bool = False,
        *,
        groupby: Any = None,
        mask: Optional[MaskLike] = None,
        memory: Any = None,
        memory_level: int = 0,
        generate_description: bool = True,
        **kwargs: Any,
    ) -> None:
        self._setup(dict(locals_(locals()), **kwargs))


@_doc
class PermutedOLS(Estimator):
    """The one-sample t-test of the con maps, with a sign-flip null (NiMARE ``PermutedOLS``).

    Parameters
    ----------
    {two_sided}
    use_sample_size : :obj:`bool`, optional
        Weight each study by its sample size (the CR2 statistic with Satterthwaite degrees of
        freedom). Default is False.
    n_jobs : :obj:`int`, optional
        Accepted for NiMARE compatibility (the fit runs on every core; the permutations on
        ``FWECorrector(n_cores=...)``). Default is 1.
    random_state : :obj:`int` or None, optional
        Seed of the sign flips of ``FWECorrector(method="montecarlo")`` (NiMARE's MT19937
        stream, so the flips and the FWE maps are NiMARE's). None draws a fresh seed.
        Default is 42.
    {common}

    Notes
    -----
    Requires ``beta`` (con) images. Maps: "t", {maps_test}.
    """

    _command = "permuted-ols"
    _python_defaults = dict(Estimator._python_defaults, n_jobs=1, random_state=42)

    def __init__(
        self,
        two_sided: bool = True,
        use_sample_size: bool = False,
        n_jobs: int = 1,
        random_state: Optional[int] = 42,
        aggressive_mask: bool = False,
        *,
        groupby: Any = None,
        mask: Optional[MaskLike] = None,
        memory: Any = None,
        memory_level: int = 0,
        generate_description: bool = True,
        **kwargs: Any,
    ) -> None:
        self._setup(dict(locals_(locals()), **kwargs))


@_doc
class FixedEffectsHedges(_Regression):
    """Fixed effects on Hedges' g from t maps and sample sizes (NiMARE ``FixedEffectsHedges``).

    Parameters
    ----------
    tau2 : :obj:`float`, optional
        The between-study variance, fixed. Default is 0.
    {regression}
    {common}

    Notes
    -----
    Requires ``t`` images and sample sizes (each above 3). Maps: "est" (g), "se", {maps_test}
    and the heterogeneity maps.
    """

    _command = "fixed-effects-hedges"

    def __init__(
        self,
        tau2: float = 0,
        weight_scheme: str = "rescale",
        rho: float = 0.8,
        small_sample_correction: Optional[str] = None,
        aggressive_mask: bool = False,
        *,
        groupby: Any = None,
        mask: Optional[MaskLike] = None,
        memory: Any = None,
        memory_level: int = 0,
        generate_description: bool = True,
        **kwargs: Any,
    ) -> None:
        self._setup(dict(locals_(locals()), **kwargs))


_SEED_COMMON = """aggressive_mask : :obj:`bool`, optional
        Keep only voxels where every study has a usable value. Default is False.
    mask : :obj:`str`, path or nibabel image, optional
        Analysis mask, overriding the dataset's.
    generate_description : :obj:`bool`, optional
        Whether the result gets a methods description. Default is True.
    **kwargs
        The estimator's other parameters (``ibma estimators NAME`` on the command line lists
        them with their defaults)."""


class _Seed(Estimator):
    """The seed-era NiMARE 0.0.1 estimators ibma keeps (no dependence arguments)."""

    _python_defaults = {"mask": None, "memory": None, "memory_level": 0, "generate_description": True}


class FFX_GLM(_Seed):  # noqa: N801 (NiMARE's class name)
    __doc__ = f"""Fixed-effects GLM (NiMARE 0.0.1's ``FFX_GLM``, FSL flameo's ``fe``), with GRF
    cluster inference, natively.

    Parameters
    ----------
    cdt : :obj:`float`, optional
        Cluster-defining threshold: a p in (0, 1), or a z above 1. Default is 0.01.
    q : :obj:`float`, optional
        Cluster-level family-wise error rate of the GRF clusters. Default is 0.05.
    two_sided : :obj:`bool`, optional
        Two-sided GRF clusters (True, the default) or the upper tail only.
    {_SEED_COMMON}

    Notes
    -----
    Requires ``beta`` (con) and ``varcope`` images and sample sizes. Maps: "est", "se",
    "varcope", "t", "z", "p", "logp", "dof", the heterogeneity maps and the GRF cluster maps;
    the table "clusters".
    """

    _command = "ffx-glm"

    def __init__(
        self,
        cdt: float = 0.01,
        q: float = 0.05,
        two_sided: bool = True,
        aggressive_mask: bool = False,
        *,
        mask: Optional[MaskLike] = None,
        memory: Any = None,
        memory_level: int = 0,
        generate_description: bool = True,
        **kwargs: Any,
    ) -> None:
        self._setup(dict(locals_(locals()), **kwargs))


class MFX_GLM(_Seed):  # noqa: N801 (NiMARE's class name)
    __doc__ = f"""Mixed-effects GLM (NiMARE 0.0.1's ``MFX_GLM``, FSL flameo's FLAME1), with GRF
    cluster inference, natively: no FSL needed.

    Parameters
    ----------
    cdt : :obj:`float`, optional
        Cluster-defining threshold: a p in (0, 1), or a z above 1. Default is 0.01.
    q : :obj:`float`, optional
        Cluster-level family-wise error rate of the GRF clusters. Default is 0.05.
    two_sided : :obj:`bool`, optional
        Two-sided GRF clusters (True, the default) or the upper tail only.
    {_SEED_COMMON}

    Notes
    -----
    Requires ``beta`` (con) and ``varcope`` images. Maps as :class:`FFX_GLM` plus "tau2".
    ``groups`` (a label covariate) fits one mean and one tau^2 per level.
    """

    _command = "mfx-glm"

    def __init__(
        self,
        cdt: float = 0.01,
        q: float = 0.05,
        two_sided: bool = True,
        aggressive_mask: bool = False,
        *,
        mask: Optional[MaskLike] = None,
        memory: Any = None,
        memory_level: int = 0,
        generate_description: bool = True,
        **kwargs: Any,
    ) -> None:
        self._setup(dict(locals_(locals()), **kwargs))


class RFX_GLM(_Seed):  # noqa: N801 (NiMARE's class name)
    __doc__ = f"""Random-effects GLM: the one-sample t-test of the con maps (NiMARE 0.0.1's
    ``RFX_GLM``).

    Parameters
    ----------
    null : {{'theoretical', 'empirical'}}, optional
        Refer t to Student's t (default) or to a voxelwise sign-flip null.
    n_iters : :obj:`int` or None, optional
        Sign flips of the empirical null. None keeps the default, 5000.
    two_sided : :obj:`bool`, optional
        Two-sided test (True, the default) or the upper tail only.
    {_SEED_COMMON}

    Notes
    -----
    Requires ``beta`` (con) images. Maps: "est", "se", "t", "z", "p", "logp", "dof".
    """

    _command = "rfx-glm"

    def __init__(
        self,
        null: str = "theoretical",
        n_iters: Optional[int] = None,
        two_sided: bool = True,
        aggressive_mask: bool = False,
        *,
        mask: Optional[MaskLike] = None,
        memory: Any = None,
        memory_level: int = 0,
        generate_description: bool = True,
        **kwargs: Any,
    ) -> None:
        self._setup(dict(locals_(locals()), **kwargs))


class WeightedStouffers(_Seed):
    __doc__ = f"""Stouffer's combination weighted by the square root of the sample sizes
    (NiMARE 0.0.1's ``WeightedStouffers``; NiMARE 0.22.1's ``Stouffers(use_sample_size=True)``).

    Parameters
    ----------
    two_sided : :obj:`bool`, optional
        Two-sided test (True, the default) or the upper tail only.
    {_SEED_COMMON}

    Notes
    -----
    Requires ``z`` images and sample sizes. Maps: "z", "p", "logp", "dof".
    """

    _command = "weighted-stouffers"

    def __init__(
        self,
        two_sided: bool = True,
        aggressive_mask: bool = False,
        *,
        mask: Optional[MaskLike] = None,
        memory: Any = None,
        memory_level: int = 0,
        generate_description: bool = True,
        **kwargs: Any,
    ) -> None:
        self._setup(dict(locals_(locals()), **kwargs))


def locals_(frame: Dict[str, Any]) -> Dict[str, Any]:
    """A constructor's arguments from its ``locals()``: all but ``self`` and ``kwargs``."""
    return {k: v for k, v in frame.items() if k not in ("self", "kwargs", "__class__")}


#: Python class of each library command name.
_CLASSES: Dict[str, Type[Estimator]] = {
    cls._command: cls
    for cls in (
        Fishers,
        Stouffers,
        WeightedLeastSquares,
        DerSimonianLaird,
        Hedges,
        SampleSizeBasedLikelihood,
        VarianceBasedLikelihood,
        PermutedOLS,
        FixedEffectsHedges,
        FFX_GLM,
        MFX_GLM,
        RFX_GLM,
        WeightedStouffers,
    )
}
