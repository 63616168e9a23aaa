//! Figures of a volume: orthogonal slices (with a crosshair at the cut) and an axial mosaic in
//! world space, each with a labelled colour bar, over the MNI template when the grid is MNI space.
//!
//! Every pixel is sampled in world millimetres through the inverse affine (nearest voxel), so
//! any grid orientation (LAS, RAS, oblique) and any voxel shape comes out the same way:
//! neurological convention (subject's left on the image's left), anterior up in axial slices,
//! superior up otherwise, and square millimetres. Pixels are laid on voxel centres so that
//! each voxel becomes a block of equal pixels, unless that would make a panel larger than
//! [`MAX_PANEL_PX`] (voxels of very different sizes): panels, and the sampling work, are
//! bounded whatever the grid.

use super::canvas::{text_height, text_width, Canvas, Rgb, BLACK, WHITE};
use super::geometry::invert_affine;
use super::scale::TEXT;
pub use super::scale::{number, Paint, Scale, DARK_GREY, GREY};
use super::underlay::Template;
use ibma_io::Grid;
use rayon::prelude::*;

/// Smallest panel side in pixels: small grids are magnified more.
const MIN_PANEL_PX: f64 = 240.0;
/// Largest panel side in pixels, whatever the voxel sizes (a 1 mm MNI grid needs ~660).
pub const MAX_PANEL_PX: usize = 720;
/// Pixels per voxel for ordinary (2 mm, 91×109×91) grids; odd, so pixels never fall on a
/// voxel boundary.
const MIN_UPSAMPLE: usize = 3;
const GAP: usize = 12;
/// Space between panel columns, so that one panel's edge letter never reads as the next one's.
const COLUMN_GAP: usize = 3 * GAP;
/// Opacity of a map colour over the anatomy.
const ALPHA: f64 = 0.8;
/// Grey level of the template's brightest voxel (the outline is 235).
pub const ANATOMY_WHITE: f64 = 210.0;
/// Brightness of the anatomy outside the mask (inside it is 1).
const OUTSIDE_DIM: f64 = 0.45;
/// The crosshair's colour.
pub const CROSSHAIR: Rgb = [80, 230, 80];
/// Pixels left open on each side of the cut point, so that the voxel there stays visible.
pub const CROSSHAIR_GAP: usize = 6;

/// A volume's grid seen in world space: which voxel lies under a world point, and the
/// padded world bounding box of the mask that every panel shows.
pub struct Brain<'a> {
    grid: &'a Grid,
    in_mask: &'a [bool],
    /// World → voxel (rows i, j, k of the inverse affine).
    inverse: [[f64; 4]; 3],
    /// The mask's voxel centres span [mask_lo, mask_hi] (mm).
    mask_lo: [f64; 3],
    mask_hi: [f64; 3],
    /// Padded box every panel shows.
    lo: [f64; 3],
    hi: [f64; 3],
    /// Millimetres per pixel.
    step: f64,
    /// Anatomy drawn under the map, if any.
    underlay: Option<&'static Template>,
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
    /// `in_mask` holds one flag per grid voxel (C order). Err when the affine is singular, the
    /// mask is empty or its world coordinates are not finite.
    pub fn new(grid: &'a Grid, in_mask: &'a [bool]) -> Result<Brain<'a>, String> {
        if in_mask.len() != grid.n_voxels() {
            return Err(format!("{} mask flags for a grid of {} voxels", in_mask.len(), grid.n_voxels()));
        }
        let inverse = invert_affine(&grid.affine).ok_or("the affine is singular")?;
        let a = &grid.affine;
        let voxel_mm: [f64; 3] = std::array::from_fn(|c| (0..3).map(|r| a[r][c].powi(2)).sum::<f64>().sqrt());
        // How far one voxel reaches along each world axis (its box's projection).
        let reach: [f64; 3] = std::array::from_fn(|r| (0..3).map(|c| a[r][c].abs()).sum());
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
        let finite = |x: &[f64; 3]| x.iter().all(|c| c.is_finite());
        if !(finite(&lo) && finite(&hi) && finite(&reach) && finite(&voxel_mm)) {
            return Err("the affine puts voxels at non-finite world coordinates".into());
        }
        let (mask_lo, mask_hi) = (lo, hi);
        let min_mm = voxel_mm.iter().copied().fold(f64::INFINITY, f64::min);
        let extent_voxels = (0..3).map(|a| (hi[a] - lo[a]) / min_mm + 1.0).fold(0.0, f64::max);
        let widest =
            |step: f64, pad: &[f64; 3]| (0..3).map(|a| (hi[a] - lo[a] + 2.0 * pad[a]) / step).fold(0.0, f64::max);
        // Pixels on voxel centres: an odd number of pixels per smallest voxel side, fewer for
        // large grids; one voxel of margin in whole pixels.
        let mut upsample = ((MIN_PANEL_PX / extent_voxels).ceil() as usize).max(MIN_UPSAMPLE) | 1;
        let (step, pad) = loop {
            let step = min_mm / upsample as f64;
            let pad = reach.map(|r| (r / step).ceil() * step);
            if widest(step, &pad) < (MAX_PANEL_PX - 1) as f64 {
                break (step, pad);
            }
            if upsample == 1 {
                // Voxels of very different sizes (0.01 x 2 x 10 mm) or a huge grid: give up
                // aligning pixels and fit the longest side into MAX_PANEL_PX pixels.
                let step = widest(1.0, &reach) / (MAX_PANEL_PX - 1) as f64;
                break (step, reach);
            }
            upsample -= 2;
        };
        if !(step.is_finite() && step > 0.0) {
            return Err("the affine gives the mask no finite extent".into());
        }
        for a in 0..3 {
            lo[a] -= pad[a];
            hi[a] += pad[a];
        }
        Ok(Brain { grid, in_mask, inverse, mask_lo, mask_hi, lo, hi, step, underlay: None })
    }

    /// Whether to draw the MNI template under this mask's maps (see [`super::underlay::choose`]);
    /// `voxels` are the mask's flat grid indices.
    pub fn choose_underlay(&self, voxels: &[usize]) -> super::underlay::Choice {
        // Every mask voxel up to ~50k, evenly strided beyond: the fraction is a proportion.
        let stride = voxels.len().div_ceil(50_000).max(1);
        let sample: Vec<[f64; 3]> = voxels.iter().step_by(stride).map(|&v| self.world(v)).collect();
        super::underlay::choose(&sample, self.mask_bounds())
    }

    /// Draw `template` under the map (see [`super::underlay::choose`]).
    pub fn with_underlay(mut self, template: Option<&'static Template>) -> Brain<'a> {
        self.underlay = template;
        self
    }

    /// World bounding box (mm) of the mask's voxel centres.
    pub fn mask_bounds(&self) -> ([f64; 3], [f64; 3]) {
        (self.mask_lo, self.mask_hi)
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
        // Brain::new keeps every side below MAX_PANEL_PX; min() guards rounding.
        let n = |a: usize| (((self.hi[a] - self.lo[a]) / self.step).round() as usize + 1).min(MAX_PANEL_PX);
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

    /// One slice. Without an underlay: outside the mask black, inside the scale's colours
    /// (grey below the threshold). With one: the anatomy everywhere (dimmed outside the mask),
    /// the map's colours blended on top. The mask's outline is white.
    pub fn panel(&self, values: &[f64], view: View, at: f64, scale: &Scale) -> Canvas {
        let (width, height) = self.panel_size(view);
        let mut canvas = Canvas::new(width, height, BLACK);
        let mut inside = vec![false; width * height];
        canvas.pixels.par_chunks_mut(width.max(1)).zip(inside.par_chunks_mut(width.max(1))).enumerate().for_each(
            |(py, (row, inside))| {
                for (px, (pixel, inside)) in row.iter_mut().zip(inside).enumerate() {
                    let w = self.pixel_world(view, at, px, py);
                    let voxel = self.voxel_at(w).filter(|&v| self.in_mask[v]);
                    *inside = voxel.is_some();
                    let anatomy = self.underlay.map(|t| t.sample(w));
                    *pixel = match (voxel, anatomy) {
                        (Some(v), None) => scale.colour(values[v]),
                        (Some(v), Some(a)) => match scale.paint(values[v]) {
                            Paint::Below => grey(a),
                            Paint::Missing => blend(DARK_GREY, grey(a)),
                            Paint::Colour(c) => blend(c, grey(a)),
                        },
                        (None, Some(a)) => grey(a * OUTSIDE_DIM),
                        (None, None) => BLACK,
                    };
                }
            },
        );
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

/// Template intensity (0..1) as a grey, never as bright as the mask's outline.
fn grey(a: f64) -> Rgb {
    let g = (ANATOMY_WHITE * a.clamp(0.0, 1.0)).round() as u8;
    [g, g, g]
}

/// `colour` at [`ALPHA`] over `under`.
fn blend(colour: Rgb, under: Rgb) -> Rgb {
    std::array::from_fn(|c| (ALPHA * f64::from(colour[c]) + (1.0 - ALPHA) * f64::from(under[c])).round() as u8)
}

/// A crosshair through pixel (px, py), open around it.
fn crosshair(panel: &mut Canvas, px: usize, py: usize) {
    for y in (0..panel.height).filter(|&y| y.abs_diff(py) > CROSSHAIR_GAP) {
        panel.set(px, y, CROSSHAIR);
    }
    for x in (0..panel.width).filter(|&x| x.abs_diff(px) > CROSSHAIR_GAP) {
        panel.set(x, py, CROSSHAIR);
    }
}

/// What a figure shows: its title, colour scale and the colour bar's label (e.g. `z`).
pub struct Style<'s> {
    /// Line above the panels.
    pub title: &'s str,
    /// Colours.
    pub scale: Scale,
    /// Above the colour bar: what the values are.
    pub label: &'s str,
}

/// Sagittal, coronal and axial slices through `cut` (world mm), each with a crosshair at the
/// cut, a title and the colour bar.
pub fn ortho(brain: &Brain, values: &[f64], cut: [f64; 3], style: &Style) -> Canvas {
    let cells = [View::Sagittal, View::Coronal, View::Axial]
        .into_iter()
        .map(|view| {
            let axis = view.axes().0;
            let caption = format!("{} = {} mm", ["x", "y", "z"][axis], number(cut[axis].round()));
            (ortho_panel(brain, values, view, cut, &style.scale), caption, view.edges())
        })
        .collect();
    compose(cells, 3, style)
}

/// The `view` slice through `cut` with the crosshair: [`CROSSHAIR`] lines through the cut's
/// pixel, open for [`CROSSHAIR_GAP`] pixels around it.
pub fn ortho_panel(brain: &Brain, values: &[f64], view: View, cut: [f64; 3], scale: &Scale) -> Canvas {
    let mut panel = brain.panel(values, view, cut[view.axes().0], scale);
    if let Some((px, py)) = brain.pixel_of(view, cut) {
        crosshair(&mut panel, px, py);
    }
    panel
}

/// Axial slices at heights `zs` (mm), `cols` per row, a title and the colour bar; the first
/// column carries the L/R letters.
pub fn mosaic(brain: &Brain, values: &[f64], zs: &[f64], cols: usize, style: &Style) -> Canvas {
    let cols = cols.max(1);
    let cells = zs
        .iter()
        .enumerate()
        .map(|(i, &z)| {
            let edges = if i % cols == 0 { View::Axial.edges() } else { ("", "") };
            (brain.panel(values, View::Axial, z, &style.scale), format!("z = {}", number(z.round())), edges)
        })
        .collect();
    compose(cells, cols, style)
}

/// A panel, the caption above it and the letters of its left and right edges.
type Cell = (Canvas, String, (&'static str, &'static str));

/// Lay cells out in rows of `cols` under a title, with the colour bar on the right. Each
/// panel's edge letters stand on its caption line, flush with the panel's edges (never beside
/// the image, where they would crowd the neighbouring panel).
fn compose(cells: Vec<Cell>, cols: usize, style: &Style) -> Canvas {
    let t = text_height(TEXT);
    let caption_h = t + 6;
    let letter = text_width("M", TEXT) + 16;
    let rows = cells.len().div_ceil(cols);
    let mut col_w = vec![0usize; cols];
    let mut row_h = vec![0usize; rows];
    for (i, (panel, caption, _)) in cells.iter().enumerate() {
        col_w[i % cols] = col_w[i % cols].max(panel.width).max(text_width(caption, TEXT) + 2 * letter);
        row_h[i / cols] = row_h[i / cols].max(caption_h + panel.height);
    }
    let grid_w = col_w.iter().sum::<usize>() + COLUMN_GAP * (cols - 1);
    let grid_h = row_h.iter().sum::<usize>() + GAP * rows.saturating_sub(1);
    let top = GAP + t + GAP;
    let bar = style.scale.bar((grid_h * 3 / 4).max(60), style.label);
    let width = (GAP + grid_w + COLUMN_GAP + bar.width + GAP).max(text_width(style.title, TEXT) + 2 * GAP);
    let mut canvas = Canvas::new(width, top + grid_h.max(bar.height) + GAP, BLACK);
    canvas.text(GAP, GAP, style.title, TEXT, WHITE);
    for (i, (panel, caption, (left, right))) in cells.iter().enumerate() {
        let (r, c) = (i / cols, i % cols);
        let col_x = GAP + col_w[..c].iter().sum::<usize>() + COLUMN_GAP * c;
        let y = top + row_h[..r].iter().sum::<usize>() + GAP * r;
        let x = col_x + (col_w[c] - panel.width) / 2;
        let caption_x = col_x + (col_w[c] - text_width(caption, TEXT)) / 2;
        canvas.text(caption_x, y, caption, TEXT, WHITE);
        canvas.blit(panel, x, y + caption_h);
        let left_x = x.min(caption_x.saturating_sub(letter));
        let right_x = (x + panel.width).max(caption_x + text_width(caption, TEXT) + letter) - text_width(right, TEXT);
        canvas.text(left_x, y, left, TEXT, WHITE);
        canvas.text(right_x, y, right, TEXT, WHITE);
    }
    canvas.blit(&bar, GAP + grid_w + COLUMN_GAP, top + grid_h.saturating_sub(bar.height) / 2);
    canvas
}

/// World coordinates of voxel `v`'s centre.
fn world(grid: &Grid, v: usize) -> [f64; 3] {
    let [_, ny, nz] = grid.dims;
    let ijk = [(v / (ny * nz)) as f64, ((v / nz) % ny) as f64, (v % nz) as f64];
    let a = &grid.affine;
    std::array::from_fn(|r| a[r][0] * ijk[0] + a[r][1] * ijk[1] + a[r][2] * ijk[2] + a[r][3])
}
