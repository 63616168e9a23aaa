//! Figures of a volume: orthogonal slices and an axial mosaic in world space, each with a
//! colour bar.
//!
//! Every pixel is sampled in world millimetres through the inverse affine (nearest voxel), so
//! any grid orientation (LAS, RAS, oblique) and any voxel shape comes out the same way:
//! neurological convention (subject's left on the image's left), anterior up in axial slices,
//! superior up otherwise, and square millimetres. Pixels are laid on voxel centres so that
//! each voxel becomes a block of equal pixels.

use super::canvas::{text_height, text_width, Canvas, Rgb, BLACK, WHITE};
use ibma_io::Grid;

/// In-mask voxel below the threshold.
pub const GREY: Rgb = [128, 128, 128];
/// In-mask voxel that could not be estimated (NaN).
pub const DARK_GREY: Rgb = [60, 60, 60];
/// Smallest panel side in pixels: small grids are magnified more.
const MIN_PANEL_PX: f64 = 240.0;
/// Pixels per voxel for ordinary (2 mm, 91×109×91) grids; odd, so pixels never fall on a
/// voxel boundary.
const MIN_UPSAMPLE: usize = 3;
/// Label scale (font pixels are this many image pixels).
const TEXT: usize = 2;
const GAP: usize = 12;

/// A volume's grid seen in world space: which voxel lies under a world point, and the
/// padded world bounding box of the mask that every panel shows.
pub struct Brain<'a> {
    grid: &'a Grid,
    in_mask: &'a [bool],
    /// World → voxel (rows i, j, k of the inverse affine).
    inverse: [[f64; 4]; 3],
    lo: [f64; 3],
    hi: [f64; 3],
    /// Millimetres per pixel.
    step: f64,
}

/// The three orthogonal views.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// Constant x; posterior left, anterior right, superior up.
    Sagittal,
    /// Constant y; left left, superior up.
    Coronal,
    /// Constant z; left left, anterior up.
    Axial,
}

impl View {
    /// (fixed, horizontal, vertical) world axes.
    fn axes(self) -> (usize, usize, usize) {
        match self {
            View::Sagittal => (0, 1, 2),
            View::Coronal => (1, 0, 2),
            View::Axial => (2, 0, 1),
        }
    }

    /// Labels of the left and right image edges.
    fn edges(self) -> (&'static str, &'static str) {
        match self {
            View::Sagittal => ("P", "A"),
            View::Coronal | View::Axial => ("L", "R"),
        }
    }
}

impl<'a> Brain<'a> {
    /// `in_mask` holds one flag per grid voxel (C order). Err when the affine is singular or
    /// the mask is empty.
    pub fn new(grid: &'a Grid, in_mask: &'a [bool]) -> Result<Brain<'a>, String> {
        let inverse = invert_affine(&grid.affine).ok_or("the affine is singular")?;
        let voxel_mm: Vec<f64> =
            (0..3).map(|c| (0..3).map(|r| grid.affine[r][c].powi(2)).sum::<f64>().sqrt()).collect();
        let (mut lo, mut hi) = ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3]);
        for v in (0..in_mask.len()).filter(|&v| in_mask[v]) {
            let w = world(grid, v);
            for a in 0..3 {
                lo[a] = lo[a].min(w[a]);
                hi[a] = hi[a].max(w[a]);
            }
        }
        if lo[0] > hi[0] {
            return Err("the mask is empty".into());
        }
        let min_mm = voxel_mm.iter().copied().fold(f64::INFINITY, f64::min);
        let max_mm = voxel_mm.iter().copied().fold(0.0, f64::max);
        let extent_voxels = (0..3).map(|a| (hi[a] - lo[a]) / min_mm + 1.0).fold(0.0, f64::max);
        let upsample = ((MIN_PANEL_PX / extent_voxels).ceil() as usize).max(MIN_UPSAMPLE) | 1;
        let step = min_mm / upsample as f64;
        // One voxel of margin, in whole pixels so that pixels stay on voxel centres.
        let pad = (max_mm / step).ceil() * step;
        for a in 0..3 {
            lo[a] -= pad;
            hi[a] += pad;
        }
        Ok(Brain { grid, in_mask, inverse, lo, hi, step })
    }

    /// World coordinates (mm) of voxel `v`'s centre.
    pub fn world(&self, v: usize) -> [f64; 3] {
        world(self.grid, v)
    }

    /// The voxel under a world point, if inside the grid.
    pub fn voxel_at(&self, w: [f64; 3]) -> Option<usize> {
        let mut ijk = [0usize; 3];
        for (r, slot) in ijk.iter_mut().enumerate() {
            let m = &self.inverse[r];
            let x = (m[0] * w[0] + m[1] * w[1] + m[2] * w[2] + m[3]).round();
            if !(0.0..self.grid.dims[r] as f64).contains(&x) {
                return None;
            }
            *slot = x as usize;
        }
        let [_, ny, nz] = self.grid.dims;
        Some((ijk[0] * ny + ijk[1]) * nz + ijk[2])
    }

    /// Pixel size of a panel of `view`.
    pub fn panel_size(&self, view: View) -> (usize, usize) {
        let (_, h, v) = view.axes();
        let n = |a: usize| ((self.hi[a] - self.lo[a]) / self.step).round() as usize + 1;
        (n(h), n(v))
    }

    /// The pixel (px, py) of a `view` panel that shows world point `w`, if inside the panel.
    pub fn pixel_of(&self, view: View, w: [f64; 3]) -> Option<(usize, usize)> {
        let (_, h, v) = view.axes();
        let (width, height) = self.panel_size(view);
        let px = ((w[h] - self.lo[h]) / self.step).round();
        let up = ((w[v] - self.lo[v]) / self.step).round();
        let inside = (0.0..width as f64).contains(&px) && (0.0..height as f64).contains(&up);
        inside.then(|| (px as usize, height - 1 - up as usize))
    }

    /// World point under pixel (px, py) of a `view` panel cut at `at`.
    fn pixel_world(&self, view: View, at: f64, px: usize, py: usize) -> [f64; 3] {
        let (f, h, v) = view.axes();
        let (_, height) = self.panel_size(view);
        let mut w = [0.0; 3];
        w[f] = at;
        w[h] = self.lo[h] + px as f64 * self.step;
        w[v] = self.lo[v] + (height - 1 - py) as f64 * self.step;
        w
    }

    /// One slice: outside the mask black, inside `colour(value)`, the mask's outline white.
    pub fn panel(&self, values: &[f64], view: View, at: f64, colour: &dyn Fn(f64) -> Rgb) -> Canvas {
        let (width, height) = self.panel_size(view);
        let mut canvas = Canvas::new(width, height, BLACK);
        let mut inside = vec![false; width * height];
        for py in 0..height {
            for px in 0..width {
                if let Some(v) = self.voxel_at(self.pixel_world(view, at, px, py)).filter(|&v| self.in_mask[v]) {
                    inside[py * width + px] = true;
                    canvas.set(px, py, colour(values[v]));
                }
            }
        }
        let is_in = |x: usize, y: usize| inside[y * width + x];
        for py in 0..height {
            for px in 0..width {
                let edge = px == 0 || py == 0 || px + 1 == width || py + 1 == height;
                if is_in(px, py)
                    && (edge || !is_in(px - 1, py) || !is_in(px + 1, py) || !is_in(px, py - 1) || !is_in(px, py + 1))
                {
                    canvas.set(px, py, WHITE);
                }
            }
        }
        canvas
    }

    /// Up to `n` axial cut heights (mm) evenly spread over the mask's slices, bottom to top,
    /// leaving out the thin first and last ones.
    pub fn axial_cuts(&self, n: usize) -> Vec<f64> {
        let mut zs: Vec<f64> = (0..self.in_mask.len())
            .filter(|&v| self.in_mask[v])
            .map(|v| (self.world(v)[2] * 1000.0).round() / 1000.0)
            .collect();
        zs.sort_by(f64::total_cmp);
        zs.dedup_by(|a, b| (*a - *b).abs() < 1e-6);
        if zs.len() <= n {
            return zs;
        }
        (1..=n).map(|i| zs[(i * (zs.len() - 1)) / (n + 1)]).collect()
    }
}

/// How values become colours, and the colour bar that explains it.
#[derive(Clone, Copy, Debug)]
pub enum Scale {
    /// Statistic thresholded at ±`threshold`: red→yellow above, blue→cyan below, grey between.
    Diverging {
        /// |value| shown in colour from here.
        threshold: f64,
        /// |value| of the brightest colour (the bar's ends).
        vmax: f64,
    },
    /// Counts 0..=`max` on a dark-blue→green→yellow ramp.
    Sequential {
        /// Top of the ramp.
        max: f64,
    },
}

/// Dark blue → teal → green → yellow, evenly spaced anchors of a perceptually ordered ramp.
const RAMP: [Rgb; 5] = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];

impl Scale {
    /// Colour of an in-mask value.
    pub fn colour(&self, value: f64) -> Rgb {
        if value.is_nan() {
            return DARK_GREY;
        }
        match *self {
            Scale::Diverging { threshold, vmax } => {
                if value.abs() < threshold {
                    return GREY;
                }
                let t = ((value.abs() - threshold) / (vmax - threshold).max(f64::MIN_POSITIVE)).clamp(0.0, 1.0);
                if value > 0.0 {
                    [255, (255.0 * t).round() as u8, 0]
                } else {
                    [0, (90.0 + 165.0 * t).round() as u8, 255]
                }
            }
            Scale::Sequential { max } => {
                let t = (value / max.max(f64::MIN_POSITIVE)).clamp(0.0, 1.0) * (RAMP.len() - 1) as f64;
                let i = (t.floor() as usize).min(RAMP.len() - 2);
                let f = t - i as f64;
                let mix = |c: usize| (f64::from(RAMP[i][c]) * (1.0 - f) + f64::from(RAMP[i + 1][c]) * f).round() as u8;
                [mix(0), mix(1), mix(2)]
            }
        }
    }

    /// (bottom, top) of the bar.
    fn range(&self) -> (f64, f64) {
        match *self {
            Scale::Diverging { vmax, .. } => (-vmax, vmax),
            Scale::Sequential { max } => (0.0, max),
        }
    }

    /// Labelled values, top first.
    fn ticks(&self) -> Vec<f64> {
        match *self {
            Scale::Diverging { threshold, vmax } => vec![vmax, threshold, -threshold, -vmax],
            Scale::Sequential { max } => vec![max, (max / 2.0).round(), 0.0],
        }
    }

    /// A vertical colour bar `bar_height` pixels tall with labelled ticks.
    pub fn bar(&self, bar_height: usize) -> Canvas {
        const BAR_W: usize = 18;
        let labels: Vec<(f64, String)> = self.ticks().into_iter().map(|t| (t, number(t))).collect();
        let label_w = labels.iter().map(|(_, s)| text_width(s, TEXT)).max().unwrap_or(0);
        let pad = text_height(TEXT) / 2 + 1;
        const TICK: usize = 4;
        // Labels stand clear of the ticks so that a tick never reads as a minus sign.
        let label_x = BAR_W + TICK + 8;
        let mut canvas = Canvas::new(label_x + label_w, bar_height + 2 * pad, BLACK);
        let (lo, hi) = self.range();
        let span = (bar_height.max(2) - 1) as f64;
        for y in 0..bar_height {
            let value = hi - (hi - lo) * y as f64 / span;
            canvas.fill(0, pad + y, BAR_W, 1, self.colour(value));
        }
        let mut last_y: Option<usize> = None;
        for (value, label) in labels {
            let y = pad + ((hi - value) / (hi - lo).max(f64::MIN_POSITIVE) * span).round() as usize;
            canvas.fill(BAR_W, y, TICK, 1, WHITE);
            // Skip a label that would overlap the one above it.
            if last_y.is_some_and(|l| y < l + text_height(TEXT) + 2) {
                continue;
            }
            canvas.text(label_x, y.saturating_sub(text_height(TEXT) / 2), &label, TEXT, WHITE);
            last_y = Some(y);
        }
        canvas
    }
}

/// A short label for a number: at most two decimals, no trailing zeros.
pub fn number(x: f64) -> String {
    let s = format!("{:.2}", x + 0.0);
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

/// Sagittal, coronal and axial slices through `cut` (world mm), a title and the colour bar.
pub fn ortho(brain: &Brain, values: &[f64], cut: [f64; 3], scale: &Scale, title: &str) -> Canvas {
    let colour = |v: f64| scale.colour(v);
    let cells = [View::Sagittal, View::Coronal, View::Axial]
        .into_iter()
        .map(|view| {
            let axis = view.axes().0;
            let caption = format!("{} = {} mm", ["x", "y", "z"][axis], number(cut[axis].round()));
            (brain.panel(values, view, cut[axis], &colour), caption, view.edges())
        })
        .collect();
    compose(title, cells, 3, scale)
}

/// Axial slices at heights `zs` (mm), `cols` per row, a title and the colour bar; the first
/// column carries the L/R letters.
pub fn mosaic(brain: &Brain, values: &[f64], zs: &[f64], cols: usize, scale: &Scale, title: &str) -> Canvas {
    let colour = |v: f64| scale.colour(v);
    let cols = cols.max(1);
    let cells = zs
        .iter()
        .enumerate()
        .map(|(i, &z)| {
            let edges = if i % cols == 0 { View::Axial.edges() } else { ("", "") };
            (brain.panel(values, View::Axial, z, &colour), format!("z = {}", number(z.round())), edges)
        })
        .collect();
    compose(title, cells, cols, scale)
}

/// A panel, the caption above it and the letters of its left and right edges.
type Cell = (Canvas, String, (&'static str, &'static str));

/// Lay cells out in rows of `cols` under a title, with the colour bar on the right. Edge
/// letters stand at mid-height in a margin on either side of their panel.
fn compose(title: &str, cells: Vec<Cell>, cols: usize, scale: &Scale) -> Canvas {
    let t = text_height(TEXT);
    let caption_h = t + 6;
    let side = text_width("M", TEXT) + 6;
    let rows = cells.len().div_ceil(cols);
    let mut col_w = vec![0usize; cols];
    let mut row_h = vec![0usize; rows];
    for (i, (panel, caption, _)) in cells.iter().enumerate() {
        col_w[i % cols] = col_w[i % cols].max(panel.width + 2 * side).max(text_width(caption, TEXT));
        row_h[i / cols] = row_h[i / cols].max(caption_h + panel.height);
    }
    let grid_w = col_w.iter().sum::<usize>() + GAP * (cols - 1);
    let grid_h = row_h.iter().sum::<usize>() + GAP * rows.saturating_sub(1);
    let top = GAP + t + GAP;
    let bar = scale.bar((grid_h * 3 / 4).max(60));
    let width = (GAP + grid_w + GAP + bar.width + GAP).max(text_width(title, TEXT) + 2 * GAP);
    let mut canvas = Canvas::new(width, top + grid_h.max(bar.height) + GAP, BLACK);
    canvas.text(GAP, GAP, title, TEXT, WHITE);
    for (i, (panel, caption, (left, right))) in cells.iter().enumerate() {
        let (r, c) = (i / cols, i % cols);
        let x = GAP + col_w[..c].iter().sum::<usize>() + GAP * c + side;
        let y = top + row_h[..r].iter().sum::<usize>() + GAP * r;
        canvas.text(x + (panel.width.saturating_sub(text_width(caption, TEXT))) / 2, y, caption, TEXT, WHITE);
        canvas.blit(panel, x, y + caption_h);
        let mid = y + caption_h + panel.height.saturating_sub(t) / 2;
        canvas.text(x - side + 2, mid, left, TEXT, WHITE);
        canvas.text(x + panel.width + side - 2 - text_width(right, TEXT), mid, right, TEXT, WHITE);
    }
    canvas.blit(&bar, GAP + grid_w + GAP, top + grid_h.saturating_sub(bar.height) / 2);
    canvas
}

/// World coordinates of voxel `v`'s centre.
fn world(grid: &Grid, v: usize) -> [f64; 3] {
    let [_, ny, nz] = grid.dims;
    let ijk = [(v / (ny * nz)) as f64, ((v / nz) % ny) as f64, (v % nz) as f64];
    let a = &grid.affine;
    std::array::from_fn(|r| a[r][0] * ijk[0] + a[r][1] * ijk[1] + a[r][2] * ijk[2] + a[r][3])
}

/// World → voxel rows of the inverse of a voxel → world affine, None if singular.
fn invert_affine(a: &[[f64; 4]; 4]) -> Option<[[f64; 4]; 3]> {
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
