"""NiMARE's shapes: class names, keyword arguments and defaults, get/set_params, images."""

from __future__ import annotations

import inspect
import os
import re
import warnings

import nibabel as nib
import numpy as np
import pytest
from conftest import REPO, run_cli, shared

import ibma

NIMARE_CLASSES = [
    "Fishers",
    "Stouffers",
    "WeightedLeastSquares",
    "DerSimonianLaird",
    "Hedges",
    "SampleSizeBasedLikelihood",
    "VarianceBasedLikelihood",
    "PermutedOLS",
    "FixedEffectsHedges",
]
SEED_CLASSES = ["FFX_GLM", "MFX_GLM", "RFX_GLM", "WeightedStouffers"]


def nimare_parameters(cls) -> dict:
    """Every keyword argument NiMARE's constructor chain declares, with its default."""
    params = {}
    for klass in reversed(cls.__mro__):
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        for p in inspect.signature(init).parameters.values():
            if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                params[p.name] = p.default
    return params


@pytest.mark.parametrize("name", NIMARE_CLASSES)
def test_nimare_names_arguments_and_defaults(name):
    try:
        import nimare.meta.ibma
    except ImportError as e:
        if os.environ.get("CI"):
            pytest.fail(f"NiMARE is not installed in the test environment: {e}")
        pytest.skip(f"NiMARE not installed: {e}")
    theirs = nimare_parameters(getattr(nimare.meta.ibma, name))
    ours_cls = getattr(ibma, name)
    ours = inspect.signature(ours_cls).parameters
    params = ours_cls().get_params()
    for key, default in theirs.items():
        assert key in ours, f"{name} lacks NiMARE's argument {key}"
        if key == "memory":
            continue  # NiMARE's joblib Memory(location=None): ibma caches nothing
        assert ours[key].default == default, f"{name}.{key}: default {ours[key].default!r}, NiMARE's {default!r}"
        assert key in params
        # The value read back is the default or, for small_sample_correction=None, the
        # estimator's own correction it stands for.
        if key == "small_sample_correction":
            assert params[key] in ("wald", "knapp-hartung")
        else:
            assert params[key] == default, f"{name}.{key}: {params[key]!r}"


@pytest.mark.parametrize("name", NIMARE_CLASSES + SEED_CLASSES)
def test_params_round_trip(name):
    cls = getattr(ibma, name)
    est = cls()
    assert cls(**est.get_params()) == est
    assert repr(est) == f"{name}()"
    changed = cls(aggressive_mask=True)
    assert changed != est and repr(changed) == f"{name}(aggressive_mask=True)"
    assert est.set_params(aggressive_mask=True) is est and est == changed
    assert est.aggressive_mask is True  # parameters read as attributes, as in NiMARE
    est.aggressive_mask = False
    assert est.get_params()["aggressive_mask"] is False
    assert cls.__doc__ and "Parameters\n    ----------" in cls.__doc__


@pytest.mark.parametrize("name", NIMARE_CLASSES + SEED_CLASSES)
def test_every_parameter_of_ibma_estimators_is_a_keyword(name):
    # What the command line lists for the estimator (its own parameters and the shared ones,
    # before the dependence notes and the correction options).
    cls = getattr(ibma, name)
    out = run_cli("estimators", cls._command)
    assert out.returncode == 0, out.stderr
    listed = out.stdout.split("\nSeveral images per study")[0]
    keys = re.findall(r"^    (\w+)\s+= ", listed, re.M)
    assert "aggressive_mask" in keys and "groupby" in keys
    signature = inspect.signature(cls).parameters
    params = cls().get_params()
    for key in keys:
        assert key in signature and key in params, f"{name} lacks {key}"
        assert signature[key].kind is not inspect.Parameter.VAR_KEYWORD
        assert f"\n    {key} : " in cls.__doc__, f"{name}'s docstring lacks {key}"
    # get_params and set_params round-trip with a value other than the default.
    est = cls(groupby=False)
    assert est.groupby is False and cls(**est.get_params()) == est
    assert cls(groupby="site").groupby == "site" and cls(groupby=["a", "b"]).groupby == ["a", "b"]
    assert est.set_params(groupby=None).groupby is None and est == cls()


def test_type_stub_is_the_generated_signatures():
    stub = REPO / "crates/ibma-py/python/ibma/estimators.pyi"
    assert stub.read_text(encoding="utf-8") == ibma.estimators.signature_stub(), (
        "estimators.pyi is stale: python -m ibma.estimators > crates/ibma-py/python/ibma/estimators.pyi"
    )


def test_estimators_pickle_and_deepcopy():
    import copy
    import pickle

    est = ibma.VarianceBasedLikelihood(method="reml", aggressive_mask=True, groupby=False)
    for clone in (pickle.loads(pickle.dumps(est)), copy.deepcopy(est), est.copy()):
        assert type(clone) is ibma.VarianceBasedLikelihood and clone == est
        assert clone._native is not est._native


def test_library_values_from_python_objects():
    est = ibma.DerSimonianLaird(moderators=["age", "site"], contrast=[[0, 1, 0], [0, 0, 1]], resample__interpolation="nearest")
    assert est.moderators == "age,site" and est.contrast == "0 1 0; 0 0 1" and est.resample == "nearest"
    assert ibma.RFX_GLM(n_iters=np.int64(100)).n_iters == 100
    assert ibma.Hedges(small_sample_correction=None).small_sample_correction == "knapp-hartung"
    assert ibma.WeightedLeastSquares(small_sample_correction=None).small_sample_correction == "wald"


def test_result_images_are_on_the_mask_grid(tmp_path):
    data = shared("nimare_test_pain_10x10x10")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = ibma.DerSimonianLaird(aggressive_mask=True).fit(data)
    mask = nib.load(str(data / "mask.nii.gz"))
    img = result.get_map("z")
    assert isinstance(img, nib.Nifti1Image) and img.shape == (10, 10, 10)
    assert img.get_data_dtype() == np.float32
    assert np.allclose(img.affine, mask.affine)
    volume = img.get_fdata()
    # The 27 voxels pain_01-05 lack are NaN with the aggressive mask, as in NiMARE 0.22.1's maps.
    assert int(np.isnan(volume).sum()) == 27
    assert result.get_map("z", return_type="array") is result.maps["z"]
    assert result.maps["z"].dtype == np.float32 and result.maps["z"].shape == (1000,)
    assert result.mask_img.get_fdata().sum() == 1000
    assert "21 studies" in result.description and result.description == result.description_
    assert result.diagnostics["bags_fitted"] == 1
    names = result.save_maps(tmp_path, prefix="dl")
    assert all(os.path.basename(n).startswith("dl_") for n in names)
    assert {os.path.basename(n) for n in names} >= {"dl_z.nii.gz", "dl_tau2.nii.gz", "dl_est.nii.gz"}


def test_mfx_weights_are_a_study_by_voxel_map():
    data = shared("nimare_test_pain_10x10x10")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = ibma.MFX_GLM(write_weights=True).fit(data)
    assert result.maps["weights"].shape == (21, 1000)
    img = result.get_map("weights")
    assert img.shape == (10, 10, 10, 21)
    assert "clusters" in result.tables and result.tables["clusters"].startswith("cluster")
