//! Line, step, point and bar charts on a linear x axis and a linear or base-10 log y axis.
//!
//! A [`Figure`] holds [`Series`], each drawn by its [`Mark`]: a polyline with a shaded
//! spread band ([`Mark::Line`]), a right-continuous step function with a stepped band
//! ([`Mark::Step`], for CDFs), markers joined by a thin line with vertical error bars
//! ([`Mark::Points`]), or grouped bars with error bars ([`Mark::Bars`]: the k-th bar series
//! takes the k-th slot of width 0.8/n around each integer x). Bands are drawn first and
//! translucent, so they never hide a line.
//!
//! Layout: ticks at 1, 2, 5 × 10ᵏ steps (linear) or at powers of ten (log, labelled `10ᵏ`),
//! spaced from the measured label widths; categorical x axes ([`Figure::x_categories`]) label
//! every category that fits. The legend goes into the first corner of the plot area (upper
//! right, upper left, lower left, lower right) that covers no drawn point; failing that, the
//! y axis gets headroom at the top for it; failing that, it goes to the right of the plot.
//! Text is the embedded DejaVu Sans, colours the Okabe–Ito palette; series also differ by
//! marker shape ([`Mark::Points`]) and may be dashed.
//!
//! Invalid data never panics: non-finite points are skipped (on a log axis also non-positive
//! ones), and an empty figure draws empty axes.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::layout::{
    build_chart, draw_frame, draw_mesh, draw_title, label_areas, plot_area, sample, widest,
    LegendBox, Texts,
};
use super::loglog::{log_ticks, min_max, signed as number, tick_label};
use super::style::{
    draw_error_bars, draw_line, draw_markers, text_style, Marker, Sizes, MARKERS, PALETTE, TEXT,
};
use super::{drawing, Render};

/// How a [`Series`] is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mark {
    /// A polyline through the points in order; the spread as a translucent band.
    #[default]
    Line,
    /// A right-continuous step function: `y_i` on `[x_i, x_{i+1})`, vertical jumps, a small
    /// marker at each `(x_i, y_i)`; the spread as a stepped band.
    Step,
    /// Markers joined by a thin line; the spread as vertical error bars with caps.
    Points,
    /// One bar per point from 0 (or the bottom of a log axis) to `y`, grouped around each
    /// integer `x`; the spread as error bars.
    Bars,
}

/// Scale of the y axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum YScale {
    /// Linear.
    #[default]
    Linear,
    /// Base-10 logarithmic; non-positive values are not drawn.
    Log,
}

/// One series of a [`Figure`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// Legend label (empty = no legend entry).
    pub label: String,
    /// How it is drawn.
    pub mark: Mark,
    /// `(x, y)` in drawing order.
    pub points: Vec<(f64, f64)>,
    /// Empty, or one `(lo, hi)` per point: the band ([`Mark::Line`], [`Mark::Step`]) or error
    /// bar ([`Mark::Points`], [`Mark::Bars`]), e.g. mean ± 1 sd over seeds.
    pub spread: Vec<(f64, f64)>,
    /// Dashed line (for [`Mark::Line`], [`Mark::Step`], [`Mark::Points`]).
    pub dashed: bool,
    /// Dotted line ([`Mark::Line`] only, when not dashed): a level or reference line that is
    /// not data of its own (e.g. a finite-N floor).
    pub dotted: bool,
    /// [`Mark::Points`] only: outlined markers and no joining line (points that are not what
    /// the filled series shows, e.g. solver end points that did not converge).
    pub hollow: bool,
    /// Explicit colour (RGB); `None` takes the next colour of the palette.
    pub color: Option<(u8, u8, u8)>,
}

/// A complete chart.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Figure {
    /// Title above the chart (empty = none).
    pub title: String,
    /// Label of the x axis, with units, e.g. "state s".
    pub x_label: String,
    /// Label of the y axis, with units, e.g. "z(s) (fraction of agents)".
    pub y_label: String,
    /// Scale of the y axis.
    pub y_scale: YScale,
    /// Non-empty: the x axis is categorical, `x = i` is labelled `x_categories[i]`.
    pub x_categories: Vec<String>,
    /// Ticks of the x axis only at integers (states, iterations).
    pub x_integer: bool,
    /// Base-10 logarithmic x axis (e.g. a grid of N); points with x ≤ 0 are not drawn.
    /// Ignored for categorical axes.
    pub x_log: bool,
    /// The y axis includes 0 (bars, probabilities).
    pub y_from_zero: bool,
    /// The series, drawn in order (bands first, then bars, lines, error bars, markers).
    pub series: Vec<Series>,
}

/// Colours taken by series without an explicit one (the Okabe–Ito palette without black);
/// the seventh to twelfth such series repeat them dashed.
pub(super) const AUTO: usize = 6;

/// A series reduced to what is drawn, in transformed (y: log10 on a log axis) coordinates.
struct Prepared {
    label: String,
    mark: Mark,
    color: RGBColor,
    marker: Marker,
    dashed: bool,
    dotted: bool,
    hollow: bool,
    /// Polylines (a gap in valid points starts a new one).
    lines: Vec<Vec<(f64, f64)>>,
    /// Band polygons.
    bands: Vec<Vec<(f64, f64)>>,
    /// Markers.
    markers: Vec<(f64, f64)>,
    /// Error bars `(x, lo, hi)`.
    bars: Vec<(f64, f64, f64)>,
    /// Bar rectangles `(x0, x1, y)` from the base to `y`.
    rects: Vec<(f64, f64, f64)>,
}

fn split_runs(points: impl Iterator<Item = Option<(f64, f64)>>) -> Vec<Vec<(f64, f64)>> {
    let mut runs = vec![Vec::new()];
    for p in points {
        match p {
            Some(p) => runs.last_mut().map_or((), |r| r.push(p)),
            None => {
                if runs.last().is_some_and(|r| !r.is_empty()) {
                    runs.push(Vec::new());
                }
            }
        }
    }
    runs.retain(|r| !r.is_empty());
    runs
}

/// `[(x0, y0), (x1, y1), …]` → the vertices of the right-continuous step function, ending
/// with the last point.
fn steps(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(2 * points.len());
    for (i, &(x, y)) in points.iter().enumerate() {
        out.push((x, y));
        if let Some(&(next, _)) = points.get(i + 1) {
            out.push((next, y));
        }
    }
    out
}

/// `v` on a linear or (`log`) base-10 log axis; `None` if it cannot be drawn there.
fn transformed(v: f64, log: bool) -> Option<f64> {
    if !v.is_finite() || (log && v <= 0.0) {
        None
    } else if log {
        Some(v.log10())
    } else {
        Some(v)
    }
}

fn prepare(fig: &Figure) -> Vec<Prepared> {
    let log = fig.y_scale == YScale::Log;
    let ty = |y: f64| transformed(y, log);
    let x_log = fig.x_log && fig.x_categories.is_empty();
    let tx = |x: f64| transformed(x, x_log);
    let n_bars = fig.series.iter().filter(|s| s.mark == Mark::Bars).count();
    let mut bar_slot = 0;
    let mut auto = 0;
    fig.series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            // Past the palette, colours repeat dashed.
            let (color, repeat) = match s.color {
                Some((r, g, b)) => (RGBColor(r, g, b), false),
                None => {
                    auto += 1;
                    (PALETTE[(auto - 1) % AUTO], auto > AUTO)
                }
            };
            let valid = |&(x, y): &(f64, f64)| -> Option<(f64, f64)> { Some((tx(x)?, ty(y)?)) };
            let xk = |k: usize| tx(s.points[k].0).unwrap_or(f64::NAN);
            let spread_at = |k: usize| -> Option<(f64, f64)> {
                let &(lo, hi) = s.spread.get(k)?;
                let (x, y) = s.points[k];
                // On a log axis a band end at or below zero is drawn at a tenth of the point.
                let lo = if log && lo <= 0.0 && y > 0.0 {
                    y / 10.0
                } else {
                    lo
                };
                tx(x)?;
                Some((ty(lo.min(y))?, ty(hi.max(y))?))
            };
            let mut p = Prepared {
                label: s.label.clone(),
                mark: s.mark,
                color,
                marker: MARKERS[i % MARKERS.len()],
                dashed: s.dashed != repeat,
                dotted: s.dotted,
                hollow: s.hollow && s.mark == Mark::Points,
                lines: Vec::new(),
                bands: Vec::new(),
                markers: Vec::new(),
                bars: Vec::new(),
                rects: Vec::new(),
            };
            let has_spread = s.spread.len() == s.points.len();
            match s.mark {
                Mark::Line | Mark::Step => {
                    p.lines = split_runs(s.points.iter().map(valid));
                    if s.mark == Mark::Step {
                        p.markers = p.lines.iter().flatten().copied().collect();
                        p.lines = p.lines.iter().map(|r| steps(r)).collect();
                    }
                    if has_spread {
                        let mut runs: Vec<Vec<usize>> = Vec::new();
                        let mut run = Vec::new();
                        for k in 0..s.points.len() {
                            if spread_at(k).is_some() {
                                run.push(k);
                            } else if !run.is_empty() {
                                runs.push(std::mem::take(&mut run));
                            }
                        }
                        runs.push(run);
                        for run in runs {
                            let ks = run;
                            let mut lo: Vec<(f64, f64)> = ks
                                .iter()
                                .filter_map(|&k| spread_at(k).map(|(l, _)| (xk(k), l)))
                                .collect();
                            let mut hi: Vec<(f64, f64)> = ks
                                .iter()
                                .filter_map(|&k| spread_at(k).map(|(_, h)| (xk(k), h)))
                                .collect();
                            if s.mark == Mark::Step {
                                lo = steps(&lo);
                                hi = steps(&hi);
                            }
                            hi.reverse();
                            lo.extend(hi);
                            if lo.len() >= 3 {
                                p.bands.push(lo);
                            }
                        }
                    }
                }
                Mark::Points => {
                    p.lines = split_runs(s.points.iter().map(valid));
                    p.markers = p.lines.iter().flatten().copied().collect();
                    if p.hollow {
                        p.lines.clear();
                    }
                    if has_spread {
                        p.bars = (0..s.points.len())
                            .filter_map(|k| {
                                let (lo, hi) = spread_at(k)?;
                                (hi > lo).then_some((xk(k), lo, hi))
                            })
                            .collect();
                    }
                }
                Mark::Bars => {
                    let w = 0.8 / n_bars.max(1) as f64;
                    let offset = -0.4 + w * (bar_slot as f64 + 0.5);
                    bar_slot += 1;
                    for (k, pt) in s.points.iter().enumerate() {
                        if let Some((x, y)) = valid(pt) {
                            let c = x + offset;
                            p.rects.push((c - 0.5 * w, c + 0.5 * w, y));
                            if has_spread {
                                if let Some((lo, hi)) = spread_at(k) {
                                    if hi > lo {
                                        p.bars.push((c, lo, hi));
                                    }
                                }
                            }
                        }
                    }
                }
            }
            p
        })
        .collect()
}

/// Ticks of a linear axis over `[lo, hi]`: a 1, 2 or 5 × 10ᵏ step giving at most `max_major`
/// ticks (at least 1 when `integer`), and the decimals its labels need.
fn linear_ticks(lo: f64, hi: f64, max_major: usize, integer: bool) -> (Vec<f64>, usize) {
    let span = hi - lo;
    if !(span.is_finite() && span > 0.0) {
        return (Vec::new(), 0);
    }
    let raw = span / max_major.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let mut step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|&s| s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * mag);
    if integer {
        step = step.max(1.0).round();
    }
    let decimals = (-(step.log10() + 1e-9).floor()).max(0.0) as usize;
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    let ticks = (first..=last).take(1000).map(|k| k as f64 * step).collect();
    (ticks, decimals)
}

/// An axis: its range (transformed), labelled ticks and light grid lines.
struct Axis {
    range: (f64, f64),
    major: Vec<f64>,
    minor: Vec<f64>,
    labels: Vec<String>,
}

impl Axis {
    fn label_of(&self, v: f64) -> String {
        self.major
            .iter()
            .position(|&m| (m - v).abs() <= 1e-9 * (1.0 + m.abs()))
            .map(|i| self.labels[i].clone())
            .unwrap_or_default()
    }
}

impl Axis {
    /// Powers of ten (and light grid lines) over the log10 range `range`, labelled `10ᵏ`.
    fn log(range: (f64, f64), max: usize) -> Self {
        let t = log_ticks(range.0, range.1, max);
        Axis {
            range,
            major: t.major.iter().map(|v| v.log10()).collect(),
            minor: t.minor.iter().map(|v| v.log10()).collect(),
            labels: t.major.iter().map(|&v| tick_label(v)).collect(),
        }
    }

    /// 1, 2, 5 × 10ᵏ steps over `range` (at least 1 when `integer`).
    fn linear(range: (f64, f64), max: usize, integer: bool) -> Self {
        let (major, d) = linear_ticks(range.0, range.1, max, integer);
        let labels = major.iter().map(|&v| number(v, d)).collect();
        Axis {
            range,
            major,
            minor: Vec::new(),
            labels,
        }
    }
}

fn y_axis(fig: &Figure, range: (f64, f64), max: usize) -> Axis {
    match fig.y_scale {
        YScale::Log => Axis::log(range, max),
        YScale::Linear => Axis::linear(range, max, false),
    }
}

fn x_axis(fig: &Figure, range: (f64, f64), max: usize) -> Axis {
    if !fig.x_categories.is_empty() {
        let n = fig.x_categories.len();
        let step = n.div_ceil(max.max(1)).max(1);
        let major: Vec<f64> = (0..n).step_by(step).map(|i| i as f64).collect();
        let labels = (0..n)
            .step_by(step)
            .map(|i| fig.x_categories[i].clone())
            .collect();
        return Axis {
            range,
            major,
            minor: Vec::new(),
            labels,
        };
    }
    if fig.x_log {
        return Axis::log(range, max);
    }
    Axis::linear(range, max, fig.x_integer)
}

/// A linear coordinate with given bold (labelled) and light key points: plotters'
/// `WithKeyPoints<RangedCoordf64>` has no default label formatter, so the mesh would not draw.
#[derive(Debug, Clone)]
struct Ticked {
    lo: f64,
    hi: f64,
    major: Vec<f64>,
    minor: Vec<f64>,
}

impl Ticked {
    fn of(a: &Axis) -> Self {
        Ticked {
            lo: a.range.0,
            hi: a.range.1,
            major: a.major.clone(),
            minor: a.minor.clone(),
        }
    }
}

impl Ranged for Ticked {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let t = (value - self.lo) / (self.hi - self.lo);
        let px = f64::from(limit.0) + t * f64::from(limit.1 - limit.0);
        px.clamp(-1e7, 1e7).round() as i32
    }

    fn key_points<Hint: plotters::coord::ranged1d::KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.minor.clone()
        } else {
            self.major.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// Where the legend goes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Place {
    /// A corner of the plot area: `(right, top)`.
    Corner(bool, bool),
    /// Right of the plot area.
    Outside,
}

/// Points (transformed coordinates) that the legend must not cover: every vertex, points
/// along every segment, band and bar.
fn obstacles(series: &[Prepared], xr: (f64, f64), yr: (f64, f64)) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    let seg = |out: &mut Vec<(f64, f64)>, a: (f64, f64), b: (f64, f64)| {
        // About one sample per 1% of the axes.
        let fx = ((b.0 - a.0) / (xr.1 - xr.0)).abs();
        let fy = ((b.1 - a.1) / (yr.1 - yr.0)).abs();
        let n = ((fx.max(fy) * 100.0).ceil() as usize).clamp(1, 200);
        sample(out, a, b, n);
    };
    for s in series {
        for l in &s.lines {
            for w in l.windows(2) {
                seg(&mut out, w[0], w[1]);
            }
            out.extend(l.iter().copied());
        }
        out.extend(s.markers.iter().copied());
        for b in &s.bands {
            // Vertical strokes between the lower half and the upper half of the polygon.
            let n = b.len() / 2;
            for k in 0..n {
                seg(&mut out, b[k], b[b.len() - 1 - k]);
            }
        }
        for &(x, lo, hi) in &s.bars {
            seg(&mut out, (x, lo), (x, hi));
        }
        for &(x0, x1, y) in &s.rects {
            let base = yr.0.max(0.0_f64.min(y));
            for x in [x0, 0.5 * (x0 + x1), x1] {
                seg(&mut out, (x, base), (x, y));
            }
        }
    }
    out
}

impl Render for Figure {
    fn render<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String> {
        draw(root, self)
    }
}

/// The data range of the prepared series: `(x, y)` extremes, transformed.
fn data_ranges(fig: &Figure, series: &[Prepared]) -> ((f64, f64), (f64, f64)) {
    let log = fig.y_scale == YScale::Log;
    let xs = series.iter().flat_map(|s| {
        s.vertices()
            .map(|p| p.0)
            .chain(s.rects.iter().flat_map(|r| [r.0, r.1]))
    });
    let has_bars = series.iter().any(|s| !s.rects.is_empty());
    let categorical = !fig.x_categories.is_empty();
    let mut xr = min_max(xs).unwrap_or((0.0, 1.0));
    if categorical {
        xr = (
            xr.0.min(0.0) - 0.5,
            xr.1.max(fig.x_categories.len() as f64 - 1.0) + 0.5,
        );
    } else if has_bars {
        xr = (xr.0 - 0.2, xr.1 + 0.2);
    } else {
        // Points keep clear of the frame; line ends only just.
        let f = if series.iter().any(|s| s.mark == Mark::Points) {
            0.04
        } else {
            0.01
        };
        let pad = f * (xr.1 - xr.0);
        xr = (xr.0 - pad, xr.1 + pad);
    }
    if xr.1 - xr.0 <= 0.0 || !(xr.1 - xr.0).is_finite() {
        let c = if xr.0.is_finite() { xr.0 } else { 0.0 };
        xr = (c - 1.0, c + 1.0);
    }
    let ys = series.iter().flat_map(|s| {
        s.vertices()
            .map(|p| p.1)
            .chain(s.bands.iter().flatten().map(|p| p.1))
            .chain(s.bars.iter().flat_map(|b| [b.1, b.2]))
            .chain(s.rects.iter().map(|r| r.2))
    });
    let default = if log { (-3.0, 0.0) } else { (0.0, 1.0) };
    let mut yr = min_max(ys).unwrap_or(default);
    if fig.y_from_zero && !log {
        yr = (yr.0.min(0.0), yr.1.max(0.0));
    }
    let span = yr.1 - yr.0;
    if span <= 0.0 || !span.is_finite() {
        // One value: a decade around it (log), ±10 % of it, or ±0.5 around 0.
        let w = if log {
            0.5
        } else if yr.0 != 0.0 && yr.0.is_finite() {
            yr.0.abs() * 0.1
        } else {
            0.5
        };
        yr = (yr.0 - w, yr.0 + w);
        if fig.y_from_zero && !log && yr.0 < 0.0 && default.0 >= 0.0 {
            yr = (0.0, yr.1 - yr.0);
        }
    } else {
        let pad = 0.05 * span;
        let bottom = if fig.y_from_zero && !log && yr.0 >= 0.0 {
            yr.0
        } else {
            yr.0 - pad
        };
        yr = (bottom, yr.1 + pad);
        if log && yr.1 - yr.0 < 1.0 {
            let mid = 0.5 * (yr.0 + yr.1);
            yr = (mid - 0.5, mid + 0.5);
        }
    }
    (xr, yr)
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    fig: &Figure,
) -> std::result::Result<(), String> {
    let (width, height) = root.dim_in_pixel();
    let sz = Sizes::new(width, height);
    let series = prepare(fig);
    let (xr, mut yr) = data_ranges(fig, &series);

    let tick_style = text_style(sz.tick_label);
    let widest = |labels: &[String]| widest(root, &tick_style, "0.00", labels);
    // Provisional ticks to size the label areas (y with margin for headroom).
    let (xt_w, tick_h) = widest(&x_axis(fig, xr, 12).labels)?;
    let (yt_w, _) = {
        let lo = yr.0 - 0.5 * (yr.1 - yr.0);
        let hi = yr.1 + 1.0 * (yr.1 - yr.0);
        let mut w = widest(&y_axis(fig, yr, 12).labels)?;
        w.0 = w.0.max(widest(&y_axis(fig, (lo, hi), 12).labels)?.0);
        w
    };
    let texts = Texts {
        title: &fig.title,
        x_label: &fig.x_label,
        y_label: &fig.y_label,
    };
    let areas = label_areas(root, &sz, &texts, tick_h, yt_w)?;

    // The legend box.
    let entries: Vec<&Prepared> = series.iter().filter(|s| !s.label.is_empty()).collect();
    let lb = LegendBox::measure(root, &sz, entries.iter().map(|e| &e.label))?;

    root.fill(&WHITE).map_err(drawing)?;
    let (title_area, body) = root.split_vertically(areas.title + sz.margin / 2);
    let body_w = body.dim_in_pixel().0 as i32;
    let margins = |right_extra: i32| {
        (
            sz.margin.max(tick_h / 2 + 2),
            sz.margin.max(xt_w / 2 + 4) + right_extra,
        )
    };
    let area_of = |right_extra: i32| plot_area(&body, &sz, margins(right_extra), &areas);
    let mut area = area_of(0)?;
    let mut right_extra = 0;
    let mut place = Place::Corner(true, true);
    if let Some(lb) = &lb {
        let slack = sz.marker + 2;
        let free = |yr: (f64, f64), area| {
            lb.free_corner(&obstacles(&series, xr, yr), area, (xr, yr), slack)
        };
        let ph = f64::from((area.3 - area.1).max(1));
        if let Some((r, t)) = free(yr, area) {
            place = Place::Corner(r, t);
        } else {
            // Headroom: the legend's height (plus a margin) on top of the data.
            let f = f64::from(lb.h + 2 * lb.inset + 2 * slack) / ph;
            let top = yr.1;
            let mut found = None;
            if f < 0.45 {
                let span = (top - yr.0) / (1.0 - f);
                let widened = (yr.0, yr.0 + span);
                if let Some((r, t)) = free(widened, area).filter(|c| c.1) {
                    found = Some(((r, t), widened));
                }
            }
            match found {
                Some(((r, t), widened)) => {
                    yr = widened;
                    place = Place::Corner(r, t);
                }
                None => {
                    right_extra = lb.w + sz.margin;
                    if body_w - right_extra > body_w / 3 {
                        area = area_of(right_extra)?;
                        place = Place::Outside;
                    } else {
                        right_extra = 0;
                        place = Place::Corner(true, true);
                    }
                }
            }
        }
    }
    let (pw, ph) = ((area.2 - area.0).max(1), (area.3 - area.1).max(1));

    // Final ticks from the plot size and the measured label sizes.
    let max_x = if fig.x_categories.is_empty() {
        (f64::from(pw) / (f64::from(xt_w) * 1.8)).floor().max(2.0) as usize
    } else {
        let (cw, _) = widest(&fig.x_categories)?;
        (f64::from(pw) / (f64::from(cw) * 1.3)).floor().max(1.0) as usize
    };
    let max_y = (f64::from(ph) / (f64::from(tick_h) * 2.6)).floor().max(2.0) as usize;
    let xa = x_axis(fig, xr, max_x);
    let ya = y_axis(fig, yr, max_y);

    draw_title(&title_area, &fig.title, &sz)?;
    let mut chart = build_chart(
        &body,
        &sz,
        margins(right_extra),
        &areas,
        Ticked::of(&xa),
        Ticked::of(&ya),
    )?;
    let fx = |v: &f64| xa.label_of(*v);
    let fy = |v: &f64| ya.label_of(*v);
    draw_mesh(
        &mut chart,
        &sz,
        (0.14, 0.05),
        fig.categorical_grid(),
        &texts,
        &fx,
        &fy,
    )?;
    let plot = chart.plotting_area();

    // Bands, then bars, lines, error bars and markers.
    for s in &series {
        for b in &s.bands {
            plot.draw(&Polygon::new(b.clone(), s.color.mix(0.18).filled()))
                .map_err(drawing)?;
        }
    }
    let base = if fig.y_scale == YScale::Log {
        ya.range.0
    } else {
        0.0
    };
    for s in &series {
        for &(x0, x1, y) in &s.rects {
            plot.draw(&Rectangle::new(
                [(x0, base.max(ya.range.0)), (x1, y)],
                s.color.mix(0.9).filled(),
            ))
            .map_err(drawing)?;
        }
    }
    for s in &series {
        let style = s.color.stroke_width(s.line_width(&sz));
        for l in &s.lines {
            draw_line(plot, l.clone(), s.dashed, s.dotted, style, &sz)?;
        }
    }
    for s in &series {
        let bar_color = if s.mark == Mark::Bars { TEXT } else { s.color };
        let cap = if s.mark == Mark::Bars {
            sz.cap / 2 + 1
        } else {
            sz.cap
        };
        draw_error_bars(plot, &s.bars, bar_color.mix(0.85).stroke_width(sz.bar), cap)?;
    }
    for s in &series {
        let (marker, r) = if s.mark == Mark::Step {
            (Marker::Circle, (sz.marker * 2 / 3).max(2))
        } else {
            (s.marker, sz.marker)
        };
        draw_markers(
            plot,
            s.markers.iter().copied(),
            marker,
            r,
            s.color,
            s.hollow,
        )?;
    }

    draw_frame(root, area)?;
    if let Some(lb) = lb {
        let origin = match place {
            Place::Corner(r, t) => lb.corner_origin((r, t), area),
            Place::Outside => (area.2 + sz.margin, area.1),
        };
        draw_legend(root, &entries, &lb, origin, &sz)?;
    }
    root.present().map_err(drawing)
}

impl Prepared {
    /// The vertices of the lines, then the markers.
    fn vertices(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.lines.iter().flatten().chain(&self.markers).copied()
    }

    /// Stroke width of the lines: thin ones join markers.
    fn line_width(&self, sz: &Sizes) -> u32 {
        if self.mark == Mark::Points {
            (sz.line / 2).max(1)
        } else {
            sz.line
        }
    }
}

impl Figure {
    /// Vertical grid lines only where they help: categorical axes have none.
    fn categorical_grid(&self) -> bool {
        self.x_categories.is_empty()
    }
}

fn draw_legend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    entries: &[&Prepared],
    lb: &LegendBox,
    origin: (i32, i32),
    sz: &Sizes,
) -> std::result::Result<(), String> {
    let texts = entries.iter().map(|e| &e.label);
    lb.draw(root, origin, sz, texts, |i, (gx0, gx1, cy)| {
        let e = entries[i];
        let half = (sz.legend * 0.45).round() as i32;
        if !e.bands.is_empty() {
            root.draw(&Rectangle::new(
                [(gx0, cy - half), (gx1, cy + half)],
                e.color.mix(0.18).filled(),
            ))
            .map_err(drawing)?;
        }
        if e.mark == Mark::Bars {
            return root
                .draw(&Rectangle::new(
                    [
                        (gx0 + lb.glyph / 4, cy - half),
                        (gx1 - lb.glyph / 4, cy + half),
                    ],
                    e.color.mix(0.9).filled(),
                ))
                .map_err(drawing);
        }
        let style = e.color.stroke_width(e.line_width(sz));
        if !e.hollow {
            draw_line(
                root,
                vec![(gx0, cy), (gx1, cy)],
                e.dashed,
                e.dotted,
                style,
                sz,
            )?;
        }
        if e.mark == Mark::Points {
            let at = [((gx0 + gx1) / 2, cy)];
            draw_markers(root, at, e.marker, sz.marker, e.color, e.hollow)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_ticks_use_1_2_5_steps() {
        let (t, d) = linear_ticks(0.0, 1.0, 6, false);
        assert_eq!(t, vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]);
        assert_eq!(d, 1);
        let (t, d) = linear_ticks(0.0, 24.0, 30, true);
        assert_eq!(t.len(), 25);
        assert_eq!(d, 0);
        let (t, _) = linear_ticks(0.0, 3.0, 100, true);
        assert_eq!(t, vec![0.0, 1.0, 2.0, 3.0]);
        assert!(linear_ticks(1.0, 1.0, 5, false).0.is_empty());
        assert_eq!(number(-0.0001, 2), "0.00");
        assert_eq!(number(-1.5, 1), "−1.5");
    }

    #[test]
    fn steps_are_right_continuous() {
        let s = steps(&[(0.0, 0.1), (1.0, 0.5), (2.0, 1.0)]);
        assert_eq!(
            s,
            vec![(0.0, 0.1), (1.0, 0.1), (1.0, 0.5), (2.0, 0.5), (2.0, 1.0)]
        );
    }

    #[test]
    fn invalid_points_split_lines_and_log_drops_non_positive() {
        let fig = Figure {
            y_scale: YScale::Log,
            series: vec![Series {
                points: vec![
                    (0.0, 1.0),
                    (1.0, 0.0),
                    (2.0, 10.0),
                    (3.0, 100.0),
                    (f64::NAN, 1.0),
                ],
                ..Series::default()
            }],
            ..Figure::default()
        };
        let p = prepare(&fig);
        assert_eq!(
            p[0].lines,
            vec![vec![(0.0, 0.0)], vec![(2.0, 1.0), (3.0, 2.0)]]
        );
    }

    /// Degenerate figures (empty, one point, all invalid, constant, many series) still give an
    /// image of the requested size in both formats, at the smallest size too.
    #[test]
    fn degenerate_figures_still_render() {
        use crate::output::plot::{write_chart, Chart, MIN_HEIGHT, MIN_WIDTH};
        let one = |mark, points: Vec<(f64, f64)>, spread: Vec<(f64, f64)>| Series {
            label: "s".into(),
            mark,
            points,
            spread,
            ..Series::default()
        };
        let many: Vec<Series> = (0..12)
            .map(|i| Series {
                label: format!("series number {i}"),
                mark: Mark::Bars,
                points: (0..25).map(|s| (s as f64, 0.04)).collect(),
                ..Series::default()
            })
            .collect();
        let figures = [
            Figure::default(),
            Figure {
                series: vec![one(Mark::Line, vec![(1.0, 1.0)], vec![(0.5, 1.5)])],
                ..Figure::default()
            },
            Figure {
                y_scale: YScale::Log,
                series: vec![one(Mark::Points, vec![(0.0, 0.0), (1.0, -1.0)], vec![])],
                ..Figure::default()
            },
            Figure {
                y_scale: YScale::Log,
                series: vec![one(
                    Mark::Step,
                    vec![(0.0, 1e-300), (1.0, f64::MAX), (2.0, f64::NAN)],
                    vec![(-1.0, 1.0), (0.0, f64::INFINITY), (0.0, 0.0)],
                )],
                ..Figure::default()
            },
            Figure {
                x_log: true,
                y_scale: YScale::Log,
                series: vec![one(
                    Mark::Points,
                    vec![(100.0, 0.1), (1e4, 0.01), (0.0, 1.0), (-5.0, 1.0)],
                    vec![(0.05, 0.2), (0.0, 0.02), (0.0, 2.0), (0.0, 2.0)],
                )],
                ..Figure::default()
            },
            Figure {
                title: "constant".into(),
                y_from_zero: true,
                x_categories: vec!["a".into(), "b".into()],
                series: vec![one(Mark::Points, vec![(0.0, 3.0), (1.0, 3.0)], vec![])],
                ..Figure::default()
            },
            Figure {
                title: "twelve bar series, legend outside".into(),
                x_label: "state s".into(),
                y_label: "z(s)".into(),
                x_integer: true,
                y_from_zero: true,
                series: many,
                ..Figure::default()
            },
        ];
        let dir = tempfile::tempdir().unwrap();
        for (i, f) in figures.iter().enumerate() {
            for (w, h) in [(640, 480), (MIN_WIDTH, MIN_HEIGHT)] {
                for ext in ["png", "svg"] {
                    let path = dir.path().join(format!("f{i}-{w}.{ext}"));
                    write_chart(&path, &Chart::Figure(f.clone()), w, h).unwrap();
                    let bytes = std::fs::read(&path).unwrap();
                    if ext == "png" {
                        let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                        assert_eq!((be(&bytes[16..20]), be(&bytes[20..24])), (w, h));
                    } else {
                        let text = String::from_utf8(bytes).unwrap();
                        assert!(text.contains(&format!("width=\"{w}\" height=\"{h}\"")));
                    }
                }
            }
        }
    }
}
