//! Statistics from summaries agree with statistics from the rows, for any period and
//! after any write, on SQLite and on PostgreSQL.

use renkei_core::audit::Actor;
use renkei_core::time;
use renkei_core::tlp::Tlp;
use renkei_incident::incidents::{self, State};
use renkei_incident::reports::{self, Channel, InputFormat, Settings};
use renkei_incident::{stats, summaries};
use renkei_testkit::{TestServer, both_backends};

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

/// Reports every 31 hours over about three months (two whole UTC months at least): scans from changing addresses,
/// a phishing report and an inquiry now and then, some incidents answered or closed.
async fn seventy_reports(srv: &TestServer) -> (String, String, Vec<i64>) {
    let template = String::from_utf8(
        include_bytes!("../../formats/tests/data/iodef/rfc5070-recon.xml").to_vec(),
    )
    .unwrap();
    let start = srv.store.now();
    let mut opened = Vec::new();
    for i in 0..70u32 {
        srv.store.clock().advance(31 * 3600);
        let out = match i % 7 {
            3 => {
                ingest(
                    srv,
                    InputFormat::Xarf,
                    include_bytes!("../../formats/tests/data/xarf/content-phishing.json"),
                )
                .await
            }
            5 => {
                ingest(
                    srv,
                    InputFormat::Mail,
                    format!("From: q{i}@example.org\r\nSubject: 質問\r\n\r\n届出の方法を教えてください。\r\n")
                        .as_bytes(),
                )
                .await
            }
            _ => {
                let ip = format!("203.0.113.{}", 1 + i % 40);
                ingest(
                    srv,
                    InputFormat::Iodef,
                    template.replace("192.0.2.200", &ip).as_bytes(),
                )
                .await
            }
        };
        opened.extend(out.incidents.iter().copied());
    }
    // Some answered an hour and a half in, some closed days later.
    for (n, id) in opened.iter().enumerate() {
        let created: String = sqlx::query_scalar("SELECT created_at FROM incidents WHERE id = $1")
            .bind(id)
            .fetch_one(srv.store.pool())
            .await
            .unwrap();
        if n % 3 == 0 {
            let at = time::parse(&created).unwrap() + chrono::Duration::minutes(90 + n as i64);
            srv.store
                .write(
                    sqlx::query("UPDATE incidents SET first_response_at = $1 WHERE id = $2")
                        .bind(time::format(at))
                        .bind(id),
                )
                .await
                .unwrap();
        }
    }
    srv.store.clock().advance(3600);
    for id in opened.iter().step_by(4) {
        incidents::set_state(&srv.store, &Actor::system("test"), *id, State::Resolved)
            .await
            .unwrap();
    }
    (
        time::format(start),
        time::format(srv.store.now() + chrono::Duration::hours(1)),
        opened,
    )
}

/// Periods over the span: the whole, months in the team's zone (+09:00), ragged
/// hours picked by a fixed sequence, a single hour.
fn periods(from: &str, to: &str) -> Vec<(String, String)> {
    let (a, b) = (time::parse(from).unwrap(), time::parse(to).unwrap());
    let span = (b - a).num_seconds();
    let mut out = vec![(from.to_string(), to.to_string())];
    let jst = chrono::FixedOffset::east_opt(9 * 3600).unwrap();
    let mut day = a.with_timezone(&jst).date_naive();
    while day
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_local_timezone(jst)
        .unwrap()
        < b
    {
        let next = day + chrono::Days::new(31);
        let at = |d: chrono::NaiveDate| {
            time::format(
                d.and_hms_opt(0, 0, 0)
                    .unwrap()
                    .and_local_timezone(jst)
                    .unwrap()
                    .to_utc(),
            )
        };
        out.push((at(day), at(next)));
        day = next;
    }
    let mut seed: i64 = 7;
    for _ in 0..20 {
        seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
        let x = seed % span;
        seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
        let y = seed % span;
        let (x, y) = (x.min(y), x.max(y) + 1);
        out.push((
            time::format(a + chrono::Duration::seconds(x)),
            time::format(a + chrono::Duration::seconds(y)),
        ));
    }
    out.push((
        time::format(a + chrono::Duration::hours(30)),
        time::format(a + chrono::Duration::hours(31)),
    ));
    out
}

async fn all(srv: &TestServer, periods: &[(String, String)]) -> Vec<stats::Statistics> {
    let mut out = Vec::new();
    for (a, b) in periods {
        out.push(stats::statistics(&srv.store, a, b).await.unwrap());
    }
    out
}

async fn count(srv: &TestServer, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(srv.store.pool())
        .await
        .unwrap()
}

both_backends! {
    async fn statistics_from_the_summaries_match_statistics_from_the_rows_for_any_period(srv) {
        let (from, to, opened) = seventy_reports(&srv).await;
        let periods = periods(&from, &to);
        // Every day written is marked, so this is counted from the rows alone.
        assert!(count(&srv, "SELECT COUNT(DISTINCT day) FROM stats_dirty").await >= 40);
        let from_rows = all(&srv, &periods).await;
        let whole = &from_rows[0];
        assert_eq!(whole.reports + whole.inquiries, 70);
        assert_eq!(whole.inquiries, 10);
        assert_eq!(whole.incidents, opened.len() as i64);
        assert!(whole.time_to_first_response.count > 0 && whole.time_to_close.count > 0, "{whole:?}");

        let days = summaries::refresh(&srv.store, None).await.unwrap();
        assert!(days >= 40, "{days} days recounted");
        assert_eq!(count(&srv, "SELECT COUNT(*) FROM stats_dirty").await, 0);
        assert!(count(&srv, "SELECT COUNT(DISTINCT month) FROM stats_months").await >= 2);
        let from_summaries = all(&srv, &periods).await;
        for (i, (a, b)) in from_rows.iter().zip(&from_summaries).enumerate() {
            assert_eq!(a, b, "period {:?}", periods[i]);
        }
        assert!(from_rows.iter().filter(|s| s.reports > 0).count() > 15, "the periods hold data");

        // A write to a day already counted marks it again; the figures follow at once
        // and stay the same once it is recounted.
        let first = opened[1];
        incidents::set_state(&srv.store, &Actor::system("test"), first, State::Closed).await.unwrap();
        let changed = stats::statistics(&srv.store, &from, &to).await.unwrap();
        assert_eq!(changed.time_to_close.count, whole.time_to_close.count + 1);
        let report: i64 = sqlx::query_scalar("SELECT report_id FROM incidents WHERE id = $1")
            .bind(first)
            .fetch_one(srv.store.pool())
            .await
            .unwrap();
        srv.store
            .write(sqlx::query("UPDATE reports SET category = 'ddos' WHERE id = $1").bind(report))
            .await
            .unwrap();
        let changed = stats::statistics(&srv.store, &from, &to).await.unwrap();
        let ddos = changed.by_category.iter().find(|c| c.key == "ddos").map(|c| c.count);
        assert_eq!(ddos, Some(1), "{:?}", changed.by_category);
        assert!(summaries::refresh(&srv.store, None).await.unwrap() >= 1);
        assert_eq!(stats::statistics(&srv.store, &from, &to).await.unwrap(), changed);

        // The quarterly report's history by month adds up the same.
        let months = stats::reports_by_month(&srv.store, &to).await.unwrap();
        assert_eq!(months.iter().map(|(_, n)| n).sum::<i64>(), changed.reports);
    }

    async fn a_day_recounted_by_another_writer_at_the_same_time_loses_nothing(srv) {
        let (from, to, _) = seventy_reports(&srv).await;
        let truth = stats::statistics(&srv.store, &from, &to).await.unwrap();
        // Two recounts race over the same marks; whichever loses a day leaves it marked.
        let (a, b) = tokio::join!(
            summaries::refresh(&srv.store, None),
            summaries::refresh(&srv.store, None)
        );
        a.unwrap();
        b.unwrap();
        summaries::refresh(&srv.store, None).await.unwrap();
        assert_eq!(count(&srv, "SELECT COUNT(*) FROM stats_dirty").await, 0);
        assert_eq!(stats::statistics(&srv.store, &from, &to).await.unwrap(), truth);
    }
}
