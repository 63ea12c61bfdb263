//! Real-world data: `scripts/mirror-real-crates.sh` loads the real `.crate` files of a
//! project using serde, anyhow and regex from crates.io into a Wharf, mirrors it, and builds
//! the project from the mirror with source replacement. Skipped (with a message) when
//! crates.io cannot be reached.

use std::process::Command;

use wharf_e2e_tests::{TestResult, describe, wharf_binary};

#[test]
fn real_crates_from_crates_io_build_from_a_mirror_of_a_wharf_holding_them() -> TestResult {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/mirror-real-crates.sh");
    let output = Command::new("bash")
        .arg(&script)
        .env("WHARF_BIN", wharf_binary())
        .output()?;
    if output.status.code() == Some(77) {
        eprintln!(
            "skipped: {}",
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or("crates.io is unreachable")
        );
        return Ok(());
    }
    assert!(output.status.success(), "{}", describe(&output));
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        said.starts_with("mirror-real-crates: ok (mirrored "),
        "{said}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("built and ran the project from the mirror: ok serde"),
        "{stderr}"
    );
    Ok(())
}
