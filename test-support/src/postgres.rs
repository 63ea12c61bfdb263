//! A throwaway PostgreSQL cluster on loopback, for tests and benchmarks of the PostgreSQL
//! metadata backend.
//!
//! [`PostgresServer::start`] runs Debian's `initdb` in a temporary directory, starts
//! `postgres` on a free port of 127.0.0.1 (and a Unix socket in the same directory), creates
//! the database `wharf` owned by the superuser `wharf` (trust authentication, loopback only),
//! and returns once it accepts connections. The server is shut down and its files removed on
//! drop.
//!
//! The programs are looked up in `WHARF_POSTGRES_BIN` (a directory holding `initdb`,
//! `postgres` and `createdb`), then in the newest `/usr/lib/postgresql/<major>/bin`. Without
//! them [`PostgresServer::start`] panics with one line saying how to install them
//! (`apt-get install postgresql`, which `scripts/test.sh` runs): PostgreSQL tests fail rather
//! than skip.
//!
//! PostgreSQL refuses to run as root. When the tests run as root, the cluster's directory is
//! given to the unprivileged user `nobody` and `initdb` and `postgres` run as that user
//! through `setpriv` (which replaces itself with the program, so the child killed on drop is
//! `postgres` itself).

use std::net::TcpListener;
use std::os::unix::fs::chown;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long PostgreSQL gets to accept connections.
const START_TIMEOUT: Duration = Duration::from_mins(1);

/// The superuser and the database made at start.
const NAME: &str = "wharf";

/// A running PostgreSQL cluster with one database, `wharf`.
#[derive(Debug)]
pub struct PostgresServer {
    /// The TCP port on 127.0.0.1.
    pub port: u16,
    bin: PathBuf,
    child: Child,
    dir: tempfile::TempDir,
}

/// The directory holding `initdb` and `postgres`, or a panic saying how to install them.
fn postgres_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("WHARF_POSTGRES_BIN") {
        return PathBuf::from(path);
    }
    let mut majors: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((major, bin))
        })
        .collect();
    majors.sort();
    let Some((_, bin)) = majors.pop() else {
        panic!(
            "the PostgreSQL tests need `initdb` and `postgres` and they are not installed: run `apt-get install postgresql` (scripts/test.sh does), or set WHARF_POSTGRES_BIN to the directory holding them"
        )
    };
    bin
}

/// A free loopback port (bound and released; PostgreSQL binds it right after).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

/// Whether this process runs as root (PostgreSQL's servers then need another user).
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|id| id == "0"))
        })
        .unwrap_or(false)
}

/// The uid and gid of `nobody`, from `/etc/passwd`.
fn nobody_ids() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").expect("reading /etc/passwd");
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.first() == Some(&"nobody") && fields.len() > 3)
                .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
                .flatten()
        })
        .unwrap_or((65534, 65534))
}

/// `program` as a command, run as `nobody` when this process is root.
fn server_command(program: &Path) -> Command {
    if running_as_root() {
        let (uid, gid) = nobody_ids();
        let mut command = Command::new("setpriv");
        command
            .arg(format!("--reuid={uid}"))
            .arg(format!("--regid={gid}"))
            .arg("--clear-groups")
            .arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// Gives `path` and everything under it to `nobody` when this process is root.
fn hand_over(path: &Path) {
    if !running_as_root() {
        return;
    }
    let (uid, gid) = nobody_ids();
    chown(path, Some(uid), Some(gid))
        .unwrap_or_else(|error| panic!("cannot give `{}` to nobody: {error}", path.display()));
}

impl PostgresServer {
    /// Initialises and starts a cluster with database `wharf`; panics (with the server's log)
    /// when it does not come up.
    #[must_use]
    pub fn start() -> Self {
        let bin = postgres_bin();
        let dir = tempfile::tempdir().expect("a temporary directory for PostgreSQL");
        hand_over(dir.path());
        let data = dir.path().join("data");
        let init = server_command(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                NAME,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|error| panic!("cannot run `{}/initdb`: {error}", bin.display()));
        assert!(
            init.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&init.stdout),
            String::from_utf8_lossy(&init.stderr)
        );
        let port = free_port();
        let log_path = dir.path().join("postgres.log");
        let log = std::fs::File::create(&log_path).expect("postgres.log");
        hand_over(&log_path);
        let child = server_command(&bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .arg("-p")
            .arg(port.to_string())
            .arg("-k")
            .arg(dir.path())
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "max_connections=200"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("postgres.log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run `{}/postgres`: {error}", bin.display()));
        let mut server = Self {
            port,
            bin,
            child,
            dir,
        };
        server.wait_until_ready();
        server.create_database(NAME);
        server
    }

    /// Waits until `createdb`'s connection attempts stop being refused.
    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.fail(&format!("postgres exited with {status}"));
            }
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", NAME])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            if ready {
                return;
            }
            if Instant::now() > deadline {
                self.fail("it never accepted connections");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Creates another database `name` in the cluster (one per test keeps tests apart).
    pub fn create_database(&self, name: &str) {
        let output = Command::new(self.bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", NAME])
            .arg(name)
            .output()
            .unwrap_or_else(|error| {
                panic!("cannot run `{}/createdb`: {error}", self.bin.display())
            });
        assert!(
            output.status.success(),
            "createdb {name} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }

    /// The connection URL of the database `wharf`.
    #[must_use]
    pub fn url(&self) -> String {
        self.database_url(NAME)
    }

    /// The connection URL of the database `name` (see [`PostgresServer::create_database`]).
    #[must_use]
    pub fn database_url(&self, name: &str) -> String {
        format!("postgres://{NAME}@127.0.0.1:{}/{name}", self.port)
    }

    /// The process id of the cluster's `postgres` server (a test may kill it to see what
    /// the clients do without their database).
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The directory the cluster keeps its files, log and Unix socket in.
    #[must_use]
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn fail(&self, what: &str) -> ! {
        let log = std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default();
        panic!("PostgreSQL did not start: {what}\n--- postgres.log ---\n{log}");
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        // A fast shutdown (SIGINT) ends the server's own processes too; SIGKILL would leave
        // its backends behind until they notice.
        let _sent = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _already_gone = self.child.kill();
        let _exit = self.child.wait();
    }
}

/// Copies the signing keys of one node's data directory into another's (`keys/`, modes
/// kept), as an operator does before a new node joins a registry on one PostgreSQL database.
///
/// # Panics
/// When a key cannot be read or written (a test setup failure).
pub fn copy_keys(from: &std::path::Path, to: &std::path::Path) {
    let (from, to) = (from.join("keys"), to.join("keys"));
    std::fs::create_dir_all(&to).expect("creating the node's keys directory");
    std::fs::set_permissions(
        &to,
        std::fs::metadata(&from).expect("the keys").permissions(),
    )
    .expect("keeping the directory's mode");
    for entry in std::fs::read_dir(&from).expect("reading the keys") {
        let entry = entry.expect("a key file");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copying a key file");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_starts_takes_a_database_and_stops_on_drop() {
        let server = PostgresServer::start();
        server.create_database("second");
        let psql = |database: &str, sql: &str| {
            let output = Command::new(server.bin.join("psql"))
                .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
                .arg(server.database_url(database))
                .args(["-c", sql])
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8_lossy(&output.stdout).trim().to_owned()
        };
        assert_eq!(psql("wharf", "SELECT current_database()"), "wharf");
        assert_eq!(psql("second", "SELECT current_database()"), "second");
        let pid = server.child.id();
        let dir = server.dir().to_path_buf();
        drop(server);
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists() || {
                // A zombie is gone for every purpose; the status file says so.
                std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .is_ok_and(|status| status.contains("zombie"))
            }
        );
        assert!(!dir.exists());
    }
}
