"""Estimators with NiMARE 0.22.1's class names, keyword arguments and defaults.

Each class stands for one estimator of the ibma library's catalogue, and its keyword arguments
are generated from the library's parameter table (``ibma::params``: the table ``ibma
estimators`` prints and ``--set`` reads): the names, defaults, accepted values and error
messages are the library's, in NiMARE's order where NiMARE has them. A class declares only what
the table cannot know: NiMARE's positional arguments, its summary and notes. NiMARE's arguments
with no counterpart in the library (``mask``, ``memory``, ...) are kept in Python.
"""

from __future__ import annotations

import inspect
import json
import os
import textwrap
import warnings
from typing import Any, ClassVar, Dict, List, Optional, Tuple, Type, TypeVar, Union

import numpy as np

from . import _ibma, _registry
from ._nimare import dataset_json, is_nimare_dataset, nimare_mask
from .inputs import Inputs, native_mask
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

#: NiMARE's default for a library parameter whose NiMARE default is None: the estimator's own
#: correction, study grouping, no design.
_NONE_DEFAULT = ("small_sample_correction", "groupby", "moderators", "contrast", "groups")

#: NiMARE's values of the library's ``groupby``: study groups, no groups.
_GROUPBY_NIMARE = {"study": None, "none": False}

#: NiMARE's arguments kept in Python (no library field), with their defaults and descriptions.
_PYTHON_PARAMS: Dict[str, Tuple[Any, str, str]] = {
    "mask": (
        None,
        ":obj:`str`, path or nibabel image",
        "Analysis mask, overriding the dataset's (NiMARE's dataset JSON carries none; without one "
        "the mask is every voxel some study has data in).",
    ),
    "memory": (None, "object", "Accepted for NiMARE compatibility; ibma caches nothing."),
    "memory_level": (0, ":obj:`int`", "Accepted for NiMARE compatibility."),
    "generate_description": (True, ":obj:`bool`", "Whether the result gets a methods description."),
    "n_jobs": (
        1,
        ":obj:`int`",
        "Accepted for NiMARE compatibility (the fit runs on every core; the permutations on "
        "``FWECorrector(n_cores=...)``).",
    ),
    "random_state": (
        42,
        ":obj:`int` or None",
        "Seed of the sign flips of ``FWECorrector(method=\"montecarlo\")`` (NiMARE's MT19937 "
        "stream, so the flips and the FWE maps are NiMARE's). None draws a fresh seed.",
    ),
}

#: NiMARE's words for the library parameters whose NiMARE values differ from the command line's.
_NIMARE_DOCS = {
    "groupby": (
        "None, :obj:`str`, array-like or False",
        "Which images are dependent (share participants). None (the default) groups by study, "
        "a :obj:`str` names a covariate (metadata field) to group by, an array gives one label per "
        "image, False treats every image as independent (which inflates significance when they "
        "share a study). See ``docs/dependence.md``.",
    ),
    "small_sample_correction": (
        "None or {'knapp-hartung', 'knapp-hartung-conservative', 'wald'}",
        "Inference on the pooled estimate. None (the default) keeps the estimator's own: "
        "Knapp-Hartung where tau^2 is estimated, Wald where it is given. With dependence groups "
        "CR2 replaces it.",
    ),
    "groups": (
        "None or :obj:`str`",
        "A label covariate: one mean and one between-study variance per level.",
    ),
    "moderators": (
        "None, :obj:`str` or list of :obj:`str`",
        "Covariate names for a meta-regression on study covariates (intercept kept).",
    ),
    "contrast": (
        "None, :obj:`str` or array-like",
        "Weights per design column, rows giving an F test; None tests the intercept.",
    ),
}


class Estimator:
    """Base class of ibma's estimators: NiMARE's ``Estimator`` interface.

    Parameters are keyword arguments of the constructor, read back by :meth:`get_params` and
    changed by :meth:`set_params`. :meth:`fit` takes a dataset and returns a
    :class:`~ibma.MetaResult`.
    """

    #: The library's command name of the estimator.
    _command: ClassVar[str] = ""
    #: NiMARE's positional arguments, in its order (the rest are keyword-only).
    _positional: ClassVar[Tuple[str, ...]] = ()
    #: NiMARE arguments kept in Python (no library field).
    _python_params: ClassVar[Tuple[str, ...]] = ("mask", "memory", "memory_level", "generate_description")
    #: The library's parameters of a new estimator (NiMARE's defaults), in its order.
    _library_defaults: ClassVar[Dict[str, Any]] = {}

    _native: "_ibma.NativeEstimator"
    _python: Dict[str, Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        bound = inspect.signature(type(self)).bind(*args, **kwargs)
        params = dict(bound.arguments)
        params.update(params.pop("kwargs", {}))
        object.__setattr__(self, "_native", _ibma.NativeEstimator(self._command))
        object.__setattr__(self, "_python", {k: _PYTHON_PARAMS[k][0] for k in self._python_params})
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
            elif value is None and key in self._library_defaults:
                # NiMARE's None: the default (the estimator's own correction, study groups, ...).
                native.set_json(key, json.dumps(self._library_defaults[key]))
            else:
                native.set_json(key, json.dumps(_library_value(key, value)))
        native.validate()
        object.__setattr__(self, "_native", native)
        object.__setattr__(self, "_python", python)

    @classmethod
    def _from_native(cls: Type[E], native: "_ibma.NativeEstimator", python: Optional[Dict[str, Any]] = None) -> E:
        """An instance holding a copy of ``native`` (an estimator of this class's kind) and the
        arguments of ``python`` this class keeps in Python (the others at their defaults).
        ``_registry.wrap`` picks the class by the native estimator's name."""
        assert native.name == cls._command, f"{cls.__name__} cannot hold a {native.name}"
        est = cls.__new__(cls)
        object.__setattr__(est, "_native", native.copy())
        values = {k: _PYTHON_PARAMS[k][0] for k in cls._python_params}
        values.update({k: v for k, v in (python or {}).items() if k in values})
        object.__setattr__(est, "_python", values)
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
            Parameter names (NiMARE's) mapped to their values; ``groupby`` as NiMARE writes it
            (None for study groups, False for none).
        """
        params = dict(json.loads(self._native.params_json()))
        groupby = params.get("groupby")
        if isinstance(groupby, str) and groupby in _GROUPBY_NIMARE:
            params["groupby"] = _GROUPBY_NIMARE[groupby]
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
        return _registry.wrap(self._native, self._python)

    def save(self, filename: Union[str, "os.PathLike[str]"], compress: bool = True) -> None:
        """Save the estimator's parameters to a file (ibma's saved format, gzip-compressed JSON).

        The library's parameters are stored; ``mask``, ``random_state`` and the other
        arguments kept in Python are not, and load with their defaults.

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
        est = _registry.wrap(_ibma.NativeEstimator.load(os.fspath(filename), compressed))
        if not isinstance(est, cls):
            raise OSError(f"{os.fspath(filename)}: holds a {type(est).__name__}, not a {cls.__name__}")
        return est

    def fit(self, dataset: DatasetLike, drop_invalid: bool = True) -> MetaResult:
        """Fit the estimator to a dataset.

        Parameters
        ----------
        dataset : path, :class:`~ibma.Inputs` or NiMARE ``Dataset``
            An ibma-dataset folder or its ``dataset.json``; NiMARE's dataset JSON or a NIMADS
            studyset (give ``mask`` to the estimator, or the union of the studies' data is the
            mask); a NiMARE ``Dataset`` object (read through its ``images`` and ``metadata``
            tables and its masker's mask); or :class:`~ibma.Inputs` (arrays in memory).
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
        mask = self._python["mask"]
        if isinstance(dataset, Inputs):
            if mask is not None:
                raise ValueError("Inputs carry their own mask: give it to Inputs(mask=...), not to the estimator")
            fitted = _ibma.fit_inputs(native, dataset._native, drop_invalid, None)
        elif isinstance(dataset, (str, os.PathLike)):
            mask = native_mask(mask) if mask is not None else None
            fitted = _ibma.fit_path(native, os.fspath(dataset), None, mask, drop_invalid, None)
        elif is_nimare_dataset(dataset):
            mask = native_mask(mask if mask is not None else nimare_mask(dataset))
            fitted = _ibma.fit_path(native, None, dataset_json(dataset), mask, drop_invalid, None)
        else:
            raise TypeError(
                f"{type(self).__name__}.fit: expected a dataset path, ibma.Inputs or a NiMARE Dataset, "
                f"not {type(dataset).__name__}"
            )
        return _fitted(fitted, _registry.wrap(fitted.estimator(), self._python))


def _fitted(native: "_ibma.NativeResult", estimator: Estimator) -> MetaResult:
    """A new fit's result, with its warnings issued and its description written."""
    for w in native.warnings:
        warnings.warn(w, UserWarning, stacklevel=3)
    description = _describe(native, estimator) if estimator.get_params().get("generate_description", True) else ""
    return MetaResult(native, estimator, description)


def _describe(native: "_ibma.NativeResult", estimator: Estimator) -> str:
    """A methods sentence for a fit."""
    name = type(estimator).__name__
    defaults = type(estimator)().get_params()
    changed = [f"{k}={v!r}" for k, v in estimator.get_params().items() if defaults.get(k) != v and k != "mask"]
    settings = f" with {', '.join(changed)}" if changed else ""
    return (
        f"An image-based meta-analysis of {len(native.studies)} studies was performed with ibma "
        f"{_ibma.__version__} ({name}{settings}), which reproduces the estimators of NiMARE 0.22.1."
    )


def _check_python_param(key: str, value: Any) -> Any:
    """Check a value of an argument kept in Python."""
    if key == "generate_description":
        return bool(value)
    if key == "random_state":
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < 2**32):
            raise ValueError(f"Invalid random_state {value!r}; must be None or an integer in [0, 2**32).")
        return None if value is None else int(value)
    return value


def _library_value(key: str, value: Any) -> Any:
    """A keyword argument's value as the JSON value the library's field reads."""
    if isinstance(value, np.ndarray) and key != "contrast":
        value = value.tolist()
    if isinstance(value, np.generic):
        value = value.item()
    if key == "moderators" and isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if key == "contrast" and isinstance(value, (list, tuple, np.ndarray)):
        rows = np.atleast_2d(np.asarray(value, dtype=float))
        return "; ".join(" ".join(repr(float(x)) for x in row) for row in rows)
    if key == "groupby" and isinstance(value, (list, tuple)):
        return [v.item() if isinstance(v, np.generic) else v for v in value]
    return value


# Signatures and docstrings, generated from the library's parameter table.

_HELP = {name: (choices, text) for name, choices, text in _ibma.NativeEstimator.help()}


def _nimare_default(key: str, value: Any) -> Any:
    """The default NiMARE writes in a signature for a library parameter's default."""
    return None if key in _NONE_DEFAULT else value


def _type_of(key: str, default: Any) -> str:
    """A numpydoc type for a library parameter, from its default and accepted values."""
    choices = _HELP.get(key, ("", ""))[0]
    if isinstance(default, bool):
        return ":obj:`bool`"
    if isinstance(default, int):
        return ":obj:`int`"
    if isinstance(default, float):
        return ":obj:`float`"
    if "|" in choices and " " not in choices:
        return "{" + ", ".join(repr(c) for c in choices.split("|")) + "}"
    return ":obj:`str`"


def _describe_param(key: str, kind: str, text: str, default: Any) -> str:
    """One numpydoc entry, its description wrapped."""
    body = textwrap.fill(f"{text} Default is {default!r}.", width=92, subsequent_indent=" " * 8)
    return f"{key} : {kind}, optional\n        {body}"


def _library_param_doc(key: str, default: Any) -> str:
    """The entry of a library parameter: NiMARE's words where they differ, else the table's."""
    if key in _NIMARE_DOCS:
        return _describe_param(key, _NIMARE_DOCS[key][0], _NIMARE_DOCS[key][1], _nimare_default(key, default))
    choices, text = _HELP.get(key, ("", "ibma's own parameter"))
    if len(text) > 1 and text[1].isalpha():
        text = text[0].upper() + text[1:]
    kind = _type_of(key, default)
    if choices and not isinstance(default, bool) and not kind.startswith("{"):
        text = f"{text} ({choices})"
    return _describe_param(key, kind, text + ".", _nimare_default(key, default))


def _finish(cls: Type[E]) -> Type[E]:
    """Give an estimator class its signature (NiMARE's positional arguments, then every other
    library parameter and NiMARE's Python-side arguments as keywords) and the parameter table
    of its docstring, from the library's table; register it as its estimator's class."""
    defaults = dict(json.loads(_ibma.NativeEstimator(cls._command).params_json()))
    cls._library_defaults = defaults
    P = inspect.Parameter

    def default(key: str) -> Any:
        return _PYTHON_PARAMS[key][0] if key in _PYTHON_PARAMS else _nimare_default(key, defaults[key])

    missing = [k for k in cls._positional if k not in defaults and k not in cls._python_params]
    assert not missing, f"{cls.__name__}: positional arguments {missing} are not parameters"
    keyword = [k for k in defaults if k not in cls._positional]
    keyword += [k for k in cls._python_params if k not in cls._positional]
    params = [P(k, P.POSITIONAL_OR_KEYWORD, default=default(k)) for k in cls._positional]
    params += [P(k, P.KEYWORD_ONLY, default=default(k)) for k in keyword]
    params.append(P("kwargs", P.VAR_KEYWORD))
    cls.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]

    docs = []
    for key in list(cls._positional) + keyword:
        if key in _PYTHON_PARAMS:
            value, kind, text = _PYTHON_PARAMS[key]
            docs.append(_describe_param(key, kind, text, value))
        else:
            docs.append(_library_param_doc(key, defaults[key]))
    docs.append(
        "**kwargs\n        NiMARE's ``resample__interpolation`` (``resample``); ``ibma estimators`` on the\n"
        "        command line lists every parameter."
    )
    summary, _, notes = (cls.__doc__ or "").partition("\n\n")
    table = "\n    ".join(docs)
    cls.__doc__ = f"{summary}\n\n    Parameters\n    ----------\n    {table}\n\n    Notes\n    -----\n    {notes.strip()}\n"
    return _registry.register(cls)


class _Regression(Estimator):
    """The PyMARE-backed estimators of NiMARE."""


@_finish
class Fishers(Estimator):
    """Fisher's combination of the studies' z maps (NiMARE ``Fishers``).

    Requires ``z`` images (derived from t and a sample size, or from con and se/varcope, in an
    ibma-dataset), and sample sizes when weighted. Maps: "z", "p", "logp", "dof". With
    dependence groups, Brown's scaled chi-squared with the images' null correlation.
    """

    _command = "fishers"
    _positional = ("two_sided", "use_sample_size")


@_finish
class Stouffers(Estimator):
    """Stouffer's combination of the studies' z maps (NiMARE ``Stouffers``).

    Requires ``z`` images, and sample sizes when weighted. Maps: "z", "p", "logp", "dof".
    With dependence groups, one variance-standardised z per group, then Stouffer over groups.
    ibma's seed-era options (``inference="rfx"``, ``null="empirical"``) are keywords too.
    """

    _command = "stouffers"
    _positional = ("use_sample_size", "two_sided")


@_finish
class WeightedLeastSquares(_Regression):
    """Weighted least squares with a fixed between-study variance (NiMARE ``WeightedLeastSquares``).

    Requires ``beta`` (con) and ``varcope`` images. Maps: "est", "se", "z", "p", "logp", "dof"
    and the heterogeneity maps "q", "q_p", "q_logp", "i2", "h" (without dependence groups).
    """

    _command = "weighted-least-squares"
    _positional = ("tau2",)


@_finish
class DerSimonianLaird(_Regression):
    """Random effects with the DerSimonian-Laird estimate of tau^2 (NiMARE ``DerSimonianLaird``).

    Requires ``beta`` (con) and ``varcope`` images. Maps: "est", "se", "tau2", "z", "p", "logp",
    "dof" and the heterogeneity maps "q", "q_p", "q_logp", "i2", "h" (without dependence groups).
    """

    _command = "dersimonian-laird"


@_finish
class Hedges(_Regression):
    """Random effects with Hedges' estimate of tau^2 (NiMARE ``Hedges``).

    Requires ``beta`` (con) and ``varcope`` images. Maps as :class:`DerSimonianLaird`.
    """

    _command = "hedges"


@_finish
class SampleSizeBasedLikelihood(_Regression):
    """Random effects by maximum likelihood from con maps and sample sizes (NiMARE
    ``SampleSizeBasedLikelihood``).

    Requires ``beta`` (con) images and sample sizes. Maps: "est", "se", "tau2", "sigma2", "z",
    "p", "logp", "dof" and the heterogeneity maps. Where all studies of a bag share one sample
    size, tau^2 and sigma^2 cannot be told apart: those voxels are NaN, with a warning (NiMARE
    fails the whole fit; ``nimare_strict=True`` does that too).
    """

    _command = "sample-size-based-likelihood"
    _positional = ("method",)


@_finish
class VarianceBasedLikelihood(_Regression):
    """Random effects by maximum likelihood from con and varcope maps (NiMARE
    ``VarianceBasedLikelihood``).

    Requires ``beta`` (con) and ``varcope`` images. Maps as :class:`DerSimonianLaird`.
    """

    _command = "variance-based-likelihood"
    _positional = ("method",)


@_finish
class PermutedOLS(Estimator):
    """The one-sample t-test of the con maps, with a sign-flip null (NiMARE ``PermutedOLS``).

    Requires ``beta`` (con) images. Maps: "t", "z", "p", "logp", "dof". With dependence groups,
    the t over group means, and ``FWECorrector(method="montecarlo")`` flips whole groups.
    """

    _command = "permuted-ols"
    _positional = ("two_sided", "use_sample_size", "n_jobs", "random_state")
    _python_params = Estimator._python_params + ("n_jobs", "random_state")


@_finish
class FixedEffectsHedges(_Regression):
    """Fixed effects on Hedges' g from t maps and sample sizes (NiMARE ``FixedEffectsHedges``).

    Requires ``t`` images and sample sizes (each above 3). Maps: "est" (g), "se", "z", "p",
    "logp", "dof" and the heterogeneity maps.
    """

    _command = "fixed-effects-hedges"
    _positional = ("tau2",)


@_finish
class FFX_GLM(Estimator):  # noqa: N801 (NiMARE's class name)
    """Fixed-effects GLM (NiMARE 0.0.1's ``FFX_GLM``, FSL flameo's ``fe``), with GRF cluster
    inference, natively.

    Requires ``beta`` (con) and ``varcope`` images; sample sizes give the DOF (without them,
    flameo's 1000 DOF, with a warning). Maps: "est", "se", "varcope", "t", "z", "p", "logp",
    "dof", the heterogeneity maps and the GRF cluster maps; the table "clusters". Refuses
    dependent images (``groupby=False`` treats them as independent).
    """

    _command = "ffx-glm"
    _positional = ("cdt", "q", "two_sided")


@_finish
class MFX_GLM(Estimator):  # noqa: N801 (NiMARE's class name)
    """Mixed-effects GLM (NiMARE 0.0.1's ``MFX_GLM``, FSL flameo's FLAME1), with GRF cluster
    inference, natively: no FSL needed.

    Requires ``beta`` (con) and ``varcope`` images. Maps as :class:`FFX_GLM` plus "tau2".
    ``groups`` (a label covariate) fits one mean and one tau^2 per level. One-sample
    Monte-Carlo FWE runs through FLAME1's sign-flip kernel. Refuses dependent images.
    """

    _command = "mfx-glm"
    _positional = ("cdt", "q", "two_sided")


@_finish
class RFX_GLM(Estimator):  # noqa: N801 (NiMARE's class name)
    """Random-effects GLM: the one-sample t-test of the con maps (NiMARE 0.0.1's ``RFX_GLM``).

    Requires ``beta`` (con) images. Maps: "est", "se", "t", "z", "p", "logp", "dof". Refuses
    dependent images.
    """

    _command = "rfx-glm"
    _positional = ("null", "n_iters", "two_sided")


@_finish
class WeightedStouffers(Estimator):
    """Stouffer's combination weighted by the square root of the sample sizes (NiMARE 0.0.1's
    ``WeightedStouffers``; NiMARE 0.22.1's ``Stouffers(use_sample_size=True)``).

    Requires ``z`` images and sample sizes. Maps: "z", "p", "logp", "dof".
    """

    _command = "weighted-stouffers"
    _positional = ("two_sided",)


assert sorted(_registry.CLASSES) == sorted(c for c, _, _ in _ibma.NativeEstimator.catalogue()), "a catalogue entry lacks a class"


#: The part of ``estimators.pyi`` that is not generated: the base class.
_STUB_HEADER = '''"""Type stubs of ibma.estimators, generated from the classes' signatures (test_api checks):
python -c "import ibma.estimators as e; print(e.signature_stub(), end='')" > estimators.pyi
"""

import os
from typing import Any, Dict, Optional, Sequence, Type, TypeVar, Union

from .inputs import Inputs, MaskLike
from .results import MetaResult

E = TypeVar("E", bound="Estimator")
DatasetLike = Union[str, "os.PathLike[str]", Inputs, Any]

class Estimator:
    def get_params(self, deep: bool = True) -> Dict[str, Any]: ...
    def set_params(self: E, **params: Any) -> E: ...
    def copy(self: E) -> E: ...
    def save(self, filename: Union[str, "os.PathLike[str]"], compress: bool = True) -> None: ...
    @classmethod
    def load(cls: Type[E], filename: Union[str, "os.PathLike[str]"], compressed: bool = True) -> E: ...
    def fit(self, dataset: DatasetLike, drop_invalid: bool = True) -> MetaResult: ...
    def __getattr__(self, name: str) -> Any: ...

class _Regression(Estimator): ...
'''


def signature_stub() -> str:
    """The text of ``estimators.pyi``: the base class, and each class's generated signature
    (type checkers cannot see a signature made at import time)."""
    lines = [_STUB_HEADER]
    for name in __all__[1:]:
        cls = globals()[name]
        args = ["self,"]
        for p in inspect.signature(cls).parameters.values():
            if p.kind is p.VAR_KEYWORD:
                args.append("**kwargs: Any,")
                continue
            if p.kind is p.KEYWORD_ONLY and "*," not in args:
                args.append("*,")
            args.append(f"{p.name}: {_annotation(p.name, p.default)} = {p.default!r},")
        lines.append(f"class {name}({cls.__mro__[1].__name__}):")
        lines.append("    def __init__(")
        lines.extend(f"        {a}" for a in args)
        lines.append("    ) -> None: ...\n")
    return "\n".join(lines)


def _annotation(key: str, default: Any) -> str:
    """The stub's type of a keyword argument."""
    special = {
        "groupby": "Union[None, bool, str, Sequence[Any]]",
        "memory": "Any",
        "mask": "Optional[MaskLike]",
        "random_state": "Optional[int]",
        "small_sample_correction": "Optional[str]",
        "moderators": "Union[None, str, Sequence[str]]",
        "contrast": "Union[None, str, Sequence[float], Sequence[Sequence[float]]]",
        "groups": "Optional[str]",
    }
    return special.get(key, type(default).__name__)

