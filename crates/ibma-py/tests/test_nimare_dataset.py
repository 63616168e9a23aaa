"""A real `nimare.dataset.Dataset` (NiMARE 0.22.1, from the fixture's NiMARE JSON) fitted by
ibma gives NiMARE's maps: NiMARE fits the same Dataset in this test, and every map of its
result is compared with ibma's at the tolerances of `cargo xtask validate`."""

from __future__ import annotations

import gc
import json
import os
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import LABELS, REFERENCES, TOL, check_against_reference, close, compare, corrected, shared

import ibma


@pytest.fixture(scope="module")
def nimare():
    """NiMARE 0.22.1 (CI installs it; elsewhere the test skips without it)."""
    try:
        import nimare.correct
        import nimare.dataset
        import nimare.meta.ibma
    except ImportError as e:
        if os.environ.get("CI"):
            pytest.fail(f"NiMARE is not installed in the test environment: {e}")
        pytest.skip(f"NiMARE not installed: {e}")
    gc.freeze()  # nilearn collects garbage per image loaded: with NiMARE's objects that dominates
    return nimare


MULTIPLE_REFERENCES = REFERENCES / "nimare_test_pain_multiple_contrasts"


def _absolute_json(name: str, folder: Path) -> Path:
    """A NiMARE JSON of the fixture folder with absolute image paths (its `beta` maps are
    stored as pain_NN_con.nii.gz beside it). Python's json keeps the last of repeated keys, as
    NiMARE reads them."""
    data = shared("nimare_test_pain_10x10x10")
    with open(data / name, encoding="utf-8") as f:
        dset = json.load(f)
    for study in dset.values():
        for contrast in study["contrasts"].values():
            images = contrast.get("images", {})
            for key, path in images.items():
                if path:
                    images[key] = str(data / path.replace("_beta", "_con"))
    path = folder / name
    path.write_text(json.dumps(dset), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def fixture_json(tmp_path_factory) -> Path:
    """The fixture's NiMARE JSON with absolute image paths."""
    return _absolute_json("nimare_test_pain_dataset.json", tmp_path_factory.mktemp("nimare"))


@pytest.fixture(scope="module")
def dataset(nimare, fixture_json):
    mask = str(shared("nimare_test_pain_10x10x10") / "mask.nii.gz")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nimare.dataset.Dataset(str(fixture_json), mask=mask)


def _nimare_fit(nimare, label: str, kwargs: dict, aggressive: bool, dset):
    """NiMARE's own result for a label, with the references' corrections."""
    cls = getattr(nimare.meta.ibma, label.split("_")[0] if not label.startswith("Stouffers") else "Stouffers")
    args = dict(kwargs)
    if label == "PermutedOLS":
        args["random_state"] = 42
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = cls(aggressive_mask=aggressive, **args).fit(dset)
        result = nimare.correct.FDRCorrector(method="indep", alpha=0.05).transform(result)
        if label == "PermutedOLS":
            result = nimare.correct.FWECorrector(method="montecarlo", n_iters=1000, n_cores=1).transform(result)
    return result


@pytest.mark.parametrize("aggressive", [False, True], ids=["default", "aggressive_mask"])
@pytest.mark.parametrize("label,cls,kwargs,likelihood", LABELS, ids=[label for label, *_ in LABELS])
def test_nimare_dataset_object_gives_nimares_maps(nimare, dataset, aggressive, label, cls, kwargs, likelihood):
    try:
        theirs = _nimare_fit(nimare, label, kwargs, aggressive, dataset)
    except ValueError as e:
        # PyMARE cannot fit a bag whose studies share one sample size; ibma makes it NaN, and
        # with nimare_strict=True fails as NiMARE does.
        assert "all-equal sample sizes" in str(e)
        with pytest.raises(ValueError, match="all-equal sample sizes"):
            cls(aggressive_mask=aggressive, nimare_strict=True, **kwargs).fit(dataset)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = cls(aggressive_mask=aggressive, **kwargs).fit(dataset)
    ours = ibma.correct.FDRCorrector(method="indep").transform(ours)
    if label == "PermutedOLS":
        ours = ibma.correct.FWECorrector(method="montecarlo", n_iters=1000).transform(ours)
    assert ours.studies == list(theirs.estimator.inputs_["id"])
    se = np.asarray(theirs.maps["se"], dtype=np.float64) if "se" in theirs.maps else None
    problems = []
    compared = 0
    for name, values in theirs.maps.items():
        if values is None or name.startswith("label"):
            continue
        compared += 1
        ref = np.asarray(values, dtype=np.float64).reshape(-1)
        test = np.asarray(ours.maps[name], dtype=np.float64)
        if likelihood and name in ("tau2", "sigma2"):
            estimated = int(np.sum(np.isfinite(se) & (se > 0)))
            nan_mismatch, strict = compare(ref, test, lambda t, r, v: close(t, r, TOL["MAP_RTOL"]))
            _, loose = compare(ref, test, lambda t, r, v: close(t, r, TOL["LIKELIHOOD_LOOSE_RTOL"]))
            failures = loose if strict <= (1 - TOL["LIKELIHOOD_PASS_FRACTION"]) * estimated else strict
        elif likelihood and name == "est":
            rule = lambda t, r, v: np.abs(t - r) <= TOL["MAP_ATOL"] + TOL["MAP_RTOL"] * np.maximum(np.abs(r), se[v])  # noqa: E731
            nan_mismatch, failures = compare(ref, test, rule)
        else:
            nan_mismatch, failures = compare(ref, test, lambda t, r, v: close(t, r, TOL["MAP_RTOL"]))
        if nan_mismatch or failures:
            problems.append(f"{name}: {nan_mismatch} NaN mismatches, {failures} outside tolerance")
    assert problems == []
    assert compared >= 6  # z, p, logp, dof and the FDR maps at least


def test_dataset_object_and_json_path_give_the_same_maps(dataset, fixture_json):
    mask = shared("nimare_test_pain_10x10x10") / "mask.nii.gz"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from_object = ibma.DerSimonianLaird().fit(dataset)
        from_path = ibma.DerSimonianLaird(mask=str(mask)).fit(str(fixture_json))
    # NiMARE's JSON lacks pain_20's varcope: 20 studies, ids as NiMARE makes them.
    assert from_object.studies == from_path.studies
    assert len(from_object.studies) == 20 and from_object.studies[0] == "pain_01.nidm-1"
    for name, values in from_path.maps.items():
        assert np.array_equal(from_object.maps[name], values, equal_nan=True), name


MULTIPLE = "nimare_test_pain_dataset_multiple_contrasts.json"


@pytest.fixture(scope="module")
def multiple_contrasts(nimare, tmp_path_factory):
    """NiMARE's multi-contrast fixture (20 images of 12 studies; one study holds 9) as a real
    NiMARE Dataset."""
    path = _absolute_json(MULTIPLE, tmp_path_factory.mktemp("multiple"))
    mask = str(shared("nimare_test_pain_10x10x10") / "mask.nii.gz")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nimare.dataset.Dataset(str(path), mask=mask)


@pytest.mark.parametrize(
    "variant,groupby,aggressive",
    [("default", None, False), ("aggressive_mask", None, True), ("groupby_false", False, False)],
)
@pytest.mark.parametrize("label,cls,kwargs,likelihood", LABELS, ids=[label for label, *_ in LABELS])
def test_several_images_per_study_give_nimares_maps(
    multiple_contrasts, variant, groupby, aggressive, label, cls, kwargs, likelihood
):
    # NiMARE 0.22.1's dependence groups (groupby=None: by study; False: none) against its
    # reference maps of the same Dataset (reference_outputs/nimare-0.22.1/
    # nimare_test_pain_multiple_contrasts, the rows `cargo xtask validate` checks through the CLI).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = corrected(cls(groupby=groupby, aggressive_mask=aggressive, **kwargs).fit(multiple_contrasts), label)
    assert check_against_reference(ours, MULTIPLE_REFERENCES / variant / label, likelihood) == []
    dependence = ours.diagnostics.get("dependence") or {}
    if groupby is None:
        assert dependence.get("n_groups", 0) < len(ours.studies), dependence


def test_groupby_a_metadata_field(multiple_contrasts):
    # groupby="<field>" reads the Dataset's metadata table: a field holding the study id groups
    # as groupby=None does; a field unique per image as groupby=False does.
    meta = multiple_contrasts.metadata.copy()
    meta["sample"] = meta["study_id"]
    meta["image"] = meta["id"]
    dset = SimpleNamespace(images=multiple_contrasts.images, metadata=meta, masker=multiple_contrasts.masker)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = {g: ibma.DerSimonianLaird(groupby=g).fit(dset) for g in (None, "sample", False, "image")}
    for a, b in ((None, "sample"), (False, "image")):
        for name, values in fits[a].maps.items():
            assert np.array_equal(values, fits[b].maps[name], equal_nan=True), (a, b, name)
    assert fits[None].diagnostics["dependence"]["n_groups"] == 11
    assert not np.array_equal(fits[None].maps["z"], fits[False].maps["z"], equal_nan=True)
