"""Bad input raises the right Python exception with the library's one-line message; nothing
crashes the interpreter."""

from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pytest
from conftest import shared

import ibma

MASK = nib.Nifti1Image(np.ones((2, 2, 1), np.uint8), np.eye(4))
CON = np.array([[1.0, 2.0, 0.5, 1.5], [1.2, 1.8, 0.7, 1.1], [0.9, 2.2, 0.4, 1.3]])
VAR = np.full((3, 4), 0.5)


def test_parameters():
    with pytest.raises(TypeError, match="stouffers: parameter bogus: unknown parameter; valid parameters: use_sample_size"):
        ibma.Stouffers(bogus=True)
    with pytest.raises(ValueError, match='parameter method: invalid value "nope"; valid values: ml, reml'):
        ibma.VarianceBasedLikelihood(method="nope")
    with pytest.raises(ValueError, match="parameter tau2"):
        ibma.WeightedLeastSquares(tau2=-1)
    with pytest.raises(ValueError, match="parameter two_sided"):
        ibma.Fishers(two_sided="maybe")
    with pytest.raises(ValueError, match="Invalid parameter|unknown parameter"):
        ibma.Hedges().set_params(bogus=1)
    with pytest.raises(ValueError, match="parameter weight_scheme: invalid value"):
        ibma.DerSimonianLaird(weight_scheme="heavy")
    with pytest.raises(ValueError, match="parameter rho"):
        ibma.Hedges(rho=2)
    with pytest.raises(ValueError, match="parameter groupby: invalid value"):
        ibma.Stouffers(groupby={"a": 1})
    with pytest.raises(TypeError, match="weight_scheme: unknown parameter"):
        ibma.Stouffers(weight_scheme="rescale")  # NiMARE's combination tests do not take it either
    with pytest.raises(TypeError, match="resample__interpolation"):
        ibma.Fishers(resample__clip=True)
    # A failed set_params leaves the estimator as it was.
    est = ibma.DerSimonianLaird(small_sample_correction="wald")
    with pytest.raises(ValueError):
        est.set_params(aggressive_mask=True, small_sample_correction="bad")
    assert est.get_params()["aggressive_mask"] is False and est.small_sample_correction == "wald"


def test_inputs():
    with pytest.raises(ValueError, match=r"varcope: shape \(2, 4\) but 3 studies x 4 mask voxels were expected"):
        ibma.Inputs(con=CON, varcope=VAR[:2], mask=MASK)
    with pytest.raises(ValueError, match=r"con: shape \(3, 5\)"):
        ibma.Inputs(con=np.ones((3, 5)), mask=MASK)
    with pytest.raises(ValueError, match="study a: the id is used twice"):
        ibma.Inputs(con=CON, mask=MASK, ids=["a", "b", "a"])
    with pytest.raises(ValueError, match="sample_sizes: 2 values for 3 studies"):
        ibma.Inputs(con=CON, mask=MASK, sample_sizes=[10, 12])
    with pytest.raises(ValueError, match="no voxel is non-zero"):
        ibma.Inputs(con=CON, mask=nib.Nifti1Image(np.zeros((2, 2, 1)), np.eye(4)))
    with pytest.raises(ValueError, match="mask is required"):
        ibma.Inputs(con=CON)
    shifted = np.eye(4)
    shifted[0, 3] = 2.0
    image = nib.Nifti1Image(np.ones((2, 2, 1, 3), np.float32), shifted)
    with pytest.raises(ValueError, match="con: grid 2x2x1, affine .* differs from the mask grid"):
        ibma.Inputs(con=image, mask=MASK)
    with pytest.raises(FileNotFoundError, match="no-such-mask.nii.gz"):
        ibma.Inputs(con=CON, mask="no-such-mask.nii.gz")


def test_fits():
    inputs = ibma.Inputs(con=CON, varcope=VAR, mask=MASK)
    with pytest.raises(ValueError, match=r"fishers needs at least 2 usable studies, found 0 \(dropped: study-1 \(no z\)"):
        ibma.Fishers(derive=False).fit(inputs)
    one = ibma.Inputs(con=CON[:1], varcope=VAR[:1], mask=MASK)
    with pytest.raises(ValueError, match="needs at least 2 usable studies, found 1"):
        ibma.DerSimonianLaird().fit(one)
    with pytest.raises(ValueError, match="needs at least 2 usable studies"):
        ibma.SampleSizeBasedLikelihood().fit(inputs)  # no sample sizes
    holes = VAR.copy()
    holes[1] = 0.0  # study-2 has no usable varcope
    partial = ibma.Inputs(con=CON, varcope=holes, mask=MASK)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert ibma.DerSimonianLaird().fit(partial).studies == ["study-1", "study-3"]
    assert any("dropping study study-2 (no usable voxel)" in str(w.message) for w in caught)
    with pytest.raises(ValueError, match="drop_invalid=False, but 1 of 3 studies have no usable data for it: study-2 \\(no usable voxel\\)"):
        ibma.DerSimonianLaird().fit(partial, drop_invalid=False)
    with pytest.raises(TypeError, match="expected a dataset path, ibma.Inputs or a NiMARE Dataset, not int"):
        ibma.Hedges().fit(42)
    with pytest.raises(ValueError, match="Inputs carry their own mask"):
        ibma.Hedges(mask=MASK).fit(inputs)


def test_results_and_corrections():
    result = ibma.DerSimonianLaird().fit(ibma.Inputs(con=CON, varcope=VAR, mask=MASK))
    with pytest.raises(ValueError, match="No map with name 'zz' found"):
        result.get_map("zz")
    with pytest.raises(ValueError, match="return_type"):
        result.get_map("z", return_type="table")
    with pytest.raises(ValueError, match="Unsupported FWE correction method 'predictive'"):
        ibma.correct.FWECorrector(method="predictive")
    with pytest.raises(ValueError, match="n_iters must be a positive integer"):
        ibma.correct.FWECorrector(method="montecarlo", n_iters=0)
    with pytest.raises(ValueError, match="Unsupported FDR correction method"):
        ibma.correct.FDRCorrector(method="bh")
    with pytest.raises(ValueError, match="must be at most 4294967295"):
        ibma.correct.FWECorrector(method="montecarlo", n_iters=5, seed=2**40).transform(result)
    with pytest.raises(ValueError, match="First argument to transform"):
        ibma.correct.FDRCorrector().transform("not a result")
    empirical = ibma.Stouffers(inference="rfx", null="empirical", n_iters=20).fit(
        ibma.Inputs(z=CON, mask=MASK)
    )
    with pytest.raises(ValueError, match="montecarlo needs null=theoretical"):
        ibma.correct.FWECorrector(method="montecarlo", n_iters=10).transform(empirical)
    with pytest.raises(ValueError, match="threshold=VALUE is required"):
        ibma.diagnostics.Jackknife().transform(result)
    with pytest.raises(ValueError, match="Target image \\('t'\\) not present in result"):
        ibma.diagnostics.Jackknife(target_image="t", target_threshold=1).transform(result)


def test_files():
    with pytest.raises(FileNotFoundError, match="/no/such/dataset: No such file or directory"):
        ibma.Stouffers().fit("/no/such/dataset")
    data = shared("nimare_test_pain_10x10x10")
    with pytest.raises(FileNotFoundError, match="missing.nii.gz"):
        ibma.Stouffers(mask="missing.nii.gz").fit(data)
    other = nib.Nifti1Image(np.ones((3, 3, 3), np.uint8), np.eye(4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="differs from the mask grid .* --set resample=linear"):
            ibma.Stouffers(mask=other).fit(data)
