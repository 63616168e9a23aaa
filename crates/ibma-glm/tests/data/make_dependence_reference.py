#!/usr/bin/env python3
"""Reference values for the dependence-aware kernels (several images per study).

Source: NiMARE 0.22.1 and PyMARE 0.0.13 (the oracle virtualenv of the project's NiMARE
harness). Regenerate from the repository root:

    /tmp/oracle-venv/bin/python crates/ibma-glm/tests/data/make_dependence_reference.py

It builds a small synthetic NiMARE dataset (9 images from 5 studies on a 30-voxel grid, with
zeros that cut the voxels into bags of different group structure, among them a bag whose valid
images all come from one study), fits NiMARE's own IBMA estimators on it with several
``groupby`` / ``weight_scheme`` / ``rho`` settings, and writes, as JSON:

* ``crates/ibma-glm/tests/data/dependence_reference.json``: the masked inputs in NiMARE's image
  order (``inputs_["id"]``), study labels and sample sizes, and per run the estimator, its
  arguments, its maps (z, logp, est, se, tau2, sigma2, dof, t; NaN -> null), PyMARE's warnings
  and NiMARE's log warnings, plus the Monte-Carlo FWE null (``values_level-voxel_corr-fwe_method-montecarlo``) of PermutedOLS.
* ``crates/ibma-stats/tests/data/dependence_reference.json``: NiMARE's null correlation matrix
  (``inputs_["corr_matrix"]`` of Fishers) with its inputs, PyMARE's
  ``undo_centering_shrinkage`` of a fixed matrix, and PyMARE's intercept-only CR2 statistic and
  Satterthwaite dof for a few weight vectors.
* ``crates/ibma-combine/tests/data/dependence_reference.json``: a copy of the inputs and the
  Fishers/Stouffers runs (a study whose two images are mirror images is added there).

Every value is produced by the installed NiMARE/PyMARE code; nothing here re-implements them.
"""

import json
import logging
import os
import sys
import tempfile
import warnings

import nibabel as nib
import numpy as np

import nimare
import pymare
from nimare.correct import FWECorrector
from nimare.dataset import Dataset
from nimare.meta import ibma
from pymare import stats as pstats

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
SHAPE = (5, 3, 2)
V = 30
MAPS = ("z", "t", "beta", "varcope")

# (study, contrast, sample size): study A has 3 contrasts, B and D 2, C and E 1.
IMAGES = [
    ("A", "1", 20), ("A", "2", 18), ("A", "3", 25),
    ("B", "1", 14), ("B", "2", 14),
    ("C", "1", 30),
    ("D", "1", 11), ("D", "2", 16),
    ("E", "1", 22),
]
# Voxels where an image is 0 (no coverage): bags with other group structures.
ZEROS = {
    ("A", "2"): range(0, 5),     # study A with two images
    ("D", "1"): range(5, 8),     # study D with one image: A and B still repeat
    ("C", "1"): range(8, 10),    # four groups
    ("B", "1"): range(10, 12),
}
# Voxels 28-29: only study A is valid there (one group: NaN in NiMARE).
ONLY_A = range(28, 30)


def make_data(rng):
    shared = rng.normal(0.8, 0.6, V)
    out = {}
    for study, contrast, n in IMAGES:
        study_effect = rng.normal(0.0, 0.5, V)
        out.setdefault(study, study_effect)
    data = {}
    for study, contrast, n in IMAGES:
        beta = shared + 0.7 * out[study] + rng.normal(0.0, 0.6, V)
        varcope = rng.uniform(0.05, 0.6, V) * (20.0 / n)
        t = beta / np.sqrt(varcope)
        z = t * 0.9
        maps = {"beta": beta, "varcope": varcope, "t": t, "z": z}
        for m in maps.values():
            for v in ZEROS.get((study, contrast), ()):
                m[v] = 0.0
            if study != "A":
                for v in ONLY_A:
                    m[v] = 0.0
        data[(study, contrast)] = maps
    return data


def write_dataset(tmp, data, images):
    affine = np.eye(4)
    nib.Nifti1Image(np.ones(SHAPE, dtype=np.float32), affine).to_filename(os.path.join(tmp, "mask.nii.gz"))
    source = {}
    for study, contrast, n in images:
        paths = {}
        for m in MAPS:
            path = os.path.join(tmp, f"{study}_{contrast}_{m}.nii.gz")
            vol = data[(study, contrast)][m].reshape(SHAPE).astype(np.float32)
            nib.Nifti1Image(vol, affine).to_filename(path)
            paths[m] = path
        entry = source.setdefault(study, {"contrasts": {}})
        entry["contrasts"][contrast] = {"images": paths, "metadata": {"sample_sizes": [n]}}
    return Dataset(source, mask=os.path.join(tmp, "mask.nii.gz"))


def jsonable(x):
    x = np.asarray(x, dtype=float)
    return [None if not np.isfinite(v) else float(v) for v in x.ravel()]


class _Log(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def run(dset, label, cls, kwargs, fwe_iters=0):
    est = getattr(ibma, cls)(**kwargs)
    log = _Log()
    logging.getLogger("nimare").addHandler(log)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = est.fit(dset)
    logging.getLogger("nimare").removeHandler(log)
    maps = {}
    for name in ("z", "logp", "est", "se", "tau2", "sigma2", "dof", "t"):
        if name in result.maps:
            maps[name] = jsonable(result.maps[name])
    out = {
        "label": label,
        "estimator": cls,
        "kwargs": {k: (v if not isinstance(v, (np.ndarray, list)) else list(v)) for k, v in kwargs.items()},
        "ids": [str(i) for i in est.inputs_["id"]],
        "maps": maps,
        "warnings": sorted({str(w.message).split(".")[0] for w in caught if "deprecated" not in str(w.message)}),
        "log": log.messages,
    }
    if est.inputs_.get("corr_matrix") is not None:
        out["corr_matrix"] = jsonable(est.inputs_["corr_matrix"])
    if fwe_iters:
        corrected = FWECorrector(method="montecarlo", n_iters=fwe_iters, n_cores=1).transform(result)
        null = corrected.estimator.null_distributions_["values_level-voxel_corr-fwe_method-montecarlo"]
        out["fwe_null_max_z"] = jsonable(null)
        out["maps"]["p_fwe"] = jsonable(corrected.maps["p_level-voxel_corr-FWE_method-montecarlo"])
    return out


def inputs(dset):
    est = ibma.Fishers()
    est.fit(dset)
    ids = [str(i) for i in est.inputs_["id"]]
    study = dict(zip(dset.images["id"].astype(str), dset.images["study_id"].astype(str)))
    sizes = {str(r["id"]): float(np.mean(r["sample_sizes"])) for _, r in dset.metadata.iterrows()}
    masker = dset.masker
    values = {}
    for m in MAPS:
        col = {str(i): p for i, p in zip(dset.images["id"], dset.images[m])}
        values[m] = [jsonable(masker.transform([nib.load(col[i])])[0]) for i in ids]
    return {"ids": ids, "study": [study[i] for i in ids], "sample_sizes": [sizes[i] for i in ids],
            "n_voxels": V, "maps": values}


def regression_runs(dset):
    runs = []
    base = [
        ("WeightedLeastSquares", {"tau2": 0}),
        ("WeightedLeastSquares", {"tau2": 0.3}),
        ("DerSimonianLaird", {}),
        ("Hedges", {}),
        ("VarianceBasedLikelihood", {"method": "ml"}),
        ("VarianceBasedLikelihood", {"method": "reml"}),
        ("SampleSizeBasedLikelihood", {"method": "ml"}),
        ("SampleSizeBasedLikelihood", {"method": "reml"}),
        ("FixedEffectsHedges", {"tau2": 0}),
    ]
    for scheme, rho in (("rescale", 0.8), ("individual", None), ("collapse", 0.8), ("rescale", 0.3)):
        for cls, kw in base:
            kwargs = dict(kw, weight_scheme=scheme)
            if rho is not None:
                kwargs["rho"] = rho
            runs.append(run(dset, f"{cls}/{scheme}/{rho}/{kw}", cls, kwargs))
    for cls, kw in base:
        runs.append(run(dset, f"{cls}/groupby=False/{kw}", cls, dict(kw, groupby=False)))
    for weighted in (False, True):
        runs.append(run(dset, f"PermutedOLS/use_sample_size={weighted}", "PermutedOLS",
                        {"use_sample_size": weighted, "random_state": 7}, fwe_iters=200))
    return runs


def combination_runs(dset):
    runs = []
    for groupby in (None, False):
        kw = {} if groupby is None else {"groupby": False}
        runs.append(run(dset, f"Fishers/{groupby}", "Fishers", dict(kw)))
        runs.append(run(dset, f"Fishers/weighted/{groupby}", "Fishers", dict(kw, use_sample_size=True)))
        runs.append(run(dset, f"Fishers/directed/{groupby}", "Fishers", dict(kw, two_sided=False)))
        runs.append(run(dset, f"Stouffers/{groupby}", "Stouffers", dict(kw)))
        runs.append(run(dset, f"Stouffers/weighted/{groupby}", "Stouffers", dict(kw, use_sample_size=True)))
    return runs


def stats_reference(corr_inputs, corr_matrix):
    rng = np.random.default_rng(3)
    k = 7
    groups = np.array([0, 0, 0, 1, 1, 2, 3])
    a = rng.normal(size=(k, 40))
    raw = np.corrcoef(a - a.mean(axis=0))
    undone = pstats.undo_centering_shrinkage(raw, groups)
    cr2 = []
    for q in ([1.0, 2.0, 3.0, 4.0], [5.0, 0.1, 0.1], [2.0, 2.0, 2.0, 2.0, 2.0], [100.0, 1.0, 1.0]):
        q = np.asarray(q)
        x = rng.normal(size=(q.size, 3))
        suff = pstats.weighted_intercept_cr2_sufficient_statistics(x, q)
        t = pstats.weighted_intercept_cr2(np.ones((1, q.size)), suff).ravel()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dof = pstats.satterthwaite_dof(np.ones((q.size, 1)), q[:, None], np.arange(q.size)).ravel()
        cr2.append({"q": q.tolist(), "x": x.T.tolist(), "t": t.tolist(), "dof": float(dof[0])})
    return {
        "source": "NiMARE 0.22.1 / PyMARE 0.0.13 (make_dependence_reference.py in crates/ibma-glm/tests/data)",
        "null_correlation": {"inputs": corr_inputs, "corr_matrix": corr_matrix},
        "undo_centering_shrinkage": {"groups": groups.tolist(), "input": raw.ravel().tolist(),
                                     "output": undone.ravel().tolist()},
        "cr2": cr2,
    }


def main():
    rng = np.random.default_rng(20240515)
    data = make_data(rng)
    with tempfile.TemporaryDirectory() as tmp:
        dset = write_dataset(tmp, data, IMAGES)
        base_inputs = inputs(dset)
        regression = regression_runs(dset)
        combination = combination_runs(dset)
        fishers = next(r for r in combination if r["label"] == "Fishers/None")
        # A sixth study F whose second image is the first with its sign flipped.
        mirror = dict(data)
        mirror[("F", "1")] = {m: data[("E", "1")][m] * (1.1 if m != "varcope" else 1.0) + 0.3 for m in MAPS}
        mirror[("F", "2")] = {m: (-mirror[("F", "1")][m] if m != "varcope" else mirror[("F", "1")][m]) for m in MAPS}
        images = IMAGES + [("F", "1", 15), ("F", "2", 15)]
        mirror_dset = write_dataset(tmp, mirror, images)
        mirror_inputs = inputs(mirror_dset)
        mirror_runs = combination_runs(mirror_dset)
    meta = {"source": "NiMARE %s / PyMARE %s (make_dependence_reference.py in crates/ibma-glm/tests/data)"
            % (nimare.__version__, pymare.__version__)}
    targets = {
        "crates/ibma-glm/tests/data/dependence_reference.json":
            dict(meta, inputs=base_inputs, runs=regression),
        "crates/ibma-combine/tests/data/dependence_reference.json":
            dict(meta, datasets=[{"inputs": base_inputs, "runs": combination},
                                 {"inputs": mirror_inputs, "runs": mirror_runs}]),
        "crates/ibma-stats/tests/data/dependence_reference.json":
            stats_reference(base_inputs, fishers["corr_matrix"]),
    }
    for path, content in targets.items():
        full = os.path.join(ROOT, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            json.dump(content, f, separators=(",", ":"))
            f.write("\n")
        print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
