//! A feed's file, however it is cut into chunks and in whatever order they are
//! counted, gives each recipient one notification per day listing every one of its
//! rows, and finds each address's and each AS's events in the file's sets, on SQLite
//! and on PostgreSQL.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use renkei_core::audit::Actor;
use renkei_core::tlp::Tlp;
use renkei_enrich::{Format, Kind, Tables};
use renkei_formats::feed::Mapping;
use renkei_incident::feeds::{self, sets};
use renkei_incident::notify;
use renkei_testkit::{TestServer, both_backends};

/// Four networks, each its AS and abuse desk; the fifth /24 has no contact.
fn tables() -> Tables {
    let mut asn = String::new();
    let mut contacts = String::from("network,email\n");
    for n in 0..4 {
        asn.push_str(&format!(
            "198.51.{n}.0,198.51.{n}.255,{},Net {n}\n",
            64500 + n
        ));
        contacts.push_str(&format!("198.51.{n}.0/24,abuse@net{n}.example\n"));
    }
    asn.push_str("198.51.4.0,198.51.4.255,64504,Nobody\n");
    let files = [
        (Kind::Asn, Format::IpLocationDb, "asn", asn.into_bytes()),
        (
            Kind::Contacts,
            Format::Csv,
            "contacts",
            contacts.into_bytes(),
        ),
    ];
    Tables::build(files.iter().map(|(k, f, n, d)| (*k, *f, *n, d.as_slice())))
        .unwrap()
        .0
}

/// 2,000 rows over two days and five networks; some addresses seen more than once.
fn file() -> (Vec<u8>, BTreeMap<(Ipv4Addr, String), u32>) {
    let mut out = String::from("\"timestamp\",\"ip\",\"protocol\",\"port\",\"hostname\",\"tag\"\n");
    let mut seen = BTreeMap::new();
    for i in 0..2000u32 {
        let ip = Ipv4Addr::new(198, 51, (i % 5) as u8, ((i * 7) % 97) as u8);
        let day = if i % 3 == 0 {
            "2026-11-20"
        } else {
            "2026-11-21"
        };
        out.push_str(&format!(
            "\"{day} 01:02:03\",\"{ip}\",\"tcp\",\"22\",\"\",\"ssh\"\n"
        ));
        *seen.entry((ip, day.to_string())).or_default() += 1;
    }
    (out.into_bytes(), seen)
}

fn settings() -> notify::Settings {
    notify::Settings {
        from: "Renkei CSIRT <csirt@csirt.example>".into(),
        ..Default::default()
    }
}

/// Imports the file cut into chunks of `rows`, counting them in `order`.
async fn import(srv: &TestServer, feed: &str, rows: usize, reversed: bool) -> i64 {
    let (data, _) = file();
    let mapping = Mapping::builtin("shadowserver-scan").unwrap();
    let actor = Actor::system("test");
    let received = feeds::receive(&srv.store, &actor, feed, &mapping, &data, Tlp::Amber, rows)
        .await
        .unwrap();
    let tables = tables();
    let mut chunks: Vec<_> = received.chunks.iter().collect();
    if reversed {
        chunks.reverse();
    }
    for chunk in chunks {
        feeds::process_chunk(
            &srv.store,
            &tables,
            &settings(),
            &actor,
            received.report,
            chunk,
            "test",
        )
        .await
        .unwrap();
    }
    received.report
}

both_backends! {
    async fn every_recipients_day_is_one_mail_with_all_its_rows_however_the_file_is_cut(srv) {
        let (_, seen) = file();
        let whole = import(&srv, "scan-whole", 100_000, false).await;
        let cut = import(&srv, "scan-cut", 37, true).await;
        for report in [whole, cut] {
            let status = feeds::status(&srv.store, report).await.unwrap();
            assert!(status.finished, "{status:?}");
            assert_eq!((status.events, status.recipients, status.notifications), (2000, 4, 8));
            assert_eq!(status.unresolved, 400);
        }
        // Per feed: four desks, two days each; the rows of each in its attachment.
        let rows: Vec<(String, String, i64, Vec<u8>)> = sqlx::query_as(
            "SELECT n.feed, n.recipient, n.addresses, o.raw FROM notifications n JOIN outbox o ON o.id = n.outbox_id ORDER BY n.feed, n.recipient, n.feed_day",
        )
        .fetch_all(srv.store.pool())
        .await
        .unwrap();
        assert_eq!(rows.len(), 16);
        for (feed, recipient, addresses, raw) in &rows {
            let parsed = mail_parser::MessageParser::default().parse(raw).unwrap();
            let attachment = parsed.attachment(0).expect("the CSV");
            let listed = notify::items_of_csv(attachment.contents());
            assert_eq!(listed.len() as i64, *addresses, "{feed} {recipient}");
            let net: u8 = recipient["abuse@net".len()..][..1].parse().unwrap();
            assert!(listed.iter().all(|i| i.ip.starts_with(&format!("198.51.{net}."))));
        }
        // Both files' events about each address, by day; the unaddressed network's too.
        for ((ip, day), n) in seen.iter().filter(|((ip, _), _)| ip.octets()[3] % 11 == 0) {
            let hits = feeds::set_hits(&srv.store, sets::SetKind::Ip, &sets::ip_key(IpAddr::V4(*ip)))
                .await
                .unwrap();
            let on_day: Vec<_> = hits.iter().filter(|h| &h.day == day).collect();
            assert_eq!(on_day.len(), 2, "{ip} {day}: {hits:?}");
            assert!(on_day.iter().all(|h| h.events == i64::from(*n)));
            let told = ip.octets()[2] < 4;
            assert!(on_day.iter().all(|h| h.notification.is_some() == told), "{hits:?}");
        }
        let hits = feeds::set_hits(&srv.store, sets::SetKind::Ip, &sets::ip_key("192.0.2.1".parse().unwrap()))
            .await
            .unwrap();
        assert!(hits.is_empty());
        // An AS's events by day: 400 rows each network, in each file.
        let hits = feeds::set_hits(&srv.store, sets::SetKind::Asn, &sets::asn_key(64502)).await.unwrap();
        let total: i64 = hits.iter().map(|h| h.events).sum();
        assert_eq!(total, 800, "{hits:?}");
        // The groups are gone once the file is finished.
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM feed_chunks WHERE data IS NOT NULL")
            .fetch_one(srv.store.pool())
            .await
            .unwrap();
        assert_eq!(left, 0);
    }
}
