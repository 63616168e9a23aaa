//! The anatomical underlay: the MNI ICBM152 2009a T1 template (2 mm, skull-stripped, compiled
//! into the binary from `assets/`; its licence is `assets/LICENSE-MNI-ICBM152.txt`), sampled in
//! world millimetres so that it lies under a map on any MNI-space grid (2 mm, 1 mm, 3 mm,
//! cropped, LAS or RAS).
//!
//! Whether a map's grid is MNI space is decided from its mask: most mask voxels must lie inside
//! the template's brain and the mask must span a good part of that brain along every axis. A grid
//! that fails is drawn without anatomy (grey in-mask voxels), and the page says why.

use super::geometry::invert_affine;
use std::path::Path;
use std::sync::OnceLock;

/// The template file (see `assets/make_mni_template.py`).
const TEMPLATE_GZ: &[u8] = include_bytes!("../assets/mni_icbm152_t1_2mm.nii.gz");
/// Template intensity (0..1) from which a point counts as brain: the skull-stripped template is 0
/// outside and ≥ 0.1 in tissue; edges are blurred by the 2 mm resampling.
const BRAIN_LEVEL: f64 = 0.05;
/// At least this fraction of the mask's voxels must lie inside the template's brain ...
const MIN_INSIDE: f64 = 0.8;
/// ... and the mask must span at least this fraction of the brain's extent along every axis (a
/// small synthetic grid near the origin is not taken for a brain).
const MIN_SPAN: f64 = 0.4;

/// The template on its grid, intensities scaled to 0..1.
pub struct Template {
    dims: [usize; 3],
    /// World → voxel rows.
    inverse: [[f64; 4]; 3],
    values: Vec<f32>,
    /// World bounding box of the brain voxels (mm).
    brain_lo: [f64; 3],
    brain_hi: [f64; 3],
}

/// The compiled-in MNI template, decoded on first use.
pub fn mni() -> &'static Template {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        // The asset is part of the build; a test decodes it, so failure here is a packaging bug.
        let volume = ibma_io::read_volume_bytes(TEMPLATE_GZ, Path::new("assets/mni_icbm152_t1_2mm.nii.gz"))
            .expect("the compiled-in MNI template decodes");
        let inverse = invert_affine(&volume.grid.affine).expect("the MNI template's affine is invertible");
        let max = volume.data.iter().copied().fold(0.0, f64::max).max(1.0);
        let values: Vec<f32> = volume.data.iter().map(|&x| (x / max) as f32).collect();
        let (mut brain_lo, mut brain_hi) = ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3]);
        let [_, ny, nz] = volume.grid.dims;
        let a = &volume.grid.affine;
        for (v, _) in values.iter().enumerate().filter(|(_, &x)| f64::from(x) >= BRAIN_LEVEL) {
            let ijk = [(v / (ny * nz)) as f64, ((v / nz) % ny) as f64, (v % nz) as f64];
            for r in 0..3 {
                let w = a[r][0] * ijk[0] + a[r][1] * ijk[1] + a[r][2] * ijk[2] + a[r][3];
                brain_lo[r] = brain_lo[r].min(w);
                brain_hi[r] = brain_hi[r].max(w);
            }
        }
        Template { dims: volume.grid.dims, inverse, values, brain_lo, brain_hi }
    })
}

impl Template {
    /// Intensity (0..1) of the template voxel under world point `w` (nearest voxel, as the
    /// map itself is drawn: 2 mm blocks that compress well in PNG); 0 outside the template.
    pub fn sample(&self, w: [f64; 3]) -> f64 {
        let mut ijk = [0usize; 3];
        for (r, slot) in ijk.iter_mut().enumerate() {
            let m = &self.inverse[r];
            let x = (m[0] * w[0] + m[1] * w[1] + m[2] * w[2] + m[3]).round();
            if !(0.0..self.dims[r] as f64).contains(&x) {
                return 0.0;
            }
            *slot = x as usize;
        }
        let [_, ny, nz] = self.dims;
        f64::from(self.values[(ijk[0] * ny + ijk[1]) * nz + ijk[2]])
    }

    fn in_brain(&self, w: [f64; 3]) -> bool {
        self.sample(w) >= BRAIN_LEVEL
    }
}

/// Whether the underlay is drawn, and the sentence that tells the reader.
pub struct Choice {
    /// The template, when the grid is taken to be MNI space.
    pub template: Option<&'static Template>,
    /// What was drawn and why (plain text).
    pub note: String,
}

/// Decide for a mask: `voxels` are (a sample of) its voxels' world positions in mm, `(lo, hi)`
/// its world bounding box.
pub fn choose(voxels: &[[f64; 3]], (lo, hi): ([f64; 3], [f64; 3])) -> Choice {
    let t = mni();
    let inside = voxels.iter().filter(|&&w| t.in_brain(w)).count() as f64 / voxels.len().max(1) as f64;
    let span: [f64; 3] = std::array::from_fn(|a| {
        let overlap = hi[a].min(t.brain_hi[a]) - lo[a].max(t.brain_lo[a]);
        (overlap / (t.brain_hi[a] - t.brain_lo[a])).max(0.0)
    });
    let pct = |x: f64| format!("{:.0}%", 100.0 * x);
    let narrowest = (0..3).min_by(|&a, &b| span[a].total_cmp(&span[b])).unwrap_or(0);
    if inside >= MIN_INSIDE && span[narrowest] >= MIN_SPAN {
        Choice {
            template: Some(t),
            note: format!(
                "Anatomy: the MNI ICBM152 2009a T1 template is drawn under the map, with the map blended on top \
                 ({} of the mask's voxels lie inside the template's brain, so the grid is taken to be MNI space; \
                 if the maps are in another space, ignore the anatomy).",
                pct(inside)
            ),
        }
    } else {
        let why = if inside < MIN_INSIDE {
            format!(
                "only {} of the mask's voxels lie inside the MNI template's brain ({} needed)",
                pct(inside),
                pct(MIN_INSIDE)
            )
        } else {
            format!(
                "the mask spans only {} of the MNI template's brain along {} ({} needed)",
                pct(span[narrowest]),
                ["x", "y", "z"][narrowest],
                pct(MIN_SPAN)
            )
        };
        Choice {
            template: None,
            note: format!(
                "No anatomical underlay: the grid does not look like MNI space ({why}); the mask is drawn in grey."
            ),
        }
    }
}
