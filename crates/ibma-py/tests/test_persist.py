"""Saving and loading estimators and results (ibma's saved format, shared with the CLI)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import run_cli, shared

import ibma


def quiet_fit(estimator, dataset):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator.fit(dataset)


def bits(a: np.ndarray) -> np.ndarray:
    return a.view(np.uint32)


@pytest.mark.parametrize("compress", [True, False])
def test_estimator_round_trip(tmp_path, compress):
    est = ibma.DerSimonianLaird(small_sample_correction="wald", aggressive_mask=True, moderators=["age"])
    path = tmp_path / "dl.ibma"
    est.save(path, compress=compress)
    loaded = ibma.DerSimonianLaird.load(path, compressed=compress)
    assert isinstance(loaded, ibma.DerSimonianLaird)
    assert loaded.get_params() == est.get_params()
    assert loaded.small_sample_correction == "wald" and loaded.moderators == "age"
    # The base class loads whatever estimator the file holds; another class refuses it.
    assert isinstance(ibma.Estimator.load(path, compressed=compress), ibma.DerSimonianLaird)
    with pytest.raises(OSError, match="holds a DerSimonianLaird, not a Stouffers"):
        ibma.Stouffers.load(path, compressed=compress)
    with pytest.raises(ValueError, match="compress"):
        ibma.Estimator.load(path, compressed=not compress)


def test_result_round_trip_keeps_maps_and_corrections_refit(tmp_path):
    data = shared("nimare_test_pain_10x10x10")
    fitted = ibma.correct.FDRCorrector().transform(quiet_fit(ibma.PermutedOLS(), data))
    path = tmp_path / "result.ibma.json.gz"
    fitted.save(path)
    loaded = ibma.MetaResult.load(path)
    assert list(loaded.maps) == list(fitted.maps)
    for name in fitted.maps:
        assert np.array_equal(bits(loaded.maps[name]), bits(fitted.maps[name])), name
    assert loaded.studies == fitted.studies
    assert isinstance(loaded.estimator, ibma.PermutedOLS)
    assert loaded.estimator.get_params() == fitted.estimator.get_params()
    # A correction of the loaded result equals the correction of the fitted one, bit for bit.
    negcorr = ibma.correct.FDRCorrector(method="negcorr")
    a, b = negcorr.transform(fitted), negcorr.transform(loaded)
    assert np.array_equal(bits(a.maps["p_corr-FDR_method-negcorr"]), bits(b.maps["p_corr-FDR_method-negcorr"]))
    # Fitted on a folder, the loaded result reads the data again for permutations.
    fwe = ibma.correct.FWECorrector(method="montecarlo", n_iters=100)
    name = "z_level-voxel_corr-FWE_method-montecarlo"
    assert np.array_equal(bits(fwe.transform(fitted).maps[name]), bits(fwe.transform(loaded).maps[name]))


def test_result_of_memory_inputs_cannot_refit_after_loading(tmp_path):
    import nibabel as nib

    mask = nib.Nifti1Image(np.ones((2, 2, 1), np.uint8), np.eye(4))
    con = np.array([[1.0, 2.0, 0.5, 1.5], [1.2, 1.8, 0.7, 1.1], [0.9, 2.2, 0.4, 1.3]])
    fitted = ibma.DerSimonianLaird().fit(ibma.Inputs(con=con, varcope=np.full((3, 4), 0.5), mask=mask))
    fitted.save(tmp_path / "r.gz")
    loaded = ibma.MetaResult.load(tmp_path / "r.gz")
    assert np.array_equal(loaded.maps["z"], fitted.maps["z"])
    fwe = ibma.correct.FWECorrector(method="montecarlo", n_iters=10)
    fwe.transform(fitted)  # the fitted result keeps its inputs
    with pytest.raises(ValueError, match="inputs are not available"):
        fwe.transform(loaded)


def test_loads_what_the_cli_saved(tmp_path):
    data = shared("nimare_test_pain_10x10x10")
    out = tmp_path / "cli"
    o = run_cli("fit", "--quiet", "--dataset", str(data), "--estimator", "hedges", "--correct", "bonferroni", "--out", str(out))
    assert o.returncode == 0, o.stderr
    loaded = ibma.MetaResult.load(out / "result.ibma.json.gz")
    ours = ibma.correct.FWECorrector(method="bonferroni").transform(quiet_fit(ibma.Hedges(), data))
    assert list(loaded.maps) == list(ours.maps)
    for name in ours.maps:
        assert np.array_equal(bits(loaded.maps[name]), bits(ours.maps[name])), name


def test_corrupt_files_name_themselves(tmp_path):
    bad = tmp_path / "bad.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="bad.gz: not gzip-compressed"):
        ibma.MetaResult.load(bad)
    est = tmp_path / "est.gz"
    ibma.Stouffers().save(est)
    with pytest.raises(ValueError, match="holds an ibma estimator, not an ibma result"):
        ibma.MetaResult.load(est)
