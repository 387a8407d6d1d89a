//! Dissemination and reporting, above the pillars: what the public and management
//! read. For now the charts (SVG, drawn with plotters) that observation pages and
//! the quarterly report share, so a graph looks the same on the web and on paper.

pub mod charts;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum PublishError {
    /// Drawing failed (plotters reports backend errors this way).
    #[error("chart: {0}")]
    Chart(String),
}
