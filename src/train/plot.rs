//! Accuracy curves of a training run (PNG and SVG, plotters, the embedded DejaVu Sans): train
//! and test accuracy per epoch, with the epoch the final accuracy was first reached marked.

use crate::sweep::plots::{register_fonts, FONT};
use nmsat_sim::functional::train::{EpochReport, TrainReport};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

const SIZE: (u32, u32) = (960, 600);
const TRAIN: RGBColor = RGBColor(31, 119, 180);
const TEST: RGBColor = RGBColor(255, 127, 14);

fn err(e: impl std::fmt::Display) -> String {
    format!("drawing failed: {e}")
}

fn draw<DB: DrawingBackend>(r: &TrainReport, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
    root.fill(&WHITE).map_err(err)?;
    let title = format!(
        "{} on {}: {} {} ({}), {:.2}× modelled speedup",
        r.model, r.dataset, r.recipe, r.nm, r.datapath, r.speedup
    );
    let n = r.epochs.len() as f64;
    let lo = r
        .epochs
        .iter()
        .flat_map(|e| [e.train_accuracy, e.test_accuracy])
        .fold(1.0f64, f64::min);
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(60)
        .build_cartesian_2d(0.5f64..n + 0.5, (lo - 0.02).max(0.0)..1.0)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("accuracy (%)")
        .y_label_formatter(&|v| format!("{:.0}", v * 100.0))
        .x_label_formatter(&|v| format!("{v:.0}"))
        .label_style((FONT, 15))
        .draw()
        .map_err(err)?;
    for (name, color, get) in [
        (
            "train",
            TRAIN,
            (|e: &EpochReport| e.train_accuracy) as fn(&EpochReport) -> f64,
        ),
        ("test", TEST, |e| e.test_accuracy),
    ] {
        let pts: Vec<(f64, f64)> = r.epochs.iter().map(|e| (e.epoch as f64, get(e))).collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(err)?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))
            .map_err(err)?;
    }
    let at = r.epochs_to_final as f64;
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(at, (lo - 0.02).max(0.0)), (at, 1.0)],
            BLACK.mix(0.4).stroke_width(1),
        )))
        .map_err(err)?
        .label(format!(
            "final {:.1}% first reached ({:.3} ms modelled)",
            r.final_test_accuracy * 100.0,
            r.seconds_to_final * 1e3
        ))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.4)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, 15))
        .draw()
        .map_err(err)
}

/// Draws the curves into `<dir>/<stem>.png` and `.svg`; returns both paths.
pub fn accuracy_curves(r: &TrainReport, dir: &Path, stem: &str) -> Result<[PathBuf; 2], String> {
    register_fonts()?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let png = dir.join(format!("{stem}.png"));
    let svg = dir.join(format!("{stem}.svg"));
    {
        let root = BitMapBackend::new(&png, SIZE).into_drawing_area();
        draw(r, &root)?;
        root.present().map_err(err)?;
    }
    {
        let root = SVGBackend::new(&svg, SIZE).into_drawing_area();
        draw(r, &root)?;
        root.present().map_err(err)?;
    }
    Ok([png, svg])
}
