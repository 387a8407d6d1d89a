//! `renkei observe aggregate` on captures a real tool wrote (scapy: Ethernet with
//! VLANs, IPv4 with options, IPv6, Linux cooked, pcapng, fragments, frames cut
//! short), checked packet for packet and source for source against tshark.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn renkei() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_renkei"));
    for var in ["RENKEI_DATABASE_URL", "RENKEI_CONFIG", "RENKEI_TOKEN"] {
        c.env_remove(var);
    }
    c
}

fn have(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The tools this test compares with; CI must have them (`.ci/run` installs them).
fn tools() -> bool {
    let ok = have("tshark", "--version")
        && Command::new("python3")
            .args(["-c", "import scapy"])
            .status()
            .is_ok_and(|s| s.success());
    assert!(
        ok || std::env::var_os("CI").is_none(),
        "CI must provide tshark and scapy (see .ci/run)"
    );
    ok
}

fn aggregate(files: &[&Path]) -> (i32, Value, String) {
    let mut c = renkei();
    c.args(["observe", "aggregate", "--json", "--pcap"]);
    c.args(files);
    let out = c.output().unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

type Expected = BTreeMap<(String, u64), (u64, BTreeSet<String>)>;

/// tshark's reading of a capture: frames, and per (proto, port) the packets and
/// distinct sources. Fragments and frames without a transport header have no port.
fn tshark(file: &Path) -> (u64, Expected) {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args([
            "-o",
            "ip.defragment:FALSE",
            "-T",
            "fields",
            "-E",
            "separator=;",
        ])
        .args([
            "-e",
            "ip.proto",
            "-e",
            "ipv6.nxt",
            "-e",
            "tcp.dstport",
            "-e",
            "udp.dstport",
            "-e",
            "icmp.type",
            "-e",
            "icmpv6.type",
        ])
        .args([
            "-e",
            "ip.src",
            "-e",
            "ipv6.src",
            "-e",
            "ip.flags.mf",
            "-e",
            "ip.frag_offset",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut frames = 0;
    let mut expected = Expected::new();
    for line in text.lines() {
        frames += 1;
        // Multi-valued fields (an ICMP error quoting a packet) list the outer first.
        let f: Vec<&str> = line
            .split(';')
            .map(|v| v.split(',').next().unwrap_or(""))
            .collect();
        let (proto, src) = if !f[0].is_empty() {
            if f[8] == "1" || (!f[9].is_empty() && f[9] != "0") {
                continue;
            }
            (f[0], f[6])
        } else if !f[1].is_empty() {
            (f[1], f[7])
        } else {
            continue;
        };
        let (name, port) = match proto {
            "6" => ("tcp", f[2]),
            "17" => ("udp", f[3]),
            "1" => ("icmp", f[4]),
            "58" => ("icmpv6", f[5]),
            _ => continue,
        };
        let Ok(port) = port.parse::<u64>() else {
            continue;
        };
        let e = expected.entry((name.to_string(), port)).or_default();
        e.0 += 1;
        e.1.insert(src.to_string());
    }
    (frames, expected)
}

#[test]
fn aggregate_counts_every_port_and_source_as_tshark_does_on_captures_scapy_wrote() {
    if !tools() {
        eprintln!("tshark or scapy missing: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/make_scans.py");
    let st = Command::new("python3")
        .arg(&script)
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(st.success());
    for name in ["scan-ethernet.pcap", "scan-sll.pcap", "scan.pcapng"] {
        let file = dir.path().join(name);
        let (frames, expected) = tshark(&file);
        let (code, got, err) = aggregate(&[&file]);
        assert_eq!(code, 0, "{name}: {err}");
        assert_eq!(got["packets"], frames, "{name}: every frame read");
        let by_port = got["by_port"].as_array().unwrap();
        assert_eq!(by_port.len(), expected.len(), "{name}: {got}\n{expected:?}");
        let mut counted = 0;
        for ((proto, port), (packets, sources)) in &expected {
            let row = by_port
                .iter()
                .find(|r| r["proto"] == proto.as_str() && r["port"] == *port)
                .unwrap_or_else(|| panic!("{name}: {proto} {port} missing"));
            assert_eq!(row["packets"], *packets, "{name}: {proto} {port}");
            assert_eq!(
                row["sources"],
                sources.len() as u64,
                "{name}: {proto} {port} sources"
            );
            counted += packets;
        }
        assert_eq!(
            got["unparsed"],
            frames - counted,
            "{name}: fragments, ARP and cut frames are unparsed"
        );
    }
    // The Ethernet capture holds what the classes are for.
    let (_, got, _) = aggregate(&[&dir.path().join("scan-ethernet.pcap")]);
    let row = |proto: &str, port: u64| {
        got["by_port"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["proto"] == proto && r["port"] == port)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        row("icmp", 3)["backscatter"],
        20,
        "ICMP errors are backscatter"
    );
    assert_eq!(row("icmp", 8)["scan"], 50, "echo requests are scans");
    assert_eq!(
        got["buckets"].as_array().unwrap().len(),
        2,
        "an hourly bucket each"
    );
}

#[test]
fn a_file_that_is_no_capture_exits_2_and_a_cut_one_counts_what_came_before() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("notes.txt");
    std::fs::write(&junk, "this is not a capture at all, just text").unwrap();
    let (code, _, err) = aggregate(&[&junk]);
    assert_eq!(code, 2);
    assert!(
        err.contains("notes.txt") && err.contains("not a pcap"),
        "{err}"
    );

    let whole = dir.path().join("whole.pcap");
    let out = renkei()
        .args([
            "observe",
            "synth",
            "--packets",
            "1000",
            "--sources",
            "100",
            "--out",
        ])
        .arg(&whole)
        .output()
        .unwrap();
    assert!(out.status.success());
    let bytes = std::fs::read(&whole).unwrap();
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() - 30]).unwrap();
    let (code, got, err) = aggregate(&[&cut]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("cut short"), "{err}");
    assert_eq!(
        got["packets"], 1000,
        "999 whole records and the cut one, unparsed"
    );
    assert_eq!(got["unparsed"], 1);
    let (code, _, _) = aggregate(&[&dir.path().join("missing.pcap")]);
    assert_eq!(code, 2);
}

#[test]
fn firewall_logs_count_like_captures() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("kern.log");
    std::fs::write(
        &log,
        "2007-10-01T09:00:01+09:00 s kernel: RENKEI IN=eth0 OUT= SRC=198.51.100.7 DST=203.0.113.5 LEN=40 PROTO=TCP SPT=44321 DPT=2967 WINDOW=1024 RES=0x00 SYN URGP=0\n\
         2007-10-01T09:00:02+09:00 s kernel: RENKEI IN=eth0 OUT= SRC=198.51.100.8 DST=203.0.113.5 LEN=40 PROTO=TCP SPT=44321 DPT=2967 WINDOW=1024 RES=0x00 SYN URGP=0\n\
         2007-10-01T09:00:03+09:00 s sshd[12]: unrelated line\n\
         2007-10-01T09:00:04+09:00 s kernel: RENKEI IN=eth0 OUT= SRC=198.51.100.9 DST=203.0.113.5 LEN=84 PROTO=ICMP TYPE=8 CODE=0 ID=1 SEQ=1\n",
    )
    .unwrap();
    let out = renkei()
        .args(["observe", "aggregate", "--log"])
        .arg(&log)
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["packets"], 3);
    assert_eq!(v["by_port"][0]["port"], 2967);
    assert_eq!(v["by_port"][0]["sources"], 2);
    assert_eq!(v["buckets"][0]["start"], "2007-10-01T00:00:00Z");
}

mod sensor {
    use super::*;
    use renkei_core::access::Role;
    use renkei_testkit::{Backend, TestServer};

    async fn run(args: Vec<String>) -> (i32, Value, String) {
        tokio::task::spawn_blocking(move || {
            let out = renkei().args(&args).output().unwrap();
            let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
            (
                out.status.code().unwrap_or(-1),
                v,
                String::from_utf8_lossy(&out.stderr).into(),
            )
        })
        .await
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_sensor_command_spools_while_the_collector_is_down_and_sends_the_backlog_later() {
        let srv = TestServer::start(Backend::Sqlite).await;
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("spool").display().to_string();
        let pcap = dir.path().join("scan.pcap").display().to_string();
        let (code, _, err) = run(vec![
            "observe".into(),
            "synth".into(),
            "--packets".into(),
            "30000".into(),
            "--sources".into(),
            "2000".into(),
            "--hours".into(),
            "20".into(),
            "--out".into(),
            pcap.clone(),
        ])
        .await;
        assert_eq!(code, 0, "{err}");
        let key = tokio::task::spawn_blocking({
            let spool = spool.clone();
            move || {
                renkei()
                    .args(["sensor", "--print-key", "--spool", &spool])
                    .output()
                    .unwrap()
            }
        })
        .await
        .unwrap();
        let key = String::from_utf8(key.stdout).unwrap().trim().to_string();
        assert_eq!(key.len(), 44, "{key}");
        let coordinator = srv.token(&srv.user(Role::Coordinator).await).await;
        let r = srv.client().post(srv.url("/api/v1/sensors")).bearer_auth(&coordinator)
            .json(&serde_json::json!({"name": "cli-1", "address_range": "192.0.2.0/24", "public_key": key})).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 201);
        let token = r.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string();

        let base = |collector: &str| -> Vec<String> {
            [
                "sensor",
                "--collector",
                collector,
                "--token",
                &token,
                "--name",
                "cli-1",
                "--spool",
                &spool,
                "--retry-for",
                "0",
            ]
            .map(String::from)
            .to_vec()
        };
        let mut down = base("http://127.0.0.1:9");
        down.extend(["--pcap".into(), pcap.clone()]);
        let (code, v, err) = run(down).await;
        assert_eq!(code, 1, "{v} {err}");
        assert_eq!(v["packets"], 30_000);
        let batches = v["batches"].as_u64().unwrap();
        assert!(batches >= 4, "20 hourly buckets, 6 a batch: {v}");
        assert_eq!(
            (v["accepted"].as_u64(), v["pending"].as_u64()),
            (Some(0), Some(batches))
        );

        let mut up = base(&srv.url(""));
        up.push("--send-only".into());
        let (code, v, err) = run(up).await;
        assert_eq!(code, 0, "{v} {err}");
        assert_eq!(
            (v["accepted"].as_u64(), v["pending"].as_u64()),
            (Some(batches), Some(0))
        );
        let (_, health) = {
            let r = srv
                .client()
                .get(srv.url("/api/v1/sensors"))
                .bearer_auth(&coordinator)
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        };
        assert_eq!(health[0]["batches"], batches);
        assert_eq!(
            health[0]["packets_7d"], 0,
            "2007's buckets are not in the last 7 days"
        );
        srv.roll_up().await;
        let r = srv
            .client()
            .get(srv.url("/api/v1/observation/top?period=2007-10-01..2007-10-01&ranks=1-10"))
            .send()
            .await
            .unwrap();
        let top: Value = r.json().await.unwrap();
        assert_eq!(top["ports"][0]["port"], 445);
    }
}
