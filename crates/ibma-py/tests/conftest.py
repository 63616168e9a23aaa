"""Shared helpers of the Python tests: where the reference data and the `ibma` command are,
and how maps are compared with NiMARE's (the rules of `cargo xtask validate`)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import nibabel as nib
import numpy as np
import pytest

import ibma

REPO = Path(__file__).resolve().parents[3]
SHARED_DATA = REPO.parent / "shared" / "data"
REFERENCES = SHARED_DATA / "reference_outputs" / "nimare-0.22.1"
TOL = ibma._ibma.tolerances


def shared(name: str) -> Path:
    """`../shared/data/<name>`: the test skips where `../shared` is absent (a clone without
    it) and fails where it is present but `name` is missing (broken data)."""
    path = SHARED_DATA / name
    if path.exists():
        return path
    if SHARED_DATA.parent.is_dir():
        pytest.fail(f"{path} is missing although {SHARED_DATA.parent} exists")
    pytest.skip(f"{SHARED_DATA.parent} not found")


def cli() -> Path:
    """The `ibma` command built from this repository (`IBMA_CLI`, or target/release/ibma)."""
    path = Path(os.environ.get("IBMA_CLI", REPO / "target" / "release" / "ibma"))
    if not path.is_file():
        pytest.fail(f"{path} not found: build it with `cargo build --release -p ibma-cli` (or set IBMA_CLI)")
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """Run the `ibma` command; its output as text."""
    return subprocess.run([str(cli()), *args], capture_output=True, text=True, check=False)


#: (reference label, estimator class, keyword arguments, likelihood rule) as `cargo xtask
#: validate` runs them (LABELS in xtask/src/main.rs).
LABELS: List[Tuple[str, type, Dict, bool]] = [
    ("Fishers", ibma.Fishers, {}, False),
    ("Stouffers", ibma.Stouffers, {}, False),
    ("Stouffers_weighted", ibma.Stouffers, {"use_sample_size": True}, False),
    ("WeightedLeastSquares", ibma.WeightedLeastSquares, {"tau2": 0}, False),
    ("DerSimonianLaird", ibma.DerSimonianLaird, {}, False),
    ("Hedges", ibma.Hedges, {}, False),
    ("VarianceBasedLikelihood_ML", ibma.VarianceBasedLikelihood, {"method": "ml"}, True),
    ("VarianceBasedLikelihood_REML", ibma.VarianceBasedLikelihood, {"method": "reml"}, True),
    ("SampleSizeBasedLikelihood_ML", ibma.SampleSizeBasedLikelihood, {"method": "ml"}, True),
    ("SampleSizeBasedLikelihood_REML", ibma.SampleSizeBasedLikelihood, {"method": "reml"}, True),
    ("PermutedOLS", ibma.PermutedOLS, {}, False),
    ("FixedEffectsHedges", ibma.FixedEffectsHedges, {"tau2": 0}, False),
]


def corrected(result: ibma.MetaResult, label: str) -> ibma.MetaResult:
    """The corrections the references carry: FDR (indep) everywhere, and PermutedOLS's
    Monte-Carlo FWE with 1000 flips from seed 42."""
    result = ibma.correct.FDRCorrector(method="indep", alpha=0.05).transform(result)
    if label == "PermutedOLS":
        result = ibma.correct.FWECorrector(method="montecarlo", n_iters=1000, n_cores=0).transform(result)
    return result


def read(path: Path) -> np.ndarray:
    """A reference map's values (float64, C order)."""
    return np.asarray(nib.load(str(path)).get_fdata(dtype=np.float64)).reshape(-1)


def close(test: np.ndarray, ref: np.ndarray, rtol: float) -> np.ndarray:
    """`ibma::tol::close`: |test - ref| <= atol + rtol |ref|."""
    return np.abs(test - ref) <= TOL["MAP_ATOL"] + rtol * np.abs(ref)


def compare(
    ref: np.ndarray, test: np.ndarray, passes: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
) -> Tuple[int, int]:
    """(NaN-pattern mismatches, voxels failing `passes`) over the voxels where either map is
    non-zero or NaN, as `cargo xtask validate` counts them."""
    relevant = np.isnan(ref) | np.isnan(test) | (ref != 0) | (test != 0)
    nan_mismatch = int(np.sum(relevant & (np.isnan(ref) != np.isnan(test))))
    both = relevant & ~np.isnan(ref) & ~np.isnan(test)
    voxels = np.nonzero(both)[0]
    failures = int(np.sum(~passes(test[both], ref[both], voxels)))
    return nan_mismatch, failures


def check_against_reference(result: ibma.MetaResult, ref_dir: Path, likelihood: bool) -> List[str]:
    """Every reference map of `ref_dir` against the result's map of that name (image on the
    mask grid, NaN inside where not estimable, 0 outside), with validate's rules: rtol/atol of
    ibma::tol, the NaN pattern exact, and for the likelihood estimators' tau2/sigma2/est the
    likelihood rule. Returns the failures (empty when all pass)."""
    problems = []
    names = sorted(p.name[: -len(".nii.gz")] for p in ref_dir.glob("*.nii.gz"))
    assert names, f"no reference maps in {ref_dir}"
    se_ref: Optional[np.ndarray] = read(ref_dir / "se.nii.gz") if likelihood else None
    for name in names:
        if name not in result.maps:
            problems.append(f"{name}: MISSING from the result")
            continue
        ref = read(ref_dir / f"{name}.nii.gz")
        test = np.asarray(result.get_map(name).get_fdata(dtype=np.float64)).reshape(-1)
        default = lambda t, r, v: close(t, r, TOL["MAP_RTOL"])  # noqa: E731
        if likelihood and name in ("tau2", "sigma2"):
            assert se_ref is not None
            estimated = int(np.sum(np.isfinite(se_ref) & (se_ref > 0)))
            nan_mismatch, strict = compare(ref, test, default)
            _, loose = compare(ref, test, lambda t, r, v: close(t, r, TOL["LIKELIHOOD_LOOSE_RTOL"]))
            allowed = (1.0 - TOL["LIKELIHOOD_PASS_FRACTION"]) * estimated
            failures = loose if strict <= allowed else strict
        elif likelihood and name == "est":
            assert se_ref is not None
            se = se_ref
            nan_mismatch, failures = compare(
                ref,
                test,
                lambda t, r, v: np.abs(t - r) <= TOL["MAP_ATOL"] + TOL["MAP_RTOL"] * np.maximum(np.abs(r), se[v]),
            )
        else:
            nan_mismatch, failures = compare(ref, test, default)
        if nan_mismatch or failures:
            problems.append(f"{name}: {nan_mismatch} NaN-pattern mismatches, {failures} voxels outside tolerance")
    return problems


def read_json(path: Path) -> Dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)
