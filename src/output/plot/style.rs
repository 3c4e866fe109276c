//! What every chart shares: the embedded font, the colours, marker shapes and sizes, and the
//! drawing of markers, error bars and (dashed) lines.

use plotters::coord::CoordTranslate;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::register_font;
use std::sync::OnceLock;

use super::drawing;

/// The font family name the embedded font is registered under (plotters' default family).
pub(super) const FONT_FAMILY: &str = "sans-serif";
/// DejaVu Sans (see `assets/DejaVuSans.LICENSE`).
pub(super) static DEJAVU_SANS: &[u8] = include_bytes!("../../../assets/DejaVuSans.ttf");

/// Registers the embedded font with plotters, once per process.
pub(super) fn ensure_font() -> std::result::Result<(), String> {
    static REGISTERED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            register_font(FONT_FAMILY, FontStyle::Normal, DEJAVU_SANS)
                .map_err(|_| "the embedded font DejaVuSans.ttf cannot be loaded".to_string())
        })
        .clone()
}

/// Okabe–Ito colours, in series order (cycled).
pub(super) const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(230, 159, 0),   // orange
    RGBColor(86, 180, 233),  // sky blue
    RGBColor(0, 0, 0),       // black
];
pub(super) const TEXT: RGBColor = RGBColor(25, 25, 25);
pub(super) const REFERENCE: RGBColor = RGBColor(40, 40, 40);

/// Marker shapes, in series order (cycled).
#[derive(Debug, Clone, Copy)]
pub(super) enum Marker {
    Circle,
    Square,
    Triangle,
    Diamond,
}
pub(super) const MARKERS: [Marker; 4] = [
    Marker::Circle,
    Marker::Square,
    Marker::Triangle,
    Marker::Diamond,
];

/// Pixel sizes, scaled with the image (reference: 960 × 640).
#[derive(Debug, Clone, Copy)]
pub(super) struct Sizes {
    pub(super) title: f64,
    pub(super) axis_desc: f64,
    pub(super) tick_label: f64,
    pub(super) legend: f64,
    pub(super) tick: i32,
    pub(super) margin: i32,
    pub(super) marker: i32,
    pub(super) bar: u32,
    pub(super) line: u32,
    pub(super) cap: i32,
    pub(super) dash: i32,
    pub(super) gap: i32,
}

impl Sizes {
    pub(super) fn new(width: u32, height: u32) -> Self {
        let s = (f64::from(width) / 960.0)
            .min(f64::from(height) / 640.0)
            .max(0.3);
        let px = |v: f64, min: f64| (v * s).max(min);
        let ipx = |v: f64, min: f64| px(v, min).round() as i32;
        Sizes {
            title: px(26.0, 10.0),
            axis_desc: px(21.0, 9.0),
            tick_label: px(18.0, 8.0),
            legend: px(18.0, 8.0),
            tick: ipx(6.0, 3.0),
            margin: ipx(16.0, 4.0),
            marker: ipx(5.5, 2.0),
            bar: px(1.6, 1.0).round() as u32,
            line: px(2.4, 1.0).round() as u32,
            cap: ipx(4.5, 2.0),
            dash: ipx(10.0, 3.0),
            gap: ipx(6.0, 2.0),
        }
    }
}

pub(super) fn text_style(size: f64) -> TextStyle<'static> {
    TextStyle::from(FontDesc::new(
        FontFamily::SansSerif,
        size,
        FontStyle::Normal,
    ))
    .color(&TEXT)
}

/// Draws a filled `marker` of radius `r` (pixels) at each of `points` (coordinates of
/// `area`); `hollow`: a white marker with a coloured outline instead.
pub(super) fn draw_markers<DB: DrawingBackend, CT: CoordTranslate>(
    area: &DrawingArea<DB, CT>,
    points: impl IntoIterator<Item = CT::From>,
    marker: Marker,
    r: i32,
    color: RGBColor,
    hollow: bool,
) -> std::result::Result<(), String>
where
    CT::From: Clone,
{
    if hollow {
        let points: Vec<CT::From> = points.into_iter().collect();
        draw_markers(area, points.iter().cloned(), marker, r, WHITE, false)?;
        let outline = color.stroke_width((r / 3).max(2) as u32);
        return draw_shapes(area, points, marker, r, outline);
    }
    draw_shapes(area, points, marker, r, color.filled())
}

fn draw_shapes<DB: DrawingBackend, CT: CoordTranslate>(
    area: &DrawingArea<DB, CT>,
    points: impl IntoIterator<Item = CT::From>,
    marker: Marker,
    r: i32,
    style: ShapeStyle,
) -> std::result::Result<(), String> {
    // One concrete element type per shape (plotters' DynElement needs a 'static backend).
    // Polygons are always filled by plotters, so outlines are drawn as closed paths.
    let outline = |pts: Vec<(i32, i32)>| {
        let mut closed = pts.clone();
        closed.push(pts[0]);
        PathElement::new(closed, style)
    };
    for p in points {
        let at = EmptyElement::at(p);
        match marker {
            Marker::Circle => area.draw(&(at + Circle::new((0, 0), r, style))),
            Marker::Square => {
                let h = (f64::from(r) * 0.9).round() as i32;
                area.draw(&(at + Rectangle::new([(-h, -h), (h, h)], style)))
            }
            Marker::Triangle => {
                let h = (f64::from(r) * 1.25).round() as i32;
                if style.filled {
                    area.draw(&(at + TriangleMarker::new((0, 0), h, style)))
                } else {
                    // TriangleMarker's vertices: up, then ±120°.
                    let (dx, dy) = ((f64::from(h) * 0.866).round() as i32, h / 2);
                    area.draw(&(at + outline(vec![(0, -h), (dx, dy), (-dx, dy)])))
                }
            }
            Marker::Diamond => {
                let h = (f64::from(r) * 1.3).round() as i32;
                let pts = vec![(0, -h), (h, 0), (0, h), (-h, 0)];
                if style.filled {
                    area.draw(&(at + Polygon::new(pts, style)))
                } else {
                    area.draw(&(at + outline(pts)))
                }
            }
        }
        .map_err(drawing)?;
    }
    Ok(())
}

/// Draws vertical error bars `(x, lo, hi)` with horizontal caps of half-width `cap` (pixels):
/// all bars first, then all caps.
pub(super) fn draw_error_bars<DB: DrawingBackend, CT: CoordTranslate<From = (f64, f64)>>(
    area: &DrawingArea<DB, CT>,
    bars: &[(f64, f64, f64)],
    style: ShapeStyle,
    cap: i32,
) -> std::result::Result<(), String> {
    for &(x, lo, hi) in bars {
        area.draw(&PathElement::new(vec![(x, lo), (x, hi)], style))
            .map_err(drawing)?;
    }
    for &(x, lo, hi) in bars {
        for y in [lo, hi] {
            area.draw(
                &(EmptyElement::at((x, y)) + PathElement::new(vec![(-cap, 0), (cap, 0)], style)),
            )
            .map_err(drawing)?;
        }
    }
    Ok(())
}

/// Draws a polyline through `points` (coordinates of `area`), dashed (`sz.dash` on, `sz.gap`
/// off) when `dashed`, else dotted (short dashes) when `dotted`.
pub(super) fn draw_line<DB: DrawingBackend, CT: CoordTranslate>(
    area: &DrawingArea<DB, CT>,
    points: Vec<CT::From>,
    dashed: bool,
    dotted: bool,
    style: ShapeStyle,
    sz: &Sizes,
) -> std::result::Result<(), String>
where
    CT::From: Clone,
{
    if dashed {
        area.draw(&DashedPathElement::new(points, sz.dash, sz.gap, style))
    } else if dotted {
        area.draw(&DashedPathElement::new(points, sz.gap / 2, sz.gap, style))
    } else {
        area.draw(&PathElement::new(points, style))
    }
    .map_err(drawing)
}
