//! How values become colours, and the labelled colour bar that explains it.

use super::canvas::{text_height, text_width, Canvas, Rgb, BLACK, WHITE};

/// In-mask voxel below the threshold, drawn without an anatomical underlay.
pub const GREY: Rgb = [128, 128, 128];
/// In-mask voxel that could not be estimated (NaN).
pub const DARK_GREY: Rgb = [60, 60, 60];
/// Label scale (font pixels are this many image pixels).
pub const TEXT: usize = 2;

/// What a value asks to be drawn as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paint {
    /// Below the threshold: the anatomy shows through (grey without it).
    Below,
    /// Not estimable (NaN).
    Missing,
    /// A colour of the scale.
    Colour(Rgb),
}

/// How values become colours.
#[derive(Clone, Copy, Debug)]
pub enum Scale {
    /// Statistic thresholded at ±`threshold`: red→yellow above, blue→cyan below, nothing between.
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
    /// What an in-mask value is drawn as.
    pub fn paint(&self, value: f64) -> Paint {
        if value.is_nan() {
            return Paint::Missing;
        }
        match *self {
            Scale::Diverging { threshold, vmax } => {
                if value.abs() < threshold {
                    return Paint::Below;
                }
                let t = ((value.abs() - threshold) / (vmax - threshold).max(f64::MIN_POSITIVE)).clamp(0.0, 1.0);
                Paint::Colour(if value > 0.0 {
                    [255, (255.0 * t).round() as u8, 0]
                } else {
                    [0, (90.0 + 165.0 * t).round() as u8, 255]
                })
            }
            Scale::Sequential { max } => {
                let t = (value / max.max(f64::MIN_POSITIVE)).clamp(0.0, 1.0) * (RAMP.len() - 1) as f64;
                let i = (t.floor() as usize).min(RAMP.len() - 2);
                let f = t - i as f64;
                let mix = |c: usize| (f64::from(RAMP[i][c]) * (1.0 - f) + f64::from(RAMP[i + 1][c]) * f).round() as u8;
                Paint::Colour([mix(0), mix(1), mix(2)])
            }
        }
    }

    /// Colour of an in-mask value drawn without anatomy ([`GREY`] below the threshold,
    /// [`DARK_GREY`] for NaN).
    pub fn colour(&self, value: f64) -> Rgb {
        match self.paint(value) {
            Paint::Below => GREY,
            Paint::Missing => DARK_GREY,
            Paint::Colour(c) => c,
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

    /// A vertical colour bar `bar_height` pixels tall with labelled ticks, under `label` (what
    /// the values are, e.g. `z`).
    pub fn bar(&self, bar_height: usize, label: &str) -> Canvas {
        const BAR_W: usize = 18;
        const TICK: usize = 4;
        let labels: Vec<(f64, String)> = self.ticks().into_iter().map(|t| (t, number(t))).collect();
        let label_w = labels.iter().map(|(_, s)| text_width(s, TEXT)).max().unwrap_or(0);
        let pad = text_height(TEXT) / 2 + 1;
        let top = text_height(TEXT) + 8;
        // Tick labels stand clear of the ticks so that a tick never reads as a minus sign.
        let label_x = BAR_W + TICK + 8;
        let width = (label_x + label_w).max(text_width(label, TEXT));
        let mut canvas = Canvas::new(width, top + bar_height + 2 * pad, BLACK);
        canvas.text(0, 0, label, TEXT, WHITE);
        let (lo, hi) = self.range();
        let span = (bar_height.max(2) - 1) as f64;
        for y in 0..bar_height {
            let value = hi - (hi - lo) * y as f64 / span;
            canvas.fill(0, top + pad + y, BAR_W, 1, self.colour(value));
        }
        let mut last_y: Option<usize> = None;
        for (value, text) in labels {
            let y = top + pad + ((hi - value) / (hi - lo).max(f64::MIN_POSITIVE) * span).round() as usize;
            canvas.fill(BAR_W, y, TICK, 1, WHITE);
            // Skip a label that would overlap the one above it.
            if last_y.is_some_and(|l| y < l + text_height(TEXT) + 2) {
                continue;
            }
            canvas.text(label_x, y.saturating_sub(text_height(TEXT) / 2), &text, TEXT, WHITE);
            last_y = Some(y);
        }
        canvas
    }
}

/// A short label for a number: at most two decimals, no trailing zeros; powers of ten beyond
/// a million (only hostile grids have such coordinates).
pub fn number(x: f64) -> String {
    if x.abs() >= 1e6 {
        return format!("{x:.2e}");
    }
    let s = format!("{:.2}", x + 0.0);
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}
