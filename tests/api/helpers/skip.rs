//! Tests that need something from outside Rust (a program, a Debian or
//! PyPI package) run when it is there. Without it they skip, with one line
//! for the whole run saying how to install it, except under `CI=true`,
//! where a missing part is a failure.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Once;

/// Whether `program ARGS` runs and succeeds.
pub fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `present`; else a failure under `CI=true`, or `false` after one line
/// (per `notice`) saying that `what` is skipped and how to `install` it.
pub fn needed(present: bool, notice: &'static Once, what: &str, install: &str) -> bool {
    if present {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{what} must run in CI: {install}"
    );
    notice.call_once(|| {
        // Straight to the process's stderr: the test harness captures eprintln!.
        let _ = writeln!(std::io::stderr(), "skipping {what}: {install} to run them");
    });
    false
}
