//! Log-log charts, e.g. for a finite-N study: the error `E‖z^N − z*‖₁` against the
//! population size `N`.
//!
//! A [`LogLogPlot`] holds any number of [`LogLogSeries`]; each series is drawn as markers with
//! vertical error bars and, when it carries a fit, a solid power-law line `y = e^b · x^a` over
//! the series' x range. An optional dashed reference line (slope −1/2 for the CLT rate) is
//! anchored at the first point of the first series. [`write_loglog_png`] renders the chart and
//! writes it atomically (see [`crate::output`]).
//!
//! Layout choices:
//!
//! * Both axes are base-10 logarithmic. Ticks are labelled `10ᵏ` when the axis spans two or
//!   more decades (every second or third decade when space is short, with light grid lines at
//!   `2·10ᵏ … 9·10ᵏ`), otherwise `1·10ᵏ`, `2×10ᵏ`, `5×10ᵏ`.
//! * Every axis spans at least one decade: a degenerate range (one point, equal values) is
//!   widened around its centre; an empty chart gets the default ranges `10¹…10⁴` ×
//!   `10⁻³…10⁰`.
//! * Legend entries read `label: slope −0.49`. The legend goes into the first corner of the
//!   plot (upper right, upper left, lower left, lower right) that holds no marker, error bar or
//!   line; if none is free, the y axis gets headroom at the top for it.
//! * Text uses the embedded DejaVu Sans (`assets/DejaVuSans.ttf`), so rendering needs no system
//!   font and gives the same pixels on every machine. Colours are the Okabe–Ito palette
//!   (colour-blind safe), and series also differ by marker shape.
//!
//! Invalid data never panics: a point whose `x` or `y` is not finite and positive is skipped,
//! a bar end that is not finite and positive is dropped (no bar on that side), a non-finite
//! fit or reference slope is ignored.
//!
//! # Example
//!
//! ```
//! use mfgsim::output::plot::{write_loglog_png, LogLogPlot, LogLogSeries};
//!
//! let points = [1e2, 1e3, 1e4]
//!     .iter()
//!     .map(|&n: &f64| {
//!         let y = 0.9 / n.sqrt();
//!         (n, y, 0.9 * y, 1.1 * y)
//!     })
//!     .collect();
//! let plot = LogLogPlot {
//!     title: "Finite-N error".into(),
//!     x_label: "N".into(),
//!     y_label: "E‖z^N − z*‖₁".into(),
//!     series: vec![LogLogSeries {
//!         label: "agents".into(),
//!         points,
//!         fit: Some((-0.5, 0.9f64.ln())),
//!     }],
//!     reference_slope: Some(-0.5),
//! };
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("finite_n.png");
//! write_loglog_png(&path, &plot, 900, 600)?;
//! assert!(std::fs::read(&path)?.starts_with(b"\x89PNG"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::layout::{
    build_chart, draw_frame, draw_mesh, draw_title, label_areas, plot_area, sample, widest,
    LegendBox, Texts, CORNERS,
};
use super::style::{
    draw_error_bars, draw_line, draw_markers, text_style, Marker, Sizes, MARKERS, PALETTE,
    REFERENCE,
};
use super::{drawing, Render};
use crate::error::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// One series of points on a log-log chart.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogLogSeries {
    /// Legend label, e.g. "agents".
    pub label: String,
    /// `(x, y, y_lo, y_hi)`: `x = N > 0`, `y` = mean error `> 0`, error bar `[y_lo, y_hi]`
    /// (use `y` for both to draw none). A point with a non-positive or non-finite `x` or `y`
    /// is skipped; a non-positive or non-finite bar end draws no bar on that side.
    pub points: Vec<(f64, f64, f64, f64)>,
    /// Fitted line `y = exp(intercept) · x^slope` (natural log), drawn over the series' x
    /// range; its slope is shown in the legend. `None` = no fit line.
    pub fit: Option<(f64, f64)>, // (slope, intercept)
}

/// A complete chart.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogLogPlot {
    /// Title above the chart (empty = none).
    pub title: String,
    /// Label of the x axis, e.g. "population size N".
    pub x_label: String,
    /// Label of the y axis, e.g. "E‖z^N − z*‖₁".
    pub y_label: String,
    /// The series, drawn in order with distinct colours and markers.
    pub series: Vec<LogLogSeries>,
    /// Slope of the dashed reference line (e.g. -0.5), anchored at the first point of the first
    /// series (the first valid point of any series if that one has none) and drawn over the
    /// x range of the data (the whole x axis when all points share one x); drawn on top of the
    /// series so it stays visible where the data follow it. `None` = none.
    pub reference_slope: Option<f64>,
}

/// Renders `plot` as a PNG of `width` × `height` pixels and writes it atomically to `path`
/// (the same as [`write_chart`](super::write_chart) with [`Chart::LogLog`](super::Chart)
/// and a `.png` path).
///
/// # Errors
/// As [`write_chart`](super::write_chart).
pub fn write_loglog_png(path: &Path, plot: &LogLogPlot, width: u32, height: u32) -> Result<()> {
    super::write_image(path, super::ImageFormat::Png, plot, width, height)
}

impl Render for LogLogPlot {
    fn render<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String> {
        let (width, height) = root.dim_in_pixel();
        draw_chart(root, self, width, height)
    }
}

// ---------------------------------------------------------------------------------------------
// Data preparation (everything in log10 space)

/// A straight segment between two data points (straight on log-log axes too).
type Segment = [(f64, f64); 2];

/// A series reduced to what is drawn.
struct Prepared {
    label: String,
    color: RGBColor,
    marker: Marker,
    /// Valid points `(x, y)`.
    points: Vec<(f64, f64)>,
    /// Error bars `(x, lo, hi)` with `lo < hi`.
    bars: Vec<(f64, f64, f64)>,
    /// The fit slope (legend) and, when the series spans an x range, the line's end points.
    fit: Option<(f64, Option<Segment>)>,
}

/// The dashed reference line.
struct Reference {
    slope: f64,
    ends: Segment,
}

pub(super) fn positive(v: f64) -> bool {
    v.is_finite() && v > 0.0
}

fn prepare(index: usize, s: &LogLogSeries) -> Prepared {
    let mut points = Vec::new();
    let mut bars = Vec::new();
    for &(x, y, lo, hi) in &s.points {
        if !positive(x) || !positive(y) {
            continue;
        }
        points.push((x, y));
        let lo = if positive(lo) { lo.min(y) } else { y };
        let hi = if positive(hi) { hi.max(y) } else { y };
        if lo < hi {
            bars.push((x, lo, hi));
        }
    }
    let fit = s.fit.and_then(|(slope, intercept)| {
        if !slope.is_finite() || !intercept.is_finite() {
            return None;
        }
        let (x0, x1) = min_max(points.iter().map(|p| p.0))?;
        let at = |x: f64| (x, (intercept + slope * x.ln()).exp());
        let ends = [at(x0), at(x1)];
        let drawable = x1 > x0 && ends.iter().all(|&(_, y)| positive(y));
        Some((slope, drawable.then_some(ends)))
    });
    Prepared {
        label: s.label.clone(),
        color: PALETTE[index % PALETTE.len()],
        marker: MARKERS[index % MARKERS.len()],
        points,
        bars,
        fit,
    }
}

pub(super) fn min_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// Exponent bounds keeping `10^k` finite and normal.
const LOG_LIMIT: f64 = 300.0;

/// `[lo, hi]` (log10) widened to at least one decade, then padded by `pad` of its span.
fn axis_range(values: Option<(f64, f64)>, default: (f64, f64), pad: f64) -> (f64, f64) {
    let Some((mut lo, mut hi)) = values else {
        return default;
    };
    lo = lo.clamp(-LOG_LIMIT, LOG_LIMIT);
    hi = hi.clamp(-LOG_LIMIT, LOG_LIMIT);
    if hi - lo < 1.0 {
        let mid = 0.5 * (lo + hi);
        return (mid - 0.5, mid + 0.5);
    }
    let p = pad * (hi - lo);
    (lo - p, hi + p)
}

// ---------------------------------------------------------------------------------------------
// Ticks

/// Tick values (data units) of one log axis: labelled ones and light grid lines.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Ticks {
    pub(super) major: Vec<f64>,
    pub(super) minor: Vec<f64>,
}

/// Ticks for the log10 range `[lo, hi]` with at most about `max_major` labels.
pub(super) fn log_ticks(lo: f64, hi: f64, max_major: usize) -> Ticks {
    const EPS: f64 = 1e-9;
    let inside = |l: f64| l >= lo - EPS && l <= hi + EPS;
    let kmin = (lo - EPS).ceil() as i32;
    let kmax = (hi + EPS).floor() as i32;
    let decades = (kmax - kmin + 1).max(0) as usize;
    let mut major = Vec::new();
    let mut minor = Vec::new();
    if decades >= 2 {
        let step = decades.div_ceil(max_major.max(2)).max(1) as i32;
        for k in kmin..=kmax {
            if k.rem_euclid(step) == 0 {
                major.push(10f64.powi(k));
            } else {
                minor.push(10f64.powi(k));
            }
        }
        if step == 1 {
            for k in (kmin - 1)..=kmax {
                for m in 2..=9 {
                    let l = f64::from(m).log10() + f64::from(k);
                    if inside(l) {
                        minor.push(f64::from(m) * 10f64.powi(k));
                    }
                }
            }
        }
    } else {
        for k in (lo.floor() as i32 - 1)..=(hi.ceil() as i32) {
            for m in 1..=9 {
                let l = f64::from(m).log10() + f64::from(k);
                if inside(l) {
                    let v = f64::from(m) * 10f64.powi(k);
                    if matches!(m, 1 | 2 | 5) {
                        major.push(v);
                    } else {
                        minor.push(v);
                    }
                }
            }
        }
    }
    Ticks { major, minor }
}

/// `10³`, `2×10⁻⁴`: the label of a tick value `m·10^k`.
pub(super) fn tick_label(v: f64) -> String {
    if !positive(v) {
        return String::new();
    }
    let k = (v.log10() + 1e-9).floor();
    let m = (v / 10f64.powf(k)).round();
    let exponent: String = format!("{}", k as i32)
        .chars()
        .map(|c| match c {
            '-' => '⁻',
            '0' => '⁰',
            '1' => '¹',
            '2' => '²',
            '3' => '³',
            '4' => '⁴',
            '5' => '⁵',
            '6' => '⁶',
            '7' => '⁷',
            '8' => '⁸',
            _ => '⁹',
        })
        .collect();
    if m == 1.0 {
        format!("10{exponent}")
    } else {
        format!("{m}×10{exponent}")
    }
}

/// `−0.49` (with a true minus sign).
pub(super) fn signed(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    let zero = s
        .trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.');
    match s.strip_prefix('-') {
        Some(rest) if !zero => format!("−{rest}"),
        Some(rest) => rest.to_string(),
        None => s,
    }
}

/// A slope as a small fraction when it is one (`−1/2`, `−1`), else with two decimals.
fn ratio(v: f64) -> String {
    for q in 1..=4 {
        let p = v * f64::from(q);
        if (p - p.round()).abs() < 1e-9 && p.abs() < 100.0 {
            let p = p.round() as i64;
            let sign = if p < 0 { "−" } else { "" };
            return if q == 1 {
                format!("{sign}{}", p.abs())
            } else {
                format!("{sign}{}/{q}", p.abs())
            };
        }
    }
    signed(v, 2)
}

// ---------------------------------------------------------------------------------------------
// Legend

enum Glyph {
    Series {
        color: RGBColor,
        marker: Marker,
        line: bool,
    },
    Reference,
}

struct LegendEntry {
    text: String,
    glyph: Glyph,
}

fn legend_entries(series: &[Prepared], reference: Option<&Reference>) -> Vec<LegendEntry> {
    let mut entries: Vec<LegendEntry> = series
        .iter()
        .map(|s| {
            let text = match (s.fit, s.label.is_empty()) {
                (Some((slope, _)), false) => format!("{}: slope {}", s.label, signed(slope, 2)),
                (Some((slope, _)), true) => format!("slope {}", signed(slope, 2)),
                (None, _) => s.label.clone(),
            };
            LegendEntry {
                text,
                glyph: Glyph::Series {
                    color: s.color,
                    marker: s.marker,
                    line: s.fit.is_some(),
                },
            }
        })
        .filter(|e| !e.text.is_empty())
        .collect();
    if let Some(r) = reference {
        entries.push(LegendEntry {
            text: format!("reference: slope {}", ratio(r.slope)),
            glyph: Glyph::Reference,
        });
    }
    entries
}

fn log_pt((x, y): (f64, f64)) -> (f64, f64) {
    (x.log10(), y.log10())
}

// ---------------------------------------------------------------------------------------------
// Rendering

/// Draws the chart on `root` (`width × height` pixels).
fn draw_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    plot: &LogLogPlot,
    width: u32,
    height: u32,
) -> std::result::Result<(), String> {
    let sz = Sizes::new(width, height);

    // Data, fit lines and reference line.
    let series: Vec<Prepared> = plot
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| prepare(i, s))
        .collect();
    let all_points = || series.iter().flat_map(|s| s.points.iter().copied());
    let x_data = min_max(all_points().map(|p| p.0.log10()));
    let xr = axis_range(x_data, (1.0, 4.0), 0.06);
    let anchor = series
        .first()
        .and_then(|s| s.points.first().copied())
        .or_else(|| all_points().next());
    let reference = plot
        .reference_slope
        .filter(|s| s.is_finite())
        .zip(anchor)
        .and_then(|(slope, (ax, ay))| {
            let (l0, l1) = match x_data {
                Some((l0, l1)) if l1 > l0 => (l0, l1),
                _ => xr,
            };
            let end = |l: f64| {
                let x = 10f64.powf(l);
                (x, ay * (x / ax).powf(slope))
            };
            let ends = [end(l0), end(l1)];
            ends.iter()
                .all(|&(x, y)| positive(x) && positive(y))
                .then_some(Reference { slope, ends })
        });

    // Everything drawn, in log10 space: y range and legend obstacles.
    let mut obstacles: Vec<(f64, f64)> = Vec::new();
    for s in &series {
        obstacles.extend(s.points.iter().copied().map(log_pt));
        for &(x, lo, hi) in &s.bars {
            sample(&mut obstacles, log_pt((x, lo)), log_pt((x, hi)), 8);
        }
        if let Some((_, Some([a, b]))) = s.fit {
            sample(&mut obstacles, log_pt(a), log_pt(b), 60);
        }
    }
    if let Some(r) = &reference {
        sample(&mut obstacles, log_pt(r.ends[0]), log_pt(r.ends[1]), 60);
    }
    let mut yr = axis_range(min_max(obstacles.iter().map(|p| p.1)), (-3.0, 0.0), 0.06);

    // Text metrics and label areas (with provisional ticks).
    let tick_style = text_style(sz.tick_label);
    // At least the widest label the axis may use (2×10ᵏ / 5×10ᵏ on short axes): the ticks
    // measured here come from a widened range and may all be plain powers of ten.
    let widest = |t: &Ticks| {
        widest(
            root,
            &tick_style,
            "5×10⁻¹⁰",
            t.major.iter().map(|&v| tick_label(v)),
        )
    };
    let (xt_w, tick_h) = widest(&log_ticks(xr.0, xr.1, 12))?;
    let (yt_w, _) = widest(&log_ticks(yr.0 - 0.5, yr.1 + 0.5, 12))?;
    let texts = Texts {
        title: &plot.title,
        x_label: &plot.x_label,
        y_label: &plot.y_label,
    };
    let areas = label_areas(root, &sz, &texts, tick_h, yt_w)?;

    root.fill(&WHITE).map_err(drawing)?;
    let (title_area, body) = root.split_vertically(areas.title + sz.margin / 2);
    let margins = (sz.margin.max(tick_h / 2 + 2), sz.margin.max(xt_w / 2 + 4));
    // The plot area in pixels does not depend on the ranges.
    let area = plot_area(&body, &sz, margins, &areas)?;
    let (pw, ph) = ((area.2 - area.0).max(1), (area.3 - area.1).max(1));

    // Legend size and placement (headroom at the top if no corner is free).
    let entries = legend_entries(&series, reference.as_ref());
    let mut corner = CORNERS[0];
    let lb = LegendBox::measure(root, &sz, entries.iter().map(|e| &e.text))?;
    if let Some(lb) = &lb {
        let slack = sz.marker + 2;
        if let Some(c) = lb.free_corner(&obstacles, area, (xr, yr), slack) {
            corner = c;
        } else {
            // Room for the legend above everything drawn: top band of fraction f.
            let f = f64::from(lb.h + 2 * lb.inset + 2 * slack) / f64::from(ph);
            let top = obstacles.iter().map(|p| p.1).fold(yr.0, f64::max);
            if f < 0.6 {
                let pad_px = f64::from(sz.marker + 4) / f64::from(ph);
                yr.1 = yr.1.max((top - (f + pad_px) * yr.0) / (1.0 - f - pad_px));
            }
            corner = lb
                .free_corner(&obstacles, area, (xr, yr), slack)
                .unwrap_or_else(|| {
                    *CORNERS
                        .iter()
                        .min_by_key(|&&c| lb.hits(&obstacles, c, area, (xr, yr), slack))
                        .unwrap_or(&CORNERS[0])
                });
        }
    }

    // Final ticks: label spacing from the plot size.
    let max_x = (f64::from(pw) / (f64::from(xt_w) * 1.8)).floor().max(2.0) as usize;
    let max_y = (f64::from(ph) / (f64::from(tick_h) * 3.0)).floor().max(2.0) as usize;
    let xt = log_ticks(xr.0, xr.1, max_x);
    let yt = log_ticks(yr.0, yr.1, max_y);

    // Draw.
    root.fill(&WHITE).map_err(drawing)?;
    draw_title(&title_area, &plot.title, &sz)?;
    let spec = |r: (f64, f64), t: Ticks| {
        (10f64.powf(r.0)..10f64.powf(r.1))
            .log_scale()
            .with_key_points(t.major)
            .with_light_points(t.minor)
    };
    let mut chart = build_chart(&body, &sz, margins, &areas, spec(xr, xt), spec(yr, yt))?;
    let fmt = |v: &f64| tick_label(*v);
    draw_mesh(&mut chart, &sz, (0.16, 0.06), true, &texts, &fmt, &fmt)?;
    let area_2d = chart.plotting_area();

    for s in &series {
        if let Some((_, Some(ends))) = s.fit {
            let style = s.color.mix(0.85).stroke_width(sz.line);
            draw_line(area_2d, ends.to_vec(), false, false, style, &sz)?;
        }
        let bar_style = s.color.mix(0.9).stroke_width(sz.bar);
        draw_error_bars(area_2d, &s.bars, bar_style, sz.cap)?;
        draw_markers(
            area_2d,
            s.points.iter().copied(),
            s.marker,
            sz.marker,
            s.color,
            false,
        )?;
    }

    // The reference line goes on top: with data on the reference slope it would be hidden.
    if let Some(r) = &reference {
        let style = REFERENCE.stroke_width(sz.line);
        draw_line(area_2d, r.ends.to_vec(), true, false, style, &sz)?;
    }

    draw_frame(root, area)?;
    if let Some(lb) = lb {
        draw_legend(root, &entries, &lb, lb.corner_origin(corner, area), &sz)?;
    }
    root.present().map_err(drawing)
}

/// Draws the legend box with its top-left corner at `origin` (pixels).
fn draw_legend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    entries: &[LegendEntry],
    lb: &LegendBox,
    origin: (i32, i32),
    sz: &Sizes,
) -> std::result::Result<(), String> {
    let texts = entries.iter().map(|e| &e.text);
    lb.draw(root, origin, sz, texts, |i, (gx0, gx1, cy)| {
        let ends = vec![(gx0, cy), (gx1, cy)];
        match entries[i].glyph {
            Glyph::Series {
                color,
                marker,
                line,
            } => {
                if line {
                    draw_line(
                        root,
                        ends,
                        false,
                        false,
                        color.mix(0.85).stroke_width(sz.line),
                        sz,
                    )?;
                }
                draw_markers(
                    root,
                    [((gx0 + gx1) / 2, cy)],
                    marker,
                    sz.marker,
                    color,
                    false,
                )
            }
            Glyph::Reference => {
                draw_line(root, ends, true, false, REFERENCE.stroke_width(sz.line), sz)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::output::plot::{MAX_SIDE, MIN_HEIGHT, MIN_WIDTH};
    use crate::output::test_util::dir_names;

    fn series(label: &str, scale: f64) -> LogLogSeries {
        let points = (2..=7)
            .map(|k| {
                let n = 10f64.powi(k);
                let y = scale * n.powf(-0.5);
                (n, y, 0.9 * y, 1.1 * y)
            })
            .collect();
        LogLogSeries {
            label: label.into(),
            points,
            fit: Some((-0.5, scale.ln())),
        }
    }

    fn example() -> LogLogPlot {
        LogLogPlot {
            title: "Finite-N error of the empirical mean field".into(),
            x_label: "population size N".into(),
            y_label: "E‖z^N − z*‖₁".into(),
            series: vec![series("agents", 0.9), series("counts", 0.6)],
            reference_slope: Some(-0.5),
        }
    }

    /// Width and height from the PNG's IHDR chunk, after checking the signature.
    fn png_size(path: &Path) -> (u32, u32) {
        let bytes = std::fs::read(path).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
        assert_eq!(&bytes[12..16], b"IHDR");
        let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        (be(&bytes[16..20]), be(&bytes[20..24]))
    }

    fn write(plot: &LogLogPlot, w: u32, h: u32) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plot.png");
        write_loglog_png(&path, plot, w, h).unwrap();
        assert_eq!(png_size(&path), (w, h));
        assert_eq!(dir_names(dir.path()), vec!["plot.png"]);
        (dir, path)
    }

    #[test]
    fn writes_a_png_of_the_requested_size() {
        write(&example(), 900, 600);
        write(&example(), 1234, 377);
    }

    #[test]
    fn degenerate_inputs_still_give_a_png() {
        let one = LogLogSeries {
            label: "one".into(),
            points: vec![(1000.0, 0.01, 0.009, 0.011)],
            fit: Some((-0.5, 0.0)),
        };
        let bad = LogLogSeries {
            label: "bad".into(),
            points: vec![
                (f64::NAN, 0.1, 0.1, 0.1),
                (0.0, 0.1, 0.1, 0.1),
                (100.0, 0.0, 0.0, 0.0),
                (100.0, f64::INFINITY, 1.0, 1.0),
                (-5.0, -1.0, -1.0, -1.0),
                (200.0, 0.05, -1.0, f64::NAN), // valid point, no bar
            ],
            fit: Some((f64::NAN, 1.0)),
        };
        let flat = LogLogSeries {
            label: "flat".into(),
            points: vec![(10.0, 1e-3, 1e-3, 1e-3), (10.0, 1e-3, 1e-3, 1e-3)],
            fit: None,
        };
        let plots = [
            LogLogPlot::default(),
            LogLogPlot {
                title: "empty series".into(),
                series: vec![LogLogSeries::default(), LogLogSeries::default()],
                reference_slope: Some(-0.5),
                ..LogLogPlot::default()
            },
            LogLogPlot {
                title: "one point".into(),
                series: vec![one.clone()],
                reference_slope: Some(-0.5),
                ..example()
            },
            LogLogPlot {
                series: vec![bad, flat, one],
                reference_slope: Some(f64::INFINITY),
                ..example()
            },
            LogLogPlot {
                series: vec![LogLogSeries {
                    label: "extreme".into(),
                    points: vec![
                        (1e-300, 1e300, 1e-300, f64::MAX),
                        (f64::MAX, 1e-310, 0.0, 1.0),
                    ],
                    fit: Some((-1.0, 700.0)),
                }],
                ..example()
            },
        ];
        for plot in &plots {
            write(plot, 640, 480);
            write(plot, MIN_WIDTH, MIN_HEIGHT);
        }
    }

    #[test]
    fn missing_directory_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/dir/plot.png");
        let err = write_loglog_png(&path, &example(), 640, 480).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err:?}");
        assert!(err.to_string().contains("no/such/dir/plot.png"), "{err}");
        assert!(dir_names(dir.path()).is_empty());
    }

    #[test]
    fn bad_size_is_an_error_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plot.png");
        for (w, h) in [(0, 480), (640, 0), (10, 10), (MAX_SIDE + 1, 480)] {
            let err = write_loglog_png(&path, &example(), w, h).unwrap_err();
            assert!(matches!(err, Error::Output { .. }), "{err:?}");
            assert!(err.to_string().contains("plot.png"), "{err}");
        }
        assert!(dir_names(dir.path()).is_empty());
    }

    #[test]
    fn tick_labels_and_slopes() {
        assert_eq!(tick_label(1000.0), "10³");
        assert_eq!(tick_label(1.0), "10⁰");
        assert_eq!(tick_label(2e-4), "2×10⁻⁴");
        assert_eq!(tick_label(5e12), "5×10¹²");
        assert_eq!(signed(-0.4912, 2), "−0.49");
        assert_eq!(signed(-0.0001, 2), "0.00");
        assert_eq!(signed(0.5, 2), "0.50");
        assert_eq!(ratio(-0.5), "−1/2");
        assert_eq!(ratio(-1.0), "−1");
        assert_eq!(ratio(-0.37), "−0.37");
    }

    #[test]
    fn log_ticks_cover_the_range() {
        let t = log_ticks(1.9, 7.1, 10);
        assert_eq!(t.major, vec![1e2, 1e3, 1e4, 1e5, 1e6, 1e7]);
        assert!(t.minor.contains(&(2.0 * 1e6)) && !t.minor.contains(&1e2));
        let sparse = log_ticks(-10.0, 0.0, 4);
        assert!(
            sparse.major.len() <= 4 && sparse.major.len() >= 2,
            "{sparse:?}"
        );
        // Less than two decades: 1, 2, 5 × 10^k.
        let narrow = log_ticks(2.5, 3.5, 10);
        assert_eq!(narrow.major, vec![500.0, 1000.0, 2000.0]);
    }

    #[test]
    fn degenerate_ranges_are_widened() {
        assert_eq!(axis_range(Some((3.0, 3.0)), (0.0, 1.0), 0.1), (2.5, 3.5));
        assert_eq!(axis_range(None, (1.0, 4.0), 0.1), (1.0, 4.0));
        let (lo, hi) = axis_range(Some((2.0, 7.0)), (0.0, 1.0), 0.1);
        assert!((lo - 1.5).abs() < 1e-12 && (hi - 7.5).abs() < 1e-12);
    }

    /// Renders the example chart to `$TMPDIR/plot_example.png` for a visual check:
    /// `cargo test --lib output::plot -- --ignored`.
    #[test]
    #[ignore = "writes $TMPDIR/plot_example.png for visual inspection"]
    fn render_example_for_inspection() {
        let path = std::env::temp_dir().join("plot_example.png");
        write_loglog_png(&path, &example(), 960, 640).unwrap();
        assert_eq!(png_size(&path), (960, 640));
    }
}
