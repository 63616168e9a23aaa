"""Studies' maps held in memory: NumPy arrays or nibabel images over an analysis mask."""

from __future__ import annotations

import os
from typing import Any, Dict, Mapping, Optional, Sequence, Union

import numpy as np

from . import _ibma

__all__ = ["Inputs", "MaskLike"]

#: An analysis mask: a NIfTI file, or a nibabel image (3-D, or 4-D with one volume).
MaskLike = Union[str, "os.PathLike[str]", Any]

#: The map types a study can have, in the library's names (NiMARE's ``beta`` is ``con``).
MAP_TYPES = ("con", "se", "varcope", "t", "z")


def _is_image(obj: Any) -> bool:
    """True for a nibabel spatial image (read duck-typed: its data and affine)."""
    return hasattr(obj, "dataobj") and hasattr(obj, "affine")


def native_mask(mask: MaskLike) -> "_ibma.NativeMask":
    """The library's mask for a file path or a nibabel image (non-zero, non-NaN voxels)."""
    if isinstance(mask, _ibma.NativeMask):
        return mask
    if isinstance(mask, (str, os.PathLike)):
        return _ibma.NativeMask.read(os.fspath(mask))
    if _is_image(mask):
        data = np.asarray(mask.dataobj, dtype=np.float64)
        while data.ndim > 3 and data.shape[-1] == 1:
            data = data[..., 0]
        if data.ndim != 3:
            raise ValueError(f"mask: a 3-D image was expected, got shape {data.shape}")
        return _ibma.NativeMask.from_array(np.ascontiguousarray(data), np.asarray(mask.affine, dtype=np.float64))
    raise TypeError(f"mask: expected a NIfTI path or a nibabel image, not {type(mask).__name__}")


class Inputs:
    """Studies' maps in memory, for :meth:`Estimator.fit <ibma.estimators.Estimator.fit>`.

    Each map type is given for every study: as an array of shape (studies, in-mask voxels)
    whose columns follow the mask's voxels in C order (as nilearn's ``NiftiMasker`` and
    NiMARE order them), or as a 4-D image or array (x, y, z, studies) on the mask's grid. Values
    are used as float32, as every input is; 0 or NaN marks "no data" (NiMARE's rule; a varcope
    must also be above 1/sqrt(float32 max)).

    Parameters
    ----------
    con, se, varcope, t, z : array-like or nibabel image, optional
        Contrast estimates (NiMARE's ``beta``), their standard errors, sampling variances,
        t and z statistics. Give at least one; what an estimator needs and lacks is derived
        where possible (varcope = se^2, t = con / se, z from t with the sample size, ...),
        from the float32 values (a dataset folder derives from its files' stored precision,
        so where they hold float64 a derived map can differ in its last float32 bit).
    sample_sizes : sequence of :obj:`float` or None, optional
        One per study (None where unknown).
    mask : :obj:`str`, path or nibabel image
        The analysis mask: its non-zero voxels.
    ids : sequence of :obj:`str`, optional
        Study ids, unique. Default: "study-1", "study-2", ...
    covariates : mapping of :obj:`str` to sequence, optional
        Covariates for meta-regression (``moderators=``) or grouping (``groupby=``): one number
        or label per image.
    study_ids : sequence of :obj:`str` or None, optional
        The study each image comes from (NiMARE's ``study_id``), when a study has several
        images: they are then dependent (the estimators' ``groupby=None`` groups them). Default:
        every image is a study of its own.
    """

    def __init__(
        self,
        con: Any = None,
        varcope: Any = None,
        se: Any = None,
        z: Any = None,
        t: Any = None,
        sample_sizes: Optional[Sequence[Optional[float]]] = None,
        mask: Optional[MaskLike] = None,
        ids: Optional[Sequence[str]] = None,
        covariates: Optional[Mapping[str, Sequence[Any]]] = None,
        study_ids: Optional[Sequence[Optional[str]]] = None,
    ) -> None:
        if mask is None:
            raise ValueError("Inputs: mask is required (a NIfTI path or a nibabel image)")
        self.mask = native_mask(mask)
        given = {"con": con, "se": se, "varcope": varcope, "t": t, "z": z}
        maps: Dict[str, np.ndarray] = {}
        for name in MAP_TYPES:
            if given[name] is not None:
                maps[name] = self._masked(name, given[name])
        if not maps:
            raise ValueError("Inputs: give at least one map type (con, varcope, se, z or t)")
        n = next(iter(maps.values())).shape[0]
        if ids is None:
            ids = [f"study-{k + 1}" for k in range(n)]
        sizes = [] if sample_sizes is None else [None if s is None else float(s) for s in sample_sizes]
        covs = [(name, [_covariate(v) for v in values]) for name, values in (covariates or {}).items()]
        studies = [] if study_ids is None else [None if s is None else str(s) for s in study_ids]
        self._native = _ibma.NativeInputs(self.mask, list(ids), list(maps.items()), sizes, covs, studies)

    def _masked(self, name: str, value: Any) -> np.ndarray:
        """A map type as a (studies, mask voxels) float32 array."""
        if _is_image(value):
            # Scaled in float64 and then rounded, as the library reads a file.
            data = np.asarray(value.dataobj, dtype=np.float64).astype(np.float32)
            if data.ndim == 3:
                data = data[..., np.newaxis]
            return _ibma.masked_volumes(self.mask, np.ascontiguousarray(data), np.asarray(value.affine, dtype=np.float64), name)
        array = np.asarray(value, dtype=np.float32)
        if array.ndim == 4:
            return _ibma.masked_volumes(self.mask, np.ascontiguousarray(array), None, name)
        if array.ndim == 1:
            array = array[np.newaxis, :]
        if array.ndim != 2:
            raise ValueError(
                f"{name}: an array of shape (studies, mask voxels) or (x, y, z, studies) was expected, got shape {array.shape}"
            )
        return np.ascontiguousarray(array)

    @property
    def ids(self) -> list:
        """Study ids, in order."""
        return self._native.ids

    def __len__(self) -> int:
        return self._native.n_studies

    def __repr__(self) -> str:
        return f"Inputs({len(self)} studies, {self.mask.n_voxels} mask voxels)"


def _covariate(value: Any) -> Any:
    """A covariate value for the library: a number, a label, or None (missing)."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value if isinstance(value, str) else float(value)
