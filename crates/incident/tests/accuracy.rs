//! How well abuse mail is read, measured on a labelled set: each sample in
//! `tests/data/intake/` (its origin and license in `labels.json` and the README
//! there) goes through intake as an SMTP delivery would hand it over, and the
//! sources of the incidents it opens, its category and the machine-readable
//! formats found are compared with the labels. Prints precision and recall for
//! source addresses and accuracy for the category; fails below the targets
//! (precision and recall 0.95, category 0.90).

use std::collections::BTreeSet;

use renkei_core::audit::Actor;
use renkei_core::tlp::Tlp;
use renkei_incident::incidents;
use renkei_incident::reports::{self, Channel, InputFormat, Settings};
use renkei_testkit::both_backends;
use serde::Deserialize;

#[derive(Deserialize)]
struct Label {
    file: String,
    sources: Vec<String>,
    category: Option<String>,
    rsit: Option<String>,
    read_as: Option<Vec<String>>,
    feed: Option<String>,
    hosts: Option<Vec<String>>,
}

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/intake");

both_backends! {
    async fn the_labelled_abuse_mail_is_read_with_the_precision_recall_and_accuracy_targets(srv) {
        let labels: Vec<Label> =
            serde_json::from_slice(&std::fs::read(format!("{DIR}/labels.json")).unwrap()).unwrap();
        assert!(labels.len() >= 25, "the set has {} samples", labels.len());
        let (mut tp, mut fp, mut fneg) = (0usize, 0usize, 0usize);
        let (mut right, mut judged) = (0usize, 0usize);
        let mut misses = Vec::new();
        for l in &labels {
            let raw = std::fs::read(format!("{DIR}/{}", l.file)).unwrap();
            let out = reports::ingest(
                &srv.store,
                &Settings::default(),
                &Actor::system("accuracy"),
                Channel::Mail,
                InputFormat::Mail,
                &raw,
                Tlp::Amber,
                None,
            )
            .await
            .unwrap();
            let mut found: BTreeSet<String> = BTreeSet::new();
            let mut hosts: BTreeSet<String> = BTreeSet::new();
            for id in &out.incidents {
                let i = incidents::get(&srv.store, *id).await.unwrap();
                if let Some(ip) = i.source_ip {
                    found.insert(ip);
                }
                if let Some(h) = i.source_host {
                    hosts.insert(h);
                }
            }
            let expected: BTreeSet<String> = l.sources.iter().cloned().collect();
            tp += found.intersection(&expected).count();
            fp += found.difference(&expected).count();
            fneg += expected.difference(&found).count();
            if found != expected {
                misses.push(format!("{}: sources {found:?}, expected {expected:?}", l.file));
            }
            if let Some(h) = &l.hosts {
                let want: BTreeSet<String> = h.iter().cloned().collect();
                if hosts != want {
                    misses.push(format!("{}: hosts {hosts:?}, expected {want:?}", l.file));
                }
            }
            let report = incidents::report(&srv.store, out.report).await.unwrap();
            if let Some(c) = &l.category {
                judged += 1;
                let got = report.proposed_category.clone().unwrap_or_default();
                let rsit_ok = l.rsit.as_ref().is_none_or(|r| report.rsit.as_ref() == Some(r));
                if &got == c && rsit_ok {
                    right += 1;
                } else {
                    misses.push(format!(
                        "{}: category {got} ({:?}), expected {c} ({:?})",
                        l.file, report.rsit, l.rsit
                    ));
                }
            }
            if let Some(formats) = &l.read_as {
                let warnings = report.warnings.to_string();
                for f in formats {
                    assert!(
                        warnings.contains(f) || report.body.contains(f) || report_read_as(&srv, out.report).await.contains(f),
                        "{}: not read as {f}",
                        l.file
                    );
                }
            }
            if let Some(feed) = &l.feed {
                assert_eq!(out.feeds.len(), 1, "{}: {out:?}", l.file);
                let name: String = sqlx::query_scalar("SELECT feed FROM feed_imports WHERE report_id = $1")
                    .bind(out.feeds[0])
                    .fetch_one(srv.store.pool())
                    .await
                    .unwrap();
                assert_eq!(&name, feed, "{}", l.file);
                assert!(out.incidents.is_empty(), "{}: a feed's rows are events, not incidents", l.file);
            }
        }
        let precision = tp as f64 / (tp + fp).max(1) as f64;
        let recall = tp as f64 / (tp + fneg).max(1) as f64;
        let accuracy = right as f64 / judged.max(1) as f64;
        println!(
            "labelled set: {} samples; source addresses: precision {precision:.3}, recall {recall:.3} ({tp} right, {fp} wrong, {fneg} missed); category accuracy {accuracy:.3} ({right} of {judged})",
            labels.len()
        );
        for m in &misses {
            println!("  miss: {m}");
        }
        assert!(precision >= 0.95, "precision {precision:.3}: {misses:#?}");
        assert!(recall >= 0.95, "recall {recall:.3}: {misses:#?}");
        assert!(accuracy >= 0.90, "category accuracy {accuracy:.3}: {misses:#?}");
    }
}

/// The formats a report was read as, from its audit trail and reading notes.
async fn report_read_as(srv: &renkei_testkit::TestServer, report: i64) -> String {
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT changes FROM audit_log WHERE object_type = 'report' AND object_id = $1",
    )
    .bind(report.to_string())
    .fetch_all(srv.store.pool())
    .await
    .unwrap();
    rows.join("\n")
}
