//! The README's walkthrough runs as written, twice in a row.
//!
//! The README marks each `sh` block of the walkthrough with an HTML comment on the line before
//! it: `<!-- walkthrough: install -->`, `<!-- walkthrough: server -->` (the block a person runs
//! in a shell of its own and leaves running) and `<!-- walkthrough: client -->` (the blocks run
//! one after the other in a second shell). This test reads README.md, runs the server block in
//! the background with `bash`, waits for it to serve, runs every client block in one `bash`
//! (`-euo pipefail`, so any failing command fails the run), then stops the server as Ctrl-C
//! does (SIGINT to its process group), and does it all a second time: the walkthrough must
//! work again on a machine where it already ran once.
//!
//! The shells start from an empty environment, with a `HOME` and a `CARGO_HOME` of their own
//! in a temporary directory. What the test does differently from a person, and nothing else:
//!
//! - It does not run the install block, which must be exactly `cargo install --locked --path
//!   cli` (a release build of several minutes). It links the `wharf` binary the test suite
//!   already built (target/debug, see [`wharf_binary`]) to where that command installs it,
//!   `$CARGO_HOME/bin/wharf`, and puts `$CARGO_HOME/bin` on `PATH`, as rustup does for
//!   `~/.cargo/bin`.
//! - It replaces the walkthrough's address `127.0.0.1:8088` by a free loopback port, so that
//!   no other process on this machine can be in the way.
//! - `PATH` starts with the directory of the cargo that runs the tests (and `RUSTUP_HOME` and
//!   `RUSTUP_TOOLCHAIN` are passed on), so the shells use the same toolchain despite the new
//!   `HOME`.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use wharf_e2e_tests::{TestResult, describe, wharf_binary};

/// The address the README's walkthrough uses.
const README_ADDR: &str = "127.0.0.1:8088";
/// The only command the install block may hold (see the module docs).
const INSTALL_COMMAND: &str = "cargo install --locked --path cli";
/// What the app of step 6 prints, as the README says.
const APP_OUTPUT: &str = "2 + 2 = 4";

/// One marked `sh` block of the README.
#[derive(Debug)]
struct Block {
    kind: String,
    text: String,
}

/// The `sh` blocks preceded by `<!-- walkthrough: KIND -->`, in README order.
fn walkthrough_blocks(readme: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        let Some(kind) = line
            .trim()
            .strip_prefix("<!-- walkthrough:")
            .and_then(|rest| rest.strip_suffix("-->"))
        else {
            continue;
        };
        assert_eq!(
            lines.next().map(str::trim),
            Some("```sh"),
            "README.md: the line after `{line}` must open a ```sh block"
        );
        let mut text = String::new();
        for body in lines.by_ref() {
            if body.trim() == "```" {
                break;
            }
            text.push_str(body);
            text.push('\n');
        }
        blocks.push(Block {
            kind: kind.trim().to_owned(),
            text,
        });
    }
    blocks
}

/// The lines of a block that are not blank and not comments.
fn commands(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect()
}

/// A port no process listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("binding a free loopback port")
        .port()
}

/// Where the shells live: their own `HOME`, `CARGO_HOME` and starting directory.
struct Sandbox {
    _root: tempfile::TempDir,
    home: PathBuf,
    cargo_home: PathBuf,
    start_dir: PathBuf,
}

impl Sandbox {
    fn new() -> TestResult<Self> {
        let root = tempfile::Builder::new().prefix("wharf-readme-").tempdir()?;
        let home = root.path().join("home");
        let cargo_home = root.path().join("cargo-home");
        let start_dir = root.path().join("start");
        for dir in [&home, &cargo_home.join("bin"), &start_dir] {
            std::fs::create_dir_all(dir)?;
        }
        // What `cargo install --locked --path cli` would have put there.
        std::os::unix::fs::symlink(wharf_binary(), cargo_home.join("bin").join("wharf"))?;
        Ok(Self {
            _root: root,
            home,
            cargo_home,
            start_dir,
        })
    }

    /// `bash -euo pipefail -c SCRIPT` in an empty environment but for the sandbox's.
    fn bash(&self, script: &str) -> Command {
        let mut path = vec![self.cargo_home.join("bin")];
        if let Some(toolchain_bin) = std::env::var_os("CARGO")
            .map(PathBuf::from)
            .and_then(|cargo| cargo.parent().map(Path::to_path_buf))
        {
            path.push(toolchain_bin);
        }
        path.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        let mut command = Command::new("bash");
        command
            .args(["-euo", "pipefail", "-c", script])
            .current_dir(&self.start_dir)
            .env_clear()
            .env("PATH", std::env::join_paths(path).expect("PATH entries"))
            .env("HOME", &self.home)
            .env("CARGO_HOME", &self.cargo_home)
            .stdin(Stdio::null());
        let rustup_home = std::env::var_os("RUSTUP_HOME").or_else(|| {
            std::env::var_os("HOME").map(|home| Path::new(&home).join(".rustup").into_os_string())
        });
        if let Some(rustup_home) = rustup_home {
            command.env("RUSTUP_HOME", rustup_home);
        }
        if let Some(toolchain) = std::env::var_os("RUSTUP_TOOLCHAIN") {
            command.env("RUSTUP_TOOLCHAIN", toolchain);
        }
        command
    }
}

/// The server block running in a shell of its own, in its own process group.
struct ServerShell {
    child: Child,
}

impl ServerShell {
    /// Starts `script` and waits until `wharf serve` says it serves.
    fn start(sandbox: &Sandbox, script: &str) -> Self {
        let mut child = sandbox
            .bash(script)
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("bash starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let serving = line.starts_with("wharf: serving on ");
                lines.push(line);
                if serving {
                    let _ = sender.send(Ok(()));
                }
            }
            // The shell ended without serving: hand over what it printed.
            let _ = sender.send(Err(lines.join("\n")));
        });
        match receiver.recv_timeout(Duration::from_mins(1)) {
            Ok(Ok(())) => Self { child },
            Ok(Err(printed)) => panic!("the server block stopped without serving:\n{printed}"),
            Err(waited) => panic!("the server block did not serve within a minute ({waited})"),
        }
    }

    fn signal(&self, signal: &str) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args([signal, "--", &group]).status();
    }

    /// Stops the server as Ctrl-C in its shell does, and waits for the shell to end.
    fn interrupt(mut self) {
        self.signal("-INT");
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().ok().flatten().is_none() {
            assert!(
                Instant::now() < deadline,
                "the server did not stop within 30 s of Ctrl-C"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ServerShell {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.signal("-KILL");
            let _ = self.child.wait();
        }
    }
}

#[test]
fn the_walkthrough_runs_as_written_twice() -> TestResult {
    let readme_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&readme_path)?;
    let blocks = walkthrough_blocks(&readme);
    let of_kind =
        |kind: &str| -> Vec<&Block> { blocks.iter().filter(|b| b.kind == kind).collect() };
    let (install, server, client) = (of_kind("install"), of_kind("server"), of_kind("client"));
    assert_eq!(
        blocks.len(),
        install.len() + server.len() + client.len(),
        "README.md: walkthrough blocks are `install`, `server` or `client`: {blocks:?}"
    );
    assert_eq!(
        install.len(),
        1,
        "README.md needs exactly one install block"
    );
    assert_eq!(
        commands(&install[0].text),
        [INSTALL_COMMAND],
        "README.md: the install block changed; this test stands in for exactly `{INSTALL_COMMAND}`"
    );
    assert_eq!(server.len(), 1, "README.md needs exactly one server block");
    assert!(!client.is_empty(), "README.md has no client block");
    for block in server.iter().chain(&client[..1]) {
        assert!(
            block.text.contains(README_ADDR),
            "README.md: the walkthrough no longer uses {README_ADDR}:\n{}",
            block.text
        );
    }

    let addr = format!("127.0.0.1:{}", free_port());
    let server_script = server[0].text.replace(README_ADDR, &addr);
    let client_script: String = client
        .iter()
        .map(|block| block.text.replace(README_ADDR, &addr))
        .collect();
    let sandbox = Sandbox::new()?;
    for run in 1..=2 {
        let server = ServerShell::start(&sandbox, &server_script);
        let output = sandbox.bash(&client_script).output()?;
        assert!(
            output.status.success(),
            "run {run} of the walkthrough failed:\n{}",
            describe(&output)
        );
        let printed = String::from_utf8_lossy(&output.stdout);
        assert!(
            printed.lines().any(|line| line.trim() == APP_OUTPUT),
            "run {run}: the app did not print `{APP_OUTPUT}`:\n{}",
            describe(&output)
        );
        server.interrupt();
    }
    Ok(())
}
