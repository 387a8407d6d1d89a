//! `renkei demo seed` and `renkei report quarterly` as a user runs them, on SQLite
//! and PostgreSQL: a quarter seeded through the server's own API, then the report
//! generated from it. Every number the report prints equals what the demo put in,
//! and the PDF opens (pdftoppm renders its pages, pdftotext reads its Japanese).

use std::collections::BTreeMap;
use std::process::Command;

use renkei_testkit::{Backend, FreshDatabase};
use serde_json::Value;

fn renkei(db: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_renkei"))
        .args(args)
        .env("RENKEI_DATABASE_URL", db)
        .env_remove("RENKEI_CONFIG")
        .output()
        .expect("renkei runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn counts(list: &Value) -> BTreeMap<String, i64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["key"].as_str().unwrap().to_string(),
                c["count"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// How far down a grey page image (PGM, as pdftoppm -gray writes it) its last
/// marked row lies, from 0 to 1.
fn filled_to(path: &std::path::Path) -> f64 {
    let bytes = std::fs::read(path).unwrap();
    // "P5\n<width> <height>\n255\n" then one byte a pixel.
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        while bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        let start = at;
        while !bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        fields.push(String::from_utf8_lossy(&bytes[start..at]).into_owned());
    }
    assert_eq!(fields[0], "P5", "{}", path.display());
    let (width, height): (usize, usize) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    let pixels = &bytes[at + 1..];
    // The page number at the foot is not content: stop above the bottom margin.
    let body = height * 92 / 100;
    let last = (0..body)
        .rev()
        .find(|y| pixels[y * width..(y + 1) * width].iter().any(|p| *p < 200))
        .unwrap_or(0);
    last as f64 / height as f64
}

fn tool(name: &str) -> bool {
    Command::new(name).arg("-v").output().is_ok()
}

async fn seed_then_report(backend: Backend) {
    let db = FreshDatabase::create(backend).await;
    // The administrator made first (as the setup link would) is kept, and said so.
    let (ok, _, err) = renkei(
        &db.url,
        &[
            "admin",
            "create-user",
            "--email",
            "chief@csirt.example",
            "--role",
            "admin",
        ],
    );
    assert!(ok, "{err}");
    let (ok, out, err) = renkei(
        &db.url,
        &[
            "demo",
            "seed",
            "--quarter",
            "2007Q4",
            "--reports",
            "150",
            "--subscribers",
            "40",
            "--compare",
        ],
    );
    assert!(ok, "demo seed failed: {err}");
    let seeded: Value = serde_json::from_str(out.trim()).expect("the seed prints what it put in");
    assert_eq!(seeded["reports"], 150, "{seeded}");
    assert!(seeded["by_mail"].as_i64().unwrap() > 50 && seeded["by_form"].as_i64().unwrap() > 20);
    assert!(err.contains("coordinator1@demo.renkei.example"), "{err}");
    assert_eq!(seeded["kept_accounts"], 1, "{seeded}");
    assert!(
        err.contains("already had 1 account(s); they are kept"),
        "{err}"
    );

    // A second seed refuses: the demo fills an empty database only.
    let (ok, _, err) = renkei(
        &db.url,
        &["demo", "seed", "--quarter", "2007Q4", "--reports", "5"],
    );
    assert!(!ok && err.contains("empty"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("2007Q4");
    let (ok, out, err) = renkei(
        &db.url,
        &[
            "report",
            "quarterly",
            "--year",
            "2007",
            "--quarter",
            "4",
            "--out",
            out_dir.to_str().unwrap(),
            "--lang",
            "ja",
        ],
    );
    assert!(ok, "report failed: {err}");
    let summary: Value = serde_json::from_str(out.trim()).unwrap();
    let report: Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("report.json")).unwrap()).unwrap();

    // §1: alerts (first texts and updates), weekly issues and their items, readers.
    assert_eq!(
        report["alerts"].as_array().unwrap().len() as i64,
        seeded["alerts"].as_i64().unwrap()
    );
    let updates = report["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["revision"].as_i64() > Some(1))
        .count();
    assert_eq!(updates as i64, seeded["alert_updates"].as_i64().unwrap());
    assert_eq!(
        report["issues"].as_array().unwrap().len(),
        13,
        "13 Wednesdays in 2007Q4, none a holiday"
    );
    assert_eq!(
        report["issues"].as_array().unwrap().len() as i64,
        seeded["weekly_issues"].as_i64().unwrap()
    );
    assert_eq!(report["weekly_items"], seeded["weekly_items"]);
    assert_eq!(report["subscribers"], seeded["subscribers"]);
    // Topics: what the coordinators wrote for the quarter, at the head.
    assert!(seeded["topics"].as_i64().unwrap() >= 1, "{seeded}");
    assert_eq!(
        report["topics"].as_array().unwrap().len() as i64,
        seeded["topics"].as_i64().unwrap()
    );
    // The early warning (TLP:AMBER) is not in a public report.
    assert!(seeded["early_warnings"].as_i64().unwrap() >= 1);
    assert!(!report.to_string().contains("制御システム"));

    // §2: reports, incidents by address, reporters by domain, categories, notifications.
    let incidents = &report["incidents"];
    assert_eq!(incidents["reports"], seeded["reports"]);
    assert_eq!(incidents["incidents"], seeded["incidents"]);
    let by_category: BTreeMap<String, i64> =
        serde_json::from_value(seeded["by_category"].clone()).unwrap();
    assert_eq!(counts(&incidents["by_category"]), by_category);
    let tlds: BTreeMap<String, i64> =
        serde_json::from_value(seeded["reporter_tlds"].clone()).unwrap();
    assert_eq!(counts(&incidents["reporter_tlds"]), tlds);
    assert_eq!(
        report["notifications"]["notifications"],
        seeded["notifications"]
    );
    let month_total: i64 = incidents["by_month"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["count"].as_i64().unwrap())
        .sum();
    assert_eq!(
        month_total,
        seeded["reports"].as_i64().unwrap(),
        "every report falls in one of the three months"
    );
    assert!(incidents["comprehensive_scans"].as_i64().unwrap() > 0);
    // Every month of the quarter has its own figures, adding up to the quarter's.
    let months = report["months"].as_array().unwrap();
    assert_eq!(months.len(), 3);
    let reports_by_month: i64 = months
        .iter()
        .map(|m| m["incidents"]["reports"].as_i64().unwrap())
        .sum();
    assert_eq!(reports_by_month, seeded["reports"].as_i64().unwrap());

    // Compared with the quarter before (three quarters as many reports) and the
    // same quarter a year before (half as many), in words.
    assert_eq!(seeded["earlier"]["2007Q3"], 112, "{seeded}");
    assert_eq!(seeded["earlier"]["2006Q4"], 75, "{seeded}");
    let reports_compared = report["compared"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == "reports")
        .unwrap()
        .clone();
    assert_eq!(
        reports_compared["figures"],
        serde_json::json!({"now": 150, "previous": 112, "year_ago": 75, "record": true}),
        "{reports_compared}"
    );
    let sentence = reports_compared["sentence"].as_str().unwrap().to_string();
    assert!(
        sentence.contains("2.0 倍") && sentence.contains("過去最高"),
        "{sentence}"
    );

    // §3: rankings, the port the coordinators annotated, ICMP.
    let top: Vec<&str> = report["top_quarter"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["label"].as_str().unwrap())
        .collect();
    assert_eq!(top.len(), 10, "{top:?}");
    assert_eq!(top[0], "TCP 445 (microsoft-ds)");
    assert!(
        report["notable"].to_string().contains("TCP 2967"),
        "{}",
        report["notable"]
    );
    assert_eq!(
        report["sensors_reporting"].as_i64().unwrap(),
        92,
        "a sensor reported every day"
    );

    // §4: notes and product developers.
    let published: i64 = report["vuln"]["published"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["count"].as_i64().unwrap())
        .sum();
    assert_eq!(published, seeded["notes_published"].as_i64().unwrap());
    assert_eq!(
        report["vuln"]["vendors_registered_total"],
        seeded["vendors_registered"]
    );

    // The files: every chart as SVG, the HTML with the same numbers, the PDF.
    for f in summary["figures"].as_array().unwrap() {
        let svg = std::fs::read_to_string(out_dir.join(f.as_str().unwrap())).unwrap();
        assert!(svg.contains("<svg") && svg.contains("</svg>"), "{f}");
    }
    assert!(summary["figures"].as_array().unwrap().len() >= 9);
    let html = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    assert!(
        html.contains(&format!("id=\"reports\">{}<", seeded["reports"])),
        "the page prints the count"
    );
    assert!(html.contains("活動概要") && html.contains("図 1-1"));
    let pdf = std::fs::read(out_dir.join("report.pdf")).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(
        tool("pdftoppm") && tool("pdftotext"),
        "poppler-utils (pdftoppm, pdftotext) are needed: apt-get install poppler-utils"
    );
    let pages = Command::new("pdftoppm")
        .args(["-r", "30", "-png"])
        .arg(out_dir.join("report.pdf"))
        .arg(dir.path().join("page"))
        .status()
        .unwrap();
    assert!(pages.success());
    // No page of the body is left half empty: the last marked row of every page
    // but the cover, the contents and the last lies in its lower half.
    let gray = dir.path().join("gray");
    std::fs::create_dir(&gray).unwrap();
    assert!(
        Command::new("pdftoppm")
            .args(["-r", "20", "-gray"])
            .arg(out_dir.join("report.pdf"))
            .arg(gray.join("p"))
            .status()
            .unwrap()
            .success()
    );
    let mut images: Vec<_> = std::fs::read_dir(&gray)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    images.sort();
    let filled: Vec<f64> = images.iter().map(|p| filled_to(p)).collect();
    assert!(filled.len() >= 6, "{} pages", filled.len());
    for (i, f) in filled.iter().enumerate().take(filled.len() - 1).skip(2) {
        assert!(
            *f > 0.5,
            "page {} is filled only to {:.0}%",
            i + 1,
            f * 100.0
        );
    }
    let rendered = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("page")
        })
        .count();
    assert!(rendered >= 4, "{rendered} pages");
    let text = Command::new("pdftotext")
        .arg(out_dir.join("report.pdf"))
        .arg("-")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("インシデント報告"),
        "the Japanese font is embedded and searchable"
    );
    assert!(text.contains(&seeded["reports"].to_string()));
    assert!(
        text.contains("国際会議でのワークショップ"),
        "the seeded topic is typeset"
    );
    // The comparison sentence and the ports' service names are in the PDF's text.
    let squeezed: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let sentence: String = sentence.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(squeezed.contains(&sentence), "{sentence} not in the PDF");
    assert!(
        squeezed.contains("445(microsoft-ds)"),
        "service names in the PDF"
    );
    assert!(text.contains("目次"), "the contents");

    // English too.
    let (ok, _, err) = renkei(
        &db.url,
        &[
            "report",
            "quarterly",
            "--year",
            "2007",
            "--quarter",
            "4",
            "--out",
            dir.path().join("en").to_str().unwrap(),
            "--lang",
            "en",
        ],
    );
    assert!(ok, "{err}");
    let html = std::fs::read_to_string(dir.path().join("en/report.html")).unwrap();
    assert!(html.contains("Activity report") && html.contains("Incident reports received"));
    // A bad quarter is a clear error.
    let (ok, _, err) = renkei(
        &db.url,
        &[
            "report",
            "quarterly",
            "--year",
            "2007",
            "--quarter",
            "5",
            "--out",
            "/tmp/x",
        ],
    );
    assert!(!ok && err.contains("quarter"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_quarter_reports_exactly_what_was_seeded_and_the_pdf_opens() {
    seed_then_report(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_quarter_reports_exactly_what_was_seeded_on_postgres_too() {
    if renkei_testkit::postgres_configured() {
        seed_then_report(Backend::Postgres).await;
    }
}
