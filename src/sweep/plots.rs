//! The sweep's plots, each drawn once as PNG and once as SVG with plotters: speedup vs N:M per
//! model, the roofline of the focus design, the Pareto front of area (a PE-count proxy) vs
//! training throughput, the array's stall breakdown per layer, the ablation bars, and — in sweeps
//! that train for accuracy — test accuracy vs speedup.
//!
//! Text is rendered with the DejaVu Sans font embedded in the binary, so drawing needs no
//! system font.

use super::accuracy::{self, ScatterSeries};
use super::area::Area;
use super::results::Record;
use super::select;
use super::spec::Spec;
use plotters::coord::combinators::WithKeyPoints;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::types::RangedCoordi32;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::register_font;
use std::path::Path;

/// A figure that was drawn.
#[derive(Debug, Clone)]
pub struct Figure {
    /// File name without extension (`<stem>.png`, `<stem>.svg`).
    pub stem: String,
    pub title: String,
    /// What the reader should know about it (e.g. that area is a proxy).
    pub note: String,
}

const SIZE: (u32, u32) = (960, 600);
/// The font every plot draws with (DejaVu Sans, embedded: no system fonts needed).
pub(crate) const FONT: &str = "sans-serif";

const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn color(i: usize) -> RGBColor {
    COLORS[i % COLORS.len()]
}

/// Registers the embedded font once per process.
pub(crate) fn register_fonts() -> Result<(), String> {
    static DONE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
            .and_then(|()| register_font(FONT, FontStyle::Bold, dejavu::sans::bold()))
            .map_err(|_| "the embedded DejaVu Sans font does not load".to_string())
    })
    .clone()
}

fn err(e: impl std::fmt::Display) -> String {
    format!("drawing failed: {e}")
}

/// Draws the series legend every plot uses, at `at` with `size`-point labels.
fn legend<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    at: SeriesLabelPosition,
    size: u32,
) -> Result<(), String>
where
    DB: DrawingBackend + 'a,
    CT: CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(at)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, size))
        .draw()
        .map_err(err)
}

/// 12,300,000 → "12.3M", 1,500 → "1.5k", 0.05 → "0.05": axis labels over many magnitudes.
fn si(v: f64) -> String {
    let a = v.abs();
    let (d, s) = if a >= 1e9 {
        (1e9, "G")
    } else if a >= 1e6 {
        (1e6, "M")
    } else if a >= 1e3 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let x = v / d;
    let digits = match x.abs() {
        a if a >= 100.0 => 0,
        a if a >= 10.0 => 1,
        a if a >= 1.0 => 2,
        _ => 3,
    };
    let t = format!("{x:.digits$}");
    let t = if t.contains('.') {
        t.trim_end_matches('0').trim_end_matches('.')
    } else {
        &t
    };
    format!("{t}{s}")
}

/// Category axes are integer coordinates, `STEP` apart, with a key point (tick and label) at
/// each category: `i32` ranges format themselves, which plotters requires of key-point axes.
const STEP: i32 = 1000;

fn cx(i: usize) -> i32 {
    i as i32 * STEP
}

fn categories(n: usize) -> WithKeyPoints<RangedCoordi32> {
    (-STEP / 2..cx(n) - STEP / 2).with_key_points((0..n).map(cx).collect())
}

fn category(names: &[String], x: i32) -> String {
    if x.rem_euclid(STEP) != 0 {
        return String::new();
    }
    names.get((x / STEP) as usize).cloned().unwrap_or_default()
}

/// Something that draws itself on any backend.
trait Plot {
    fn size(&self) -> (u32, u32) {
        SIZE
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// Draws `plot` into `<dir>/<stem>.png` and `<dir>/<stem>.svg`.
fn save(dir: &Path, stem: &str, plot: &impl Plot) -> Result<(), String> {
    let png = dir.join(format!("{stem}.png"));
    let svg = dir.join(format!("{stem}.svg"));
    {
        let root = BitMapBackend::new(&png, plot.size()).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        plot.draw(&root)?;
        root.present().map_err(err)?;
    }
    let root = SVGBackend::new(&svg, plot.size()).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    plot.draw(&root)?;
    root.present().map_err(err)
}

/// Lines over categories: one series per row, one point per column.
struct CategoryLines<'a> {
    title: String,
    x_desc: &'a str,
    y_desc: &'a str,
    columns: &'a [String],
    rows: &'a [(String, Vec<Option<f64>>)],
}

impl Plot for CategoryLines<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let n = self.columns.len();
        let ymax = self
            .rows
            .iter()
            .flat_map(|(_, v)| v.iter().flatten())
            .fold(1.0f64, |a, &b| a.max(b));
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FONT, 24))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d(categories(n), 0f64..ymax * 1.15)
            .map_err(err)?;
        let cols = self.columns;
        chart
            .configure_mesh()
            .x_desc(self.x_desc)
            .y_desc(self.y_desc)
            .x_label_formatter(&|x| category(cols, *x))
            .label_style((FONT, 15))
            .draw()
            .map_err(err)?;
        for (i, (name, vals)) in self.rows.iter().enumerate() {
            let c = color(i);
            let pts: Vec<(i32, f64)> = vals
                .iter()
                .enumerate()
                .filter_map(|(j, v)| v.map(|v| (cx(j), v)))
                .collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
                .map_err(err)?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                });
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 4, c.filled())))
                .map_err(err)?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight, 15)
    }
}

/// Grouped bars: one group per row, one bar per column.
struct GroupedBars<'a> {
    title: String,
    y_desc: &'a str,
    columns: &'a [String],
    rows: &'a [(String, Vec<Option<f64>>)],
}

impl Plot for GroupedBars<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let groups = self.rows.len();
        let bars = self.columns.len().max(1);
        let ymax = self
            .rows
            .iter()
            .flat_map(|(_, v)| v.iter().flatten())
            .fold(1.0f64, |a, &b| a.max(b));
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FONT, 24))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d(categories(groups), 0f64..ymax * 1.2)
            .map_err(err)?;
        let rows = self.rows;
        let names: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_desc(self.y_desc)
            .x_label_formatter(&|x| category(&names, *x))
            .label_style((FONT, 15))
            .draw()
            .map_err(err)?;
        let width = STEP * 8 / 10 / bars as i32;
        for (j, col) in self.columns.iter().enumerate() {
            let c = color(j);
            let rects: Vec<_> = rows
                .iter()
                .enumerate()
                .filter_map(|(i, (_, v))| {
                    let y = v.get(j).copied().flatten()?;
                    let x0 = cx(i) - STEP * 4 / 10 + j as i32 * width;
                    Some(Rectangle::new(
                        [(x0, 0.0), (x0 + width * 9 / 10, y)],
                        c.filled(),
                    ))
                })
                .collect();
            chart
                .draw_series(rects)
                .map_err(err)?
                .label(col.as_str())
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], c.filled()));
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight, 15)
    }
}

/// A model and its layers on the roofline: (name, MACs per byte, GMAC/s).
type RooflineSeries = (String, Vec<(String, f64, f64)>);

/// A model, all its points and its Pareto front, as (area, samples/s).
type ParetoSeries = (String, Vec<(f64, f64)>, Vec<(f64, f64)>);

/// The roofline of one design with the layers of the focus points on it.
struct Roofline<'a> {
    title: String,
    peak_gmacs: f64,
    gbps: f64,
    series: &'a [RooflineSeries],
}

impl Plot for Roofline<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let ridge = self.peak_gmacs / self.gbps;
        let xs = self.series.iter().flat_map(|(_, p)| p.iter().map(|q| q.1));
        let ys = self.series.iter().flat_map(|(_, p)| p.iter().map(|q| q.2));
        let xmin = xs.clone().fold(ridge, f64::min) / 4.0;
        let xmax = xs.fold(ridge, f64::max) * 4.0;
        let ymin = ys.fold(self.peak_gmacs, f64::min) / 4.0;
        let ymax = self.peak_gmacs * 2.0;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FONT, 24))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d((xmin..xmax).log_scale(), (ymin..ymax).log_scale())
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("operational intensity (effective MACs per DRAM byte)")
            .y_desc("performance (GMAC/s)")
            .x_label_formatter(&|x| si(*x))
            .y_label_formatter(&|y| si(*y))
            .label_style((FONT, 14))
            .draw()
            .map_err(err)?;
        let roof: Vec<(f64, f64)> = (0..=200)
            .map(|i| {
                let x = xmin * (xmax / xmin).powf(i as f64 / 200.0);
                (x, (self.gbps * x).min(self.peak_gmacs))
            })
            .collect();
        chart
            .draw_series(LineSeries::new(roof, BLACK.stroke_width(2)))
            .map_err(err)?
            .label(format!(
                "roof: {} GMAC/s peak, {:.1} GB/s DRAM",
                si(self.peak_gmacs),
                self.gbps
            ))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2)));
        for (i, (model, pts)) in self.series.iter().enumerate() {
            let c = color(i);
            chart
                .draw_series(pts.iter().map(|p| Circle::new((p.1, p.2), 4, c.filled())))
                .map_err(err)?
                .label(model.as_str())
                .legend(move |(x, y)| Circle::new((x + 10, y), 4, c.filled()));
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight, 14)
    }
}

/// Every point of each model by area and throughput, its Pareto front joined by a line.
struct Pareto<'a> {
    series: &'a [ParetoSeries],
    area: Area,
}

impl Plot for Pareto<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let all = || self.series.iter().flat_map(|s| s.1.iter());
        let (x0, x1) = all().fold((f64::MAX, f64::MIN), |a, p| (a.0.min(p.0), a.1.max(p.0)));
        let (y0, y1) = all().fold((f64::MAX, f64::MIN), |a, p| (a.0.min(p.1), a.1.max(p.1)));
        // A log axis only over a wide range: over less than 8× it would show no tick at all.
        let (xlog, ylog) = (x1 > 8.0 * x0, y1 > 8.0 * y0);
        let (xr, yr) = (padded(x0, x1, xlog), padded(y0, y1, ylog));
        match (xlog, ylog) {
            (true, true) => self.body(root, xr.log_scale(), yr.log_scale()),
            (true, false) => self.body(root, xr.log_scale(), yr),
            (false, true) => self.body(root, xr, yr.log_scale()),
            (false, false) => self.body(root, xr, yr),
        }
    }
}

/// `lo..hi` with a margin (a factor on a log axis), never empty.
fn padded(lo: f64, hi: f64, log: bool) -> std::ops::Range<f64> {
    if log {
        return lo / 1.3..hi * 1.3;
    }
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo * 0.9, hi * 1.1 + 1e-9)
    };
    lo - (hi - lo) * 0.08..hi + (hi - lo) * 0.08
}

impl Pareto<'_> {
    fn body<DB, X, Y>(&self, root: &DrawingArea<DB, Shift>, x: X, y: Y) -> Result<(), String>
    where
        DB: DrawingBackend,
        X: AsRangedCoord<Value = f64>,
        Y: AsRangedCoord<Value = f64>,
        X::CoordDescType: ValueFormatter<f64>,
        Y::CoordDescType: ValueFormatter<f64>,
    {
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("Pareto front: {} vs training throughput", self.area.short()),
                (FONT, 24),
            )
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(x, y)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(self.area.label())
            .y_desc("training throughput (samples/s)")
            .x_label_formatter(&|x| si(*x))
            .y_label_formatter(&|y| si(*y))
            .label_style((FONT, 14))
            .draw()
            .map_err(err)?;
        for (i, (model, pts, front)) in self.series.iter().enumerate() {
            let c = color(i);
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.mix(0.35).filled())))
                .map_err(err)?;
            chart
                .draw_series(LineSeries::new(front.clone(), c.stroke_width(2)))
                .map_err(err)?
                .label(format!("{model} (front)"))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                });
            chart
                .draw_series(front.iter().map(|&p| Circle::new(p, 5, c.filled())))
                .map_err(err)?;
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight, 14)
    }
}

/// Per layer, the array's busy cycles with what it waited for stacked after them.
struct Stalls<'a> {
    title: String,
    layers: &'a [(String, [f64; 5])],
}

const STALL_PARTS: [&str; 5] = [
    "array busy",
    "waiting on DMA",
    "waiting on prune",
    "waiting on other units",
    "port / bank conflicts",
];

impl Plot for Stalls<'_> {
    fn size(&self) -> (u32, u32) {
        (SIZE.0, SIZE.1.max(130 + 18 * self.layers.len() as u32))
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        // Horizontal bars, the first layer on top, so that the names read across.
        let n = self.layers.len();
        let xmax = self
            .layers
            .iter()
            .map(|(_, p)| p.iter().sum::<f64>())
            .fold(1.0f64, f64::max);
        let longest = self.layers.iter().map(|l| l.0.len()).max().unwrap_or(4) as u32;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FONT, 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(20 + 7 * longest)
            .build_cartesian_2d(0f64..xmax * 1.05, categories(n))
            .map_err(err)?;
        let layers = self.layers;
        let names: Vec<String> = layers.iter().rev().map(|l| l.0.clone()).collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc("cycles")
            .x_label_formatter(&|x| si(*x))
            .y_label_formatter(&|y| category(&names, *y))
            .label_style((FONT, 13))
            .draw()
            .map_err(err)?;
        for (k, part) in STALL_PARTS.iter().enumerate() {
            let c = color(k);
            let rects: Vec<_> = layers
                .iter()
                .enumerate()
                .map(|(i, (_, p))| {
                    let x0: f64 = p[..k].iter().sum();
                    let y = cx(n - 1 - i);
                    Rectangle::new(
                        [(x0, y - STEP * 4 / 10), (x0 + p[k], y + STEP * 4 / 10)],
                        c.filled(),
                    )
                })
                .collect();
            chart
                .draw_series(rects)
                .map_err(err)?
                .label(*part)
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], c.filled()));
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight, 13)
    }
}

/// Test accuracy vs speedup, one colour and marker per series, each point labelled with its N:M.
struct AccuracyScatter<'a> {
    series: &'a [ScatterSeries],
}

impl Plot for AccuracyScatter<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let all = || self.series.iter().flat_map(|s| s.1.iter());
        let (x0, x1) = all().fold((f64::MAX, f64::MIN), |a, p| (a.0.min(p.0), a.1.max(p.0)));
        let (y0, y1) = all().fold((f64::MAX, f64::MIN), |a, p| (a.0.min(p.1), a.1.max(p.1)));
        let mut chart = ChartBuilder::on(root)
            .caption("Test accuracy vs speedup over dense training", (FONT, 24))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d(padded(x0, x1, false), padded(y0, y1, false))
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("speedup over dense training (×)")
            .y_desc("test accuracy (%)")
            .label_style((FONT, 15))
            .draw()
            .map_err(err)?;
        // Labels only while they stay legible.
        let labelled = all().count() <= 60;
        for (i, (name, pts)) in self.series.iter().enumerate() {
            let c = color(i);
            let label = move |&(x, y, ref nm): &(f64, f64, String)| {
                let text = if labelled { nm.clone() } else { String::new() };
                EmptyElement::at((x, y)) + Text::new(text, (7, -16), (FONT, 13).into_font())
            };
            chart.draw_series(pts.iter().map(label)).map_err(err)?;
            // Shapes as well as colours, so that the series read in grey too.
            let at = |p: &(f64, f64, String)| (p.0, p.1);
            let series = match i % 3 {
                0 => chart
                    .draw_series(pts.iter().map(|p| Circle::new(at(p), 5, c.filled())))
                    .map_err(err)?
                    .legend(move |(x, y)| Circle::new((x + 10, y), 5, c.filled())),
                1 => chart
                    .draw_series(
                        pts.iter()
                            .map(|p| TriangleMarker::new(at(p), 7, c.filled())),
                    )
                    .map_err(err)?
                    .legend(move |(x, y)| TriangleMarker::new((x + 10, y), 7, c.filled())),
                _ => chart
                    .draw_series(pts.iter().map(|p| Cross::new(at(p), 5, c.stroke_width(3))))
                    .map_err(err)?
                    .legend(move |(x, y)| Cross::new((x + 10, y), 5, c.stroke_width(3))),
            };
            series.label(name.as_str());
        }
        legend(&mut chart, SeriesLabelPosition::LowerLeft, 15)
    }
}

/// A file-name-safe form of `s`.
pub fn slug(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// Draws every plot the records allow into `dir` and says which were drawn.
pub fn draw_all(spec: &Spec, records: &[Record], dir: &Path) -> Result<Vec<Figure>, String> {
    register_fonts()?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut figs = Vec::new();
    let focus_desc = focus_text(spec);
    if let Some((nms, rows)) = select::speedup_by_nm(spec, records) {
        if rows.iter().any(|(_, v)| v.iter().any(Option::is_some)) {
            save(
                dir,
                "speedup-vs-nm",
                &CategoryLines {
                    title: "Speedup over dense training vs N:M".into(),
                    x_desc: "N:M pattern",
                    y_desc: "speedup over dense (×)",
                    columns: &nms,
                    rows: &rows,
                },
            )?;
            figs.push(Figure {
                stem: "speedup-vs-nm".into(),
                title: "Speedup over dense training vs N:M, per model".into(),
                note: format!("Other axes at the focus design: {focus_desc}."),
            });
        }
    }
    let focus = select::focus_points(spec, records);
    if let Some(first) = focus.first() {
        let series: Vec<RooflineSeries> = focus
            .iter()
            .map(|r| (r.design.model.clone(), select::roofline_points(r)))
            .filter(|(_, p)| !p.is_empty())
            .collect();
        if !series.is_empty() {
            save(
                dir,
                "roofline",
                &Roofline {
                    title: format!(
                        "Roofline: {}×{} array at {} MHz, {}",
                        first.design.rows,
                        first.design.cols,
                        first.design.clock_mhz,
                        first.design.nm
                    ),
                    peak_gmacs: first.design.peak_gmacs,
                    gbps: first.design.dram_gbps_peak,
                    series: &series,
                },
            )?;
            figs.push(Figure {
                stem: "roofline".into(),
                title: "Roofline of the focus design".into(),
                note: format!(
                    "One dot per GEMM layer: its effective MACs (FF, BP and WU) over the DRAM bytes \
                     its transfers move, and over the cycles the array spent on it (its GEMMs and \
                     the stalls before them). Focus: {focus_desc}."
                ),
            });
        }
        for r in &focus {
            let layers: Vec<(String, [f64; 5])> = select::gemm_layers(r)
                .into_iter()
                .map(|l| {
                    let s = &l.array_stalls;
                    (
                        l.name.clone(),
                        [l.array_busy, s.dma, s.prune, s.dependency, s.bank].map(|x| x as f64),
                    )
                })
                .collect();
            let stem = format!("stalls-{}", slug(&r.design.model));
            save(
                dir,
                &stem,
                &Stalls {
                    title: format!(
                        "{}: array busy and stall cycles per layer ({}, {}×{})",
                        r.design.model, r.design.nm, r.design.rows, r.design.cols
                    ),
                    layers: &layers,
                },
            )?;
            figs.push(Figure {
                stem,
                title: format!("Stall breakdown per layer: {}", r.design.model),
                note:
                    "What the PE array waited for before each layer's GEMMs, stacked on its busy \
                       cycles (all three phases of the layer)."
                        .into(),
            });
        }
    }
    let series: Vec<ParetoSeries> = select::models(spec, records)
        .into_iter()
        .map(|m| {
            let at = |r: &Record| {
                (
                    r.design.area(),
                    r.metrics.as_ref().map_or(0.0, |x| x.samples_per_s),
                )
            };
            let pts: Vec<(f64, f64)> = records
                .iter()
                .filter(|r| r.ok && r.design.model == m)
                .map(at)
                .collect();
            let front = select::pareto(records, &m).into_iter().map(at).collect();
            (m, pts, front)
        })
        .filter(|s| !s.1.is_empty())
        .collect();
    if !series.is_empty() {
        save(
            dir,
            "pareto",
            &Pareto {
                series: &series,
                area: spec.area,
            },
        )?;
        figs.push(Figure {
            stem: "pareto".into(),
            title: "Pareto front of area vs training throughput".into(),
            note: format!(
                "{} Every finished point is shown; the line joins the points no other point \
                 beats on both.",
                spec.area.note()
            ),
        });
    }
    if let Some((variants, rows)) = select::ablation(spec, records) {
        if rows.iter().any(|(_, v)| v.iter().any(Option::is_some)) {
            save(
                dir,
                "ablation",
                &GroupedBars {
                    title: "Ablation of the dataflow optimizations".into(),
                    y_desc: "speedup over dense (×)",
                    columns: &variants,
                    rows: &rows,
                },
            )?;
            figs.push(Figure {
                stem: "ablation".into(),
                title: "Ablation of the dataflow optimizations".into(),
                note: format!(
                    "Each bar's dense baseline runs with the same switches. Other axes at the focus \
                     design: {focus_desc}."
                ),
            });
        }
    }
    let series = accuracy::scatter(records);
    if let Some(a) = spec.accuracy.as_ref().filter(|_| !series.is_empty()) {
        save(
            dir,
            "accuracy-vs-speedup",
            &AccuracyScatter { series: &series },
        )?;
        figs.push(Figure {
            stem: "accuracy-vs-speedup".into(),
            title: "Test accuracy vs speedup".into(),
            note: format!(
                "Every finished point, trained under its own recipe and N:M on its own design \
                 through the compiled programs (functional simulator): {}. Speedup is the \
                 modelled cycles of a dense iteration over the point's.",
                a.describe()
            ),
        });
    }
    Ok(figs)
}

/// `axis = value` of the focus design, for captions.
pub fn focus_text(spec: &Spec) -> String {
    spec.axes
        .iter()
        .zip(&spec.focus)
        .map(|(a, v)| format!("{} = {v}", a.name))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn si_labels() {
        assert_eq!(si(12_300_000.0), "12.3M");
        assert_eq!(si(0.05), "0.05");
        assert_eq!(si(250.0), "250");
        assert_eq!(si(1_500.0), "1.5k");
        assert_eq!(si(2e9), "2G");
        assert_eq!(si(0.5), "0.5");
        assert_eq!(slug("vit-b16/x.yaml"), "vit-b16-x-yaml");
    }
}
