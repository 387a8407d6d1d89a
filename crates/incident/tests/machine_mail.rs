//! Machine-generated mail that goes wrong: packed attachments that expand without
//! end, report types nobody has seen yet, broken ARF parts, and the same file
//! imported twice. Each keeps what came in and says what happened.

use std::io::Write;

use renkei_core::audit::Actor;
use renkei_core::tlp::Tlp;
use renkei_incident::reports::{self, Channel, InputFormat, Settings, Status};
use renkei_incident::{feeds, incidents};
use renkei_testkit::both_backends;

fn b64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .encode(data)
        .as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8_lossy(c).into_owned() + "\r\n")
        .collect()
}

fn with_attachment(name: &str, ctype: &str, data: &[u8]) -> Vec<u8> {
    format!(
        "From: Shadowserver <autoreports@shadowserver.example>\r\nTo: abuse@isp.example\r\nSubject: report\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nAttached is your report.\r\n--b\r\nContent-Type: {ctype}; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}--b--\r\n",
        b64(data)
    )
    .into_bytes()
}

fn gzipped(data: &[u8]) -> Vec<u8> {
    let mut g = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    g.write_all(data).unwrap();
    g.finish().unwrap()
}

async fn ingest(srv: &renkei_testkit::TestServer, raw: &[u8]) -> reports::Outcome {
    reports::ingest(
        &srv.store,
        &Settings::default(),
        &Actor::system("test"),
        Channel::Mail,
        InputFormat::Mail,
        raw,
        Tlp::Amber,
        None,
    )
    .await
    .unwrap()
}

both_backends! {
    async fn a_zip_bomb_is_refused_and_its_mail_kept_for_review_with_the_reason(srv) {
        // 64 MiB of zeros packs to about 64 KiB: a ratio of 1000, past the 200 allowed.
        let bomb = gzipped(&vec![0u8; 64 << 20]);
        let raw = with_attachment("2024-05-01-scan_telnet-x.csv.gz", "application/gzip", &bomb);
        let out = ingest(&srv, &raw).await;
        assert_eq!(out.status, Status::NeedsReview);
        let problem = out.problem.unwrap();
        assert!(problem.contains("unpack_max_ratio"), "{problem}");
        let kept = incidents::report(&srv.store, out.report).await.unwrap();
        assert_eq!(kept.raw_size as usize, raw.len(), "the mail is kept whole");
        assert!(out.incidents.is_empty() && out.feeds.is_empty());
    }

    async fn an_unknown_shadowserver_type_is_imported_with_the_common_columns_and_flagged(srv) {
        let csv = b"\"timestamp\",\"ip\",\"protocol\",\"port\",\"tag\",\"asn\",\"geo\",\"severity\",\"newfield\"\n\"2030-01-01 00:00:01\",\"192.0.2.31\",\"tcp\",4444,\"thing\",64500,\"JP\",\"high\",\"x\"\n";
        let out = ingest(&srv, &with_attachment("2030-01-01-scan_newthing-example-asn.csv", "text/csv", csv)).await;
        assert_eq!(out.status, Status::Processed);
        assert_eq!(out.feeds.len(), 1, "{out:?}");
        let (feed, flag): (String, Option<String>) = sqlx::query_as(
            "SELECT f.feed, r.flag FROM feed_imports f JOIN reports r ON r.id = f.report_id WHERE f.report_id = $1",
        )
        .bind(out.feeds[0])
        .fetch_one(srv.store.pool())
        .await
        .unwrap();
        assert_eq!(feed, "shadowserver-scan_newthing");
        assert_eq!(flag.as_deref(), Some("unknown_report_type"));
        let status = feeds::status(&srv.store, out.feeds[0]).await.unwrap();
        assert_eq!(status.chunks, 1, "stored and split; its rows wait for a node with the notify settings");
        // A known type is not flagged.
        let known = ingest(&srv, &with_attachment("2030-01-01-scan_telnet-example-asn.csv", "text/csv", csv)).await;
        let flag: Option<String> = sqlx::query_scalar("SELECT flag FROM reports WHERE id = $1")
            .bind(known.feeds[0])
            .fetch_one(srv.store.pool())
            .await
            .unwrap();
        assert_eq!(flag, None);
    }

    async fn a_malformed_arf_part_leaves_the_rest_of_the_mail_read(srv) {
        let raw = b"From: fbl@mailbox.example\r\nTo: abuse@isp.example\r\nSubject: abuse report\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; boundary=\"r\"\r\n\r\n--r\r\nContent-Type: text/plain\r\n\r\nLogs of the sender:\r\nMar  8 08:59:01 mx sshd[1]: Failed password for root from 198.51.100.9 port 1 ssh2\r\n--r\r\nContent-Type: message/feedback-report\r\n\r\nUser-Agent: broken\r\nSource-IP: nonsense\r\n--r--\r\n";
        let out = ingest(&srv, raw).await;
        assert_eq!(out.status, Status::Processed);
        assert_eq!(out.incidents.len(), 1);
        let i = incidents::get(&srv.store, out.incidents[0]).await.unwrap();
        assert_eq!(i.source_ip.as_deref(), Some("198.51.100.9"));
        let report = incidents::report(&srv.store, out.report).await.unwrap();
        assert!(report.warnings.to_string().contains("Feedback-Type"), "{}", report.warnings);
    }

    async fn importing_the_same_files_again_gives_the_same_reports_and_finishes_what_was_left(srv) {
        let settings = Settings::default();
        let actor = Actor::system("import");
        let a = b"From: a@victim.example\r\nSubject: scan\r\n\r\nMar  8 08:59:01 gw sshd[1]: Failed password for root from 198.51.100.10 port 1 ssh2\r\n".to_vec();
        let b = b"From: b@victim.example\r\nSubject: scan\r\n\r\nMar  8 08:59:01 gw sshd[1]: Failed password for root from 198.51.100.11 port 1 ssh2\r\n".to_vec();
        let first = reports::import_many(&srv.store, &settings, &actor, InputFormat::Mail, &[(&a, Tlp::Amber), (&a, Tlp::Amber)]).await.unwrap();
        assert!(!first[0].again && first[1].again, "a file twice in one run is one report");
        assert_eq!(first[0].outcome.report, first[1].outcome.report);
        // A run interrupted after storing `b` and before reading it.
        let stuck = reports::receive(&srv.store, &actor, Channel::Import, InputFormat::Mail, &b, Tlp::Amber, None).await.unwrap();
        let again = reports::import_many(&srv.store, &settings, &actor, InputFormat::Mail, &[(&a, Tlp::Amber), (&b, Tlp::Amber)]).await.unwrap();
        assert!(again[0].again && again[1].again);
        assert_eq!(again[0].outcome.report, first[0].outcome.report);
        assert_eq!(again[0].outcome.incidents, first[0].outcome.incidents, "nothing opened twice");
        assert_eq!(again[1].outcome.report, stuck);
        assert_eq!(again[1].outcome.status, Status::Processed, "the stuck report is finished");
        assert_eq!(again[1].outcome.incidents.len(), 1);
        let reports_in_all: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reports")
            .fetch_one(srv.store.pool())
            .await
            .unwrap();
        assert_eq!(reports_in_all, 2);
    }

    async fn a_mailed_blocklist_s_ranges_become_prefix_events_for_the_prefix_s_contact(srv) {
        use renkei_enrich::{Format, Kind, sources};
        sources::load(
            &srv.store,
            &Actor::system("test"),
            Kind::Contacts,
            Format::Csv,
            &[("contacts.csv".to_string(), b"network,email\n192.0.2.0/24,abuse@isp-a.example\n".to_vec())],
        )
        .await
        .unwrap();
        srv.enricher.refresh(&srv.store).await.unwrap();
        let settings = Settings {
            enricher: Some(srv.enricher.clone()),
            feed_notify: Some(renkei_incident::notify::Settings {
                from: "csirt@csirt.example".into(),
                ..Default::default()
            }),
            ..Settings::default()
        };
        let csv = b"\"timestamp\",\"ip\",\"hostname\",\"tag\",\"asn\",\"geo\",\"severity\"\n\"2030-01-01 00:00:01\",\"192.0.2.128/25\",\"\",\"spamhaus\",64500,\"JP\",\"low\"\n\"2030-01-01 00:00:02\",\"192.0.2.9\",\"\",\"spamhaus\",64500,\"JP\",\"low\"\n";
        let raw = with_attachment("2030-01-01-blocklist-example-asn.csv", "text/csv", csv);
        let out = reports::ingest(&srv.store, &settings, &Actor::system("test"), Channel::Mail, InputFormat::Mail, &raw, Tlp::Amber, None)
            .await
            .unwrap();
        assert_eq!(out.feeds.len(), 1, "{out:?}");
        let status = feeds::status(&srv.store, out.feeds[0]).await.unwrap();
        assert!(status.finished, "{status:?}");
        assert_eq!((status.events, status.bad_rows, status.unresolved), (2, 0, 0), "{status:?}");
        let (recipient, events): (Option<String>, i64) = sqlx::query_as("SELECT recipient, events FROM feed_batches WHERE report_id = $1")
            .bind(out.feeds[0])
            .fetch_one(srv.store.pool())
            .await
            .unwrap();
        assert_eq!((recipient.as_deref(), events), (Some("abuse@isp-a.example"), 2));
    }
}
