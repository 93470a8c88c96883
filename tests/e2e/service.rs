//! The whole service started as a user starts it: `contact-ledger dev
//! --demo-tenant` in its own process, driven over HTTP, stopped with SIGTERM.
use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use contact_ledger::config::SmtpSecurity;
use contact_ledger_tests::{
    RoleProcess, eventually, free_port, fresh_common, role_command,
    smtp::{SmtpServer, invite_link},
};
use reqwest::StatusCode;
use serde_json::{Value, json};

const MARKER: &str = "LogMarker9Password";
const INVITE_MARKER: &str = "InviteLog7Password";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dev_service_prints_a_demo_key_serves_the_api_and_never_logs_a_password_or_an_invite_token() {
    let smtp = SmtpServer::start().await;
    let (mut common, _db) = fresh_common(2).await;
    let port = free_port();
    common.mail.smtp_host = Some("127.0.0.1".into());
    common.mail.smtp_port = Some(smtp.port);
    common.mail.smtp_security = SmtpSecurity::None;
    common.mail.public_base_url = format!("http://127.0.0.1:{port}");
    let log_path = std::env::temp_dir().join(format!("contact-ledger-{port}.log"));
    let log = std::fs::File::create(&log_path).expect("log file");
    let demo_file = std::env::temp_dir().join(format!("cl-demo-{port}.json"));
    let dev = |log: std::fs::File| -> RoleProcess {
        role_command(&common, "dev")
            .args(["--http", &format!("127.0.0.1:{port}"), "--demo-tenant", "--demo-tenant-file"])
            .arg(&demo_file)
            .env("RUST_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn contact-ledger dev")
            .into()
    };
    let mut child = dev(log);
    let demo = first_line_json(&mut child).await;
    let key = demo["api_key"].as_str().expect("api_key");
    assert!(demo["tenant_id"].as_str().is_some_and(|t| t.starts_with("tenant_")));

    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let ready = eventually(Duration::from_secs(30), || async {
        let r = client.get(format!("{base}/readyz")).send().await.ok()?;
        (r.status() == StatusCode::OK).then_some(())
    })
    .await;
    assert!(ready.is_some(), "readyz never turned 200");
    let r = client
        .post(format!("{base}/v1/contacts"))
        .bearer_auth(key)
        .json(
            &json!({"kind": "user", "first_name": "L", "last_name": "M", "email": "l@example.com", "password": MARKER}),
        )
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.expect("json");
    let got: Value = client
        .get(format!("{base}/v1/contacts/{}", created["id"].as_str().expect("id")))
        .bearer_auth(key)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(got["registered"], true);
    // An invite, accepted through the page: neither its token nor the
    // password may reach the log.
    let invited = client
        .post(format!("{base}/v1/contacts"))
        .bearer_auth(key)
        .json(&json!({"kind": "user", "first_name": "I", "last_name": "N", "email": "i@example.com", "invite": true}))
        .send()
        .await
        .expect("invite");
    assert_eq!(invited.status(), StatusCode::CREATED);
    let mail = smtp.wait_for(1, Duration::from_secs(30)).await.remove(0);
    let link = invite_link(&mail).expect("a link");
    let token = link.rsplit('/').next().expect("token").to_owned();
    let page = client
        .post(&link)
        .form(&[("password", INVITE_MARKER), ("password_confirmation", INVITE_MARKER)])
        .send()
        .await
        .expect("form");
    assert_eq!(page.status(), StatusCode::OK);

    let metrics = client.get(format!("{base}/metrics")).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains("http_requests_total"), "{metrics}");

    let term = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill -TERM");
    assert!(term.success());
    let status = tokio::task::spawn_blocking(move || child.wait()).await.expect("join").expect("wait");
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
    let logged = std::fs::read_to_string(&log_path).expect("log");
    assert!(logged.contains("listening"), "the log must hold the service's output to be worth scanning");
    assert!(!logged.contains(MARKER), "a plaintext password reached the log");
    assert!(!logged.contains(INVITE_MARKER), "an invite password reached the log");
    assert!(!logged.contains(&token), "an invite token reached the log");
    let _ = std::fs::remove_file(log_path);

    // Started again, `dev` prints the same demo tenant and key.
    let mut again = dev(std::fs::File::create(std::env::temp_dir().join(format!("cl-dev-{port}-2.log"))).expect("log"));
    let demo_again = first_line_json(&mut again).await;
    assert_eq!(demo_again["tenant_id"], demo["tenant_id"], "a restart made another demo tenant");
    assert_eq!(demo_again["api_key"], demo["api_key"]);
    drop(again);
    let _ = std::fs::remove_file(demo_file);
}

/// The first line a process prints on stdout, as JSON.
async fn first_line_json(child: &mut RoleProcess) -> Value {
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::task::spawn_blocking(move || BufReader::new(stdout).lines().next())
        .await
        .expect("join")
        .expect("a line on stdout")
        .expect("utf-8");
    serde_json::from_str(&line).expect("the demo tenant as JSON")
}
