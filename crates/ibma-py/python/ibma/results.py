"""The result of a fit: maps over the analysis mask (NiMARE's ``MetaResult``)."""

from __future__ import annotations

import io
import json
import os
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Union

import numpy as np

from . import _ibma, _registry

if TYPE_CHECKING:  # pragma: no cover
    import nibabel

__all__ = ["MetaResult"]

PathLike = Union[str, "os.PathLike[str]"]


class MetaResult:
    """The maps of a meta-analysis (NiMARE's ``MetaResult``).

    Attributes
    ----------
    maps : :obj:`dict` of :obj:`str` to :class:`numpy.ndarray`
        Every map, by NiMARE's name ("z", "p", "logp", "est", "z_corr-FDR_method-indep", ...),
        as float32 values over the mask's voxels in C order (the values the written maps
        hold). NaN where a voxel could not be estimated. A map with one volume per study (FLAME's
        "weights") is a (studies, voxels) array.
    tables : :obj:`dict` of :obj:`str` to :obj:`str`
        Text tables (tab-separated, a header line first; e.g. GRF "clusters", the jackknife's
        tables), by name. ``pandas.read_csv(io.StringIO(text), sep="\\t")`` reads one.
    estimator : :class:`~ibma.estimators.Estimator`
        The estimator that made it, with its parameters.
    description_ : :obj:`str`
        A methods description of the analysis and its corrections (also ``description``).
    """

    # `estimator` is an ibma.estimators.Estimator, typed Any: estimators.py imports this module
    # (fit returns a MetaResult), so this one names no estimator class, and a loaded result
    # finds its estimator's class through _registry.
    def __init__(self, native: "_ibma.NativeResult", estimator: Any, description: str = "") -> None:
        self._native = native
        self.estimator = estimator
        self.description_ = description
        self._mask = native.mask()
        self.maps: Dict[str, np.ndarray] = {name: native.map(name) for name in native.map_names()}
        for name in native.per_study_names():
            self.maps[name] = native.per_study(name)
        self.tables: Dict[str, str] = {_table_name(f): text for f, text in native.tables()}
        #: Maps added in Python (the jackknife's label maps): written by :meth:`save_maps` too.
        self._extra: List[str] = []
        self._indices: Optional[np.ndarray] = None

    def _derived(self, native: "_ibma.NativeResult", description: str) -> "MetaResult":
        """A copy holding `native` (this result with more maps), its description extended."""
        out = MetaResult(native, self.estimator, " ".join(d for d in (self.description_, description) if d))
        for name in self._extra:
            out._add_map(name, self.maps[name])
        out.tables.update({k: v for k, v in self.tables.items() if k not in out.tables})
        return out

    def _add_map(self, name: str, values: np.ndarray) -> None:
        """Add a map computed in Python (label maps)."""
        self.maps[name] = np.asarray(values, dtype=np.float32)
        if name not in self._extra:
            self._extra.append(name)

    @property
    def description(self) -> str:
        """A methods description of the analysis (NiMARE's ``description_``)."""
        return self.description_

    @property
    def studies(self) -> List[str]:
        """Ids of the studies that entered the fit."""
        return self._native.studies

    @property
    def warnings(self) -> List[str]:
        """Warnings raised while fitting."""
        return self._native.warnings

    @property
    def diagnostics(self) -> Dict[str, Any]:
        """What the fit found out besides its maps (coverage patterns, permutation nulls, ...)."""
        return json.loads(self._native.diagnostics_json())

    @property
    def mask_img(self) -> "nibabel.Nifti1Image":
        """The analysis mask as an image (1 inside, 0 outside)."""
        import nibabel as nib

        volume = np.zeros(self._mask.dims, dtype=np.uint8)
        volume.reshape(-1)[self._mask_indices()] = 1
        header = self._header()
        header.set_data_dtype(np.uint8)
        return nib.Nifti1Image(volume, header.get_best_affine(), header=header)

    def _mask_indices(self) -> np.ndarray:
        if self._indices is None:
            self._indices = self._mask.indices()
        return self._indices

    def _header(self) -> "nibabel.Nifti1Header":
        """The NIfTI header ibma's maps on this grid carry."""
        import nibabel as nib

        return nib.Nifti1Header.from_fileobj(io.BytesIO(bytes(self._mask.header())))

    def get_map(self, name: str, return_type: str = "image") -> Any:
        """Get a map as an image or an array.

        Parameters
        ----------
        name : :obj:`str`
            Name of the map (a key of :attr:`maps`).
        return_type : {'image', 'array'}, optional
            'image' (the default): a float32 :class:`nibabel.Nifti1Image` on the mask's grid,
            NaN inside the mask where the voxel could not be estimated and 0 outside, as ibma
            writes maps (NiMARE's ``get_map`` turns NaN into 0). 'array': the values over the
            mask's voxels.
        """
        if name not in self.maps:
            raise ValueError(f"No map with name '{name}' found.")
        values = self.maps[name]
        if return_type == "array":
            return values
        if return_type != "image":
            raise ValueError(f"return_type must be 'image' or 'array', not {return_type!r}")
        import nibabel as nib

        dims = tuple(self._mask.dims)
        if values.ndim == 2:  # one volume per study
            volume = np.zeros((int(np.prod(dims)), values.shape[0]), dtype=np.float32)
            volume[self._mask_indices(), :] = values.T
            volume = volume.reshape(dims + (values.shape[0],))
        else:
            volume = np.zeros(int(np.prod(dims)), dtype=np.float32)
            volume[self._mask_indices()] = values
            volume = volume.reshape(dims)
        header = self._header()
        header.set_data_dtype(np.float32)
        return nib.Nifti1Image(volume, header.get_best_affine(), header=header)

    def save_maps(
        self,
        output_dir: PathLike = ".",
        prefix: str = "",
        prefix_sep: str = "_",
        names: Optional[Sequence[str]] = None,
    ) -> List[str]:
        """Write the maps as ``<output_dir>/<prefix><name>.nii.gz``, as ``ibma fit`` writes them.

        Parameters
        ----------
        output_dir : :obj:`str`, optional
            Folder (created if needed). Default is the current folder.
        prefix : :obj:`str`, optional
            Prepended to every file name, followed by ``prefix_sep``. Default is none.
        prefix_sep : :obj:`str`, optional
            Separator after a non-empty prefix. Default is "_".
        names : :obj:`list` of :obj:`str`, optional
            Maps to write. Default: every map (and the library's tables).

        Returns
        -------
        :obj:`list` of :obj:`str`
            The files written.
        """
        if prefix and not prefix.endswith(prefix_sep):
            prefix = prefix + prefix_sep
        output_dir = os.fspath(output_dir)
        wanted = list(self.maps) if names is None else list(names)
        for name in wanted:
            if name not in self.maps:
                raise ValueError(f"No map with name '{name}' found.")
        extra = [n for n in wanted if n in self._extra]
        native_names = None if names is None else [n for n in wanted if n not in self._extra]
        written = [os.fspath(p) for p in self._native.save_maps(output_dir, prefix, native_names)]
        for name in extra:
            path = os.path.join(output_dir, f"{prefix}{name}.nii.gz")
            self._mask.write_map(path, np.ascontiguousarray(self.maps[name]), f"ibma {_ibma.__version__} {name}")
            written.append(path)
        return written

    def save_tables(
        self,
        output_dir: PathLike = ".",
        prefix: str = "",
        prefix_sep: str = "_",
        names: Optional[Sequence[str]] = None,
    ) -> List[str]:
        """Write the tables as ``<output_dir>/<prefix><name>.tsv``.

        Parameters are as :meth:`save_maps`'s. Returns the files written.
        """
        if prefix and not prefix.endswith(prefix_sep):
            prefix = prefix + prefix_sep
        os.makedirs(output_dir, exist_ok=True)
        written = []
        for name in self.tables if names is None else names:
            path = os.path.join(os.fspath(output_dir), f"{prefix}{name}.tsv")
            with open(path, "w", encoding="utf-8") as f:
                f.write(self.tables[name])
            written.append(path)
        return written

    def save(self, filename: PathLike, compress: bool = True) -> None:
        """Save the result to a file in ibma's saved format (``ibma correct`` reads it too).

        Maps are stored as float32 with the mask, the estimator and the diagnostics, and,
        when a dataset path was fitted, where the data are (so a loaded result can be
        corrected by permutation). Maps and tables added in Python (the jackknife's) and the
        description are not stored.

        Parameters
        ----------
        filename : :obj:`str`
            File to write.
        compress : :obj:`bool`, optional
            Gzip-compress the file. Default is True.
        """
        self._native.save(os.fspath(filename), compress)

    @classmethod
    def load(cls, filename: PathLike, compressed: bool = True) -> "MetaResult":
        """Load a result saved by :meth:`save` or by ``ibma fit`` (``result.ibma.json.gz``).

        Parameters
        ----------
        filename : :obj:`str`
            File to read.
        compressed : :obj:`bool`, optional
            Whether the file is gzip-compressed. Default is True.
        """
        native = _ibma.NativeResult.load(os.fspath(filename), compressed)
        return cls(native, _registry.wrap(native.estimator()))

    def copy(self) -> "MetaResult":
        """An independent copy."""
        return self._derived(self._native.copy(), "")

    def __repr__(self) -> str:
        return f"MetaResult({type(self.estimator).__name__}, {len(self.studies)} studies, maps: {', '.join(self.maps)})"


def _table_name(file: str) -> str:
    """A table's name: its file name without ``.tsv``."""
    return file[:-4] if file.endswith(".tsv") else file
