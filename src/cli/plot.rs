//! `mfgsim plot`: charts of output directories. Binary-only.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use mfgsim::output::plot::{build_chart, write_chart, PlotRequest};

use crate::args::PlotArgs;

/// Runs `mfgsim plot`.
pub fn plot_cmd(a: PlotArgs) -> Result<ExitCode> {
    let req = PlotRequest {
        inputs: a.inputs,
        labels: a.labels,
        kind: a.kind,
        x: a.x,
        y: a.y,
        filters: a.filters,
        title: a.title,
        to: a.to,
        tmfe: a.tmfe,
        floor: a.floor,
    };
    let plotted = build_chart(&req).context("reading the plot's inputs")?;
    // Beside its input (the first directory, or the folder of a file), not wherever the
    // command was started.
    let out = a.out.unwrap_or_else(|| {
        let first = req.inputs.first().map(PathBuf::as_path);
        let dir = match first {
            Some(p) if p.is_dir() => p.to_path_buf(),
            Some(p) => p.parent().map(PathBuf::from).unwrap_or_default(),
            None => PathBuf::new(),
        };
        dir.join(format!("plot-{}.png", plotted.kind))
    });
    write_chart(&out, &plotted.chart, a.width, a.height)?;
    writeln!(
        std::io::stdout(),
        "wrote {} ({} chart)",
        out.display(),
        plotted.kind
    )?;
    Ok(ExitCode::SUCCESS)
}
