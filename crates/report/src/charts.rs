//! The observation charts the pages and the report share: a port series as lines,
//! per reporting sensor (or packets, or sources), with the coordinators' notes as
//! markers.

use renkei_observe::stats::Chart;
use renkei_publish::charts::{Line, LineChart, Marker, line_svg};

use crate::Result;

/// What a port chart plots per day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Packets per reporting sensor: the figure the public graphs use.
    PerSensor,
    Packets,
    Sources,
}

impl Metric {
    pub fn parse(s: &str) -> Metric {
        match s {
            "sources" => Metric::Sources,
            "packets" => Metric::Packets,
            _ => Metric::PerSensor,
        }
    }
}

/// Draws an observation chart as SVG.
pub fn observation_svg(
    title: &str,
    chart: &Chart,
    metric: Metric,
    markers: Vec<Marker>,
    y_label: &str,
) -> Result<String> {
    // A day no sensor reported (before the first one started, or an outage of all)
    // has no value: the line leaves it blank rather than drawing a zero.
    let blank = |i: usize, v: f64| {
        if chart.reporting.get(i).copied().unwrap_or(0) > 0 {
            v
        } else {
            f64::NAN
        }
    };
    let lines = chart
        .series
        .iter()
        .map(|s| Line {
            label: s.label.clone(),
            values: match metric {
                Metric::Sources => s.sources.iter().map(|v| *v as f64).collect::<Vec<_>>(),
                Metric::Packets => s.packets.iter().map(|v| *v as f64).collect(),
                Metric::PerSensor => s.per_sensor.clone(),
            }
            .into_iter()
            .enumerate()
            .map(|(i, v)| blank(i, v))
            .collect(),
        })
        .collect();
    Ok(line_svg(&LineChart {
        title,
        days: &chart.days,
        lines,
        markers,
        y_label,
        width: 900,
        height: 360,
    })?)
}
