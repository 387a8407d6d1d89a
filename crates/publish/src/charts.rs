//! Line charts per day: one line per series (a port, an ICMP type), optional
//! markers on days (a coordinator's annotation); and bar charts over named
//! categories (months, quarters), stacked by series. SVG, with text left as text
//! so that Japanese labels render in the reader's fonts.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::PublishError;

pub struct Line {
    pub label: String,
    pub values: Vec<f64>,
}

/// A vertical mark on day `index` with a short label.
pub struct Marker {
    pub index: usize,
    pub label: String,
}

pub struct LineChart<'a> {
    pub title: &'a str,
    /// The x axis: one label per point, days as YYYY-MM-DD.
    pub days: &'a [String],
    pub lines: Vec<Line>,
    pub markers: Vec<Marker>,
    pub y_label: &'a str,
    pub width: u32,
    pub height: u32,
}

const COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn err(e: impl std::fmt::Display) -> PublishError {
    PublishError::Chart(e.to_string())
}

/// Draws the chart as an SVG document.
pub fn line_svg(c: &LineChart<'_>) -> Result<String, PublishError> {
    let mut svg = String::new();
    {
        let (width, height) = (c.width.max(320), c.height.max(200));
        let whole = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        whole.fill(&WHITE).map_err(err)?;
        // The legend has a column of its own, right of the plot, so that it never
        // covers a line however the lines run.
        let legend_width = legend_width(c.lines.iter().map(|l| l.label.as_str()), width);
        let (root, legend) = whole.split_horizontally(width - legend_width);
        let n = c.days.len().max(1);
        let top = c
            .lines
            .iter()
            .flat_map(|l| l.values.iter().copied())
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max);
        let y_max = if top <= 0.0 { 1.0 } else { top * 1.1 };
        let body = titled(&root, c.title, c.y_label)?;
        let mut chart = ChartBuilder::on(&body)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..(n.saturating_sub(1).max(1)) as f64, 0f64..y_max)
            .map_err(err)?;
        let days = c.days;
        chart
            .configure_mesh()
            .x_labels(n.min(10))
            .x_label_formatter(&|x| {
                // plotters puts about ten ticks on whole days; each shows its day.
                if (x - x.round()).abs() > 0.01 {
                    return String::new();
                }
                let i = x.round().max(0.0) as usize;
                days.get(i)
                    .map(|d| d.get(5..).unwrap_or(d).to_string())
                    .unwrap_or_default()
            })
            .y_label_formatter(&|y| {
                if *y >= 10.0 {
                    format!("{:.0}", y)
                } else {
                    format!("{:.1}", y)
                }
            })
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        for (i, line) in c.lines.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            // A day without a value (no sensor reported yet) is a gap, not a zero.
            for run in finite_runs(&line.values) {
                chart
                    .draw_series(LineSeries::new(
                        run.map(|(x, y)| (x as f64, y)),
                        color.stroke_width(2),
                    ))
                    .map_err(err)?;
            }
        }
        for m in &c.markers {
            let x = m.index as f64;
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x, 0.0), (x, y_max * 0.97)],
                    RGBColor(90, 90, 90).stroke_width(1),
                )))
                .map_err(err)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    m.label.clone(),
                    (x, y_max * 0.99),
                    ("sans-serif", 12).into_font().color(&RGBColor(60, 60, 60)),
                )))
                .map_err(err)?;
        }
        draw_legend(&legend, c.lines.iter().map(|l| l.label.as_str()))?;
        whole.present().map_err(err)?;
    }
    Ok(svg)
}

/// The runs of consecutive finite values, each as `(index, value)` pairs.
fn finite_runs(values: &[f64]) -> Vec<impl Iterator<Item = (usize, f64)> + '_> {
    let mut runs = Vec::new();
    let mut start = None;
    for i in 0..=values.len() {
        let finite = values.get(i).is_some_and(|v| v.is_finite());
        match (start, finite) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                runs.push((s..i).map(move |x| (x, values[x])));
                start = None;
            }
            _ => {}
        }
    }
    runs
}

/// The chart's title centred on a band of its own, and under it, at the left above
/// the y axis, the axis's unit written upright (a rotated label reads sideways,
/// and Japanese ones worst of all). Returns the area left for the plot.
fn titled<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    unit: &str,
) -> Result<DrawingArea<DB, plotters::coord::Shift>, PublishError> {
    let (width, _) = area.dim_in_pixel();
    let (head, body) = area.split_vertically(if unit.is_empty() { 34 } else { 52 });
    head.draw(&Text::new(
        title.to_string(),
        ((width / 2) as i32, 8),
        ("sans-serif", 18)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Top)),
    ))
    .map_err(err)?;
    if !unit.is_empty() {
        head.draw(&Text::new(
            unit.to_string(),
            (8, 36),
            ("sans-serif", 12).into_font().color(&RGBColor(60, 60, 60)),
        ))
        .map_err(err)?;
    }
    Ok(body)
}

/// The width of a legend column for these labels: wide enough for the longest
/// (a Japanese character counts double), at most a quarter of the chart.
fn legend_width<'a>(labels: impl Iterator<Item = &'a str>, width: u32) -> u32 {
    let longest = labels
        .map(|l| {
            l.chars()
                .map(|c| if c.is_ascii() { 1 } else { 2 })
                .sum::<u32>()
        })
        .max();
    match longest {
        None => 0,
        Some(n) => (n * 7 + 44).clamp(90, width / 4),
    }
}

/// One line per series, its colour beside its label, top down from the plot's top.
fn draw_legend<'a, DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    labels: impl Iterator<Item = &'a str>,
) -> Result<(), PublishError> {
    for (i, label) in labels.enumerate() {
        let color = COLORS[i % COLORS.len()];
        let y = 44 + i as i32 * 20;
        area.draw(&PathElement::new(
            vec![(6, y), (26, y)],
            color.stroke_width(2),
        ))
        .map_err(err)?;
        area.draw(&Text::new(
            label.to_string(),
            (32, y - 7),
            ("sans-serif", 13).into_font().color(&RGBColor(40, 40, 40)),
        ))
        .map_err(err)?;
    }
    Ok(())
}

/// Bars over named categories (months, quarters), one stacked segment per series.
pub struct BarChart<'a> {
    pub title: &'a str,
    pub categories: &'a [String],
    /// One value per category in each series.
    pub series: Vec<Line>,
    pub y_label: &'a str,
    pub width: u32,
    pub height: u32,
}

/// Draws the bar chart as an SVG document.
pub fn bar_svg(c: &BarChart<'_>) -> Result<String, PublishError> {
    let mut svg = String::new();
    {
        let (width, height) = (c.width.max(320), c.height.max(200));
        let whole = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        whole.fill(&WHITE).map_err(err)?;
        // As with lines, the legend has its own column and never covers a bar.
        let legend_width = if c.series.len() > 1 {
            legend_width(c.series.iter().map(|l| l.label.as_str()), width)
        } else {
            0
        };
        let (root, legend) = whole.split_horizontally(width - legend_width);
        let n = c.categories.len().max(1);
        let totals: Vec<f64> = (0..n)
            .map(|i| {
                c.series
                    .iter()
                    .filter_map(|s| s.values.get(i))
                    .filter(|v| v.is_finite() && **v > 0.0)
                    .sum()
            })
            .collect();
        let top = totals.iter().copied().fold(0.0f64, f64::max);
        // Headroom above the tallest bar for its total.
        let y_max = if top <= 0.0 { 1.0 } else { top * 1.15 };
        let body = titled(&root, c.title, c.y_label)?;
        let mut chart = ChartBuilder::on(&body)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d((0..n as i32 - 1).into_segmented(), 0f64..y_max)
            .map_err(err)?;
        let categories = c.categories;
        let every = (n / 12).max(1);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&|x| match x {
                SegmentValue::CenterOf(i) if (*i as usize).is_multiple_of(every) => {
                    categories.get(*i as usize).cloned().unwrap_or_default()
                }
                _ => String::new(),
            })
            .y_label_formatter(&|y| format!("{:.0}", y))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        let mut base = vec![0.0f64; n];
        for (k, s) in c.series.iter().enumerate() {
            let color = COLORS[k % COLORS.len()];
            let mut bars = Vec::new();
            for (i, b) in base.iter_mut().enumerate() {
                let v = s.values.get(i).copied().unwrap_or(0.0);
                if !v.is_finite() || v <= 0.0 {
                    continue;
                }
                let at = |y| {
                    [
                        (SegmentValue::Exact(i as i32), *b),
                        (SegmentValue::Exact(i as i32 + 1), y),
                    ]
                };
                bars.push(Rectangle::new(at(*b + v), color.filled()));
                // A white outline keeps neighbouring bars apart.
                bars.push(Rectangle::new(at(*b + v), WHITE.stroke_width(3)));
                *b += v;
            }
            chart.draw_series(bars).map_err(err)?;
        }
        for (i, t) in totals.iter().enumerate() {
            if *t > 0.0 {
                chart
                    .draw_series(std::iter::once(Text::new(
                        format!("{t:.0}"),
                        (SegmentValue::CenterOf(i as i32), t + y_max * 0.03),
                        ("sans-serif", 12).into_font().color(&RGBColor(60, 60, 60)),
                    )))
                    .map_err(err)?;
            }
        }
        if c.series.len() > 1 {
            draw_legend(&legend, c.series.iter().map(|l| l.label.as_str()))?;
        }
        whole.present().map_err(err)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_has_each_series_label_and_marker_as_text() {
        let days: Vec<String> = (1..=30).map(|d| format!("2007-11-{d:02}")).collect();
        let svg = line_svg(&LineChart {
            title: "TCP 2967",
            days: &days,
            lines: vec![
                Line {
                    label: "TCP 2967".into(),
                    values: (0..30).map(|i| i as f64).collect(),
                },
                Line {
                    label: "TCP 5900".into(),
                    values: vec![3.0; 30],
                },
            ],
            markers: vec![Marker {
                index: 10,
                label: "JVNVU#12345678".into(),
            }],
            y_label: "packets per sensor",
            width: 800,
            height: 300,
        })
        .unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..60]);
        for text in ["TCP 2967", "TCP 5900", "JVNVU#12345678", "11-01"] {
            assert!(svg.contains(text), "{text} missing");
        }
        assert!(svg.matches("<polyline").count() >= 2);
    }

    #[test]
    fn bars_stack_their_series_and_show_each_total() {
        let months = vec!["2007-10".to_string(), "2007-11".into(), "2007-12".into()];
        let svg = bar_svg(&BarChart {
            title: "reports",
            categories: &months,
            series: vec![
                Line {
                    label: "scan".into(),
                    values: vec![190.0, 200.0, 193.0],
                },
                Line {
                    label: "phishing".into(),
                    values: vec![50.0, 60.0, 53.0],
                },
            ],
            y_label: "reports",
            width: 700,
            height: 300,
        })
        .unwrap();
        for text in [
            "2007-10", "2007-12", "scan", "phishing", "\n240\n", "\n246\n",
        ] {
            assert!(svg.contains(text), "{text} missing");
        }
        assert!(svg.matches("<rect").count() >= 6);
    }

    #[test]
    fn days_without_a_value_are_a_gap_and_the_unit_reads_upright() {
        let days: Vec<String> = (1..=10).map(|d| format!("2007-01-{d:02}")).collect();
        let mut values = vec![f64::NAN; 4];
        values.extend([2.0, 3.0, 4.0, f64::NAN, 5.0, 6.0]);
        let svg = line_svg(&LineChart {
            title: "TCP 80",
            days: &days,
            lines: vec![Line {
                label: "TCP 80 (http)".into(),
                values,
            }],
            markers: vec![],
            y_label: "センサーあたりの平均パケット数",
            width: 600,
            height: 300,
        })
        .unwrap();
        // Two runs (days 5-7 and 9-10), nothing drawn for the first four days, and
        // the legend's sample of the line.
        let lines = svg
            .split("<polyline")
            .filter(|p| {
                p.split('>')
                    .next()
                    .is_some_and(|tag| tag.contains("#1F77B4"))
            })
            .count();
        assert_eq!(lines, 3, "{svg}");
        assert!(svg.contains("センサーあたりの平均パケット数"));
        assert!(!svg.contains("rotate("), "no text is turned on its side");
    }

    #[test]
    fn an_empty_chart_still_draws() {
        let svg = line_svg(&LineChart {
            title: "none",
            days: &[],
            lines: vec![],
            markers: vec![],
            y_label: "",
            width: 10,
            height: 10,
        })
        .unwrap();
        assert!(svg.contains("</svg>"));
    }
}
