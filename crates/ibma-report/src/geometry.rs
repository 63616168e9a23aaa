//! World-space geometry shared by the figures and the anatomical underlay.

/// World → voxel rows of the inverse of a voxel → world affine, None if singular.
pub(crate) fn invert_affine(a: &[[f64; 4]; 4]) -> Option<[[f64; 4]; 3]> {
    let m = |r: usize, c: usize| a[r][c];
    let det = m(0, 0) * (m(1, 1) * m(2, 2) - m(1, 2) * m(2, 1)) - m(0, 1) * (m(1, 0) * m(2, 2) - m(1, 2) * m(2, 0))
        + m(0, 2) * (m(1, 0) * m(2, 1) - m(1, 1) * m(2, 0));
    if !det.is_finite() || det.abs() < 1e-12 {
        return None;
    }
    // Inverse of the 3×3 part by cofactors; row r of the inverse.
    let cof = |r: usize, c: usize| {
        let (r1, r2) = ((r + 1) % 3, (r + 2) % 3);
        let (c1, c2) = ((c + 1) % 3, (c + 2) % 3);
        m(r1, c1) * m(r2, c2) - m(r1, c2) * m(r2, c1)
    };
    let inv: [[f64; 4]; 3] = std::array::from_fn(|r| {
        let row: [f64; 3] = std::array::from_fn(|c| cof(c, r) / det);
        let shift = -(0..3).map(|c| row[c] * a[c][3]).sum::<f64>();
        [row[0], row[1], row[2], shift]
    });
    Some(inv)
}
