"""Every estimator against NiMARE 0.22.1's reference maps, at the tolerances of
`cargo xtask validate` (ibma::tol), fitted through the Python package."""

from __future__ import annotations

import warnings

import pytest
from conftest import LABELS, REFERENCES, check_against_reference, corrected, shared

import ibma

#: (dataset folder, reference variant, aggressive_mask), as the references were made.
RUNS = [
    ("nimare_test_pain_10x10x10", "default", False),
    ("nimare_test_pain_10x10x10", "aggressive_mask", True),
    ("nidm_pain21", "default", False),
]


def fit(dataset: str, label: str, cls: type, kwargs: dict, aggressive: bool) -> ibma.MetaResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the datasets' invalid-varcope and coverage warnings
        result = cls(aggressive_mask=aggressive, **kwargs).fit(shared(dataset))
    return corrected(result, label)


@pytest.mark.parametrize("dataset,variant,aggressive", RUNS, ids=[f"{d}/{v}" for d, v, _ in RUNS])
@pytest.mark.parametrize("label,cls,kwargs,likelihood", LABELS, ids=[label for label, *_ in LABELS])
def test_every_map_matches_nimare(dataset, variant, aggressive, label, cls, kwargs, likelihood):
    if dataset == "nidm_pain21" and label.startswith("SampleSizeBasedLikelihood"):
        pytest.skip("NiMARE 0.22.1 fails this fit (no reference); test_ssbl_pain21_nans_the_equal_n_bags checks it")
    ref_dir = shared(f"reference_outputs/nimare-0.22.1/{dataset}/{variant}/{label}")
    result = fit(dataset, label, cls, kwargs, aggressive)
    assert check_against_reference(result, ref_dir, likelihood) == []


def test_ssbl_pain21_nans_the_equal_n_bags():
    # NiMARE 0.22.1 fails SampleSizeBasedLikelihood on nidm_pain21 because 24 bags (62 voxels)
    # hold studies of one sample size (PyMARE's "all-equal sample sizes" error); ibma makes
    # exactly those voxels NaN, with a warning, and nimare_strict=True fails as NiMARE does.
    shared("nidm_pain21")
    with pytest.warns(UserWarning, match="24 bags"):
        result = ibma.SampleSizeBasedLikelihood(method="reml").fit(shared("nidm_pain21"))
    d = result.diagnostics
    assert (d["bags_all_equal_sample_size"], d["voxels_nan_all_equal_sample_size"]) == (24, 62)
    assert REFERENCES.is_dir()
    with pytest.raises(ValueError, match="cannot work with all-equal sample sizes"):
        ibma.SampleSizeBasedLikelihood(method="reml", nimare_strict=True).fit(shared("nidm_pain21"))
