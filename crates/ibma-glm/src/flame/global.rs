//! The certified global minimum of a group's REML energy over σ² ∈ [0, hi] (branch and bound).
//!
//! First Newton steps from the best starting point reach its basin's minimum (a good bound
//! early); then every interval between evaluated points is examined. The shape facts of
//! `node.rs` (f concave increasing, q convex decreasing; f′, q″ falling and convex, q′, f″
//! rising and concave) bound the energy on an interval [a, b] from its two ends alone:
//! - slope: E′ ≥ ½(f′(b) + q′(a)) and E′ ≤ ½(f′(a) + q′(b)); tighter, E′ ≥ ½(larger f′
//!   tangent + q′ chord) and E′ ≤ ½(f′ chord + smaller q′ tangent). One sign means the
//!   interval's minimum is an end point, already known;
//! - curvature: E″ ≥ ½(f″(a) + q″(b)); if that is ≥ 0, E is convex there, lies above its end
//!   tangents, and a bracketed Newton iteration finds the interval's only minimum;
//! - value: f lies above its chord and q above its end tangents, so E ≥ ½(chord + larger
//!   tangent), a piecewise-linear bound whose minimum is at the tangents' crossing.
//!
//! An interval whose bound cannot go below the best energy found (less a relative
//! [`ENERGY_SLACK`]) is done; any other is split. Every basin is thus either visited or
//! proven higher, wherever it lies, including basins between the starting points that hold
//! none of them (a fixed scan misses those).

use super::node::Node;

/// An interval is done when no point in it can be lower than best − this·(1 + |best|):
/// a few hundred ulps of the energy, far below any difference the tests resolve (1e−9).
const ENERGY_SLACK: f64 = 1e-13;
/// Intervals narrower than this (relative to σ²) are not split further: their points'
/// energies differ from the ends' by rounding only.
const WIDTH_FLOOR: f64 = 1e-13;
/// Newton: once the next step would move ln σ² by less than this, the current iterate is the
/// minimum to 1e−7 relative in σ² (float32 maps hold 6e−8) and to rounding in energy; the
/// iteration ends without evaluating that step.
const NEWTON_LAST: f64 = 1e-7;
/// Newton: iteration cap (bisection of the bracket guarantees progress; 4–6 are usual).
const NEWTON_MAXITER: usize = 64;
/// Split point of [0, b]: b / this (the energy's structure below b is on the scale of the
/// smallest variances, far below b when b is a starting point).
const ZERO_SPLIT: f64 = 16.0;
/// Geometric rather than arithmetic midpoints where b > this · a.
const GEOMETRIC_RATIO: f64 = 4.0;

/// The lowest energy of one group over σ² ∈ [start[0].s2, start.last().s2], from the nodes at
/// sorted starting points; `eval` gives the node at any σ² in the range (None: undefined
/// there, which makes the whole search None). Returns the minimising node.
// An iterate equal to a node already held (same σ²) is not inserted twice.
#[allow(clippy::float_cmp)]
pub(crate) fn global_min(
    start: &[Node],
    eval: &mut impl FnMut(f64) -> Option<Node>,
    scratch: &mut SearchScratch,
) -> Option<Node> {
    let SearchScratch { nodes, stack, visited } = scratch;
    nodes.clear();
    nodes.extend_from_slice(start);
    let at = (0..nodes.len()).min_by(|&i, &j| nodes[i].energy().total_cmp(&nodes[j].energy()))?;
    let mut best = nodes[at];
    if !best.energy().is_finite() {
        return None;
    }
    // Into the best starting point's basin: the side its slope points to.
    let side = if best.slope() < 0.0 {
        (at + 1 < nodes.len()).then(|| (at, at + 1))
    } else {
        at.checked_sub(1).map(|l| (l, at))
    };
    if let Some((l, r)) = side {
        if nodes[l].slope() < 0.0 && nodes[r].slope() > 0.0 {
            visited.clear();
            let (a, b) = (nodes[l], nodes[r]);
            newton(&a, &b, eval, visited)?;
            for &n in visited.iter() {
                if n.energy() < best.energy() {
                    best = n;
                }
                let i = nodes.partition_point(|m| m.s2 < n.s2);
                if nodes.get(i).is_none_or(|m| m.s2 != n.s2) {
                    nodes.insert(i, n);
                }
            }
        }
    }
    stack.clear();
    stack.extend(nodes.windows(2).map(|w| (w[0], w[1])));
    while let Some((a, b)) = stack.pop() {
        let target = best.energy() - ENERGY_SLACK * (1.0 + best.energy().abs());
        match verdict(&a, &b, target) {
            Verdict::Done => {}
            Verdict::Convex => {
                visited.clear();
                newton(&a, &b, eval, visited)?;
                for n in visited.iter() {
                    if n.energy() < best.energy() {
                        best = *n;
                    }
                }
            }
            Verdict::Split => {
                let m = eval(midpoint(a.s2, b.s2))?;
                if m.energy() < best.energy() {
                    best = m;
                }
                stack.push((m, b));
                stack.push((a, m));
            }
        }
    }
    Some(best)
}

/// Reusable buffers of [`global_min`] (one per thread).
#[derive(Clone, Debug, Default)]
pub(crate) struct SearchScratch {
    nodes: Vec<Node>,
    stack: Vec<(Node, Node)>,
    visited: Vec<Node>,
}

fn midpoint(a: f64, b: f64) -> f64 {
    if a <= 0.0 {
        b / ZERO_SPLIT
    } else if b > GEOMETRIC_RATIO * a {
        (a * b).sqrt()
    } else {
        0.5 * (a + b)
    }
}

#[derive(Debug, PartialEq)]
enum Verdict {
    /// No point of the interval is below the target (or below its ends).
    Done,
    /// Convex with a minimum inside that may be below the target.
    Convex,
    /// Undecided.
    Split,
}

/// The minimum over [a, b] of the larger of two lines through (a, ya) with slope sa and
/// (b, yb) with slope sb, plus the line from (a, ca) to (b, cb): a convex piecewise-linear
/// function, so its minimum is at an end or at the first two lines' crossing.
pub(crate) fn min_pl(a: f64, b: f64, (ya, sa): (f64, f64), (yb, sb): (f64, f64), (ca, cb): (f64, f64)) -> f64 {
    let at = |x: f64| (ya + sa * (x - a)).max(yb + sb * (x - b)) + ca + (cb - ca) * (x - a) / (b - a);
    let cross = (yb - ya + sa * a - sb * b) / (sa - sb);
    let inside = if cross > a && cross < b { at(cross) } else { f64::INFINITY };
    at(a).min(at(b)).min(inside)
}

fn verdict(a: &Node, b: &Node, target: f64) -> Verdict {
    // Slope, first order (monotone parts), then second order (f′ convex, q′ concave).
    if b.f1 + a.q1 >= 0.0 || a.f1 + b.q1 <= 0.0 {
        return Verdict::Done;
    }
    let (x, y) = (a.s2, b.s2);
    if min_pl(x, y, (a.f1, a.f2), (b.f1, b.f2), (a.q1, b.q1)) >= 0.0 {
        return Verdict::Done;
    }
    if -min_pl(x, y, (-a.q1, -a.q2), (-b.q1, -b.q2), (-a.f1, -b.f1)) <= 0.0 {
        return Verdict::Done;
    }
    if a.f2 + b.q2 >= 0.0 {
        // Convex: the minimum is an end, or inside above the end tangents' crossing.
        let (da, db) = (a.slope(), b.slope());
        if da >= 0.0 || db <= 0.0 {
            return Verdict::Done;
        }
        let cross = (b.energy() - a.energy() + da * x - db * y) / (da - db);
        let low = a.energy() + da * (cross - x);
        return if low >= target { Verdict::Done } else { Verdict::Convex };
    }
    // Value: ½(chord of f + the larger q tangent).
    if 0.5 * min_pl(x, y, (a.q, a.q1), (b.q, b.q1), (a.f, b.f)) >= target {
        return Verdict::Done;
    }
    if y - x <= WIDTH_FLOOR * y {
        return Verdict::Done;
    }
    Verdict::Split
}

/// Newton on E′ (steps in ln σ² where σ² > 0) inside a bracket [a, b] with E′(a) < 0 < E′(b),
/// from its lower end; a step that leaves the shrinking bracket bisects it instead. Pushes
/// every node evaluated to `visited`; the last is the minimum (to rounding) when the energy
/// is convex on [a, b], otherwise some local minimum or a point the caller examines further.
fn newton(a: &Node, b: &Node, eval: &mut impl FnMut(f64) -> Option<Node>, visited: &mut Vec<Node>) -> Option<()> {
    let (mut lo, mut hi) = (*a, *b);
    let mut n = if a.energy() <= b.energy() { *a } else { *b };
    for _ in 0..NEWTON_MAXITER {
        let (d, c) = (n.slope(), n.curvature());
        if d == 0.0 {
            break;
        }
        // In ln σ²: g = σ²E′, H = σ²E′ + σ⁴E″; at σ² = 0 in σ².
        let (next, small) = if n.s2 > 0.0 {
            let (g, h) = (n.s2 * d, n.s2 * d + n.s2 * n.s2 * c);
            let step = -g / h;
            (if h > 0.0 { n.s2 * step.exp() } else { f64::NAN }, step.abs() <= NEWTON_LAST)
        } else {
            (if c > 0.0 { -d / c } else { f64::NAN }, false)
        };
        let inside = next > lo.s2 && next < hi.s2;
        if inside && small {
            break;
        }
        let x = if inside { next } else { midpoint(lo.s2, hi.s2) };
        if !(x > lo.s2 && x < hi.s2) {
            break; // the bracket is down to adjacent floats
        }
        n = eval(x)?;
        visited.push(n);
        if n.slope() < 0.0 {
            lo = n;
        } else {
            hi = n;
        }
        if hi.s2 - lo.s2 <= WIDTH_FLOOR * hi.s2 {
            break;
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flame::node::Weights;

    fn run(y: &[f64], s: &[f64], grid: &[f64]) -> (Node, usize) {
        let mut wt = Weights::default();
        let mut count = 0;
        let mut eval = |s2: f64| {
            count += 1;
            wt.set(s, s2).then(|| wt.node(y)).flatten()
        };
        let start: Vec<Node> = grid.iter().map(|&g| eval(g).unwrap()).collect();
        let best = global_min(&start, &mut eval, &mut SearchScratch::default()).unwrap();
        (best, count)
    }

    #[test]
    fn finds_the_minimum_of_a_unimodal_energy_to_rounding() {
        let y = [0.3, -1.2, 2.5, 0.9, 1.7, -0.4, 3.1];
        let s = [0.5, 0.2, 1.5, 0.8, 0.3, 2.0, 0.6];
        let (best, _) = run(&y, &s, &[0.0, 0.1, 1.0, 10.0, 1e10]);
        assert!(best.slope().abs() <= 1e-12 * best.f1.abs(), "{best:?}");
        assert!(best.curvature() > 0.0);
    }
}
