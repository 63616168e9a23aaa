"""In-memory inputs (`ibma.Inputs`: NumPy arrays or 4-D nibabel images) give the same maps,
bit for bit, as the dataset folder they were read from."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Dict, List

import nibabel as nib
import numpy as np
import pytest
from conftest import TOL, close, read_json, shared

import ibma


def studies(folder: Path) -> List[Dict]:
    return read_json(folder / "dataset.json")["studies"]


def masked(folder: Path, types: List[str]):
    """The folder's maps as (studies, mask voxels) arrays, read with nibabel, and its mask."""
    manifest = read_json(folder / "dataset.json")
    mask_img = nib.load(str(folder / manifest["mask"]))
    inside = np.asarray(mask_img.dataobj).reshape(mask_img.shape[:3]) != 0
    arrays = {}
    for t in types:
        rows = []
        for s in manifest["studies"]:
            data = np.asarray(nib.load(str(folder / s["maps"][t])).get_fdata(dtype=np.float64))
            rows.append(data.reshape(data.shape[:3])[inside])
        arrays[t] = np.stack(rows)
    return arrays, mask_img


def fit(estimator: ibma.Estimator, dataset) -> ibma.MetaResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator.fit(dataset)


def same_maps(a: ibma.MetaResult, b: ibma.MetaResult) -> None:
    assert list(a.maps) == list(b.maps)
    for name in a.maps:
        # Bit for bit: the same float32 values, NaN where the other has NaN.
        assert np.array_equal(a.maps[name].view(np.uint32), b.maps[name].view(np.uint32)), name


ESTIMATORS = [
    ibma.DerSimonianLaird(),
    ibma.Stouffers(use_sample_size=True),
    ibma.Fishers(),
    ibma.PermutedOLS(),
    ibma.FixedEffectsHedges(),
    ibma.VarianceBasedLikelihood(method="reml"),
    ibma.SampleSizeBasedLikelihood(),
    ibma.MFX_GLM(),
]


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_arrays_give_the_folders_maps(estimator):
    folder = shared("nimare_test_pain_10x10x10")
    arrays, mask = masked(folder, ["con", "se", "varcope", "t", "z"])
    info = studies(folder)
    inputs = ibma.Inputs(
        **arrays,
        sample_sizes=[s["sample_size"] for s in info],
        mask=mask,
        ids=[s["id"] for s in info],
    )
    from_arrays = fit(estimator, inputs)
    from_folder = fit(estimator, folder)
    assert from_arrays.studies == from_folder.studies
    same_maps(from_arrays, from_folder)


def test_4d_images_give_the_folders_maps():
    folder = shared("nimare_test_pain_10x10x10")
    manifest = read_json(folder / "dataset.json")
    mask = nib.load(str(folder / manifest["mask"]))

    def stacked(t: str) -> nib.Nifti1Image:
        volumes = [nib.load(str(folder / s["maps"][t])).get_fdata(dtype=np.float64) for s in manifest["studies"]]
        return nib.Nifti1Image(np.stack([v.reshape(v.shape[:3]) for v in volumes], axis=-1), mask.affine)

    inputs = ibma.Inputs(con=stacked("con"), varcope=stacked("varcope"), mask=mask, ids=[s["id"] for s in manifest["studies"]])
    same_maps(fit(ibma.Hedges(), inputs), fit(ibma.Hedges(), folder))
    # A 4-D array on the mask grid works as the image does.
    arrays = ibma.Inputs(con=stacked("con").get_fdata(), varcope=stacked("varcope").get_fdata(), mask=mask, ids=inputs.ids)
    same_maps(fit(ibma.Hedges(), arrays), fit(ibma.Hedges(), folder))


def test_pain21_in_memory(tmp_path):
    # nidm_pain21 stores con and varcope only. DerSimonianLaird reads them as they are: the
    # same maps bit for bit. Stouffers reads z derived from them: in memory from the float32
    # values every input becomes, from the folder at the files' stored precision (pain_01-10's
    # varcopes are float64), so z may differ in its last float32 bit (at ~12 % of voxels,
    # |dz| < 2e-6) and stays within tolerance.
    folder = shared("nidm_pain21")
    arrays, mask = masked(folder, ["con", "varcope"])
    info = studies(folder)
    inputs = ibma.Inputs(**arrays, sample_sizes=[s.get("sample_size") for s in info], mask=mask, ids=[s["id"] for s in info])
    same_maps(fit(ibma.DerSimonianLaird(), inputs), fit(ibma.DerSimonianLaird(), folder))
    in_memory, from_folder = fit(ibma.Stouffers(), inputs), fit(ibma.Stouffers(), folder)
    for name in ("z", "logp"):
        a, b = in_memory.maps[name].astype(np.float64), from_folder.maps[name].astype(np.float64)
        assert np.array_equal(np.isnan(a), np.isnan(b))
        ok = np.isnan(a) | close(a, b, TOL["MAP_RTOL"])
        assert ok.all(), name
    # Given z computed from the float32 inputs the folder uses (float32 varcopes everywhere),
    # the two agree bit for bit: the difference is the varcopes' stored precision only.
    as_f32 = tmp_path / "pain21_f32"
    as_f32.mkdir()
    manifest = read_json(folder / "dataset.json")
    for s in manifest["studies"]:
        for t, p in s["maps"].items():
            img = nib.load(str(folder / p))
            s["maps"][t] = str(folder / p)
            if img.get_data_dtype() != np.float32:
                data = np.asarray(img.get_fdata(dtype=np.float64)).astype(np.float32)
                nib.save(nib.Nifti1Image(data, img.affine, img.header), str(as_f32 / f"{s['id']}_{t}.nii.gz"))
                s["maps"][t] = f"{s['id']}_{t}.nii.gz"
    manifest["mask"] = str(folder / manifest["mask"])
    (as_f32 / "dataset.json").write_text(json.dumps(manifest), encoding="utf-8")
    same_maps(in_memory, fit(ibma.Stouffers(), as_f32))


def test_covariates_reach_meta_regression(tmp_path):
    # The fixture's studies with a covariate, once in a dataset.json and once in memory.
    folder = shared("nimare_test_pain_10x10x10")
    manifest = read_json(folder / "dataset.json")
    age = [20.0 + 1.5 * k for k in range(len(manifest["studies"]))]
    for s, a in zip(manifest["studies"], age):
        s["covariates"] = {"age": a}
        s["maps"] = {t: str(folder / p) for t, p in s["maps"].items()}
    manifest["mask"] = str(folder / manifest["mask"])
    (tmp_path / "dataset.json").write_text(json.dumps(manifest), encoding="utf-8")
    arrays, mask = masked(folder, ["con", "varcope"])
    inputs = ibma.Inputs(**arrays, mask=mask, ids=[s["id"] for s in manifest["studies"]], covariates={"age": age})
    estimator = ibma.DerSimonianLaird(moderators=["age"], contrast=[0, 1])
    from_arrays, from_folder = fit(estimator, inputs), fit(estimator, tmp_path)
    same_maps(from_arrays, from_folder)
    assert from_arrays.diagnostics["design_columns"] == ["intercept", "age"]
    # The age slope differs from the intercept's estimate.
    assert not np.allclose(from_arrays.maps["est"], fit(ibma.DerSimonianLaird(), inputs).maps["est"])


@pytest.mark.parametrize("estimator", [ibma.DerSimonianLaird, ibma.Stouffers, ibma.PermutedOLS], ids=lambda c: c.__name__)
def test_study_ids_make_images_dependent(estimator):
    # Images 6-21 of the fixture as one study: `study_ids` (groupby=None), a covariate named by
    # groupby, and groupby labels are three ways to say it, and give the same maps bit for bit;
    # groupby=False treats the images as independent, which changes them.
    folder = shared("nimare_test_pain_10x10x10")
    arrays, mask = masked(folder, ["con", "varcope", "z"])
    study = [f"s{min(i, 5)}" for i in range(arrays["con"].shape[0])]
    by_study = fit(estimator(), ibma.Inputs(**arrays, mask=mask, study_ids=study))
    by_covariate = fit(estimator(groupby="site"), ibma.Inputs(**arrays, mask=mask, covariates={"site": study}))
    by_labels = fit(estimator(groupby=np.array(study)), ibma.Inputs(**arrays, mask=mask))
    independent = fit(estimator(groupby=False), ibma.Inputs(**arrays, mask=mask, study_ids=study))
    assert by_study.diagnostics["dependence"]["n_groups"] == 6
    same_maps(by_study, by_covariate)
    same_maps(by_study, by_labels)
    assert "dependence" not in independent.diagnostics
    assert not np.array_equal(by_study.maps["z"], independent.maps["z"], equal_nan=True)
    with pytest.raises(ValueError, match="study_ids: 2 values for 21 images"):
        ibma.Inputs(**arrays, mask=mask, study_ids=["a", "b"])
