//! Internet observation end to end, on SQLite and PostgreSQL: a coordinator
//! registers sensors, the sensors' own code (spool, signature, gzip) sends batches
//! to the real server, and the public views, charts and trend notes read them back.

use crate::common;

use std::path::Path;

use common::Api;
use renkei_core::access::Role;
use renkei_observe::aggregate::{Aggregator, Bucket, Summary, read_capture};
use renkei_observe::sensor::{Collector, Input, SensorConfig, Spool, spool_files};
use renkei_observe::synth::Synth;
use renkei_observe::{Class, Probe, Proto};
use renkei_testkit::{TestServer, both_backends};
use serde_json::{Value, json};

/// 2007-10-01T00:00:00Z
const OCT1: i64 = 1_191_196_800;
const DAY: i64 = 86_400;

pub(crate) struct Sensor {
    name: String,
    token: String,
    spool: Spool,
    _dir: tempfile::TempDir,
}

pub(crate) async fn register(api: &Api<'_>, coordinator: &str, name: &str) -> Sensor {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    let body = json!({"name": name, "location": "Tokyo", "address_range": "203.0.113.0/24", "public_key": spool.key().unwrap().public()});
    let (status, v) = api.post(Some(coordinator), "/api/v1/sensors", body).await;
    assert_eq!(status, 201, "{v}");
    Sensor {
        name: name.into(),
        token: v["token"].as_str().unwrap().into(),
        spool,
        _dir: dir,
    }
}

pub(crate) fn probe(src: u32, proto: Proto, port: u16, class: Class) -> Option<Probe> {
    Some(Probe {
        src: u128::from(std::net::Ipv4Addr::from(src).to_ipv6_mapped()),
        proto,
        port,
        class,
    })
}

/// Sends buckets through the sensor's spool; every batch must be accepted.
pub(crate) async fn send(srv: &TestServer, s: &Sensor, buckets: &[Bucket]) {
    s.spool.store(&s.name, buckets).unwrap();
    let sent = Collector::new(&srv.url(""), &s.token)
        .send(&s.spool)
        .await
        .unwrap();
    assert_eq!((sent.pending, sent.rejected), (0, 0), "{sent:?}");
    srv.roll_up().await;
}

fn synth_capture(dir: &Path, packets: u64, sources: u64, start: i64) -> std::path::PathBuf {
    let path = dir.join("scan.pcap");
    let mut f = std::fs::File::create(&path).unwrap();
    Synth {
        packets,
        sources,
        start,
        seconds: 2 * 3600,
        seed: 11,
    }
    .write(&mut f)
    .unwrap();
    path
}

both_backends! {
    async fn a_sensor_sends_signed_batches_that_are_counted_once(srv) {
        let api = Api { srv: &srv, http: srv.client() };
        let coordinator = srv.token(&srv.user(Role::Coordinator).await).await;
        let s = register(&api, &coordinator, "tokyo-1").await;
        let dir = tempfile::tempdir().unwrap();
        let pcap = synth_capture(dir.path(), 20_000, 3_000, OCT1 + 3600);

        // What the offline aggregation says of the same capture.
        let mut agg = Aggregator::new(3600);
        read_capture(&mut agg, std::fs::File::open(&pcap).unwrap(), &mut Default::default()).unwrap();
        let summary = Summary::of(&agg.finish(), 3600);
        let p445 = summary.by_port.iter().find(|p| p.proto == "tcp" && p.port == 445).unwrap();

        let config = SensorConfig { name: s.name.clone(), bucket_seconds: 3600, spool: dir.path().into(), input: Input::Pcap(vec![pcap]) };
        let (seqs, packets) = spool_files(&config, &s.spool).unwrap();
        assert_eq!(packets, 20_000);
        // Keep a copy of the first batch, to send it again after it was accepted.
        let (_, first) = s.spool.pending().unwrap().into_iter().next().unwrap();
        let replay = std::fs::read(&first).unwrap();
        let sent = Collector::new(&srv.url(""), &s.token).send(&s.spool).await.unwrap();
        assert_eq!((sent.accepted, sent.pending, sent.duplicates), (seqs.len(), 0, 0), "{sent:?}");
        assert!(s.spool.pending().unwrap().is_empty());
        // Two roll-ups at once (besides the server's own): each batch counts once,
        // which the totals below check.
        let (a, b) = tokio::join!(srv.roll_up(), srv.roll_up());
        assert!(a.batches + b.batches <= seqs.len(), "{a:?} {b:?}");

        let (status, top) = api.get(None, "/api/v1/observation/top?period=2007-10-01..2007-10-01&ranks=1-10").await;
        assert_eq!(status, 200, "{top}");
        assert_eq!(top["ports"][0]["proto"], "tcp");
        assert_eq!(top["ports"][0]["port"], 445);
        assert_eq!(top["ports"][0]["packets"], p445.scan);
        assert_eq!(top["ports"][0]["per_sensor"].as_f64(), Some(p445.scan as f64), "one sensor: the average is the count");
        let series = &top["chart"]["series"][0];
        assert_eq!(series["sources"][0], p445.sources, "distinct sources merged across the day's buckets");

        // The same batch again (a lost answer, or a replay): refused, counted once.
        std::fs::write(&first, &replay).unwrap();
        let again = Collector::new(&srv.url(""), &s.token).send(&s.spool).await.unwrap();
        assert_eq!((again.accepted, again.duplicates), (0, 1));
        assert_eq!(srv.roll_up().await.batches, 0, "a replay is never rolled up");
        let (_, after) = api.get(None, "/api/v1/observation/top?period=2007-10-01..2007-10-01&ranks=1-10").await;
        assert_eq!(after["ports"][0]["packets"], p445.scan);

        // A batch signed with another key is refused; so is one without a signature.
        let stranger = renkei_observe::batch::SensorKey::generate();
        let forged = String::from_utf8(replay.clone()).unwrap().replace("\"seq\":1", "\"seq\":999");
        let r = api.http.post(srv.url("/api/v1/sensors/batches")).bearer_auth(&s.token)
            .header("renkei-signature", stranger.sign(forged.as_bytes())).body(forged.clone()).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 403);
        assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "bad_signature");
        let r = api.http.post(srv.url("/api/v1/sensors/batches")).bearer_auth(&s.token).body(forged).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 403);

        // Only sensor tokens send batches; a coordinator is no sensor.
        let r = api.http.post(srv.url("/api/v1/sensors/batches")).bearer_auth(&coordinator).body(replay.clone()).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 403);
        // A stranger is refused before the body is read (a small body, so the
        // client is not still sending when the server answers and closes).
        let r = api.http.post(srv.url("/api/v1/sensors/batches")).body(b"{}".to_vec()).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401);
        drop(replay);

        // The health page and API show the sensor's last batch.
        let (_, health) = api.get(Some(&coordinator), "/api/v1/sensors").await;
        assert_eq!(health[0]["sensor"]["name"], "tokyo-1");
        assert_eq!(health[0]["sensor"]["last_seq"], seqs.len() as i64);
        assert_eq!(health[0]["batches"], seqs.len() as i64);
        let (status, _) = api.get(None, "/api/v1/sensors").await;
        assert_eq!(status, 401, "sensor health is for staff");
    }

    async fn batches_wait_on_disk_while_the_collector_is_away(srv) {
        let api = Api { srv: &srv, http: srv.client() };
        let coordinator = srv.token(&srv.user(Role::Coordinator).await).await;
        let s = register(&api, &coordinator, "osaka-1").await;
        let dir = tempfile::tempdir().unwrap();
        let pcap = synth_capture(dir.path(), 5_000, 800, OCT1);
        let config = SensorConfig { name: s.name.clone(), bucket_seconds: 3600, spool: dir.path().into(), input: Input::Pcap(vec![pcap]) };
        let (seqs, _) = spool_files(&config, &s.spool).unwrap();

        // Nothing listens on this port: everything stays spooled.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let away = Collector::new(&dead, &s.token).send(&s.spool).await.unwrap();
        assert_eq!((away.accepted, away.pending), (0, seqs.len()));
        assert!(away.error.is_some());
        assert_eq!(s.spool.pending().unwrap().len(), seqs.len());

        // Back: the backlog goes in order, and counts once.
        let back = Collector::new(&srv.url(""), &s.token).send(&s.spool).await.unwrap();
        assert_eq!((back.accepted, back.pending), (seqs.len(), 0));
        srv.roll_up().await;
        let (_, top) = api.get(None, "/api/v1/observation/top?period=2007-10-01..2007-10-01&ranks=1-10").await;
        let counted: i64 = top["ports"].as_array().unwrap().iter().map(|p| p["packets"].as_i64().unwrap()).sum();
        let mut agg = Aggregator::new(3600);
        read_capture(&mut agg, std::fs::File::open(dir.path().join("scan.pcap")).unwrap(), &mut Default::default()).unwrap();
        let summary = Summary::of(&agg.finish(), 3600);
        let mut expected: Vec<u64> = summary.by_port.iter().filter(|p| p.proto == "tcp" || p.proto == "udp").map(|p| p.scan).collect();
        expected.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(counted, expected.iter().take(10).sum::<u64>() as i64);
    }

    async fn the_per_sensor_average_leaves_out_sensors_that_did_not_report(srv) {
        let api = Api { srv: &srv, http: srv.client() };
        let coordinator = srv.token(&srv.user(Role::Coordinator).await).await;
        let a = register(&api, &coordinator, "a").await;
        let b = register(&api, &coordinator, "b").await;
        let page = api.http.get(srv.url("/observation")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("id=\"observe-empty\""), "no data yet: said so");
        // Day 1: both report, A saw 30 SYNs to 445, B saw 10. Day 2: only A, 40.
        let mut agg_a = Aggregator::new(3600);
        let mut agg_b = Aggregator::new(3600);
        for i in 0..30 { agg_a.packet(OCT1 + i, probe(1000 + i as u32, Proto::Tcp, 445, Class::Scan)); }
        for i in 0..10 { agg_b.packet(OCT1 + i, probe(2000 + i as u32, Proto::Tcp, 445, Class::Scan)); }
        for i in 0..40 { agg_a.packet(OCT1 + DAY + i, probe(3000 + i as u32, Proto::Tcp, 445, Class::Scan)); }
        send(&srv, &a, &agg_a.finish()).await;
        send(&srv, &b, &agg_b.finish()).await;
        let (_, port) = api.get(None, "/api/v1/observation/ports/tcp/445?period=2007-10-01..2007-10-02").await;
        let c = &port["chart"];
        assert_eq!(c["reporting"], json!([2, 1]));
        assert_eq!(c["series"][0]["per_sensor"], json!([20.0, 40.0]), "day 2 is not halved by the silent sensor");
        assert_eq!(c["series"][0]["sources"], json!([40, 40]));
        assert_eq!(c["series"][0]["sensors"], json!([2, 1]));
        // The port page's per-sensor table follows the chosen period: its last day
        // with traffic, not today.
        let staff = srv.signed_in(&srv.user(Role::Coordinator).await).await;
        let page = staff.client.get(srv.url("/observation/ports/tcp/445?period=2007-10-01..2007-10-31")).send().await.unwrap().text().await.unwrap();
        let table = page.split("id=\"by-sensor\"").nth(1).unwrap().split("</table>").next().unwrap();
        assert!(page.contains("(2007-10-02)") && table.contains("<td>a</td>") && table.contains("<td>40</td>"), "{table}");
        // The page, with no period chosen, opens on the quarter the data is in.
        let page = api.http.get(srv.url("/observation")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("2007-10-01 – 2007-12-31") && !page.contains("id=\"observe-empty\""), "the 2007 Q4 page");
        // CSV: a header and one line per day.
        let csv = api.http.get(srv.url("/api/v1/observation/ports/tcp/445?period=2007-10-01..2007-10-02&format=csv")).send().await.unwrap().text().await.unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3, "{csv}");
        assert!(lines[1].starts_with("2007-10-01,2,20.00,40,40,2"), "{csv}");
    }

    async fn trend_notes_show_a_first_seen_port_a_surge_and_its_calm_with_evidence(srv) {
        let api = Api { srv: &srv, http: srv.client() };
        let coordinator = srv.token(&srv.user(Role::Coordinator).await).await;
        let sensors = [register(&api, &coordinator, "s1").await, register(&api, &coordinator, "s2").await];
        // 35 quiet days of 445 (about 20 sources a day per sensor), then day 35 a
        // surge to 400 sources and 2967 seen for the first time, then 445 calms.
        let start = OCT1;
        for (k, s) in sensors.iter().enumerate() {
            let mut agg = Aggregator::new(3600);
            for day in 0..41i64 {
                let t = start + day * DAY + 600;
                let n = if day == 35 { 400 } else { 18 + (day % 5) as u32 };
                for i in 0..n {
                    agg.packet(t + i as i64, probe(((k as u32) << 24) | ((day as u32) << 12) | i, Proto::Tcp, 445, Class::Scan));
                }
                if day == 35 {
                    for i in 0..25 { agg.packet(t + i, probe(0x0A00_0000 | ((k as u32) << 8) | i as u32, Proto::Tcp, 2967, Class::Scan)); }
                }
            }
            send(&srv, s, &agg.finish()).await;
        }
        let settings = renkei_observe::Settings::from_config(&renkei_core::config::Config::default());
        let days = renkei_observe::trends::run_due(&srv.store, &settings, "2007-11-10").await.unwrap();
        assert!(days >= 41, "{days}");
        let (status, t) = api.get(None, "/api/v1/observation/trends?period=2007-10-01..2007-11-10").await;
        assert_eq!(status, 200);
        let notes = t["trends"].as_array().unwrap();
        let find = |kind: &str, port: u16| notes.iter().find(|n| n["kind"] == kind && n["port"] == port).cloned();
        let surge = find("surge", 445).expect("a surge on 445");
        assert_eq!(surge["day"], "2007-11-05");
        assert_eq!(surge["evidence"]["sources"], 800);
        assert_eq!(surge["evidence"]["sensors"], 2);
        assert!(surge["evidence"]["baseline_mean"].as_f64().unwrap() > 30.0);
        assert!(surge["score"].as_f64().unwrap() >= 4.0);
        let first = find("first_seen", 2967).expect("2967 first seen");
        assert_eq!(first["day"], "2007-11-05");
        assert_eq!(first["evidence"]["sources"], 50);
        let calm = find("calmed", 445).expect("445 calmed");
        assert_eq!(calm["day"], "2007-11-08", "three days back at baseline");
        assert_eq!(calm["evidence"]["surge_day"], "2007-11-05");
        assert_eq!(notes.iter().filter(|n| n["kind"] == "surge").count(), 1, "{notes:?}");
        // The overview page shows them with their evidence.
        let html = api.http.get(srv.url("/observation?period=2007Q4")).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("trend-surge") && html.contains("800 sources"), "{html}");
        assert!(html.contains("/observation/charts/top.svg?period=2007-10-01..2007-12-31&amp;ranks=6-10"));
    }

    async fn annotations_show_on_the_port_chart_and_only_staff_add_them(srv) {
        let api = Api { srv: &srv, http: srv.client() };
        let coordinator = srv.token(&srv.user(Role::Coordinator).await).await;
        let constituent = srv.token(&srv.user(Role::Constituent).await).await;
        let s = register(&api, &coordinator, "s1").await;
        let mut agg = Aggregator::new(3600);
        for day in 0..5i64 {
            for i in 0..(10 + 5 * day) { agg.packet(OCT1 + day * DAY + i, probe(i as u32 + 1, Proto::Tcp, 5168, Class::Scan)); }
            agg.packet(OCT1 + day * DAY, probe(9, Proto::Icmp, 8, Class::Scan));
            agg.packet(OCT1 + day * DAY, probe(9, Proto::Tcp, 80, Class::Backscatter));
        }
        send(&srv, &s, &agg.finish()).await;
        let note = json!({"proto": "tcp", "port": 5168, "day": "2007-10-03", "text_en": "Trend Micro advisory", "text_ja": "注意喚起", "note_id": "JVNVU#12345678", "cve": "CVE-2007-3873"});
        let (status, _) = api.post(Some(&constituent), "/api/v1/observation/annotations", note.clone()).await;
        assert_eq!(status, 403);
        let (status, v) = api.post(Some(&coordinator), "/api/v1/observation/annotations", json!({"proto": "tcp", "port": 5168, "day": "2007-10-03", "text_en": "x", "cve": "CVE-bad"})).await;
        assert_eq!((status, v["error"]["code"].as_str()), (422, Some("invalid_input")));
        let (status, v) = api.post(Some(&coordinator), "/api/v1/observation/annotations", note).await;
        assert_eq!(status, 201, "{v}");

        let svg = api.http.get(srv.url("/observation/charts/ports/tcp/5168.svg?period=2007-10-01..2007-10-05")).send().await.unwrap();
        assert_eq!(svg.headers()["content-type"], "image/svg+xml; charset=utf-8");
        let svg = svg.text().await.unwrap();
        // The note named is no published note of this team's: the public sees the
        // CVE (public elsewhere) but not the note ID.
        assert!(svg.contains("<svg") && svg.contains("TCP 5168") && svg.contains("CVE-2007-3873"), "{svg}");
        assert!(!svg.contains("JVNVU#12345678"), "{svg}");
        let top = api.http.get(srv.url("/observation/charts/top.svg?period=2007-10-01..2007-10-05")).send().await.unwrap().text().await.unwrap();
        assert!(top.contains("TCP 5168") && !top.contains("TCP 80"), "backscatter is not ranked with scans");
        let back = api.http.get(srv.url("/observation/charts/top.svg?period=2007-10-01..2007-10-05&class=backscatter")).send().await.unwrap().text().await.unwrap();
        assert!(back.contains("TCP 80"));
        let (_, icmp) = api.get(None, "/api/v1/observation/icmp?period=2007-10-01..2007-10-05").await;
        assert_eq!(icmp["chart"]["series"][0]["label"], "ICMP type 8");
        let page = api.http.get(srv.url("/observation/ports/tcp/5168?period=2007-10-01..2007-10-05")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("Trend Micro advisory") && page.contains("CVE-2007-3873"));
        assert!(!page.contains("JVNVU#12345678"));
        assert!(!page.contains("id=\"annotate\""), "the public sees no annotation form");
        let (status, v) = api.get(None, "/api/v1/observation/top?period=2007Q5").await;
        assert_eq!((status, v["error"]["code"].as_str()), (422, Some("invalid_input")));
        let (status, _) = api.get(None, "/api/v1/observation/ports/tcp/notaport").await;
        assert_eq!(status, 404);
        assert!(srv.audit_actions().await.contains(&"port.annotate".to_string()));
    }

    async fn the_observation_pages_draw_their_charts_in_a_browser_on_each_backend(srv) {
        the_observation_pages_draw_their_charts_in_a_browser(&srv).await;
    }
}

/// In a real browser: the public overview draws its charts (the SVGs load and have
/// a size), the ranking links to a port's page whose chart loads too, and a
/// coordinator registers a sensor on the sensors page and sees its token once.
async fn the_observation_pages_draw_their_charts_in_a_browser(srv: &TestServer) {
    let Some(browser) = renkei_testkit::browser::Browser::launch().await else {
        return;
    };
    let api = Api {
        srv,
        http: srv.client(),
    };
    let coordinator = srv.user(Role::Coordinator).await;
    let token = srv.token(&coordinator).await;
    let s = register(&api, &token, "web-1").await;
    let mut agg = Aggregator::new(3600);
    for day in 0..10i64 {
        for i in 0..(20 + day) {
            agg.packet(
                OCT1 + day * DAY + i,
                probe(i as u32 + 1, Proto::Tcp, 2967, Class::Scan),
            );
            agg.packet(
                OCT1 + day * DAY + i,
                probe(i as u32 + 7, Proto::Tcp, 5900, Class::Scan),
            );
        }
        agg.packet(OCT1 + day * DAY, probe(3, Proto::Icmp, 8, Class::Scan));
    }
    send(srv, &s, &agg.finish()).await;

    let drawn = |id: &str| {
        format!(
            "const i = document.getElementById('{id}'); return i.complete && i.naturalWidth > 0;"
        )
    };
    browser
        .goto(&srv.url("/observation?period=2007-10-01..2007-10-10"))
        .await;
    for id in [
        "chart-top15",
        "chart-top610",
        "chart-icmp",
        "chart-backscatter",
    ] {
        let mut ok = false;
        for _ in 0..50 {
            if browser.script(&drawn(id)).await == Value::Bool(true) {
                ok = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(ok, "{id} was not drawn");
    }
    assert!(browser.text("#top-ports").await.contains("TCP 2967"));
    browser
        .click("#top-ports a[href^='/observation/ports/tcp/2967']")
        .await;
    browser.wait_url("/observation/ports/tcp/2967").await;
    let mut ok = false;
    for _ in 0..50 {
        if browser.script(&drawn("chart-port")).await == Value::Bool(true) {
            ok = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ok, "the port chart was not drawn");
    assert_eq!(browser.text("#total-packets").await, "245");

    // A coordinator registers a sensor through the page.
    browser.goto(&srv.url("/login")).await;
    browser.type_into("#email", &coordinator.email).await;
    browser
        .type_into("#password", renkei_testkit::PASSWORD)
        .await;
    browser.click("#login-submit").await;
    browser.wait_url("/dashboard").await;
    browser.goto(&srv.url("/observation/sensors")).await;
    let key = renkei_observe::batch::SensorKey::generate().public();
    browser
        .type_into("#register-sensor input[name=name]", "osaka-2")
        .await;
    browser
        .type_into("#register-sensor input[name=location]", "Osaka")
        .await;
    browser
        .type_into(
            "#register-sensor input[name=address_range]",
            "198.51.100.0/24",
        )
        .await;
    browser
        .type_into("#register-sensor input[name=public_key]", &key)
        .await;
    browser.click("#register-sensor button").await;
    browser.wait_text("#issued-token", "osaka-2").await;
    let secret = browser.text("#issued-token code").await;
    let (role, scopes): (String, String) = sqlx::query_as(
        "SELECT u.role, t.scopes FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 AND t.revoked_at IS NULL",
    )
    .bind(renkei_core::secrets::digest(secret.trim()))
    .fetch_one(srv.store.pool())
    .await
    .unwrap();
    assert_eq!(
        (role.as_str(), scopes.as_str()),
        ("sensor", "sensor"),
        "the token shown is a live sensor token"
    );
    let (status, me) = api.get(Some(secret.trim()), "/api/v1/me").await;
    assert_eq!(
        (status, me["error"]["code"].as_str()),
        (403, Some("insufficient_scope")),
        "and it sends batches, nothing else"
    );
    assert!(browser.text("#sensors").await.contains("web-1"));
    browser.quit().await;
}
