//! `renkei report quarterly`: the activity report of a quarter, written as
//! report.html, report.pdf, report.json (the numbers) and one SVG per chart.

use std::path::Path;

use anyhow::Context;
use renkei_core::Store;
use renkei_core::config::Config;
use renkei_report::Quarter;
use renkei_report::quarterly;
use serde_json::json;

/// Builds the report and writes its files into `out`; returns a summary.
pub async fn write(
    config: &Config,
    store: &Store,
    quarter: Quarter,
    lang: renkei_core::lang::Lang,
    out: &Path,
) -> anyhow::Result<serde_json::Value> {
    let settings = renkei_vuln::Settings::from_config(config, None);
    let report = quarterly::build(store, &settings, quarter, lang, store.now()).await?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let put = |name: &str, data: &[u8]| {
        std::fs::write(out.join(name), data)
            .with_context(|| format!("writing {}", out.join(name).display()))
    };
    put("report.html", report.html()?.as_bytes())?;
    let pdf = report.pdf()?;
    put("report.pdf", &pdf)?;
    put(
        "report.json",
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;
    for f in &report.figures {
        put(&f.file, f.svg.as_bytes())?;
    }
    Ok(json!({
        "quarter": quarter.to_string(),
        "out": out.display().to_string(),
        "files": ["report.html", "report.pdf", "report.json"],
        "figures": report.figures.iter().map(|f| f.file.clone()).collect::<Vec<_>>(),
        "pdf_bytes": pdf.len(),
    }))
}
