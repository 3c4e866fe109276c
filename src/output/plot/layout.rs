//! Layout that both chart types share: text metrics, the label areas around the plot, the
//! chart builder, the mesh, title and frame, and the legend box (size, placement in a free
//! corner of the plot area, drawing).

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::drawing;
use super::style::{text_style, Sizes, TEXT};

/// A rectangle in pixels: `(x0, y0, x1, y1)`.
pub(super) type PixelArea = (i32, i32, i32, i32);

/// Width and height of `text` in `style`, in pixels.
pub(super) fn text_size<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle,
) -> std::result::Result<(i32, i32), String> {
    let (w, h) = root.estimate_text_size(text, style).map_err(drawing)?;
    Ok((w as i32, h as i32))
}

/// The largest width and the largest height of `base` and `labels` in `style`.
pub(super) fn widest<DB: DrawingBackend, S: AsRef<str>>(
    root: &DrawingArea<DB, Shift>,
    style: &TextStyle,
    base: &str,
    labels: impl IntoIterator<Item = S>,
) -> std::result::Result<(i32, i32), String> {
    let mut m = text_size(root, base, style)?;
    for l in labels {
        let (w, h) = text_size(root, l.as_ref(), style)?;
        m = (m.0.max(w), m.1.max(h));
    }
    Ok(m)
}

/// Texts of a chart that take room around the plot area.
pub(super) struct Texts<'t> {
    pub(super) title: &'t str,
    pub(super) x_label: &'t str,
    pub(super) y_label: &'t str,
}

/// Room around the plot area, in pixels.
#[derive(Debug, Clone, Copy)]
pub(super) struct Areas {
    /// Height of the title (with its margin; 0 without a title).
    pub(super) title: i32,
    /// Height of the x tick labels and axis label.
    pub(super) x: i32,
    /// Width of the y tick labels and axis label.
    pub(super) y: i32,
}

/// The label areas for tick labels `tick_h` high and y tick labels `yt_w` wide.
pub(super) fn label_areas<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    sz: &Sizes,
    texts: &Texts,
    tick_h: i32,
    yt_w: i32,
) -> std::result::Result<Areas, String> {
    let desc_h = text_size(root, "Ng", &text_style(sz.axis_desc))?.1;
    let title = if texts.title.is_empty() {
        0
    } else {
        text_size(root, texts.title, &text_style(sz.title))?.1 + sz.margin
    };
    let gap = (sz.tick_label * 0.5).round() as i32;
    let with_desc = |label: &str, ticks: i32| {
        2 * sz.tick + ticks + gap + if label.is_empty() { 0 } else { desc_h + gap }
    };
    Ok(Areas {
        title,
        x: with_desc(texts.x_label, tick_h),
        y: with_desc(texts.y_label, yt_w),
    })
}

/// The chart [`build_chart`] gives for the axis specifications `X`, `Y`.
pub(super) type Chart2d<'a, DB, X, Y> = ChartContext<
    'a,
    DB,
    Cartesian2d<<X as AsRangedCoord>::CoordDescType, <Y as AsRangedCoord>::CoordDescType>,
>;

/// A chart on `body` with the plot area inset by `(top, right)` margins and the label areas.
pub(super) fn build_chart<'a, DB: DrawingBackend, X: AsRangedCoord, Y: AsRangedCoord>(
    body: &'a DrawingArea<DB, Shift>,
    sz: &Sizes,
    (top, right): (i32, i32),
    areas: &Areas,
    x: X,
    y: Y,
) -> std::result::Result<Chart2d<'a, DB, X, Y>, String> {
    ChartBuilder::on(body)
        .margin_left(sz.margin)
        .margin_bottom(sz.margin / 2)
        .margin_top(top)
        .margin_right(right)
        .x_label_area_size(areas.x)
        .y_label_area_size(areas.y)
        .build_cartesian_2d(x, y)
        .map_err(drawing)
}

/// The plot area (pixels) that [`build_chart`] gives for these margins.
pub(super) fn plot_area<DB: DrawingBackend>(
    body: &DrawingArea<DB, Shift>,
    sz: &Sizes,
    margins: (i32, i32),
    areas: &Areas,
) -> std::result::Result<PixelArea, String> {
    let chart = build_chart(
        body,
        sz,
        margins,
        areas,
        RangedCoordf64::from(0.0..1.0),
        RangedCoordf64::from(0.0..1.0),
    )?;
    let (xs, ys) = chart.plotting_area().get_pixel_range();
    Ok((xs.start, ys.start, xs.end, ys.end))
}

/// Draws the grid (bold and light lines with opacities `grid`; vertical ones only when
/// `x_grid`), the axes, tick labels formatted by `fx` and `fy`, and the axis labels.
pub(super) fn draw_mesh<'c, DB, X, Y>(
    chart: &'c mut ChartContext<'_, DB, Cartesian2d<X, Y>>,
    sz: &Sizes,
    grid: (f64, f64),
    x_grid: bool,
    texts: &Texts,
    fx: &'c dyn Fn(&f64) -> String,
    fy: &'c dyn Fn(&f64) -> String,
) -> std::result::Result<(), String>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let tick_style = text_style(sz.tick_label);
    let mut mesh = chart.configure_mesh();
    mesh.bold_line_style(RGBColor(0, 0, 0).mix(grid.0).stroke_width(1))
        .light_line_style(RGBColor(0, 0, 0).mix(grid.1).stroke_width(1))
        .axis_style(TEXT.stroke_width(1))
        .set_all_tick_mark_size(sz.tick)
        .x_label_style(tick_style.clone())
        .y_label_style(tick_style)
        .axis_desc_style(text_style(sz.axis_desc))
        .x_label_formatter(fx)
        .y_label_formatter(fy);
    if !x_grid {
        mesh.disable_x_mesh();
    }
    if !texts.x_label.is_empty() {
        mesh.x_desc(texts.x_label);
    }
    if !texts.y_label.is_empty() {
        mesh.y_desc(texts.y_label);
    }
    mesh.draw().map_err(drawing)
}

/// Draws `title` centred at the top of `area` (nothing when empty).
pub(super) fn draw_title<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    sz: &Sizes,
) -> std::result::Result<(), String> {
    if title.is_empty() {
        return Ok(());
    }
    let (tw, _) = area.dim_in_pixel();
    area.draw_text(
        title,
        &text_style(sz.title).pos(Pos::new(HPos::Center, VPos::Top)),
        ((tw / 2) as i32, sz.margin),
    )
    .map_err(drawing)
}

/// Draws the frame around the plot area `area`.
pub(super) fn draw_frame<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    (x0, y0, x1, y1): PixelArea,
) -> std::result::Result<(), String> {
    root.draw(&Rectangle::new(
        [(x0, y0), (x1 - 1, y1 - 1)],
        TEXT.stroke_width(1),
    ))
    .map_err(drawing)
}

/// Legend box geometry in pixels.
#[derive(Debug, Clone, Copy)]
pub(super) struct LegendBox {
    pub(super) w: i32,
    pub(super) h: i32,
    pub(super) pad: i32,
    pub(super) row: i32,
    pub(super) glyph: i32,
    pub(super) inset: i32,
}

/// Candidate corners, in order of preference: `(right, top)`.
pub(super) const CORNERS: [(bool, bool); 4] =
    [(true, true), (false, true), (false, false), (true, false)];

impl LegendBox {
    /// The box for `texts` (one row each, after a glyph), or `None` without any.
    pub(super) fn measure<DB: DrawingBackend, S: AsRef<str>>(
        root: &DrawingArea<DB, Shift>,
        sz: &Sizes,
        texts: impl ExactSizeIterator<Item = S>,
    ) -> std::result::Result<Option<Self>, String> {
        let rows = texts.len() as i32;
        if rows == 0 {
            return Ok(None);
        }
        let style = text_style(sz.legend);
        let mut text_w = 0;
        for t in texts {
            text_w = text_w.max(text_size(root, t.as_ref(), &style)?.0);
        }
        let pad = (sz.legend * 0.6).round() as i32;
        let row = (sz.legend * 1.45).round() as i32;
        let glyph = (sz.legend * 2.4).round() as i32;
        Ok(Some(LegendBox {
            w: pad + glyph + pad + text_w + pad,
            h: 2 * pad + row * rows - (row - sz.legend.round() as i32) / 2,
            pad,
            row,
            glyph,
            inset: (sz.legend * 0.6).round() as i32,
        }))
    }

    /// Top-left pixel of the legend in the corner `(right, top)` of the plot area.
    pub(super) fn corner_origin(&self, (right, top): (bool, bool), area: PixelArea) -> (i32, i32) {
        let (x0, y0, x1, y1) = area;
        let x = if right {
            x1 - self.inset - self.w
        } else {
            x0 + self.inset
        };
        let y = if top {
            y0 + self.inset
        } else {
            y1 - self.inset - self.h
        };
        (x, y)
    }

    /// Number of obstacles (transformed data coordinates) inside the legend placed in
    /// `corner` (grown by `slack` pixels), for the axis ranges `xr`, `yr` over the plot area
    /// `area`.
    pub(super) fn hits(
        &self,
        obstacles: &[(f64, f64)],
        corner: (bool, bool),
        area: PixelArea,
        (xr, yr): ((f64, f64), (f64, f64)),
        slack: i32,
    ) -> usize {
        let (x0, y0, x1, y1) = area;
        let (lx, ly) = self.corner_origin(corner, area);
        let (bx0, by0) = (f64::from(lx - slack), f64::from(ly - slack));
        let (bx1, by1) = (
            f64::from(lx + self.w + slack),
            f64::from(ly + self.h + slack),
        );
        obstacles
            .iter()
            .filter(|&&(u, v)| {
                let px = f64::from(x0) + (u - xr.0) / (xr.1 - xr.0) * f64::from(x1 - x0);
                let py = f64::from(y1) - (v - yr.0) / (yr.1 - yr.0) * f64::from(y1 - y0);
                px >= bx0 && px <= bx1 && py >= by0 && py <= by1
            })
            .count()
    }

    /// The first corner where the legend covers no obstacle.
    pub(super) fn free_corner(
        &self,
        obstacles: &[(f64, f64)],
        area: PixelArea,
        ranges: ((f64, f64), (f64, f64)),
        slack: i32,
    ) -> Option<(bool, bool)> {
        CORNERS
            .iter()
            .copied()
            .find(|&c| self.hits(obstacles, c, area, ranges, slack) == 0)
    }

    /// Draws the box with its top-left corner at `origin` and one row per text; `glyph(i,
    /// (gx0, gx1, cy))` draws the glyph of row `i` between `gx0` and `gx1` at height `cy`.
    pub(super) fn draw<DB: DrawingBackend, S: AsRef<str>>(
        &self,
        root: &DrawingArea<DB, Shift>,
        (lx, ly): (i32, i32),
        sz: &Sizes,
        texts: impl IntoIterator<Item = S>,
        mut glyph: impl FnMut(usize, (i32, i32, i32)) -> std::result::Result<(), String>,
    ) -> std::result::Result<(), String> {
        root.draw(&Rectangle::new(
            [(lx, ly), (lx + self.w, ly + self.h)],
            WHITE.mix(0.92).filled(),
        ))
        .map_err(drawing)?;
        root.draw(&Rectangle::new(
            [(lx, ly), (lx + self.w, ly + self.h)],
            RGBColor(0, 0, 0).mix(0.3).stroke_width(1),
        ))
        .map_err(drawing)?;
        let left_style = text_style(sz.legend).pos(Pos::new(HPos::Left, VPos::Center));
        for (i, t) in texts.into_iter().enumerate() {
            let cy = ly + self.pad + self.row * i as i32 + (sz.legend / 2.0).round() as i32;
            let (gx0, gx1) = (lx + self.pad, lx + self.pad + self.glyph);
            glyph(i, (gx0, gx1, cy))?;
            root.draw_text(t.as_ref(), &left_style, (gx1 + self.pad, cy))
                .map_err(drawing)?;
        }
        Ok(())
    }
}

/// Appends `n + 1` evenly spaced samples of the segment from `a` to `b` (for obstacle tests).
pub(super) fn sample(out: &mut Vec<(f64, f64)>, a: (f64, f64), b: (f64, f64), n: usize) {
    for i in 0..=n {
        let t = i as f64 / n as f64;
        out.push((a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1)));
    }
}
