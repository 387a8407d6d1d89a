//! `renkei enrich load|lookup`, `renkei incident export` and bulk feed import, as
//! scripts call them, on SQLite and PostgreSQL.

use std::process::Command;

use renkei_testkit::both_backends;
use serde_json::Value;

fn renkei() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_renkei"));
    for var in ["RENKEI_DATABASE_URL", "RENKEI_CONFIG", "RENKEI_TOKEN"] {
        c.env_remove(var);
    }
    c.env("RENKEI_MAIL__FROM", "Example CSIRT <csirt@csirt.example>");
    c
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn lines(out: &std::process::Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

both_backends! {
    async fn enrichment_tables_load_from_the_public_formats_and_lookups_print_one_line_per_address(srv) {
        let dir = tempfile::tempdir().unwrap();
        let db = srv.database.url.clone();
        // Before anything is loaded, a lookup says why it knows nothing.
        let out = renkei().args(["enrich", "lookup", "--database-url", &db, "192.0.2.10"]).output().unwrap();
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("no enrichment tables are loaded"), "{}", String::from_utf8_lossy(&out.stderr));
        let load = |kind: &str, format: &str, files: &[String]| {
            renkei().args(["enrich", "load", "--database-url", &db, "--kind", kind, "--format", format]).args(files).output().unwrap()
        };
        // IPv4 and IPv6 together; RouteViews' ipasn format with a more specific prefix.
        let v4 = write(dir.path(), "asn-ipv4.csv", "192.0.2.0,192.0.2.255,64500,\"Example, Inc.\"\n");
        let v6 = write(dir.path(), "asn-ipv6.csv", "2001:db8::,2001:db8:ffff:ffff:ffff:ffff:ffff:ffff,64501,Six\n");
        let out = load("asn", "ip-location-db", &[v4, v6]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(lines(&out)[0]["rows"], 2);
        let delegated = write(dir.path(), "delegated", "2|apnic|20261122|3|19830613|20261121|+1000\napnic|*|ipv4|*|2|summary\napnic|JP|ipv4|192.0.2.0|256|20110412|allocated\napnic|AU|ipv6|2001:db8::|32|20110412|allocated\napnic|JP|asn|64500|1|20110412|allocated\n");
        assert!(load("country", "rir-delegated", &[delegated]).status.success());
        let rpsl = write(dir.path(), "ripe.db", "inetnum: 192.0.2.0 - 192.0.2.255\nnetname: EXAMPLE-NET\ncountry: JP\nabuse-c: AR1-TEST\n\ninetnum: 192.0.2.128 - 192.0.2.191\nnetname: CUSTOMER\norg: ORG-C1\n\norganisation: ORG-C1\nabuse-c: AR2-TEST\n\nrole: Abuse desk\nnic-hdl: AR1-TEST\nabuse-mailbox: abuse@example.jp\n\nrole: Customer abuse\nnic-hdl: AR2-TEST\nabuse-mailbox: abuse@customer.example\n");
        assert!(load("contacts", "rpsl", &[rpsl]).status.success());
        let csirts = write(dir.path(), "csirts.csv", "country,name,email,lang\nAU,AusCERT,auscert@auscert.example,en\n");
        assert!(load("csirts", "csv", &[csirts]).status.success());

        let out = renkei().args(["enrich", "lookup", "--database-url", &db, "192.0.2.10", "192.0.2.130", "2001:db8::1", "10.9.8.7", "not-an-ip"]).output().unwrap();
        // Something that is not an address is named, and the exit says so.
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("\"not-an-ip\" is not an IP address"));
        assert!(!String::from_utf8_lossy(&out.stderr).contains("no enrichment tables"));
        let l = lines(&out);
        assert_eq!(l.len(), 4);
        assert_eq!(l[0]["prefix"], "192.0.2.0/24");
        assert_eq!(l[0]["asn"], 64500);
        assert_eq!(l[0]["as_name"], "Example, Inc.");
        assert_eq!(l[0]["country"], "JP");
        assert_eq!(l[0]["abuse"][0]["email"], "abuse@example.jp");
        assert_eq!(l[0]["abuse"][0]["lang"], "ja");
        // The nested inetnum is more specific: its organisation's abuse contact.
        assert_eq!(l[1]["abuse"][0]["email"], "abuse@customer.example");
        assert_eq!(l[2]["asn"], 64501);
        assert_eq!(l[2]["country"], "AU");
        assert_eq!(l[2]["csirt"]["email"], "auscert@auscert.example");
        for unknown in &l[3..] {
            assert_eq!(unknown["asn"], Value::Null);
            assert_eq!(unknown["abuse"], serde_json::json!([]));
        }

        // Bad rows are named by line; the good ones load; exit 2.
        let bad = write(dir.path(), "bad.csv", "192.0.2.0,192.0.2.255,64500,A\nnot,an,asn,row\n198.51.100.0,198.51.100.255,x,B\n203.0.113.0,203.0.113.255,64502,C\n");
        let out = load("asn", "ip-location-db", std::slice::from_ref(&bad));
        assert_eq!(out.status.code(), Some(2));
        let report = &lines(&out)[0];
        assert_eq!(report["rows"], 2);
        assert_eq!(report["bad_rows"], 2);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("bad.csv:2:") && stderr.contains("bad.csv:3:"), "{stderr}");
        // A file with nothing usable leaves the table as it was.
        let empty = write(dir.path(), "empty.csv", "garbage\n");
        assert_eq!(load("asn", "ip-location-db", &[empty]).status.code(), Some(2));
        let out = renkei().args(["enrich", "lookup", "--database-url", &db, "203.0.113.9"]).output().unwrap();
        assert_eq!(lines(&out)[0]["asn"], 64502);
        // A format that does not fit the kind is refused.
        assert_eq!(load("country", "ipasn", &[bad]).status.code(), Some(2));
    }

    async fn a_bulk_feed_becomes_events_and_one_notification_per_recipient_and_day(srv) {
        let dir = tempfile::tempdir().unwrap();
        let db = srv.database.url.clone();
        let asn = write(dir.path(), "asn.csv", "192.0.2.0,192.0.2.255,64500,A\n198.51.100.0,198.51.100.255,64501,B\n");
        assert!(renkei().args(["enrich", "load", "--database-url", &db, "--kind", "asn", "--format", "ip-location-db", &asn]).status().unwrap().success());
        let contacts = write(dir.path(), "contacts.csv", "network,email\nAS64500,abuse@a.example\n198.51.100.0/24,abuse@b.example\n");
        assert!(renkei().args(["enrich", "load", "--database-url", &db, "--kind", "contacts", "--format", "csv", &contacts]).status().unwrap().success());
        let feed = write(dir.path(), "scan_ssh.csv", "\"timestamp\",\"ip\",\"protocol\",\"port\",\"hostname\",\"tag\"\n\"2026-11-21 01:00:00\",\"192.0.2.1\",\"tcp\",\"22\",\"\",\"ssh\"\n\"2026-11-21 02:00:00\",\"192.0.2.2\",\"tcp\",\"22\",\"\",\"ssh\"\n\"2026-11-21 03:00:00\",\"198.51.100.9\",\"tcp\",\"22\",\"\",\"ssh\"\n\"2026-11-22 03:00:00\",\"198.51.100.9\",\"tcp\",\"22\",\"\",\"ssh\"\n\"2026-11-21 04:00:00\",\"bogus\",\"tcp\",\"22\",\"\",\"ssh\"\n\"2026-11-21 05:00:00\",\"10.0.0.1\",\"tcp\",\"22\",\"\",\"ssh\"\n");
        let out = renkei().args(["incident", "import", "--database-url", &db, "--format", "csv", "--feed", "shadowserver-scan", &feed]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "one bad row");
        let r = &lines(&out)[0];
        assert_eq!(r["rows"], 6);
        assert_eq!(r["events"], 5);
        assert_eq!(r["bad_rows"], 1);
        assert_eq!(r["problems"][0]["line"], 6);
        assert_eq!(r["recipients"], 2);
        // a.example on the 21st; b.example on the 21st and the 22nd.
        assert_eq!(r["notifications"], 3);
        assert_eq!(r["unresolved"], 1);
        assert!(String::from_utf8_lossy(&out.stderr).contains("scan_ssh.csv:6:"));
        // Kept per recipient and day: a.example/21st, b.example/21st, b.example/22nd, and
        // the address nobody is responsible for.
        let batches: Vec<(Option<String>, String, i64)> = sqlx::query_as("SELECT recipient, day, events FROM feed_batches ORDER BY recipient, day").fetch_all(srv.store.pool()).await.unwrap();
        assert_eq!(batches.len(), 4, "{batches:?}");
        assert_eq!(batches.iter().map(|b| b.2).sum::<i64>(), 5);
        let stats = renkei_incident::notify::statistics(&srv.store, "2026-10-01T00:00:00Z", "2027-01-01T00:00:00Z").await.unwrap();
        assert_eq!(stats.feed_events, 5);
        assert_eq!(stats.feed_events_by_type, vec![("shadowserver-scan ssh".to_string(), 5)]);
        // Made and waiting for the relay: a notification counts once its mail is sent.
        assert_eq!((stats.notifications, stats.queued), (0, 3));
        let incidents: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM incidents").fetch_one(srv.store.pool()).await.unwrap();
        assert_eq!(incidents, 0, "no ticket per row");
        let raw: Vec<u8> = sqlx::query_scalar("SELECT raw FROM reports WHERE format = 'csv'").fetch_one(srv.store.pool()).await.unwrap();
        assert_eq!(raw, std::fs::read(&feed).unwrap(), "the file is kept as received");
        // The same file again is the same import: nothing is counted or sent twice.
        let out = renkei().args(["incident", "import", "--database-url", &db, "--format", "csv", "--feed", "shadowserver-scan", &feed]).output().unwrap();
        let again = &lines(&out)[0];
        assert_eq!(again["duplicate"], true);
        assert_eq!(again["report"], r["report"]);
        assert_eq!(again["events"], 5);
        let stats = renkei_incident::notify::statistics(&srv.store, "2026-10-01T00:00:00Z", "2027-01-01T00:00:00Z").await.unwrap();
        assert_eq!((stats.feed_events, stats.queued), (5, 3));
        // Another file with the same day's hosts: its events count, but each recipient
        // has had that day's mail.
        let more = write(dir.path(), "scan_ssh_2.csv", &format!("{}\"2026-11-21 09:00:00\",\"192.0.2.3\",\"tcp\",\"22\",\"\",\"ssh\"\n", std::fs::read_to_string(&feed).unwrap()));
        let out = renkei().args(["incident", "import", "--database-url", &db, "--format", "csv", "--feed", "shadowserver-scan", &more]).output().unwrap();
        assert_eq!(lines(&out)[0]["events"], 6);
        assert_eq!(lines(&out)[0]["notifications"], 0);
        // A feed without a built-in layout needs a mapping file.
        let out = renkei().args(["incident", "import", "--database-url", &db, "--format", "csv", "--feed", "my-honeypot", &feed]).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let mapping = write(dir.path(), "mapping.toml", "[feed]\nip = \"ip\"\ntime = \"timestamp\"\ncategory = \"scan\"\nevent_type = \"ssh-bruteforce\"\n");
        let out = renkei().args(["incident", "import", "--database-url", &db, "--format", "csv", "--feed", "my-honeypot", "--mapping", &mapping, &feed]).output().unwrap();
        assert_eq!(lines(&out)[0]["events"], 5);
    }

    async fn an_incident_exports_as_iodef_2_for_partner_csirts(srv) {
        let db = srv.database.url.clone();
        let mail = "From: a@b.example\r\nSubject: scan\r\n\r\nNov 20 10:00:01 h sshd[1]: Failed password for root from 192.0.2.77 port 1 ssh2\r\n";
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "m.eml", mail);
        let out = renkei().args(["incident", "import", "--database-url", &db, "--format", "mail", &file]).output().unwrap();
        let id = lines(&out)[0]["incidents"][0].as_i64().unwrap();
        let out = renkei().args(["incident", "export", "--database-url", &db, "--format", "iodef", &id.to_string()]).output().unwrap();
        assert!(out.status.success());
        let read = renkei_formats::iodef::parse(&out.stdout).expect("our IODEF reads back");
        assert!(String::from_utf8_lossy(&out.stdout).contains("urn:ietf:params:xml:ns:iodef-2.0"));
        assert_eq!(read.external_id, Some(format!("csirt.example#{id}")));
        assert!(read.sources.iter().any(|h| h.ip.iter().any(|ip| ip.to_string() == "192.0.2.77")));
        let missing = renkei().args(["incident", "export", "--database-url", &db, "--format", "iodef", "999999"]).output().unwrap();
        assert_eq!(missing.status.code(), Some(2));
    }
}
