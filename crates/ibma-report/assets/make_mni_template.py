#!/usr/bin/env python3
"""Build mni_icbm152_t1_2mm.nii.gz, the report's anatomical underlay, from the 1 mm MNI ICBM152
2009a T1 template that nilearn ships as package data.

Regenerate (from crates/ibma-report):

    pip install nilearn==0.13.1 nibabel numpy
    python3 assets/make_mni_template.py

Input: nilearn/datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz (197x233x189,
1 mm, uint8, skull-stripped, RAS, voxel (0,0,0) at (-98,-134,-72) mm); its SHA-256 is checked.
Output: the same image on a 2 mm grid whose voxel centres lie on even millimetres (the lattice
of the MNI152 2 mm grids of FSL and NiMARE), cropped to the brain plus one voxel, uint8, RAS.
Each 2 mm voxel is the [1/4, 1/2, 1/4]-weighted mean, along every axis, of the 1 mm voxels
centred on it and its two neighbours (anti-aliasing before taking every other voxel).
The copyright and permission notice is in LICENSE-MNI-ICBM152.txt beside this script.
"""

import gzip
import hashlib
import pathlib

import nibabel as nib
import nilearn
import numpy as np

SOURCE_SHA256 = "421a10e872fd6cadae7f61d358dffbcc1795a497d61ee76c5dda2503e1a1e9e6"
OUT = pathlib.Path(__file__).with_name("mni_icbm152_t1_2mm.nii.gz")


def main():
    src = pathlib.Path(nilearn.__file__).parent / "datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    if digest != SOURCE_SHA256:
        raise SystemExit(f"{src}: SHA-256 {digest}, expected {SOURCE_SHA256}")
    img = nib.load(src)
    a = img.affine
    if not np.allclose(a, np.array([[1, 0, 0, -98], [0, 1, 0, -134], [0, 0, 1, -72], [0, 0, 0, 1]])):
        raise SystemExit(f"{src}: unexpected affine {a}")
    data = np.asarray(img.dataobj, dtype=np.float64)
    # [1/4, 1/2, 1/4] along each axis (zero beyond the edges), then every other voxel from
    # index 0: the origin (-98, -134, -72) is even, so the kept centres are even millimetres.
    for axis in range(3):
        padded = np.pad(data, [(1, 1) if a == axis else (0, 0) for a in range(3)])
        n = data.shape[axis]
        take = lambda s: np.take(padded, np.arange(s, s + n), axis=axis)
        data = 0.25 * take(0) + 0.5 * take(1) + 0.25 * take(2)
    data = data[::2, ::2, ::2]
    origin = a[:3, 3]
    # Crop to the voxels with signal plus one voxel of margin.
    nz = np.argwhere(data >= 0.5)
    lo = np.maximum(nz.min(0) - 1, 0)
    hi = np.minimum(nz.max(0) + 2, data.shape)
    data = data[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = origin + 2.0 * lo
    out = nib.Nifti1Image(np.rint(data).clip(0, 255).astype(np.uint8), affine)
    out.header.set_sform(affine, code=4)  # MNI_152
    out.header.set_qform(affine, code=4)
    out.header.set_xyzt_units("mm")
    out.header["descrip"] = b"MNI ICBM152 2009a T1 (nilearn), 2 mm"
    raw = out.to_bytes()
    # gzip with a fixed timestamp and no file name, so the bytes are reproducible.
    OUT.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
    print(f"{OUT.name}: {data.shape}, origin {affine[:3, 3]}, {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
