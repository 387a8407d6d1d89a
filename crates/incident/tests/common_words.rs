//! A word in more than ten thousand reports, or a range of more than ten thousand
//! incidents, takes the queue's other roads (windows of the newest incidents, the
//! count walked from the index, the newest walked by number): they must find
//! exactly what the plain query finds, page for page, on SQLite and on PostgreSQL.

use renkei_core::audit::Actor;
use renkei_core::store::Dialect;
use renkei_core::tlp::Tlp;
use renkei_incident::incidents::{self, Filter, State};
use renkei_incident::reports::{self, Channel, InputFormat, Settings};
use renkei_incident::search;
use renkei_testkit::{TestServer, both_backends};

const MAILS: usize = 10_700;

/// Mails of one attacking address each: "worm" in all but every 25th, "legacy" in
/// all but the newest 300.
async fn mails(srv: &TestServer) {
    let docs: Vec<Vec<u8>> = (0..MAILS)
        .map(|i| {
            let mut words = Vec::new();
            if i % 25 != 0 {
                words.push("worm");
            }
            if i < MAILS - 300 {
                words.push("legacy");
            }
            format!(
                "From: abuse@victim{i}.example\r\nSubject: report {i}\r\n\r\nSeen: {}.\r\nMar  8 11:59:00 gw sshd[1]: Failed password for root from 10.{}.{}.{} port 40000 ssh2\r\n",
                words.join(" "),
                (i >> 16) & 255,
                (i >> 8) & 255,
                i & 255,
            )
            .into_bytes()
        })
        .collect();
    for chunk in docs.chunks(500) {
        let batch: Vec<(&[u8], Tlp)> = chunk.iter().map(|d| (d.as_slice(), Tlp::Amber)).collect();
        reports::ingest_many(
            &srv.store,
            &Settings::default(),
            &Actor::system("test"),
            Channel::Import,
            InputFormat::Mail,
            &batch,
            None,
        )
        .await
        .unwrap();
    }
}

/// What the plain query finds: every incident whose report has the word, newest
/// first, with the state given.
async fn expected(srv: &TestServer, word: &str, state: Option<&str>) -> Vec<i64> {
    let matches = match srv.store.dialect() {
        Dialect::Sqlite => "SELECT rowid FROM report_search WHERE report_search MATCH $1",
        Dialect::Postgres => {
            "SELECT report_id FROM report_search WHERE body @@ to_tsquery('simple', $1)"
        }
    };
    let sql = format!(
        "SELECT id FROM incidents WHERE exercise = 0 AND report_id IN ({matches}) AND ($2 = '' OR state = $2) ORDER BY id DESC"
    );
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(word)
        .bind(state.unwrap_or(""))
        .fetch_all(srv.store.pool())
        .await
        .unwrap()
}

async fn page(srv: &TestServer, q: &str, offset: i64, limit: i64) -> (i64, Vec<i64>) {
    let f = Filter {
        search: Some(search::parse(q).unwrap()),
        limit,
        offset,
        descending: true,
        ..Filter::default()
    };
    let (total, list) = incidents::page(&srv.store, &f).await.unwrap();
    (total, list.into_iter().map(|i| i.id).collect())
}

both_backends! {
    async fn a_common_word_finds_what_the_plain_query_finds_page_for_page(srv) {
        mails(&srv).await;
        let worm = expected(&srv, "worm", None).await;
        assert!(worm.len() > 10_000, "{} incidents", worm.len());
        for (offset, limit) in [(0, 50), (50, 50), (9_000, 100), (worm.len() as i64 - 20, 50)] {
            let (total, ids) = page(&srv, "worm", offset, limit).await;
            assert_eq!(total, incidents::COUNT_CAP + 1, "more than 10,000");
            let want: Vec<i64> = worm.iter().skip(offset as usize).take(limit as usize).copied().collect();
            assert_eq!(ids, want, "worm from {offset}");
        }
        // Missing from the newest 300: the windows grow until the page is full.
        let legacy = expected(&srv, "legacy", None).await;
        let (_, ids) = page(&srv, "legacy", 0, 50).await;
        assert_eq!(ids, legacy[..50].to_vec());

        // A range holding every address: more than the cap, read newest first (the
        // second page lies beyond the newest five thousand looked at first).
        let everything: Vec<i64> = sqlx::query_scalar("SELECT id FROM incidents WHERE exercise = 0 ORDER BY id DESC")
            .fetch_all(srv.store.pool())
            .await
            .unwrap();
        assert_eq!(everything.len(), MAILS);
        for offset in [0, 7_000] {
            let (total, ids) = page(&srv, "ip:10.0.0.0/8", offset, 50).await;
            assert_eq!(total, incidents::COUNT_CAP + 1);
            assert_eq!(ids, everything[offset as usize..offset as usize + 50].to_vec());
        }

        // With another condition the count is exact below the cap.
        for id in worm.iter().step_by(7).take(40) {
            incidents::set_state(&srv.store, &Actor::system("test"), *id, State::Closed).await.unwrap();
        }
        let closed = expected(&srv, "worm", Some("closed")).await;
        assert_eq!(closed.len(), 40);
        let (total, ids) = page(&srv, "worm state:closed", 0, 25).await;
        assert_eq!((total, ids), (40, closed[..25].to_vec()));
        let (total, ids) = page(&srv, "worm state:closed", 25, 25).await;
        assert_eq!((total, ids), (40, closed[25..].to_vec()));
        let (total, ids) = page(&srv, "ip:10.0.0.0/8 state:closed", 0, 50).await;
        assert_eq!((total, ids), (40, closed.clone()));
    }
}
