"""Reference resamplings by nilearn 0.13.1 for crates/ibma-io/tests/it/resample.rs.

Run from the repository root (nilearn 0.13.1, nibabel 5.4.2, scipy 1.17.1, numpy):

    /work/main/target/nimare-venv/bin/python crates/ibma-io/tests/data/resample/make_reference.py

It writes, next to itself:

- source.nii.gz: a 20x24x20 float32 map on 2.5 mm voxels (sform): a smooth signed field, a slab
  of zeros (x < 4, "outside the brain"), a 3x3x3 cube of zeros and a 2x2x2 cube of NaN inside.
- target_<case>.nii.gz: uint8 images whose only purpose is their grid (shape + affine):
  shifted (sub-voxel shift), intshift (whole-voxel shift and another shape, the commonest
  real mismatch: same voxels, another bounding box),
  rotated (20 deg about z, 7 deg about x, qform only), down (5 mm voxels, 2x down-sampled).
- nilearn_<case>_linear.nii.gz, nilearn_<case>_nearest.nii.gz:
  ``resample_to_img(source, target, interpolation=..., force_resample=True, copy_header=True)``
  (force_resample=True is nilearn 0.13's default and what NiMARE 0.22.1 gets).
- nilearn_<case>_nodata.nii.gz: uint8, 1 where nilearn's linear interpolation draws on a voxel
  that is not data (zero, NaN, or outside the source volume): the data indicator of the source
  (1 where finite and non-zero) resampled linearly by nilearn falls below 1.

Images are saved and re-loaded before resampling, so nilearn sees exactly the float32 header
affines ibma reads.
"""

from pathlib import Path

import nibabel as nib
import numpy as np
from nilearn.image import resample_to_img

HERE = Path(__file__).resolve().parent
SHAPE = (20, 24, 20)
VOXEL = 2.5
ORIGIN = np.array([-25.0, -30.0, -22.5])


def source_data():
    i, j, k = np.meshgrid(*(np.arange(n, dtype=np.float64) for n in SHAPE), indexing="ij")
    blob = 4.0 * np.exp(-((i - 11.0) ** 2 + (j - 12.0) ** 2 + (k - 9.0) ** 2) / 30.0)
    data = blob + 0.15 * (j - 8.0) - 0.08 * k + 0.3 * np.sin(i / 3.0)
    data[:4] = 0.0
    data[13:16, 5:8, 4:7] = 0.0
    data[8:10, 17:19, 12:14] = np.nan
    return data.astype(np.float32)


def affine(rotation=np.eye(3), voxel=VOXEL, origin=ORIGIN):
    a = np.eye(4)
    a[:3, :3] = rotation * voxel
    a[:3, 3] = origin
    return a


def rotation(z_deg, x_deg):
    cz, sz = np.cos(np.radians(z_deg)), np.sin(np.radians(z_deg))
    cx, sx = np.cos(np.radians(x_deg)), np.sin(np.radians(x_deg))
    rz = np.array([[cz, -sz, 0.0], [sz, cz, 0.0], [0.0, 0.0, 1.0]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cx, -sx], [0.0, sx, cx]])
    return rz @ rx


def save(data, aff, name, qform_only=False):
    img = nib.Nifti1Image(data, aff)
    if qform_only:
        img.set_qform(aff, code=1)
        img.set_sform(None, code=0)
    else:
        img.set_sform(aff, code=1)
        img.set_qform(None, code=0)
    path = HERE / name
    nib.save(img, path)
    return nib.load(path)


def main():
    centre = ORIGIN + VOXEL * (np.array(SHAPE) - 1) / 2
    rot = rotation(20.0, 7.0)
    targets = {
        # Sub-voxel shift in every axis; the grid overhangs the source by about one voxel.
        "shifted": (affine(origin=ORIGIN + [1.3, -0.7, 0.4]), SHAPE, False),
        # Whole voxels (2, -1, 3) and another shape.
        "intshift": (affine(origin=ORIGIN + VOXEL * np.array([2.0, -1.0, 3.0])), (17, 26, 15), False),
        # Rotated about the source's centre, a little larger so that corners fall outside.
        "rotated": (affine(rot, origin=centre - rot @ (VOXEL * (np.array([22, 26, 22]) - 1) / 2)), (22, 26, 22), True),
        # 5 mm voxels; centres 0.4, 0.6, 0.3 source voxels off the source's (no rounding ties).
        "down": (affine(voxel=2 * VOXEL, origin=ORIGIN + [1.0, 1.5, 0.75]), (10, 12, 10), False),
    }
    source = save(source_data(), affine(), "source.nii.gz")
    data = source.get_fdata()
    indicator = nib.Nifti1Image((np.isfinite(data) & (data != 0)).astype(np.float32), source.affine)
    for case, (aff, shape, qform_only) in targets.items():
        target = save(np.ones(shape, dtype=np.uint8), aff, f"target_{case}.nii.gz", qform_only)
        for interpolation in ("linear", "nearest"):
            out = resample_to_img(
                source, target, interpolation=interpolation, force_resample=True, copy_header=True
            )
            nib.save(out, HERE / f"nilearn_{case}_{interpolation}.nii.gz")
        coverage = resample_to_img(
            indicator, target, interpolation="linear", force_resample=True, copy_header=True
        ).get_fdata()
        nodata = nib.Nifti1Image((coverage < 1.0).astype(np.uint8), target.affine)
        nodata.set_sform(target.affine, code=1)
        nib.save(nodata, HERE / f"nilearn_{case}_nodata.nii.gz")


if __name__ == "__main__":
    main()
