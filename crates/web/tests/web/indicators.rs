//! One page per indicator, on SQLite and PostgreSQL: an address's page gathers its
//! incidents, the reports that name it (however they write it), its feed events by
//! day, the notifications that told someone of it, what the sensors saw it send and
//! the cases that name it; its AS's page and its domain's too; only staff see them;
//! and what was kept before the pages existed is indexed by the background job.

use crate::common::Api;
use crate::observation::{probe, register, send};

use renkei_core::access::Role;
use renkei_core::audit::Actor;
use renkei_enrich::{Format, Kind, sources};
use renkei_observe::aggregate::Aggregator;
use renkei_observe::{Class, Proto};
use renkei_testkit::{Backend, TestServer, postgres_configured};
use serde_json::{Value, json};

/// 2007-10-01T00:00:00Z
const OCT1: i64 = 1_191_196_800;

/// 192.0.2.0/24 is AS64500, whose abuse desk is abuse@isp-a.example.
async fn tables(srv: &TestServer) {
    let actor = Actor::system("test");
    sources::load(
        &srv.store,
        &actor,
        Kind::Asn,
        Format::IpLocationDb,
        &[(
            "asn.csv".into(),
            b"192.0.2.0,192.0.2.255,64500,Example Networks\n".to_vec(),
        )],
    )
    .await
    .unwrap();
    sources::load(
        &srv.store,
        &actor,
        Kind::Contacts,
        Format::Csv,
        &[(
            "contacts.csv".into(),
            b"network,email\n192.0.2.0/24,abuse@isp-a.example\n".to_vec(),
        )],
    )
    .await
    .unwrap();
    srv.enricher.refresh(&srv.store).await.unwrap();
}

async fn feed(srv: &TestServer, token: &str, csv: &str) -> Value {
    let r = reqwest::Client::new()
        .post(srv.url("/api/v1/feeds/shadowserver-scan/imports?tlp=TLP:AMBER"))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(csv.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{v}");
    v
}

async fn sightings(srv: &TestServer) -> (i64, i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT CAST(COALESCE(SUM(events), 0) AS BIGINT) FROM feed_sightings), (SELECT CAST(COALESCE(SUM(events), 0) AS BIGINT) FROM feed_asn_days), (SELECT COUNT(*) FROM sensor_sources)",
    )
    .fetch_one(srv.store.pool())
    .await
    .unwrap()
}

async fn an_address_page_gathers_what_every_pillar_knows_about_it(backend: Backend) {
    {
        let srv = TestServer::start_with(backend, |c| {
            c.mail.from = "Renkei CSIRT <csirt@csirt.example>".into();
        })
        .await;
        tables(&srv).await;
        let api = Api {
            srv: &srv,
            http: srv.client(),
        };
        let coordinator = srv.token(&srv.user(Role::Coordinator).await).await;
        let constituent = srv.token(&srv.user(Role::Constituent).await).await;

        // A report that opens an incident about 192.0.2.7, and one that only
        // names it (written with leading zeros nowhere else would match).
        let (status, opened) = api.post(Some(&constituent), "/api/v1/reports", json!({
            "site_org": "Example Univ", "reporter_name": "CSIRT", "reporter_email": "csirt@example.ac.jp",
            "description": "SSH への総当たり攻撃を受けています。",
            "logs": "Jan 15 07:22:18 web sshd[11]: Failed password for root from 192.0.2.7 port 40001 ssh2"})).await;
        assert_eq!(status, 201, "{opened}");
        let incident = opened["incidents"][0].as_i64().expect("an incident");
        let (status, named) = api.post(Some(&constituent), "/api/v1/reports", json!({
            "site_org": "Example Shop", "reporter_name": "Shop", "reporter_email": "soc@shop.example",
            "description": "The phishing kit on our server posts stolen passwords to 192.0.2.7 (and to 192.0.2.70)."})).await;
        assert_eq!(status, 201, "{named}");
        let named = named["report"].as_i64().unwrap();

        // A feed that saw it on two days, and its neighbour once.
        let imported = feed(
            &srv,
            &coordinator,
            "\"timestamp\",\"ip\",\"protocol\",\"port\",\"hostname\",\"tag\"\n\
            \"2026-11-20 01:00:00\",\"192.0.2.7\",\"tcp\",\"22\",\"\",\"ssh\"\n\
            \"2026-11-21 01:00:00\",\"192.0.2.7\",\"tcp\",\"22\",\"\",\"ssh\"\n\
            \"2026-11-21 02:00:00\",\"192.0.2.8\",\"tcp\",\"22\",\"\",\"ssh\"\n",
        )
        .await;
        assert_eq!(imported["events"], 3, "{imported}");

        // The site is told of the incident.
        let (status, sent) = api
            .post(
                Some(&coordinator),
                "/api/v1/notifications",
                json!({"incidents": [incident]}),
            )
            .await;
        assert_eq!(status, 201, "{sent}");

        // A sensor saw it probe 445 (the heaviest source that day), and others once.
        let sensor = register(&api, &coordinator, "tokyo-1").await;
        let mut agg = Aggregator::new(3600);
        let seven = u32::from(std::net::Ipv4Addr::new(192, 0, 2, 7));
        for i in 0..25 {
            agg.packet(OCT1 + i, probe(seven, Proto::Tcp, 445, Class::Scan));
        }
        for i in 0..5 {
            agg.packet(
                OCT1 + 100 + i,
                probe(1000 + i as u32, Proto::Tcp, 445, Class::Scan),
            );
        }
        send(&srv, &sensor, &agg.finish()).await;

        // Cases that name it, and one that names only its neighbour.
        for (title, text) in [
            (
                "Router admin panel exposed",
                "The panel answered at 192.0.2.7:8443.",
            ),
            ("Camera default password", "Seen on 192.0.2.70 only."),
        ] {
            let (status, v) = api
                .post(
                    None,
                    "/api/v1/cases",
                    json!({"title": title, "description": text,
                "reporter_name": "Hanako", "reporter_email": "hanako@research.example"}),
                )
                .await;
            assert_eq!(status, 201, "{v}");
        }

        let (status, v) = api
            .get(Some(&coordinator), "/api/v1/indicators/ip/192.0.2.7")
            .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(
            (
                v["kind"].as_str(),
                v["value"].as_str(),
                v["search"].as_str()
            ),
            (Some("ip"), Some("192.0.2.7"), Some("ip:192.0.2.7"))
        );
        assert_eq!(v["incidents"]["count"], 1, "{v}");
        assert_eq!(v["latest_incidents"][0]["id"], incident);
        let reports: Vec<i64> = v["latest_reports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect();
        assert!(
            reports.contains(&named) && reports.contains(&opened["report"].as_i64().unwrap()),
            "{reports:?}"
        );
        assert_eq!(v["feed_events"]["count"], 2, "{v}");
        assert_eq!(
            (
                v["feed_events"]["first"].as_str(),
                v["feed_events"]["last"].as_str()
            ),
            (Some("2026-11-20"), Some("2026-11-21"))
        );
        assert_eq!(v["feed_days"].as_array().unwrap().len(), 2);
        assert_eq!(v["feed_days"][0]["day"], "2026-11-21", "newest first");
        // The incident's notification and the feed's two daily ones to ISP A.
        assert_eq!(v["notifications"]["count"], 3, "{v}");
        assert!(
            v["latest_notifications"]
                .as_array()
                .unwrap()
                .iter()
                .all(|n| n["recipient"] == "abuse@isp-a.example"),
            "{v}"
        );
        assert_eq!(v["sensors"]["days"], 1, "{v}");
        assert_eq!(v["sensors"]["latest"][0]["port"], 445);
        assert_eq!(v["sensors"]["latest"][0]["packets"], 25);
        assert_eq!(v["sensors"]["latest"][0]["sensor"], "tokyo-1");
        let cases: Vec<&str> = v["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["title"].as_str().unwrap())
            .collect();
        assert_eq!(cases, ["Router admin panel exposed"]);

        // The neighbour has its own feed day and nothing else.
        let (_, n) = api
            .get(Some(&coordinator), "/api/v1/indicators/ip/192.0.2.8")
            .await;
        assert_eq!(
            (
                n["incidents"]["count"].as_i64(),
                n["feed_events"]["count"].as_i64(),
                n["sensors"]["days"].as_i64()
            ),
            (Some(0), Some(1), Some(0)),
            "{n}"
        );

        // Its AS: the incident and every feed event of the network.
        let (status, a) = api
            .get(Some(&coordinator), "/api/v1/indicators/asn/AS64500")
            .await;
        assert_eq!(status, 200, "{a}");
        assert_eq!(
            (
                a["value"].as_str(),
                a["incidents"]["count"].as_i64(),
                a["feed_events"]["count"].as_i64()
            ),
            (Some("64500"), Some(1), Some(3)),
            "{a}"
        );
        assert!(a["sensors"].is_null());

        // Only staff; a bad value is named.
        let (status, _) = api
            .get(Some(&constituent), "/api/v1/indicators/ip/192.0.2.7")
            .await;
        assert_eq!(status, 403);
        let (status, bad) = api
            .get(Some(&coordinator), "/api/v1/indicators/ip/192.0.2.999")
            .await;
        assert_eq!(status, 422);
        assert!(
            bad["error"]["message"]
                .as_str()
                .unwrap()
                .contains("192.0.2.999"),
            "{bad}"
        );
        let (status, _) = api
            .get(Some(&coordinator), "/api/v1/indicators/url/x")
            .await;
        assert_eq!(status, 422);

        // The page (in the reader's language, English here), and the incident page
        // leads to it.
        let staff = srv.signed_in(&srv.user(Role::Coordinator).await).await;
        let page = staff
            .client
            .get(srv.url("/indicators/ip/192.0.2.7"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for want in [
            "IP address",
            "Feed events",
            "TCP 445 (microsoft-ds)",
            "Router admin panel exposed",
            "Search in the queue",
            "2026-11-20 – 2026-11-21",
            "2007-10-01 – 2007-10-01",
        ] {
            assert!(
                page.contains(want),
                "{want} on the page: {}",
                page.split("<main")
                    .nth(1)
                    .unwrap_or(&page)
                    .chars()
                    .take(3000)
                    .collect::<String>()
            );
        }
        assert!(!page.contains("Camera default password"));
        let page = staff
            .client
            .get(srv.url(&format!("/incidents/{incident}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("href=\"/indicators/ip/192.0.2.7\"")
                && page.contains("href=\"/indicators/asn/64500\""),
            "linked from the incident"
        );

        // A file counted now is in its sets, not in the tables kept before them.
        let before = sightings(&srv).await;
        assert_eq!((before.0, before.1), (0, 0));
        assert!(before.2 >= 1);

        // What an earlier version kept before the pages existed (a batch per
        // recipient, day and chunk, its rows gzip'd) is read in by the background
        // job, as are the sensors' sources.
        let legacy = renkei_incident::notify::csv_of(&vec![
            renkei_incident::notify::Item {
                incident: 0,
                ip: "192.0.2.7".into(),
                category: "scan".into(),
                first_seen: "2026-11-19 01:00:00".into(),
                asn: Some(64500),
                as_name: None,
                country: Some("JP".into()),
                ports: vec![22],
                details: None,
            };
            2
        ]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &legacy).unwrap();
        sqlx::query(
            "INSERT INTO feed_batches (report_id, feed, day, recipient, events, data) VALUES ($1, 'shadowserver-scan', '2026-11-19', 'abuse@isp-a.example', 2, $2)",
        )
        .bind(imported["report"].as_i64().unwrap())
        .bind(gz.finish().unwrap())
        .execute(srv.store.pool())
        .await
        .unwrap();
        for sql in [
            "DELETE FROM sensor_sources",
            "UPDATE settings SET value = (SELECT CAST(MAX(id) AS TEXT) FROM feed_batches) WHERE key = 'indicators.backfill.feed_batches'",
            "UPDATE settings SET value = (SELECT MAX(day) FROM port_days) WHERE key = 'indicators.backfill.port_days'",
        ] {
            sqlx::query(sql).execute(srv.store.pool()).await.unwrap();
        }
        assert!(
            renkei_incident::indicators::backfill(&srv.store, 1)
                .await
                .unwrap()
                == 1
        );
        while renkei_incident::indicators::backfill(&srv.store, 1)
            .await
            .unwrap()
            > 0
        {}
        while renkei_observe::sources::backfill(&srv.store).await.unwrap() > 0 {}
        assert_eq!(
            sightings(&srv).await,
            (2, 2, before.2),
            "the earlier batch once, the sensors' sources as at import"
        );
        let (_, again) = api
            .get(Some(&coordinator), "/api/v1/indicators/ip/192.0.2.7")
            .await;
        assert_eq!(again["sensors"]["days"], v["sensors"]["days"]);
        assert_eq!(
            (
                again["feed_events"]["count"].as_i64(),
                again["feed_events"]["first"].as_str(),
                again["feed_events"]["last"].as_str()
            ),
            (Some(4), Some("2026-11-19"), Some("2026-11-21")),
            "the sets and the earlier batch together: {again}"
        );
        assert_eq!(again["feed_days"].as_array().unwrap().len(), 3);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_page_gathers_what_every_pillar_knows_about_it_on_sqlite() {
    an_address_page_gathers_what_every_pillar_knows_about_it(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_page_gathers_what_every_pillar_knows_about_it_on_postgres() {
    if postgres_configured() {
        an_address_page_gathers_what_every_pillar_knows_about_it(Backend::Postgres).await;
    }
}
