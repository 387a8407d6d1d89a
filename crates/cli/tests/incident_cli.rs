//! `renkei incident import` and `renkei mailgate`, as scripts and MTAs call them.

use std::io::Write;
use std::process::{Command, Stdio};

use renkei_core::access::Role;
use renkei_testkit::both_backends;

fn renkei() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_renkei"));
    for var in ["RENKEI_DATABASE_URL", "RENKEI_CONFIG", "RENKEI_TOKEN"] {
        c.env_remove(var);
    }
    c
}

fn data(path: &str) -> String {
    format!(
        "{}/../formats/tests/data/{path}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn mailgate(url: &str, token: &str, message: &[u8]) -> (i32, String, String) {
    let mut child = renkei()
        .args(["mailgate", "--url", url, "--token", token])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(message).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

both_backends! {
    async fn import_prints_one_json_line_per_file_and_keeps_what_it_cannot_read(srv) {
        let dir = tempfile::tempdir().unwrap();
        let broken = dir.path().join("broken.xml");
        std::fs::write(&broken, "<IODEF-Document version=\"2.00\"><Incident>").unwrap();
        let good = data("iodef/rfc5070-recon.xml");
        let out = renkei()
            .args(["incident", "import", "--database-url", &srv.database.url, "--format", "iodef", &good, broken.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "a file needing review is bad input");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["file"], good.as_str());
        assert_eq!(lines[0]["category"], "scan");
        assert_eq!(lines[0]["incidents"].as_array().unwrap().len(), 1);
        assert!(lines[0]["report"].as_i64().is_some());
        assert_eq!(lines[1]["status"], "needs_review");
        assert!(lines[1]["report"].as_i64().is_some(), "the broken file is stored too");
        assert!(String::from_utf8_lossy(&out.stderr).contains("broken.xml"));

        let files: Vec<String> = std::fs::read_dir(data("xarf")).unwrap().map(|e| e.unwrap().path().display().to_string()).collect();
        let out = renkei().args(["incident", "import", "--database-url", &srv.database.url, "--format", "xarf"]).args(&files).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), files.len());
        let out = renkei().args(["incident", "import", "--database-url", &srv.database.url, "--format", "pdf", &good]).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
    }

    async fn mailgate_posts_a_message_and_an_mta_retries_when_the_server_refuses(srv) {
        let coordinator = srv.user(Role::Coordinator).await;
        let token = srv.token(&coordinator).await;
        let message = "From: reporter@example.jp\r\nTo: incident@csirt.example\r\nSubject: scan\r\nMessage-ID: <m1@example.jp>\r\n\r\nScans from 198.51.100.44 on port 445.\r\n";
        let (code, out, err) = mailgate(&srv.base, &token, message.as_bytes());
        assert_eq!(code, 0, "{err}");
        let outcome: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(outcome["category"], "scan");
        let report = renkei_incident::incidents::report(&srv.store, outcome["report"].as_i64().unwrap()).await.unwrap();
        assert_eq!(report.channel, "mail");
        assert_eq!(report.reporter_email.as_deref(), Some("reporter@example.jp"));
        let before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reports").fetch_one(srv.store.pool()).await.unwrap();
        let (code, _, err) = mailgate(&srv.base, "rk_wrong", message.as_bytes());
        assert_eq!(code, 75, "EX_TEMPFAIL so the MTA keeps the mail: {err}");
        assert!(err.contains("401"), "{err}");
        let (code, _, _) = mailgate("http://127.0.0.1:9", &token, message.as_bytes());
        assert_eq!(code, 75);
        let after: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reports").fetch_one(srv.store.pool()).await.unwrap();
        assert_eq!(before, after);

        // NUL bytes in a mail (on PostgreSQL, whose text cannot hold them) are no
        // reason for the MTA to retry for ever: the mail is taken and read.
        let nul = b"From: reporter@example.jp\r\nSubject: scan\0\r\nMessage-ID: <m2@example.jp>\r\n\r\nScans from 198.51.100.45\0 on port 445.\r\n";
        let (code, out, err) = mailgate(&srv.base, &token, nul);
        assert_eq!(code, 0, "{err}");
        let outcome: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        let report = renkei_incident::incidents::report(&srv.store, outcome["report"].as_i64().unwrap()).await.unwrap();
        assert_eq!(report.status, "processed", "{outcome}");
    }

    async fn mbox_and_maildir_import_each_message_and_a_second_run_changes_nothing(srv) {
        let dir = tempfile::tempdir().unwrap();
        let mbox = dir.path().join("abuse.mbox");
        std::fs::write(&mbox, "From abuse@a.example Fri Mar  8 12:00:00 2024\nFrom: abuse@a.example\nSubject: ssh\n\nMar  8 11:59:01 gw sshd[1]: Failed password for root from 198.51.100.61 port 2 ssh2\n>From the logs above.\n\nFrom abuse@b.example Fri Mar  8 12:05:00 2024\nFrom: abuse@b.example\nSubject: scan\n\nMar  8 12:00:01 fw kernel: DROP SRC=198.51.100.62 DST=192.0.2.5 PROTO=TCP SPT=1 DPT=23\n").unwrap();
        let maildir = dir.path().join("Maildir");
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(maildir.join(sub)).unwrap();
        }
        std::fs::write(maildir.join("new/1709900000.1.host"), "From: abuse@c.example\nSubject: scan\n\nScans from 198.51.100.63 on port 445.\n").unwrap();
        std::fs::write(maildir.join("cur/1709800000.2.host:2,S"), "From: abuse@d.example\nSubject: scan\n\nScans from 198.51.100.64 on port 445.\n").unwrap();
        let run = |format: &str, path: &std::path::Path| {
            let out = renkei()
                .args(["incident", "import", "--database-url", &srv.database.url, "--format", format, path.to_str().unwrap()])
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()).collect::<Vec<_>>()
        };
        let first = run("mbox", &mbox);
        assert_eq!(first.len(), 2);
        assert!(first[0]["file"].as_str().unwrap().ends_with("abuse.mbox#1"));
        assert_eq!(first[0]["duplicate"], false);
        let report = renkei_incident::incidents::report(&srv.store, first[0]["report"].as_i64().unwrap()).await.unwrap();
        assert!(report.body.contains("\nFrom the logs above."), "mbox quoting is undone: {}", report.body);
        let again = run("mbox", &mbox);
        assert_eq!(again[0]["report"], first[0]["report"]);
        assert_eq!(again[1]["report"], first[1]["report"]);
        assert_eq!(again[0]["duplicate"], true);
        assert_eq!(again[0]["incidents"], first[0]["incidents"]);
        let from_dir = run("maildir", &maildir);
        assert_eq!(from_dir.len(), 2, "cur/ and new/, not tmp/");
        let reports: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reports").fetch_one(srv.store.pool()).await.unwrap();
        assert_eq!(reports, 4);

        let not_mbox = dir.path().join("notes.txt");
        std::fs::write(&not_mbox, "just some notes\n").unwrap();
        let out = renkei().args(["incident", "import", "--database-url", &srv.database.url, "--format", "mbox", not_mbox.to_str().unwrap()]).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("notes.txt"));
    }

    async fn mailgate_takes_a_message_piped_with_its_mbox_from_line(srv) {
        let coordinator = srv.user(Role::Coordinator).await;
        let token = srv.token(&coordinator).await;
        let message = "From reporter@example.jp Fri Mar  8 12:00:00 2024\nFrom: reporter@example.jp\nSubject: scan\nMessage-ID: <piped@example.jp>\n\nScans from 198.51.100.46 on port 445.\n";
        let (code, out, err) = mailgate(&srv.base, &token, message.as_bytes());
        assert_eq!(code, 0, "{err}");
        let outcome: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        let report = renkei_incident::incidents::report(&srv.store, outcome["report"].as_i64().unwrap()).await.unwrap();
        assert_eq!(report.reporter_email.as_deref(), Some("reporter@example.jp"));
        assert_eq!(report.subject.as_deref(), Some("scan"));
        assert_eq!(outcome["incidents"].as_array().unwrap().len(), 1);
    }
}
