//! The data directory as the `wharf` binary sees it: only `serve` creates a registry, the
//! other commands refuse a directory that holds none (and create nothing), and a data path
//! that cannot be used is one line naming it, its cause printed once.

use std::path::Path;
use std::process::{Command, Output};

use wharf_e2e_tests::{TestRegistry, TestResult, describe, wharf_binary};

/// Runs `wharf ARGS…` in `dir` with `env` and no `WHARF_DATA` from outside.
fn wharf_in(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(wharf_binary());
    command
        .args(args)
        .current_dir(dir)
        .env_remove("WHARF_DATA")
        .env_remove("WHARF_CONFIG");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("the wharf binary runs")
}

/// Asserts a failure with exit code 2 and one line on stderr, and returns that line.
fn one_line_error(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(2), "{}", describe(output));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    stderr.trim_end().to_owned()
}

/// The commands that work on an existing registry's data.
const DATA_COMMANDS: [&[&str]; 4] = [
    &["token", "create", "--user", "bob"],
    &["token", "list"],
    &["token", "revoke", "1"],
    &["admin", "reconcile"],
];

#[test]
fn commands_other_than_serve_refuse_a_directory_without_a_registry() -> TestResult {
    let cwd = tempfile::tempdir()?;
    let cwd_shown = std::fs::canonicalize(cwd.path())?;
    for command in DATA_COMMANDS {
        // Run where there is no `wharf-data`: nothing is created there.
        let line = one_line_error(&wharf_in(cwd.path(), command, &[]));
        assert!(
            line.contains(&format!(
                "no registry at `{}`: the directory does not exist",
                cwd_shown.join("wharf-data").display()
            )) || line.contains(&format!(
                "no registry at `{}`: the directory does not exist",
                cwd.path().join("wharf-data").display()
            )),
            "{command:?}: {line}"
        );
        assert!(
            line.contains("`--data DIR` or `WHARF_DATA`"),
            "{command:?}: {line}"
        );
        assert_eq!(std::fs::read_dir(cwd.path())?.count(), 0, "{command:?}");

        // An existing directory without the database (through the variable) stays empty.
        let empty = tempfile::tempdir()?;
        let line = one_line_error(&wharf_in(
            cwd.path(),
            command,
            &[("WHARF_DATA", empty.path())],
        ));
        assert!(
            line.contains(&format!(
                "no registry in `{}` (it has no `wharf.db`)",
                empty.path().display()
            )),
            "{command:?}: {line}"
        );
        assert_eq!(std::fs::read_dir(empty.path())?.count(), 0, "{command:?}");
    }
    Ok(())
}

#[test]
fn a_data_path_that_is_a_file_or_lies_under_one_is_named_with_its_cause_once() -> TestResult {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x")?;
    let under = file.join("data");
    let file_arg = file.display().to_string();
    let under_arg = under.display().to_string();

    let mut commands: Vec<Vec<&str>> = DATA_COMMANDS.iter().map(|c| c.to_vec()).collect();
    commands.push(vec!["serve", "--listen", "127.0.0.1:0"]);
    for command in &commands {
        let mut args = command.clone();
        args.extend(["--data", &file_arg]);
        let line = one_line_error(&wharf_in(dir.path(), &args, &[]));
        assert!(
            line.contains(&format!(
                "data directory `{file_arg}` is a file, not a directory"
            )),
            "{command:?}: {line}"
        );
        assert!(!line.contains("File exists"), "{command:?}: {line}");

        // Under a regular file every operation fails, for root too: ENOTDIR, said once.
        let mut args = command.clone();
        args.extend(["--data", &under_arg]);
        let line = one_line_error(&wharf_in(dir.path(), &args, &[]));
        assert!(
            line.contains(&format!("`{under_arg}`")),
            "{command:?}: {line}"
        );
        let os_text = std::io::Error::from_raw_os_error(20).to_string();
        assert_eq!(line.matches(&os_text).count(), 1, "{command:?}: {line}");
    }
    assert_eq!(std::fs::read_to_string(&file)?, "x");
    Ok(())
}

#[test]
fn a_broken_registry_directory_is_named_once_by_the_file_at_fault() -> TestResult {
    let mut registry = TestRegistry::start();
    registry.stop();
    let blobs = registry.data_dir().join("blobs");
    std::fs::remove_dir_all(&blobs)?;
    std::fs::write(&blobs, "in the way")?;
    let output = registry.run_on_data(&["token", "list"], &[]);
    let line = one_line_error(&output);
    let os_text = std::io::Error::from_raw_os_error(17).to_string();
    assert!(
        line.contains(&format!("cannot use `{}`: {os_text}", blobs.display())),
        "{line}"
    );
    assert_eq!(line.matches(&os_text).count(), 1, "{line}");
    Ok(())
}
