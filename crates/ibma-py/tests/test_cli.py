"""The Python package and the `ibma` command are one library: the same maps bit for bit, the
same files, the same error lines."""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from conftest import run_cli, shared

import ibma


def quiet_fit(estimator: ibma.Estimator, dataset) -> ibma.MetaResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator.fit(dataset)


def cli_fit(dataset: Path, out: Path, *args: str) -> None:
    o = run_cli("fit", "--quiet", "--dataset", str(dataset), "--out", str(out), *args)
    assert o.returncode == 0, o.stderr


def same_files(cli_dir: Path, py_dir: Path, names) -> None:
    """The NIfTI maps of both folders: identical decompressed bytes (header and values)."""
    for name in names:
        a = gzip.decompress((cli_dir / f"{name}.nii.gz").read_bytes())
        b = gzip.decompress((py_dir / f"{name}.nii.gz").read_bytes())
        assert a == b, name


def same_values(result: ibma.MetaResult, cli_dir: Path) -> None:
    """Every map of the result equals the CLI's file inside the mask, bit for bit."""
    inside = result._mask_indices()
    for name, values in result.maps.items():
        data = np.asanyarray(nib.load(str(cli_dir / f"{name}.nii.gz")).dataobj).reshape(-1)[inside]
        assert data.dtype == np.float32
        assert np.array_equal(data.view(np.uint32), values.view(np.uint32)), name


@pytest.mark.parametrize(
    "dataset,command,cls,kwargs",
    [
        ("nidm_pain21", "dersimonian-laird", ibma.DerSimonianLaird, {}),
        ("nidm_pain21", "stouffers", ibma.Stouffers, {"use_sample_size": True}),
        ("nimare_test_pain_10x10x10", "variance-based-likelihood", ibma.VarianceBasedLikelihood, {"method": "reml"}),
        ("nimare_test_pain_10x10x10", "mfx-glm", ibma.MFX_GLM, {}),
    ],
    ids=["DerSimonianLaird-pain21", "Stouffers_weighted-pain21", "VBL_REML-fixture", "MFX_GLM-fixture"],
)
def test_same_maps_and_files_as_the_cli(tmp_path, dataset, command, cls, kwargs):
    data = shared(dataset)
    sets = [a for k, v in kwargs.items() for a in ("--set", f"{k}={str(v).lower()}")]
    cli_fit(data, tmp_path / "cli", "--estimator", command, "--correct", "fdr-indep", *sets)
    result = ibma.correct.FDRCorrector(method="indep").transform(quiet_fit(cls(**kwargs), data))
    same_values(result, tmp_path / "cli")
    written = result.save_maps(tmp_path / "py")
    same_files(tmp_path / "cli", tmp_path / "py", result.maps)
    # The library's tables too (MFX_GLM's GRF clusters).
    for name, text in result.tables.items():
        assert (tmp_path / "cli" / f"{name}.tsv").read_text(encoding="utf-8") == text
        assert str(tmp_path / "py" / f"{name}.tsv") in written


def test_montecarlo_fwe_as_the_cli(tmp_path):
    data = shared("nimare_test_pain_10x10x10")
    cli_fit(data, tmp_path / "cli", "--estimator", "permuted-ols", "--correct", "montecarlo", "--n-iters", "500", "--seed", "7")
    fitted = quiet_fit(ibma.PermutedOLS(random_state=7), data)
    result = ibma.correct.FWECorrector(method="montecarlo", n_iters=500).transform(fitted)
    assert "z_level-voxel_corr-FWE_method-montecarlo" in result.maps
    same_values(result, tmp_path / "cli")
    # A refitting estimator's null (every flip refitted) too.
    cli_fit(data, tmp_path / "cli_dl", "--estimator", "dersimonian-laird", "--correct", "montecarlo", "--n-iters", "50")
    dl = ibma.correct.FWECorrector(method="montecarlo", n_iters=50, n_cores=2).transform(quiet_fit(ibma.DerSimonianLaird(), data))
    same_values(dl, tmp_path / "cli_dl")


def test_jackknife_as_the_cli(tmp_path):
    data = shared("nimare_test_pain_10x10x10")
    o = run_cli("jackknife", "--quiet", "--dataset", str(data), "--estimator", "stouffers", "--set", "threshold=3.1", "--out", str(tmp_path / "cli"))
    assert o.returncode == 0, o.stderr
    result = ibma.diagnostics.Jackknife(target_image="z", target_threshold=3.1).transform(quiet_fit(ibma.Stouffers(), data))
    assert result.tables["z_diag-Jackknife_tab-counts"] == (tmp_path / "cli" / "jackknife.tsv").read_text(encoding="utf-8")
    assert result.tables["z_tab-clust"] == (tmp_path / "cli" / "jackknife_clusters.tsv").read_text(encoding="utf-8")
    labels = [n for n in result.maps if n.startswith("label")]
    assert labels, "the fixture's Stouffers z has clusters above 3.1"
    inside = result._mask_indices()
    for name in labels:
        cli_labels = np.asanyarray(nib.load(str(tmp_path / "cli" / f"{name}.nii.gz")).dataobj).reshape(-1)[inside]
        assert np.array_equal(cli_labels.astype(np.float32), result.maps[name]), name


@pytest.mark.parametrize(
    "make,cli_args",
    [
        (lambda: ibma.Stouffers(foo=1), ["--estimator", "stouffers", "--set", "foo=1"]),
        (lambda: ibma.DerSimonianLaird(small_sample_correction="bad"), ["--estimator", "dersimonian-laird", "--set", "small_sample_correction=bad"]),
        (lambda: ibma.Stouffers(null="empirical"), ["--estimator", "stouffers", "--set", "null=empirical"]),
    ],
    ids=["unknown-parameter", "bad-value", "bad-combination"],
)
def test_parameter_errors_carry_the_cli_line(tmp_path, make, cli_args):
    with pytest.raises((TypeError, ValueError)) as raised:
        make()
    o = run_cli("fit", "--dataset", str(tmp_path), "--out", str(tmp_path / "out"), *cli_args)
    assert o.returncode == 2
    assert o.stderr.strip() == f"ibma: error: {raised.value}"


def test_data_errors_carry_the_cli_line(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as raised:
        ibma.Fishers().fit(missing)
    o = run_cli("fit", "--dataset", str(missing), "--estimator", "fishers", "--out", str(tmp_path / "out"))
    assert o.stderr.strip() == f"ibma: error: {raised.value}"
    # NiMARE's own fixture JSON names pain_NN_beta.nii.gz, stored here as pain_NN_con.nii.gz.
    nimare_json = shared("nimare_test_pain_10x10x10") / "nimare_test_pain_dataset.json"
    with pytest.raises(FileNotFoundError, match="file not found") as raised:
        ibma.Fishers().fit(nimare_json)
    o = run_cli("fit", "--dataset", str(nimare_json), "--estimator", "fishers", "--out", str(tmp_path / "out"))
    assert o.stderr.strip() == f"ibma: error: {raised.value}"
