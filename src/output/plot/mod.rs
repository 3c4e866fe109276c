//! Charts of mfgsim's outputs, as PNG or SVG, written atomically.
//!
//! Two renderers share one style (embedded DejaVu Sans, so no system font is needed and PNGs
//! are pixel-identical on every machine; Okabe–Ito colours):
//!
//! * [`LogLogPlot`]: log-log markers with error bars and fitted power laws (the finite-N rate
//!   chart), see [`loglog`];
//! * [`Figure`]: lines with ±sd bands, CDF steps, points with error bars and grouped bars, on
//!   a linear or log y axis, see [`figure`].
//!
//! [`write_chart`] renders either to the format the path's extension names (`.png`, `.svg`).
//! SVG text is drawn as glyph outlines, so it needs no font either.
//!
//! The chart kinds of `mfgsim plot` (final mean field as bars or CDF, mean state, L1 to z*
//! and exploitability against iteration, the finite-N rate, a sweep metric against a grid
//! key) are built from output directories by [`build_chart`] (see [`kind`]), on top of the
//! readers in [`read`] that turn solve, learn, finite-n and sweep directories into numbers.
//!
//! # Example
//!
//! ```
//! use mfgsim::output::plot::{write_chart, Chart, Figure, Mark, Series};
//!
//! let fig = Figure {
//!     title: "Final mean field".into(),
//!     x_label: "state s".into(),
//!     y_label: "z(s) (fraction of agents)".into(),
//!     x_integer: true,
//!     y_from_zero: true,
//!     series: vec![Series {
//!         label: "z*".into(),
//!         mark: Mark::Bars,
//!         points: vec![(0.0, 0.2), (1.0, 0.5), (2.0, 0.3)],
//!         ..Series::default()
//!     }],
//!     ..Figure::default()
//! };
//! let dir = tempfile::tempdir()?;
//! for name in ["z.png", "z.svg"] {
//!     write_chart(&dir.path().join(name), &Chart::Figure(fig.clone()), 640, 480)?;
//! }
//! assert!(std::fs::read(dir.path().join("z.png"))?.starts_with(b"\x89PNG"));
//! let svg = std::fs::read_to_string(dir.path().join("z.svg"))?;
//! assert!(svg.contains("width=\"640\"") && !svg.contains("<text"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod figure;
pub mod kind;
mod layout;
pub mod loglog;
pub mod read;
mod series;
mod style;
mod svg;

pub use self::figure::{Figure, Mark, Series, YScale};
pub use self::kind::{build_chart, choose_kind, PlotKind, PlotRequest, Plotted};

pub use self::loglog::{write_loglog_png, LogLogPlot, LogLogSeries};
pub use self::series::{read_finite_n_series, read_nash_gap_series};

use std::cell::RefCell;
use std::io::Write;
use std::path::Path;
use std::rc::Rc;

use image::codecs::png::PngEncoder;
use image::{ColorType, ImageEncoder};
use plotters::backend::RGBPixel;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::output::write_atomic;

/// Smallest accepted image width in pixels.
pub const MIN_WIDTH: u32 = 160;
/// Smallest accepted image height in pixels.
pub const MIN_HEIGHT: u32 = 120;
/// Largest accepted width or height in pixels.
pub const MAX_SIDE: u32 = 8192;

/// A chart of either renderer.
#[derive(Debug, Clone, PartialEq)]
pub enum Chart {
    /// Log-log markers, error bars and fitted lines (finite-N).
    LogLog(LogLogPlot),
    /// Lines, bands, steps, points or bars.
    Figure(Figure),
}

impl Chart {
    /// The chart's title.
    pub fn title(&self) -> &str {
        match self {
            Chart::LogLog(p) => &p.title,
            Chart::Figure(f) => &f.title,
        }
    }

    /// Replaces the chart's title.
    pub fn set_title(&mut self, title: String) {
        match self {
            Chart::LogLog(p) => p.title = title,
            Chart::Figure(f) => f.title = title,
        }
    }
}

/// The image format of an output file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// PNG (RGB, 8 bits per channel).
    Png,
    /// SVG 1.1, text as outlines.
    Svg,
}

impl ImageFormat {
    /// The format named by `path`'s extension (`png` or `svg`, any case).
    ///
    /// # Errors
    /// [`Error::Output`] naming `path` for any other extension.
    pub fn from_path(path: &Path) -> Result<Self> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("png") => Ok(ImageFormat::Png),
            Some("svg") => Ok(ImageFormat::Svg),
            _ => Err(Error::Output {
                path: path.to_path_buf(),
                reason: "the image format is chosen by the extension: use .png or .svg".into(),
            }),
        }
    }
}

/// Something that draws itself on a drawing area of any backend.
pub(crate) trait Render {
    /// Draws on `root` (its size is the image size) and presents it.
    fn render<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String>;
}

impl Render for Chart {
    fn render<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String> {
        match self {
            Chart::LogLog(p) => p.render(root),
            Chart::Figure(f) => f.render(root),
        }
    }
}

/// Maps any displayable drawing error to a message.
pub(crate) fn drawing<E: std::fmt::Display>(e: E) -> String {
    format!("cannot draw the chart: {e}")
}

/// Renders `chart` as a `width` × `height` image in the format of `path`'s extension (`.png`
/// or `.svg`) and writes it atomically.
///
/// # Errors
/// [`Error::Output`] naming `path` when the extension is neither, the size is outside
/// [`MIN_WIDTH`]`..=`[`MAX_SIDE`] × [`MIN_HEIGHT`]`..=`[`MAX_SIDE`], or drawing or encoding
/// fails; [`Error::Io`] naming `path` when the file cannot be written (e.g. its directory does
/// not exist). On error nothing is left at `path` or next to it.
pub fn write_chart(path: &Path, chart: &Chart, width: u32, height: u32) -> Result<()> {
    let format = ImageFormat::from_path(path)?;
    write_image(path, format, chart, width, height)
}

pub(crate) fn write_image<R: Render>(
    path: &Path,
    format: ImageFormat,
    chart: &R,
    width: u32,
    height: u32,
) -> Result<()> {
    let output_error = |reason: String| Error::Output {
        path: path.to_path_buf(),
        reason,
    };
    if !(MIN_WIDTH..=MAX_SIDE).contains(&width) || !(MIN_HEIGHT..=MAX_SIDE).contains(&height) {
        return Err(output_error(format!(
            "image size {width}×{height} is outside {MIN_WIDTH}..={MAX_SIDE} × \
             {MIN_HEIGHT}..={MAX_SIDE} pixels"
        )));
    }
    style::ensure_font().map_err(output_error)?;
    // Only a chart mfgsim drew (or nothing) is replaced; never a link or a foreign file.
    crate::output::check_replaceable(path)?;
    match format {
        ImageFormat::Png => {
            let mut rgb = vec![0u8; width as usize * height as usize * 3];
            {
                let root =
                    BitMapBackend::<RGBPixel>::with_buffer_and_format(&mut rgb, (width, height))
                        .map_err(|e| output_error(drawing(e)))?
                        .into_drawing_area();
                chart.render(&root).map_err(output_error)?;
            }
            write_atomic(path, |w| {
                PngEncoder::new(w)
                    .write_image(&rgb, width, height, ColorType::Rgb8)
                    .map_err(|e| output_error(format!("cannot encode the PNG: {e}")))
            })
        }
        ImageFormat::Svg => {
            let mut text = String::new();
            let paths = Rc::new(RefCell::new(String::new()));
            {
                let backend = svg::OutlinedSvg::new(&mut text, (width, height), paths.clone())
                    .map_err(output_error)?;
                let root = backend.into_drawing_area();
                chart.render(&root).map_err(output_error)?;
            }
            svg::splice_text(&mut text, &format!("{}{}", paths.borrow(), svg::PROVENANCE));
            write_atomic(path, |w| {
                w.write_all(text.as_bytes())
                    .map_err(crate::output::io_error(path))
            })
        }
    }
}
