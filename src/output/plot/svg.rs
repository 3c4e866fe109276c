//! An SVG backend whose text is drawn as glyph outlines (`<path>`), so a chart looks the same
//! in every viewer without any system font.
//!
//! plotters' own `SVGBackend` writes `<text font-family="sans-serif">`, which each viewer
//! renders with whatever font it finds (and with its own metrics, so labels measured with the
//! embedded DejaVu Sans may overlap). [`OutlinedSvg`] forwards every shape to `SVGBackend`
//! and turns each text into one filled path traced from the embedded font's outlines, laid out
//! exactly as the bitmap backend lays it out (the same advance widths, kerning, anchor and
//! rotation). The text paths are appended after the shapes (text is always on top).

use std::cell::RefCell;
use std::rc::Rc;

use ab_glyph::{Font, FontRef, OutlineCurve, PxScale, ScaleFont};
use plotters::backend::SVGBackend;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
    FontTransform,
};

use super::style::DEJAVU_SANS;

/// The SVG backend with outlined text; `paths` collects the text elements (SVG markup).
pub(super) struct OutlinedSvg<'a> {
    inner: SVGBackend<'a>,
    font: FontRef<'static>,
    paths: Rc<RefCell<String>>,
}

impl<'a> OutlinedSvg<'a> {
    /// A backend drawing into `buf` (`size` in pixels); text paths go to `paths`, to be
    /// spliced in before `</svg>` with [`splice_text`] once drawing is done.
    pub(super) fn new(
        buf: &'a mut String,
        size: (u32, u32),
        paths: Rc<RefCell<String>>,
    ) -> std::result::Result<Self, String> {
        let font = FontRef::try_from_slice(DEJAVU_SANS)
            .map_err(|_| "the embedded font DejaVuSans.ttf cannot be loaded".to_string())?;
        Ok(OutlinedSvg {
            inner: SVGBackend::with_string(buf, size),
            font,
            paths,
        })
    }
}

/// The comment that marks an SVG as mfgsim's, so a later plot may replace it (see
/// `output::written_by_mfgsim`).
pub(crate) use crate::output::owned::SVG_PROVENANCE as PROVENANCE;

/// Inserts the collected text `paths` before the closing `</svg>` of `svg`.
pub(super) fn splice_text(svg: &mut String, paths: &str) {
    match svg.rfind("</svg>") {
        Some(i) => svg.insert_str(i, paths),
        None => svg.push_str(paths),
    }
}

fn rgb(c: BackendColor) -> String {
    let (r, g, b) = c.rgb;
    format!("#{r:02X}{g:02X}{b:02X}")
}

impl OutlinedSvg<'_> {
    /// The path data of `text` at `pos` with plotters' layout rules (see the module docs).
    fn text_path<S: BackendTextStyle>(&self, text: &str, style: &S, pos: BackendCoord) -> String {
        let size = style.size();
        let font = self.font.as_scaled(PxScale::from(size as f32));
        // Box and anchor exactly as `DrawingBackend::draw_text` computes them.
        let width: f32 = {
            let mut w = 0f32;
            let mut prev = None;
            for c in text.chars() {
                let id = font.glyph_id(c);
                w += font.h_advance(id);
                if let Some(p) = prev {
                    w += font.kern(p, id);
                }
                prev = Some(id);
            }
            w.trunc()
        };
        let height = (size / 1.24).trunc() as f32;
        let dx = match style.anchor().h_pos {
            HPos::Left => 0.0,
            HPos::Right => -width,
            HPos::Center => -(width / 2.0).trunc(),
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0.0,
            VPos::Center => -(height / 2.0).trunc(),
            VPos::Bottom => -height,
        };
        let transform = style.transform();
        let (sx, sy) = (font.h_scale_factor(), font.v_scale_factor());
        let (px, py) = (pos.0 as f32, pos.1 as f32);
        // Glyph space (font units, y up) → the text box (pixels, y down, baseline at size/2)
        // → rotation → the canvas.
        let map = |x_shift: f32, p: ab_glyph::Point| -> (f32, f32) {
            let x = x_shift + p.x * sx + dx;
            let y = (size as f32) / 2.0 - p.y * sy + dy;
            let (x, y) = match transform {
                FontTransform::None => (x, y),
                FontTransform::Rotate90 => (-y, x),
                FontTransform::Rotate180 => (-x, -y),
                FontTransform::Rotate270 => (y, -x),
            };
            (px + x, py + y)
        };
        let mut d = String::new();
        let mut x_shift = 0f32;
        let mut prev: Option<ab_glyph::GlyphId> = None;
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(p) = prev {
                x_shift += font.kern(p, id);
            }
            prev = Some(id);
            if let Some(outline) = self.font.outline(id) {
                let mut last: Option<ab_glyph::Point> = None;
                for curve in &outline.curves {
                    let (start, end) = match *curve {
                        OutlineCurve::Line(a, b) | OutlineCurve::Quad(a, _, b) => (a, b),
                        OutlineCurve::Cubic(a, _, _, b) => (a, b),
                    };
                    if last != Some(start) {
                        if last.is_some() {
                            d.push('Z');
                        }
                        let (x, y) = map(x_shift, start);
                        d.push_str(&format!("M{x:.2} {y:.2}"));
                    }
                    match *curve {
                        OutlineCurve::Line(_, b) => {
                            let (x, y) = map(x_shift, b);
                            d.push_str(&format!("L{x:.2} {y:.2}"));
                        }
                        OutlineCurve::Quad(_, c1, b) => {
                            let (cx, cy) = map(x_shift, c1);
                            let (x, y) = map(x_shift, b);
                            d.push_str(&format!("Q{cx:.2} {cy:.2} {x:.2} {y:.2}"));
                        }
                        OutlineCurve::Cubic(_, c1, c2, b) => {
                            let (ax, ay) = map(x_shift, c1);
                            let (bx, by) = map(x_shift, c2);
                            let (x, y) = map(x_shift, b);
                            d.push_str(&format!("C{ax:.2} {ay:.2} {bx:.2} {by:.2} {x:.2} {y:.2}"));
                        }
                    }
                    last = Some(end);
                }
                if last.is_some() {
                    d.push('Z');
                }
            }
            x_shift += font.h_advance(id);
        }
        d
    }
}

impl DrawingBackend for OutlinedSvg<'_> {
    type ErrorType = std::io::Error;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.fill_polygon(vert, style)
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        let color = style.color();
        if color.alpha == 0.0 || text.is_empty() {
            return Ok(());
        }
        let d = self.text_path(text, style, pos);
        let opacity = if color.alpha < 1.0 {
            format!(" fill-opacity=\"{:.3}\"", color.alpha)
        } else {
            String::new()
        };
        let title = text
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        self.paths.borrow_mut().push_str(&format!(
            "<path d=\"{d}\" fill=\"{}\"{opacity}><title>{title}</title></path>\n",
            rgb(color)
        ));
        Ok(())
    }
}
