//! coturn's own client tools against the embedded STUN/TURN server: an independent
//! implementation checks our wire format, authentication and relaying.
//! Needs `turnutils_stunclient` and `turnutils_uclient` (Debian package `coturn`; only the
//! tools are used, never its daemon). Skips with a message when they are missing.

mod common;

use std::process::Command;
use std::time::Duration;

use confer::config::Config;
use confer::turn::credentials::{mint, unix_now};

const SECRET: &str = "coturn-test-secret";

fn tool(name: &str) -> Option<String> {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .ok()?;
    found
        .status
        .success()
        .then(|| String::from_utf8_lossy(&found.stdout).trim().to_owned())
}

async fn run(program: &str, args: Vec<String>) -> (bool, String) {
    let program = program.to_owned();
    let shown = format!("{program} {}", args.join(" "));
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || Command::new(program).args(args).output()),
    )
    .await
    .expect("coturn tool finishes within 60 s")
    .unwrap()
    .expect("coturn tool runs");
    let text = format!(
        "$ {shown}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    (out.status.success(), text)
}

/// The "Total lost packets N (P%)" line of turnutils_uclient.
fn lost_packets(output: &str) -> Option<u64> {
    let line = output.lines().find(|l| l.contains("Total lost packets"))?;
    let after = line.split("Total lost packets").nth(1)?;
    after.split_whitespace().next()?.parse().ok()
}

#[tokio::test]
async fn coturn_clients_work_against_the_embedded_server() {
    let (Some(stunclient), Some(uclient)) =
        (tool("turnutils_stunclient"), tool("turnutils_uclient"))
    else {
        println!(
            "SKIPPED: turnutils_stunclient/turnutils_uclient not found; install the Debian \
             package `coturn` (scripts/test-all.sh does) to run this test"
        );
        return;
    };
    let s = common::TestServer::start_with(|c: &mut Config| {
        c.turn_secret = Some(SECRET.to_owned());
        c.turn_allow_loopback = true;
    })
    .await;
    let port = s.server.turn_addr.expect("TURN is on").port().to_string();

    let (ok, out) = run(
        &stunclient,
        vec!["-p".into(), port.clone(), "127.0.0.1".into()],
    )
    .await;
    assert!(ok, "turnutils_stunclient failed:\n{out}");
    assert!(out.contains("UDP reflexive addr: 127.0.0.1:"), "{out}");

    // UDP with channels, TCP with channels, UDP with Send/Data indications (-s).
    for (tcp, send_method) in [(false, false), (true, false), (false, true)] {
        let (username, password) = mint(SECRET, "coturn", Duration::from_secs(600), unix_now());
        let mut args: Vec<String> = vec![
            "-y".into(), // client-to-client: two allocations relay to each other
            "-n".into(),
            "20".into(),
            "-l".into(),
            "120".into(),
            "-u".into(),
            username,
            "-w".into(),
            password,
            "-e".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.clone(),
        ];
        if tcp {
            args.insert(0, "-t".into());
        }
        if send_method {
            args.insert(0, "-s".into());
        }
        args.push("127.0.0.1".into());
        let (ok, out) = run(&uclient, args).await;
        assert!(ok, "turnutils_uclient (tcp: {tcp}) failed:\n{out}");
        assert_eq!(
            lost_packets(&out),
            Some(0),
            "packets were lost (tcp: {tcp}):\n{out}"
        );
    }

    // Wrong password: the allocation is refused.
    let (username, _) = mint(SECRET, "coturn", Duration::from_secs(600), unix_now());
    let (_, out) = run(
        &uclient,
        vec![
            "-y".into(),
            "-n".into(),
            "2".into(),
            "-u".into(),
            username,
            "-w".into(),
            "wrong".into(),
            "-p".into(),
            port.clone(),
            "127.0.0.1".into(),
        ],
    )
    .await;
    assert_ne!(
        lost_packets(&out),
        Some(0),
        "a wrong password must not relay:\n{out}"
    );
}
