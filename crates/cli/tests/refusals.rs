//! Configurations a role refuses at start, before it connects to anything:
//! the binary, run as an operator would, with nothing else running.
use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

/// Runs `contact-ledger <args>` with a clean environment (plus `env`) and
/// nothing listening where it would connect; its exit and its stderr.
fn run(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_contact-ledger"))
        .args(args)
        .env_clear()
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:9/none")
        .env("KAFKA_BROKERS", "127.0.0.1:9")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the binary");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("`contact-ledger {}` was still running after 20 s", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr).expect("stderr");
    (status.success(), stderr)
}

#[test]
fn the_mailer_refuses_to_start_without_smtp_unless_told_to_write_files() {
    let (ok, stderr) = run(&["mailer"], &[]);
    assert!(!ok);
    assert!(stderr.contains("the mailer needs an SMTP server") && stderr.contains("--mail-to-files"), "{stderr}");
    // Told to write files (or given a host), it gets past that check and
    // fails only where it connects.
    for env in [[("CL_MAIL_TO_FILES", "true")], [("CL_SMTP_HOST", "smtp.example.com")]] {
        let (ok, stderr) = run(&["mailer"], &env);
        assert!(!ok);
        assert!(!stderr.contains("the mailer needs an SMTP server"), "{env:?}: {stderr}");
    }
}

#[test]
fn the_api_refuses_to_start_without_a_strong_token_secret() {
    let (ok, stderr) = run(&["api"], &[]);
    assert!(!ok);
    assert!(stderr.contains("CL_TOKEN_SECRET is not set"), "{stderr}");
    for weak in ["change-me", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "abcabcabcabcabcabcabcabcabcabcabcabc"] {
        let (ok, stderr) = run(&["api"], &[("CL_TOKEN_SECRET", weak)]);
        assert!(!ok);
        assert!(stderr.contains("CL_TOKEN_SECRET: the token secret must be at least 32 bytes"), "{weak}: {stderr}");
    }
    // A strong one gets past the check and fails only where it connects.
    let (ok, stderr) = run(&["api"], &[("CL_TOKEN_SECRET", "Qm9vdHN0cmFwLXNlY3JldC1mb3ItdGVzdHMtMTIzNDU2Nzg5MA")]);
    assert!(!ok);
    assert!(!stderr.contains("CL_TOKEN_SECRET"), "{stderr}");
}
