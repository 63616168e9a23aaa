//! Putting a map onto another grid (the mask's) by trilinear or nearest-neighbour interpolation
//! in world coordinates, as nilearn's `resample_to_img` does, with zero-as-missing kept.
//!
//! Geometry: the centre of target voxel `o` sits at world `T·o` (target affine), which is source
//! voxel coordinate `c = S⁻¹·T·o` (source affine `S`). Values are interpolated at `c` from the
//! source's voxel centres; no smoothing or anti-aliasing is done (a down-sampled map is sampled,
//! as nilearn samples it).
//!
//! No-data rule: a source voxel holding 0 or a non-finite value is no data (NiMARE's validity
//! rule), and so is any point outside the box spanned by the source's voxel centres
//! (`0 ≤ c ≤ n − 1` on every axis; scipy's `mode="constant"` gives its fill value there too).
//! A linear value is no data as soon as one of the (up to 8) voxels it draws on with a non-zero
//! weight is; a nearest value is the nearest voxel's, no data included. No data comes out as
//! NaN. Where it has data, the linear value is nilearn's (scipy `affine_transform`, order 1);
//! where nilearn would mix a zero or a NaN-neighbour fill into the value, ibma says no data
//! instead (docs/resampling.md).

use crate::{Grid, Volume};

/// How a value between voxel centres is found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interpolation {
    /// Trilinear: the weighted mean of the 8 surrounding voxels (nilearn `"linear"`).
    Linear,
    /// The nearest voxel's value (nilearn `"nearest"`; halfway points go to the higher index).
    Nearest,
}

impl Interpolation {
    /// Every choice, as the command line spells them.
    pub const CHOICES: &'static str = "linear|nearest";

    /// The name nilearn and the command line use.
    pub fn name(self) -> &'static str {
        match self {
            Interpolation::Linear => "linear",
            Interpolation::Nearest => "nearest",
        }
    }

    /// Parse `linear` or `nearest`.
    pub fn parse(name: &str) -> Option<Interpolation> {
        match name {
            "linear" => Some(Interpolation::Linear),
            "nearest" => Some(Interpolation::Nearest),
            _ => None,
        }
    }
}

/// Source coordinates within this many voxels of a voxel centre (or of the volume's edge) count
/// as on it. `S⁻¹·T` is computed in f64, so a target centre that lies on a source centre comes
/// out a few 1e-16 off; without this, a tiny weight on a no-data neighbour would wrongly drop
/// the voxel. The effect on a value is at most 1e-9 of the neighbours' difference.
const SNAP_VOXELS: f64 = 1e-9;

/// Values of `source` at the centres of the target voxels `indices` (C-order flat indices into
/// `target`), NaN where there is no data; `None` if the source affine cannot be inverted.
pub fn resample_voxels(
    source: &Volume,
    target: &Grid,
    indices: &[usize],
    interpolation: Interpolation,
) -> Option<Vec<f64>> {
    let to_source = source_coordinates(&source.grid.affine, &target.affine)?;
    let [_, ny, nz] = target.dims;
    let dims = source.grid.dims;
    Some(
        indices
            .iter()
            .map(|&v| {
                let o = [(v / (ny * nz)) as f64, ((v / nz) % ny) as f64, (v % nz) as f64];
                let c: [f64; 3] = std::array::from_fn(|r| {
                    to_source[r][0] * o[0] + to_source[r][1] * o[1] + to_source[r][2] * o[2] + to_source[r][3]
                });
                match interpolation {
                    Interpolation::Linear => linear(&source.data, dims, c),
                    Interpolation::Nearest => nearest(&source.data, dims, c),
                }
            })
            .collect(),
    )
}

/// `source` on the whole of `target` (NaN where there is no data); `None` if the source affine
/// cannot be inverted.
pub fn resample(source: &Volume, target: &Grid, interpolation: Interpolation) -> Option<Volume> {
    let all: Vec<usize> = (0..target.n_voxels()).collect();
    let data = resample_voxels(source, target, &all, interpolation)?;
    Some(Volume { grid: target.clone(), data })
}

/// The 3x4 map from target voxel indices to source voxel coordinates, `S⁻¹·T`.
fn source_coordinates(source: &[[f64; 4]; 4], target: &[[f64; 4]; 4]) -> Option<[[f64; 4]; 3]> {
    let s = |r: usize, c: usize| source[r][c];
    // Inverse of the 3x3 part by cofactors (transposed adjugate over the determinant).
    let cof = |r0: usize, r1: usize, c0: usize, c1: usize| s(r0, c0) * s(r1, c1) - s(r0, c1) * s(r1, c0);
    let adj = [
        [cof(1, 2, 1, 2), -cof(0, 2, 1, 2), cof(0, 1, 1, 2)],
        [-cof(1, 2, 0, 2), cof(0, 2, 0, 2), -cof(0, 1, 0, 2)],
        [cof(1, 2, 0, 1), -cof(0, 2, 0, 1), cof(0, 1, 0, 1)],
    ];
    let det = s(0, 0) * adj[0][0] + s(0, 1) * adj[1][0] + s(0, 2) * adj[2][0];
    if det == 0.0 || !det.is_finite() {
        return None;
    }
    let inv: [[f64; 3]; 3] = std::array::from_fn(|r| std::array::from_fn(|c| adj[r][c] / det));
    // A target column: its three rotation/zoom columns map as directions, the translation
    // column as a point (source origin subtracted first).
    Some(std::array::from_fn(|r| {
        std::array::from_fn(|c| {
            let shift = if c == 3 { 1.0 } else { 0.0 };
            (0..3).map(|k| inv[r][k] * (target[k][c] - shift * source[k][3])).sum()
        })
    }))
}

/// True where a source value is data (NiMARE: finite and non-zero).
fn is_data(x: f64) -> bool {
    x.is_finite() && x != 0.0
}

/// On one axis of length `n`: the lower voxel and the weight of the upper one (0 when `x` is on
/// a voxel centre), or `None` outside `[0, n − 1]`.
fn axis_cell(x: f64, n: usize) -> Option<(usize, f64)> {
    let last = n as f64 - 1.0;
    if !(x >= -SNAP_VOXELS && x <= last + SNAP_VOXELS) {
        return None;
    }
    let floor = x.floor();
    let w = x - floor;
    // `floor` is in [-1, n - 1] here; snapping moves a point just below 0 onto voxel 0.
    let (lower, w) = if w < SNAP_VOXELS {
        (floor, 0.0)
    } else if w > 1.0 - SNAP_VOXELS {
        (floor + 1.0, 0.0)
    } else {
        (floor, w)
    };
    Some((lower.clamp(0.0, last) as usize, w))
}

fn linear(data: &[f64], [nx, ny, nz]: [usize; 3], c: [f64; 3]) -> f64 {
    let (Some((i, wi)), Some((j, wj)), Some((k, wk))) = (axis_cell(c[0], nx), axis_cell(c[1], ny), axis_cell(c[2], nz))
    else {
        return f64::NAN;
    };
    let mut sum = 0.0;
    for (di, fi) in [(0, 1.0 - wi), (1, wi)] {
        for (dj, fj) in [(0, 1.0 - wj), (1, wj)] {
            for (dk, fk) in [(0, 1.0 - wk), (1, wk)] {
                let weight = fi * fj * fk;
                if weight == 0.0 {
                    continue;
                }
                let x = data[((i + di) * ny + j + dj) * nz + k + dk];
                if !is_data(x) {
                    return f64::NAN;
                }
                sum += weight * x;
            }
        }
    }
    sum
}

fn nearest(data: &[f64], [nx, ny, nz]: [usize; 3], c: [f64; 3]) -> f64 {
    let (Some((i, wi)), Some((j, wj)), Some((k, wk))) = (axis_cell(c[0], nx), axis_cell(c[1], ny), axis_cell(c[2], nz))
    else {
        return f64::NAN;
    };
    // Halfway (weight 0.5) rounds up, as scipy's order-0 interpolation does.
    let up = |w: f64| usize::from(w >= 0.5);
    let x = data[((i + up(wi)) * ny + j + up(wj)) * nz + k + up(wk)];
    if is_data(x) {
        x
    } else {
        f64::NAN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EYE: [[f64; 4]; 4] = [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]];

    #[test]
    fn inverse_of_a_rotated_zoomed_affine() {
        // 90 degrees about z, 2 mm voxels, translated: world (x, y, z) = (-2j + 10, 2i - 4, 2k + 1).
        let s = [[0.0, -2.0, 0.0, 10.0], [2.0, 0.0, 0.0, -4.0], [0.0, 0.0, 2.0, 1.0], [0.0, 0.0, 0.0, 1.0]];
        let m = source_coordinates(&s, &EYE).unwrap();
        // World (10, -4, 1) is source voxel (0, 0, 0); world (8, 0, 5) is voxel (2, 1, 2).
        for (world, voxel) in [([10.0, -4.0, 1.0], [0.0, 0.0, 0.0]), ([8.0, 0.0, 5.0], [2.0, 1.0, 2.0])] {
            for r in 0..3 {
                let c = m[r][0] * world[0] + m[r][1] * world[1] + m[r][2] * world[2] + m[r][3];
                assert!((c - voxel[r]).abs() < 1e-12, "row {r}: {c} vs {}", voxel[r]);
            }
        }
        let singular = [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]];
        assert!(source_coordinates(&singular, &EYE).is_none());
    }

    #[test]
    fn axis_cells_snap_and_bound() {
        assert_eq!(axis_cell(-1e-12, 4), Some((0, 0.0)));
        assert_eq!(axis_cell(3.0 + 1e-12, 4), Some((3, 0.0)));
        assert_eq!(axis_cell(2.0 - 1e-12, 4), Some((2, 0.0)));
        assert_eq!(axis_cell(1.25, 4), Some((1, 0.25)));
        assert_eq!(axis_cell(-0.01, 4), None);
        assert_eq!(axis_cell(3.01, 4), None);
        assert_eq!(axis_cell(f64::NAN, 4), None);
    }
}
