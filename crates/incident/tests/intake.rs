//! Intake end to end on the real store: raw first, one incident per source address,
//! threads, states, statistics — on SQLite and on PostgreSQL.

use renkei_core::audit::Actor;
use renkei_core::tlp::Tlp;
use renkei_incident::incidents::{self, Filter, State};
use renkei_incident::reports::{self, Channel, FormReport, InputFormat, Settings, Status};
use renkei_incident::{Category, stats};
use renkei_testkit::{TestServer, both_backends};

fn form(description: &str, logs: &str) -> FormReport {
    FormReport {
        site_org: "Example Shop KK".into(),
        site_url: Some("https://shop.example.co.jp/".into()),
        reporter_name: "Taro Yamada".into(),
        reporter_email: "taro@shop.example.co.jp".into(),
        reporter_phone: None,
        hosts: vec!["192.0.2.10".into()],
        occurred_at: Some("2007-11-02T10:00:00+09:00".into()),
        description: description.into(),
        logs: logs.into(),
        tlp: None,
        ..FormReport::default()
    }
}

const SSH_LOG: &str =
    "Nov  2 10:00:01 web sshd[11]: Failed password for root from 198.51.100.7 port 40001 ssh2
Nov  2 10:00:02 web sshd[12]: Failed password for root from 198.51.100.7 port 40002 ssh2
Nov  2 10:00:03 web sshd[13]: Failed password for admin from 203.0.113.9 port 40003 ssh2";

async fn ingest(srv: &TestServer, format: InputFormat, raw: &[u8]) -> reports::Outcome {
    reports::ingest(
        &srv.store,
        &Settings::default(),
        &Actor::system("test"),
        Channel::Import,
        format,
        raw,
        Tlp::Amber,
        None,
    )
    .await
    .unwrap()
}

both_backends! {
    async fn batch_links_match_single_links_including_repeats_within_a_batch(srv) {
        let template = String::from_utf8(include_bytes!("../../formats/tests/data/iodef/rfc5070-recon.xml").to_vec()).unwrap();
        let doc = |ip: &str| template.replace("192.0.2.200", ip).into_bytes();
        let before = ingest(&srv, InputFormat::Iodef, &doc("203.0.113.77")).await;
        let docs = [doc("203.0.113.77"), doc("198.51.100.1"), doc("203.0.113.77")];
        let batch: Vec<(&[u8], Tlp)> = docs.iter().map(|d| (d.as_slice(), Tlp::Amber)).collect();
        let out = reports::ingest_many(&srv.store, &Settings::default(), &Actor::system("test"), Channel::Import, InputFormat::Iodef, &batch, None).await.unwrap();
        let first = before.incidents[0];
        let (a, b, c) = (out[0].incidents[0], out[1].incidents[0], out[2].incidents[0]);
        assert_eq!(incidents::get(&srv.store, a).await.unwrap().linked, vec![first, c], "links go both ways");
        assert_eq!(incidents::get(&srv.store, c).await.unwrap().linked, vec![first, a]);
        assert_eq!(incidents::get(&srv.store, first).await.unwrap().linked, vec![a, c]);
        assert!(incidents::get(&srv.store, b).await.unwrap().linked.is_empty());
    }

    async fn a_batch_is_stored_first_processed_together_and_audited_row_by_row(srv) {
        let template = String::from_utf8(include_bytes!("../../formats/tests/data/iodef/rfc5070-recon.xml").to_vec()).unwrap();
        let docs: Vec<Vec<u8>> = (1..=60).map(|i| template.replace("192.0.2.200", &format!("198.51.100.{i}")).into_bytes()).collect();
        let mut batch: Vec<(&[u8], Tlp)> = docs.iter().map(|d| (d.as_slice(), Tlp::Green)).collect();
        batch.push((b"not xml at all", Tlp::Green));
        let out = reports::ingest_many(&srv.store, &Settings::default(), &Actor::system("test"), Channel::Import, InputFormat::Iodef, &batch, None).await.unwrap();
        assert_eq!(out.len(), 61);
        assert!(out[..60].iter().all(|o| o.status == Status::Processed && o.incidents.len() == 1));
        assert_eq!(out[60].status, Status::NeedsReview);
        assert_eq!(incidents::raw(&srv.store, out[60].report).await.unwrap(), b"not xml at all");
        // 61 received + 61 processed rows, more than one multi-row chunk each.
        let verdict = renkei_core::audit::verify(&srv.store).await.unwrap();
        assert!(matches!(verdict, renkei_core::audit::Verdict::Intact { rows, .. } if rows == 122), "{verdict:?}");
        let history = renkei_core::audit::for_object(&srv.store, "report", &out[30].report.to_string()).await.unwrap();
        let actions: Vec<&str> = history.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["report.received", "report.processed"]);
    }

    async fn one_report_yields_one_incident_per_source_address(srv) {
        let out = reports::submit_form(&srv.store, &Settings::default(), &Actor::system("test"), Channel::Web, &form("SSHへの総当たり攻撃です。", SSH_LOG), None).await.unwrap();
        assert_eq!(out.status, Status::Processed);
        assert_eq!(out.category, Some(Category::Scan));
        assert_eq!(out.incidents.len(), 2, "198.51.100.7 and 203.0.113.9, not the reporter's own 192.0.2.10");
        let sources: Vec<String> = futures(&srv, &out.incidents).await;
        assert_eq!(sources, vec!["198.51.100.7", "203.0.113.9"]);
        let report = incidents::report(&srv.store, out.report).await.unwrap();
        assert_eq!(report.scanned_ports, serde_json::json!([22]));
        assert_eq!(report.rsit.as_deref(), Some("intrusion-attempts/brute-force"));
        assert_eq!(report.tlp, "TLP:AMBER", "TLP:AMBER unless the reporter chose");
        assert!(report.proposed_reasons.to_string().contains("\"reason\":\"ssh_failures\""), "{}", report.proposed_reasons);
    }

    async fn the_raw_report_is_kept_byte_for_byte_even_when_it_cannot_be_read(srv) {
        let garbage = b"<IODEF-Document version=\"1.00\"><Incident>broken".to_vec();
        let out = ingest(&srv, InputFormat::Iodef, &garbage).await;
        assert_eq!(out.status, Status::NeedsReview);
        assert!(out.problem.as_deref().unwrap().contains("IODEF"), "{:?}", out.problem);
        assert!(out.incidents.is_empty());
        assert_eq!(incidents::raw(&srv.store, out.report).await.unwrap(), garbage);
        let r = incidents::report(&srv.store, out.report).await.unwrap();
        assert_eq!(r.raw_sha256.len(), 64);
        assert_eq!(r.raw_size, garbage.len() as i64);
        assert!(srv.audit_actions().await.contains(&"report.needs_review".to_string()));
    }

    async fn incidents_about_the_same_address_from_different_reports_are_linked(srv) {
        let a = ingest(&srv, InputFormat::Xarf, include_bytes!("../../formats/tests/data/xarf/connection-login-attack.json")).await;
        let b = ingest(&srv, InputFormat::Xarf, include_bytes!("../../formats/tests/data/xarf/connection-login-attack.json")).await;
        assert_eq!((a.incidents.len(), b.incidents.len()), (1, 1));
        let second = incidents::get(&srv.store, b.incidents[0]).await.unwrap();
        assert_eq!(second.linked, vec![a.incidents[0]]);
        assert_eq!(incidents::get(&srv.store, a.incidents[0]).await.unwrap().linked, vec![b.incidents[0]]);
    }

    async fn a_mail_naming_a_ticket_joins_its_thread(srv) {
        let first = ingest(&srv, InputFormat::Mail, b"From: a@example.jp\r\nSubject: scan\r\n\r\nscan from 198.51.100.1 port 23\r\n").await;
        let reply = format!("From: a@example.jp\r\nSubject: Re: [RENKEI#{}] scan\r\n\r\nIt happened again.\r\n", first.report);
        let out = ingest(&srv, InputFormat::Mail, reply.as_bytes()).await;
        assert_eq!(out.status, Status::Threaded);
        assert_eq!(out.thread_of, Some(first.report));
        assert!(out.incidents.is_empty());
        let thread = incidents::thread(&srv.store, first.report).await.unwrap();
        assert_eq!(thread.len(), 1);
        assert!(thread[0].body.contains("It happened again"));
        assert_eq!(thread[0].direction.as_str(), "in");
    }

    async fn coordinators_move_incidents_through_their_states_audited(srv) {
        let coordinator = srv.user(renkei_core::access::Role::Coordinator).await;
        let actor = Actor::user(coordinator.id, &coordinator.email);
        let out = ingest(&srv, InputFormat::Iodef, include_bytes!("../../formats/tests/data/iodef/rfc7970-scan.xml")).await;
        assert_eq!(out.incidents.len(), 2);
        let id = out.incidents[0];
        incidents::assign(&srv.store, &actor, id, Some(coordinator.id)).await.unwrap();
        for s in [State::Triaged, State::Coordinating, State::WaitingForReply, State::Resolved, State::Closed] {
            assert_eq!(incidents::set_state(&srv.store, &actor, id, s).await.unwrap().state, s);
        }
        assert!(incidents::set_state(&srv.store, &actor, id, State::New).await.is_err());
        incidents::set_category(&srv.store, &actor, out.report, Category::Other).await.unwrap();
        assert_eq!(incidents::get(&srv.store, id).await.unwrap().category.as_deref(), Some("other"));
        incidents::merge(&srv.store, &actor, id, &[out.incidents[1]]).await.unwrap();
        assert_eq!(incidents::get(&srv.store, out.incidents[1]).await.unwrap().state, State::Duplicate);
        let history = renkei_core::audit::for_object(&srv.store, "incident", &id.to_string()).await.unwrap();
        assert_eq!(history.iter().filter(|e| e.action == "incident.state_changed").count(), 5);
        assert_eq!(history[0].changes["owner"][1], coordinator.id.to_string());
        let open = incidents::list(&srv.store, &Filter { open_only: true, limit: 50, ..Filter::default() }).await.unwrap();
        assert!(open.is_empty(), "closed and duplicate are not open");
        let search = renkei_incident::search::parse("\"SSH and Telnet\"").unwrap();
        let found = incidents::list(&srv.store, &Filter { search: Some(search), limit: 50, ..Filter::default() }).await.unwrap();
        assert_eq!(found.len(), 2, "full-text search over the report");
        let search = renkei_incident::search::parse("telnet ip:198.51.100.0/24").unwrap();
        let by_net = incidents::list(&srv.store, &Filter { search: Some(search), limit: 50, ..Filter::default() }).await.unwrap();
        assert!(by_net.iter().all(|i| i.source_ip.as_deref().is_some_and(|ip| ip.starts_with("198.51.100."))), "{by_net:?}");
    }

    async fn statistics_count_reports_incidents_categories_domains_and_ports(srv) {
        ingest(&srv, InputFormat::Xarf, include_bytes!("../../formats/tests/data/xarf/connection-port-scan.json")).await;
        ingest(&srv, InputFormat::Xarf, include_bytes!("../../formats/tests/data/xarf/content-phishing.json")).await;
        reports::submit_form(&srv.store, &Settings::default(), &Actor::system("test"), Channel::Web, &form("brute force", SSH_LOG), None).await.unwrap();
        ingest(&srv, InputFormat::Mail, "From: q@example.com\r\nSubject: 質問\r\n\r\n脆弱性の届出方法を教えてください。\r\n".as_bytes()).await;
        ingest(&srv, InputFormat::Xarf, b"{not json").await;
        let s = stats::statistics(&srv.store, "2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z").await.unwrap();
        assert_eq!(s.reports, 3);
        assert_eq!(s.incidents, 1 + 1 + 2);
        assert_eq!(s.inquiries, 1);
        assert_eq!(s.needs_review, 1);
        assert_eq!(s.comprehensive_scans, 1, "the X-ARF sample scans 11 ports");
        assert_eq!(s.scanned_ports, vec![stats::PortCount { port: 22, count: 1 }]);
        let tld = |k: &str| s.reporter_tlds.iter().find(|c| c.key == k).map(|c| c.count);
        assert_eq!(tld("jp"), Some(1));
        assert_eq!(tld("example"), Some(2), "the X-ARF samples' reporters");
        let cat = |k: &str| s.by_category.iter().find(|c| c.key == k).map(|c| c.count);
        assert_eq!((cat("scan"), cat("phishing")), (Some(2), Some(1)));
        assert_eq!(s.by_month.iter().map(|m| m.count).sum::<i64>(), 3);
        let empty = stats::statistics(&srv.store, "2000-01-01T00:00:00Z", "2000-02-01T00:00:00Z").await.unwrap();
        assert_eq!((empty.reports, empty.incidents), (0, 0));
    }
}

async fn futures(srv: &TestServer, ids: &[i64]) -> Vec<String> {
    let mut out = Vec::new();
    for id in ids {
        out.push(
            incidents::get(&srv.store, *id)
                .await
                .unwrap()
                .source_ip
                .unwrap_or_default(),
        );
    }
    out.sort();
    out
}
