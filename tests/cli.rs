//! The admin command line against a real database: migrate, user add/list/set-password/delete.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn confer(data_dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_confer"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("CONFER_DATABASE_URL")
        .current_dir(data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("confer runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn manage_users_from_the_command_line() {
    let dir = std::env::temp_dir().join(format!("confer-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let out = confer(&dir, &["migrate"], "");
    assert!(out.status.success(), "{}", text(&out));
    assert!(dir.join("confer.db").exists());

    let out = confer(
        &dir,
        &["user", "add", "ann", "--email", "ann@example.org"],
        "a good password\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = confer(
        &dir,
        &["user", "add", "ANN", "--email", "x@example.org"],
        "a good password\n",
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("taken"), "{}", text(&out));
    let out = confer(
        &dir,
        &["user", "add", "ben", "--email", "ben@example.org"],
        "short\n",
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("at least 8"), "{}", text(&out));
    let out = confer(
        &dir,
        &["user", "add", "x y", "--email", "xy@example.org"],
        "a good password\n",
    );
    assert!(!out.status.success());

    let out = confer(&dir, &["user", "list"], "");
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(listing.contains("ann\tann@example.org"), "{listing}");
    assert_eq!(listing.lines().count(), 1);

    let out = confer(
        &dir,
        &["user", "set-password", "ann"],
        "another good password\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = confer(
        &dir,
        &["user", "set-password", "nobody"],
        "another good password\n",
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("no account named nobody"));

    let out = confer(&dir, &["user", "delete", "ann"], "");
    assert!(out.status.success(), "{}", text(&out));
    let out = confer(&dir, &["user", "list"], "");
    assert!(String::from_utf8_lossy(&out.stdout).trim().is_empty());

    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_bad_setting_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("confer-cli-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = confer(
        &dir,
        &["migrate", "--database-url", "mysql://u:pw@h/db"],
        "",
    );
    assert!(!out.status.success());
    let msg = text(&out);
    assert!(
        msg.contains("unsupported database_url") && !msg.contains("pw@"),
        "{msg}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn json_logs_are_one_object_per_line_and_sigterm_stops_the_server() {
    use std::io::{BufRead, BufReader};
    let dir = std::env::temp_dir().join(format!("confer-cli-json-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_confer"))
        .args(["--listen", "127.0.0.1:0", "--turn-listen", "off"])
        .args(["--log-format", "json"])
        .arg("--data-dir")
        .arg(&dir)
        .env("CONFER_LOG", "confer=info")
        .env_remove("CONFER_DATABASE_URL")
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("confer runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut logged = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.starts_with("Confer is ready") {
            break;
        }
        logged.push(line);
    }
    assert!(!logged.is_empty(), "start-up logs something");
    for line in &logged {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["level"].is_string() && v["fields"].is_object(), "{line}");
    }
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "a SIGTERM'd server exits cleanly: {status}"
    );
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|l| l.contains("stopped")),
        "it says it stopped: {rest:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
