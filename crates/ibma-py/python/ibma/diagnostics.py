"""Diagnostics of a result (NiMARE's ``nimare.diagnostics``)."""

from __future__ import annotations

from typing import Optional

from ._threads import threads
from .results import MetaResult

__all__ = ["Jackknife"]


class Jackknife:
    """Each study's contribution to each cluster of a map, by leaving it out (NiMARE ``Jackknife``).

    The estimator is refitted without each study in turn; a study's contribution to a cluster
    is the mean over the cluster's voxels of 1 - stat_without / stat_all, where stat is the
    "est" map when the estimator has one and "z" otherwise (not normalised).

    Parameters
    ----------
    target_image : :obj:`str`, optional
        The map whose clusters are characterised. Default is "z" (NiMARE's default names a
        coordinate-based map that no image-based estimator makes). A corrected map works if
        the result has it ("z_corr-FDR_method-indep").
    voxel_thresh : :obj:`float`, optional
        NiMARE's older name for ``target_threshold``.
    cluster_threshold : :obj:`int`, optional
        Smallest cluster kept, in voxels. Default: all.
    display_second_group : :obj:`bool`, optional
        Accepted for NiMARE compatibility (pairwise estimators only).
    n_cores : :obj:`int`, optional
        Threads for the refits; 0 or negative: every core. Default is 1 (as NiMARE).
    target_threshold : :obj:`float`
        Cluster-forming threshold on ``target_image``: voxels above it (and below minus it,
        for a two-sided test), face-connected. Required.

    Notes
    -----
    :meth:`transform` returns a copy of the result with the tables
    "<target_image>_tab-clust" (one row per cluster: size, peak and the study contributing
    most) and "<target_image>_diag-Jackknife_tab-counts" (one row per study, one column per
    cluster: "PositiveTail 1", ..., "NegativeTail 1", ...), and the label maps
    "label<_rest of target_image>_tail-positive" / "_tail-negative".
    """

    def __init__(
        self,
        target_image: str = "z",
        voxel_thresh: Optional[float] = None,
        cluster_threshold: Optional[int] = None,
        display_second_group: bool = False,
        n_cores: int = 1,
        target_threshold: Optional[float] = None,
    ) -> None:
        self.target_image = target_image
        self.voxel_thresh = voxel_thresh
        self.target_threshold = target_threshold if target_threshold is not None else voxel_thresh
        self.cluster_threshold = cluster_threshold
        self.display_second_group = display_second_group
        self.n_cores = n_cores

    def transform(self, result: MetaResult) -> MetaResult:
        """Run the jackknife on ``result`` (a fit whose inputs it keeps, or a saved fit of a
        dataset path) and return a copy with its tables and label maps."""
        if self.target_image not in result.maps:
            raise ValueError(
                f"Target image ('{self.target_image}') not present in result. Available maps in "
                f"result are: {', '.join(repr(m) for m in result.maps)}."
            )
        contributions, clusters, labels = result._native.jackknife(
            self.target_image,
            None if self.target_threshold is None else float(self.target_threshold),
            int(self.cluster_threshold or 0),
            threads(self.n_cores),
        )
        out = result.copy()
        out.tables[f"{self.target_image}_tab-clust"] = clusters
        out.tables[f"{self.target_image}_diag-Jackknife_tab-counts"] = contributions
        rest = "_".join(self.target_image.split("_")[1:])
        image = f"_{rest}" if rest else ""
        for tail, values in labels:
            out._add_map(f"label{image}_tail-{tail}", values)
        return out
