//! The staging folders of `wharf template new`: a run killed with SIGKILL after its plugins
//! were installed into its staging folder (paused there by the installer's
//! `WHARF_INSTALL_PAUSE_BEFORE_SWITCH` marker) leaves that folder beside the target; the next
//! run removes it as it starts, a run beside a run still going leaves that run's staging
//! folder alone, and the run still going then finishes normally.

use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use wharf_e2e_tests::{TestResult, describe};

use crate::templates::{Setup, rendered};

/// The staging folders in `dir`, sorted.
fn staging_folders(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("the work folder is readable")
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with(".wharf-template-"))
        })
        .collect();
    found.sort();
    found
}

/// Waits until `condition` holds (a failed test after a minute).
fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(
            start.elapsed() < Duration::from_mins(1),
            "waited a minute for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A spawned run, killed and reaped if the test ends before it does.
struct Run(Option<Child>);

impl Run {
    /// Kills the run with SIGKILL and reaps it.
    fn kill9(&mut self) -> std::io::Result<()> {
        if let Some(mut child) = self.0.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Waits for the run to end and returns its output.
    fn finish(mut self) -> std::io::Result<Output> {
        self.0
            .take()
            .expect("the run is still going")
            .wait_with_output()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.kill9();
    }
}

/// Starts `wharf template new microservice` into `dir`, paused once its plugins are in its
/// staging folder; returns the run once the pause is reached.
fn paused_run(setup: &Setup, dir: &str, marker: &Path) -> Run {
    let child = setup
        .template_new_command(
            "microservice",
            dir,
            &["--set", &format!("service_name={dir}")],
        )
        .env("WHARF_INSTALL_PAUSE_BEFORE_SWITCH", marker)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the wharf binary starts");
    let run = Run(Some(child));
    wait_for("the run to pause with its plugins installed", || {
        marker.exists()
    });
    run
}

#[test]
fn a_killed_runs_staging_folder_is_removed_by_the_next_run_and_a_live_one_is_kept() -> TestResult {
    let setup = Setup::start()?;
    let work = setup.work.path().to_path_buf();
    assert!(staging_folders(&work).is_empty());

    // A run killed mid-run (its plugins downloaded and verified into its staging folder).
    let killed_marker = work.join("paused-killed");
    let mut killed = paused_run(&setup, "killed", &killed_marker);
    let stale = staging_folders(&work);
    assert_eq!(stale.len(), 1, "{stale:?}");
    assert!(
        std::fs::read_dir(stale[0].join("plugins"))?.count() > 0,
        "the killed run had installed into its staging folder"
    );
    killed.kill9()?;
    assert_eq!(
        staging_folders(&work),
        stale,
        "SIGKILL leaves the folder behind"
    );
    assert!(!work.join("killed").exists());

    // The next run removes it as it starts, then pauses the same way: a run still going.
    let live_marker = work.join("paused-live");
    let live = paused_run(&setup, "live", &live_marker);
    let live_folder = staging_folders(&work);
    assert_eq!(live_folder.len(), 1, "{live_folder:?}");
    assert!(!stale[0].exists(), "the killed run's folder is removed");

    // A run beside it leaves the live run's folder alone.
    let output = setup.template_new("microservice", "svc", &["--set", "service_name=billing"]);
    let printed = rendered(&output);
    assert!(!printed.contains("removed"), "{}", describe(&output));
    assert_eq!(staging_folders(&work), live_folder);
    assert!(
        setup
            .read("svc/billing/service.toml")
            .contains("name = \"billing\"")
    );

    // The live run goes on with its folder intact, finishes, says what it removed, and
    // leaves no staging folder.
    std::fs::remove_file(&live_marker)?;
    let output = live.finish()?;
    assert!(output.status.success(), "{}", describe(&output));
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        printed.contains(&format!(
            "  removed `{}`, left by an interrupted run\n",
            stale[0].display()
        )),
        "{}",
        describe(&output)
    );
    assert!(
        setup
            .read("live/live/service.toml")
            .contains("name = \"live\"")
    );
    assert!(staging_folders(&work).is_empty());
    Ok(())
}
