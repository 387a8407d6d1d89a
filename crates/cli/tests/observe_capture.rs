//! `renkei sensor --interface` capturing live through libpcap (cargo feature
//! `capture`, Debian's libpcap-dev): datagrams sent on the loopback interface from
//! ten source addresses reach a real collector, counted once, with the heaviest
//! source named. Capturing needs root (CI runs as root); elsewhere the test says
//! why it did not run.
#![cfg(feature = "capture")]

use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::Duration;

use renkei_core::access::Role;
use renkei_testkit::{Backend, TestServer};
use serde_json::Value;

fn renkei() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_renkei"));
    for var in ["RENKEI_DATABASE_URL", "RENKEI_CONFIG", "RENKEI_TOKEN"] {
        c.env_remove(var);
    }
    c
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sensor_capturing_on_loopback_sends_what_it_saw_to_the_collector() {
    if !is_root() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the live-capture test as root"
        );
        eprintln!("skipped: capturing on an interface needs root");
        return;
    }
    let srv = TestServer::start(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool").display().to_string();
    let key = renkei()
        .args(["sensor", "--print-key", "--spool", &spool])
        .output()
        .unwrap();
    let key = String::from_utf8(key.stdout).unwrap().trim().to_string();
    let coordinator = srv.token(&srv.user(Role::Coordinator).await).await;
    let r = srv
        .client()
        .post(srv.url("/api/v1/sensors"))
        .bearer_auth(&coordinator)
        .json(
            &serde_json::json!({"name": "lo-1", "address_range": "127.0.0.0/8", "public_key": key}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let token = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();

    let mut sensor = renkei()
        .args([
            "sensor",
            "--interface",
            "lo",
            "--collector",
            &srv.url(""),
            "--token",
            &token,
            "--name",
            "lo-1",
            "--spool",
            &spool,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The sensor says when libpcap has the interface open; its log is read on a
    // thread of its own and kept for the failure messages below.
    let stderr = sensor.stderr.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    let log = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut all = String::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            all.push_str(&line);
            all.push('\n');
            let _ = lines_tx.send(line);
        }
        all
    });
    loop {
        match lines.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.contains("capturing") => break,
            Ok(_) => {}
            Err(_) => panic!(
                "the sensor did not start capturing: {:?}\n{}",
                sensor.wait(),
                log.join().unwrap()
            ),
        }
    }

    // Ten sources (all of 127/8 is local on Linux), three datagrams each, and the
    // first ten more: 40 packets to UDP 39999, which nothing listens on.
    const PORT: u16 = 39_999;
    for i in 2..=11u8 {
        let s = UdpSocket::bind((format!("127.0.0.{i}"), 0)).unwrap();
        let times = if i == 2 { 13 } else { 3 };
        for _ in 0..times {
            s.send_to(b"renkei probe", ("127.0.0.1", PORT)).unwrap();
        }
    }
    // Interrupted, the sensor takes in what the kernel has captured, counts the
    // open bucket in and sends it.
    let pid = sensor.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = tokio::task::spawn_blocking(move || sensor.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(out.status.success(), "{}", log.join().unwrap());

    srv.roll_up().await;
    let today = chrono::Utc::now().date_naive();
    let period = format!(
        "{}..{}",
        today.pred_opt().unwrap(),
        today.succ_opt().unwrap()
    );
    let v: Value = srv
        .client()
        .get(srv.url(&format!(
            "/api/v1/observation/ports/udp/{PORT}?period={period}"
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let series = &v["chart"]["series"][0];
    let packets: i64 = series["packets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_i64().unwrap())
        .sum();
    assert_eq!(packets, 40, "{v}");
    let sources: i64 = series["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_i64().unwrap())
        .max()
        .unwrap();
    assert_eq!(sources, 10, "{v}");
    let days = v["chart"]["days"].as_array().unwrap();
    let packets_of_day = series["packets"].as_array().unwrap();
    let day = days
        .iter()
        .zip(packets_of_day)
        .find(|(_, p)| p.as_i64() == Some(40))
        .map(|(d, _)| d.as_str().unwrap().to_string())
        .unwrap();
    let by_sensor: Value = srv
        .client()
        .get(srv.url(&format!(
            "/api/v1/observation/ports/udp/{PORT}/sensors?day={day}"
        )))
        .bearer_auth(&coordinator)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_sensor["sensors"][0]["sensor"], "lo-1", "{by_sensor}");
    assert_eq!(
        by_sensor["sensors"][0]["top"][0],
        serde_json::json!(["127.0.0.2", 13]),
        "{by_sensor}"
    );
}
