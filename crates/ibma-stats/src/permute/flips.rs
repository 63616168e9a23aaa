//! The flip matrix and the flip stream: NiMARE's MT19937 sign flips (and the exact
//! enumeration), drawn up front or chunk by chunk with the same rows.

use crate::mt19937::Mt19937;
use std::ops::Range;

/// Largest K accepted by [`FlipMatrix::exact`] (2^20 rows of 20 signs is 168 MB).
const MAX_EXACT_STUDIES: usize = 20;

/// N × K matrix of ±1 study signs, one row per permutation iteration.
#[derive(Clone, Debug, PartialEq)]
pub struct FlipMatrix {
    n_iters: usize,
    n_studies: usize,
    signs: Vec<f64>,
}

impl FlipMatrix {
    /// NiMARE's flips: NumPy `RandomState(seed).choice((-1.0, 1.0), size=(n_iters, n_studies))`,
    /// i.e. MT19937 `init_genrand(seed)`, one 32-bit output per (iteration, study) in row-major
    /// order, odd → +1, even → −1.
    pub fn nimare(n_iters: usize, n_studies: usize, seed: u32) -> FlipMatrix {
        let mut rng = Mt19937::new(seed);
        let signs = (0..n_iters * n_studies).map(|_| if rng.next_u32() & 1 == 1 { 1.0 } else { -1.0 }).collect();
        FlipMatrix { n_iters, n_studies, signs }
    }

    /// All 2^K sign vectors: row i flips study k iff bit k of i is set, so row 0 is the identity
    /// (the observed data are one of the rows). For K ≤ 20; use it when 2^K ≤ the requested
    /// number of iterations.
    #[track_caller]
    pub fn exact(n_studies: usize) -> FlipMatrix {
        assert!(n_studies <= MAX_EXACT_STUDIES, "2^{n_studies} sign vectors are too many to enumerate");
        let n_iters = 1usize << n_studies;
        let signs = (0..n_iters)
            .flat_map(|i| (0..n_studies).map(move |k| if (i >> k) & 1 == 1 { -1.0 } else { 1.0 }))
            .collect();
        FlipMatrix { n_iters, n_studies, signs }
    }

    /// The flips of a permutation run: when `exact` and 2^K − 1 ≤ `n_iters`, every sign vector
    /// but the identity (the +1 of the permutation p is then the observed labelling itself, so
    /// p = (count + 1)/2^K is the exact permutation p-value); otherwise NiMARE's.
    pub fn for_run(n_iters: usize, n_studies: usize, seed: u32, exact: bool) -> FlipMatrix {
        FlipMatrix::run_rows(n_iters, n_studies, seed, exact, 0..usize::MAX)
    }

    /// The rows `rows` of [`FlipMatrix::for_run`], generated without the rows before them being
    /// kept: a permutation run in slices (chunks in memory, or shards on several machines) sees
    /// exactly the flips of the whole run.
    pub fn run_rows(n_iters: usize, n_studies: usize, seed: u32, exact: bool, rows: Range<usize>) -> FlipMatrix {
        let mut stream = FlipStream::new(n_iters, n_studies, seed, exact);
        stream.skip(rows.start);
        stream.next_chunk(rows.end - rows.start).unwrap_or(FlipMatrix { n_iters: 0, n_studies, signs: Vec::new() })
    }

    /// Wrap row-major signs (`signs[i * n_studies + k]`), each +1 or −1.
    #[track_caller]
    pub fn from_signs(n_studies: usize, signs: Vec<f64>) -> FlipMatrix {
        assert!(n_studies > 0 && signs.len().is_multiple_of(n_studies), "signs are not rows of {n_studies} studies");
        assert!(signs.iter().all(|s| s.abs().to_bits() == 1f64.to_bits()), "every sign must be +1 or -1");
        FlipMatrix { n_iters: signs.len() / n_studies, n_studies, signs }
    }

    /// The rows in consecutive batches of at most `rows` rows, in order.
    #[track_caller]
    pub fn batches(&self, rows: usize) -> impl Iterator<Item = FlipMatrix> + '_ {
        assert!(rows > 0, "batches of zero rows");
        self.signs.chunks(rows * self.n_studies).map(|s| FlipMatrix::from_signs(self.n_studies, s.to_vec()))
    }

    /// Group flips expanded to images: image k takes the sign of column `codes[k]`, so the images
    /// of a dependence group are flipped together (`docs/dependence.md`). `self` has one column
    /// per group, e.g. `FlipMatrix::nimare(n, grouping.n_groups(), seed)` as NiMARE draws them.
    #[track_caller]
    pub fn expand(&self, codes: &[usize]) -> FlipMatrix {
        assert!(codes.iter().all(|&c| c < self.n_studies), "a group code has no column");
        let signs = (0..self.n_iters).flat_map(|i| codes.iter().map(move |&c| self.row(i)[c])).collect();
        FlipMatrix { n_iters: self.n_iters, n_studies: codes.len(), signs }
    }

    /// Number of iterations N (rows).
    pub fn n_iters(&self) -> usize {
        self.n_iters
    }

    /// Number of studies K (columns).
    pub fn n_studies(&self) -> usize {
        self.n_studies
    }

    /// The K signs of iteration `i`.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.signs[i * self.n_studies..(i + 1) * self.n_studies]
    }
}

/// The flips of a run ([`FlipMatrix::for_run`]) in chunks of rows, so that no more than one
/// chunk is held: NiMARE's MT19937 stream continues from chunk to chunk.
#[derive(Clone, Debug)]
pub struct FlipStream {
    n_studies: usize,
    /// Rows of the whole run.
    total: usize,
    /// Rows handed out (or skipped) so far.
    next: usize,
    source: Source,
}

#[derive(Clone, Debug)]
enum Source {
    Nimare(Box<Mt19937>),
    /// Every sign vector but the identity: row i is sign vector i + 1 of [`FlipMatrix::exact`].
    Exact,
}

impl FlipStream {
    /// The flips [`FlipMatrix::for_run`] would return, as a stream.
    pub fn new(n_iters: usize, n_studies: usize, seed: u32, exact: bool) -> FlipStream {
        if exact && n_studies <= MAX_EXACT_STUDIES && (1usize << n_studies) - 1 <= n_iters {
            return FlipStream { n_studies, total: (1usize << n_studies) - 1, next: 0, source: Source::Exact };
        }
        FlipStream { n_studies, total: n_iters, next: 0, source: Source::Nimare(Box::new(Mt19937::new(seed))) }
    }

    /// Rows in the whole run.
    pub fn n_iters(&self) -> usize {
        self.total
    }

    /// Rows not handed out yet.
    pub fn remaining(&self) -> usize {
        self.total - self.next
    }

    /// Pass over the next `rows` rows (drawing and dropping their signs).
    pub fn skip(&mut self, rows: usize) {
        let rows = rows.min(self.remaining());
        if let Source::Nimare(rng) = &mut self.source {
            (0..rows * self.n_studies).for_each(|_| {
                rng.next_u32();
            });
        }
        self.next += rows;
    }

    /// The next chunk of at most `max_rows` rows; None at the end of the run.
    pub fn next_chunk(&mut self, max_rows: usize) -> Option<FlipMatrix> {
        let rows = max_rows.min(self.remaining());
        if rows == 0 {
            return None;
        }
        let k = self.n_studies;
        let signs: Vec<f64> = match &mut self.source {
            Source::Nimare(rng) => (0..rows * k).map(|_| if rng.next_u32() & 1 == 1 { 1.0 } else { -1.0 }).collect(),
            Source::Exact => (self.next + 1..self.next + 1 + rows)
                .flat_map(|i| (0..k).map(move |j| if (i >> j) & 1 == 1 { -1.0 } else { 1.0 }))
                .collect(),
        };
        self.next += rows;
        Some(FlipMatrix { n_iters: rows, n_studies: k, signs })
    }
}
