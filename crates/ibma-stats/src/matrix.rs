//! The study-by-voxel data every estimator consumes.

/// K studies × V voxels of one map type, stored voxel-major so that one voxel's studies are
/// contiguous. NaN marks a study that is not usable at a voxel (no coverage, invalid value).
#[derive(Clone, Debug, PartialEq)]
pub struct StudyVoxels {
    n_studies: usize,
    data: Vec<f64>,
}

impl StudyVoxels {
    /// Wrap voxel-major data (`data[v * n_studies + k]`).
    #[track_caller]
    pub fn new(n_studies: usize, data: Vec<f64>) -> StudyVoxels {
        assert!(
            n_studies > 0 && data.len().is_multiple_of(n_studies),
            "{} values are not a multiple of {n_studies} studies",
            data.len()
        );
        StudyVoxels { n_studies, data }
    }

    /// Build from one V-vector per study.
    #[track_caller]
    pub fn from_studies(studies: &[Vec<f64>]) -> StudyVoxels {
        let k = studies.len();
        let v = studies.first().map_or(0, Vec::len);
        assert!(studies.iter().all(|s| s.len() == v), "studies have different voxel counts");
        let mut data = vec![0.0; k * v];
        for (s, values) in studies.iter().enumerate() {
            for (voxel, &x) in values.iter().enumerate() {
                data[voxel * k + s] = x;
            }
        }
        StudyVoxels::new(k.max(1), data)
    }

    /// Number of studies K.
    pub fn n_studies(&self) -> usize {
        self.n_studies
    }

    /// Number of voxels V.
    pub fn n_voxels(&self) -> usize {
        self.data.len() / self.n_studies
    }

    /// The K values at voxel `v`.
    pub fn voxel(&self, v: usize) -> &[f64] {
        &self.data[v * self.n_studies..(v + 1) * self.n_studies]
    }

    /// All voxels, each a K-slice, in order.
    pub fn voxels(&self) -> std::slice::ChunksExact<'_, f64> {
        self.data.chunks_exact(self.n_studies)
    }

    /// Write this matrix with study k's values multiplied by `signs[k]` into `out` (same shape;
    /// no allocation), for sign-flip permutations.
    #[track_caller]
    pub fn flip_into(&self, signs: &[f64], out: &mut StudyVoxels) {
        assert_eq!(signs.len(), self.n_studies, "one sign per study");
        assert_eq!(out.data.len(), self.data.len(), "flip target has another shape");
        for (dst, src) in out.data.chunks_exact_mut(self.n_studies).zip(self.data.chunks_exact(self.n_studies)) {
            for ((d, s), f) in dst.iter_mut().zip(src).zip(signs) {
                *d = s * f;
            }
        }
    }

    /// Parallel iterator over voxels, each a K-slice, in order.
    pub fn par_voxels(&self) -> rayon::slice::ChunksExact<'_, f64> {
        use rayon::slice::ParallelSlice;
        self.data.par_chunks_exact(self.n_studies)
    }
}

/// The statistics of a one-sample test, per voxel. `nlogp` is ln p (≤ 0), carried in log
/// space so nothing underflows; the `p` and `logp` maps derive from it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TestMaps {
    /// Signed z statistic.
    pub z: Vec<f64>,
    /// ln p.
    pub nlogp: Vec<f64>,
    /// Degrees of freedom (studies at the voxel − 1).
    pub dof: Vec<f64>,
}
