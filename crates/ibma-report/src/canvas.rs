//! An RGB pixel buffer with the few drawing operations the figures need (rectangles, copies,
//! bitmap text) and PNG encoding. Same pixels in, same PNG bytes out.

use super::font;

/// An sRGB colour.
pub type Rgb = [u8; 3];

/// Figure background (outside the brain).
pub const BLACK: Rgb = [0, 0, 0];
/// Text and the mask outline.
pub const WHITE: Rgb = [235, 235, 235];

/// A `width` × `height` RGB image, rows top to bottom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Canvas {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Pixels in row-major order.
    pub pixels: Vec<Rgb>,
}

impl Canvas {
    /// A canvas filled with `colour`.
    pub fn new(width: usize, height: usize, colour: Rgb) -> Canvas {
        Canvas { width, height, pixels: vec![colour; width * height] }
    }

    /// The pixel at (x, y).
    ///
    /// # Panics
    /// Outside the canvas (a caller bug).
    #[track_caller]
    pub fn get(&self, x: usize, y: usize) -> Rgb {
        assert!(x < self.width && y < self.height, "pixel ({x}, {y}) outside {}x{}", self.width, self.height);
        self.pixels[y * self.width + x]
    }

    /// Set a pixel; outside the canvas nothing happens (text may run off an edge).
    pub fn set(&mut self, x: usize, y: usize, colour: Rgb) {
        if x < self.width && y < self.height {
            self.pixels[y * self.width + x] = colour;
        }
    }

    /// Fill a rectangle (clipped to the canvas).
    pub fn fill(&mut self, x: usize, y: usize, w: usize, h: usize, colour: Rgb) {
        for yy in y..(y + h).min(self.height) {
            for xx in x..(x + w).min(self.width) {
                self.pixels[yy * self.width + xx] = colour;
            }
        }
    }

    /// Copy `other` with its top-left corner at (x, y) (clipped).
    pub fn blit(&mut self, other: &Canvas, x: usize, y: usize) {
        for oy in 0..other.height {
            for ox in 0..other.width {
                self.set(x + ox, y + oy, other.pixels[oy * other.width + ox]);
            }
        }
    }

    /// Draw `text` with its top-left corner at (x, y), each font pixel `scale` × `scale`.
    pub fn text(&mut self, x: usize, y: usize, text: &str, scale: usize, colour: Rgb) {
        for (n, c) in text.chars().enumerate() {
            let x0 = x + n * (font::WIDTH + 1) * scale;
            for (row, bits) in font::glyph(c).iter().enumerate() {
                for col in 0..font::WIDTH {
                    if bits >> (font::WIDTH - 1 - col) & 1 == 1 {
                        self.fill(x0 + col * scale, y + row * scale, scale, scale, colour);
                    }
                }
            }
        }
    }

    /// PNG bytes of the canvas (8-bit RGB).
    pub fn to_png(&self) -> std::io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        let too_big = || std::io::Error::other(format!("{}x{} image is too large", self.width, self.height));
        let width = u32::try_from(self.width).map_err(|_| too_big())?;
        let height = u32::try_from(self.height).map_err(|_| too_big())?;
        let mut encoder = png::Encoder::new(&mut bytes, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let data: Vec<u8> = self.pixels.iter().flatten().copied().collect();
        encoder
            .write_header()
            .and_then(|mut w| w.write_image_data(&data))
            .map_err(|e| std::io::Error::other(format!("PNG encoding: {e}")))?;
        Ok(bytes)
    }
}

/// Width in pixels of `text` drawn at `scale`.
pub fn text_width(text: &str, scale: usize) -> usize {
    let n = text.chars().count();
    (n * (font::WIDTH + 1)).saturating_sub(1) * scale
}

/// Height in pixels of one line of text at `scale`.
pub fn text_height(scale: usize) -> usize {
    font::HEIGHT * scale
}
