//! The MT19937 flip matrix against NumPy, the exact enumeration, and flips in chunks and slices.

use super::*;

#[test]
fn mt19937_reference_outputs() {
    // docs/estimators.md §9 (NumPy `RandomState(42)`), and the reference code's default seed 5489
    // (second value from NumPy: `b = MT19937(); b._legacy_seeding(5489); b.random_raw(2)`).
    let mut rng = Mt19937::new(42);
    let got: Vec<u32> = (0..3).map(|_| rng.next_u32()).collect();
    assert_eq!(got, [1_608_637_542, 3_421_126_067, 4_083_286_876]);
    let mut rng = Mt19937::new(5489);
    assert_eq!([rng.next_u32(), rng.next_u32()], [3_499_211_612, 581_869_302]);
}

#[test]
fn nimare_flips_match_numpy() {
    // python3 -c "import numpy as np; print(np.random.RandomState(42).choice((-1.0, 1.0), size=(3, 5)).tolist())"
    // (numpy 2.4.6)
    let expected = [[-1.0, 1.0, -1.0, -1.0, -1.0], [1.0, -1.0, -1.0, -1.0, 1.0], [-1.0, -1.0, -1.0, -1.0, 1.0]];
    let f = FlipMatrix::nimare(3, 5, 42);
    assert_eq!((f.n_iters(), f.n_studies()), (3, 5));
    for (i, row) in expected.iter().enumerate() {
        assert!(f.row(i).iter().zip(row).all(|(&a, &b)| same(a, b)), "row {i}: {:?}", f.row(i));
    }
    // The fixture's matrix: F = RandomState(42).choice((-1.0, 1.0), size=(1000, 21));
    // F.sum() == -10.0 and F[999] as below.
    let f = FlipMatrix::nimare(1000, 21, 42);
    let sum: f64 = (0..1000).flat_map(|i| f.row(i).to_vec()).sum();
    assert!(same(sum, -10.0));
    let last = [1., 1., -1., 1., -1., 1., 1., -1., -1., 1., -1., -1., 1., 1., 1., -1., 1., 1., -1., -1., 1.];
    assert!(f.row(999).iter().zip(last).all(|(&a, b)| same(a, b)));
}

#[test]
fn exact_flips_enumerate_every_sign_vector() {
    let f = FlipMatrix::exact(3);
    assert_eq!(f.n_iters(), 8);
    assert!(f.row(0).iter().all(|&s| same(s, 1.0)), "row 0 is the identity");
    let mut seen: Vec<Vec<i8>> = (0..8).map(|i| f.row(i).iter().map(|&s| s as i8).collect()).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 8);
}

#[test]
fn flips_in_chunks_and_slices_are_the_whole_runs_flips() {
    use ibma_stats::permute::FlipStream;
    for (n_iters, k, exact) in [(1000, 7, false), (300, 6, true), (50, 6, true)] {
        let whole = FlipMatrix::for_run(n_iters, k, 42, exact);
        let mut stream = FlipStream::new(n_iters, k, 42, exact);
        assert_eq!(stream.n_iters(), whole.n_iters());
        let mut rows = Vec::new();
        while let Some(chunk) = stream.next_chunk(37) {
            rows.extend((0..chunk.n_iters()).map(|i| chunk.row(i).to_vec()));
        }
        assert_eq!(rows.len(), whole.n_iters());
        assert!(rows.iter().enumerate().all(|(i, r)| r == whole.row(i)), "{n_iters} {k} {exact}");
        let slice = FlipMatrix::run_rows(n_iters, k, 42, exact, 10..20);
        assert!((0..10).all(|i| slice.row(i) == whole.row(10 + i)));
    }
    // NiMARE's stream: the exact enumeration is used only when it fits in n_iters.
    assert_eq!(FlipMatrix::for_run(63, 6, 42, true).n_iters(), 63);
    assert_eq!(FlipMatrix::for_run(62, 6, 42, true), FlipMatrix::nimare(62, 6, 42));
}
