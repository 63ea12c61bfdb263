//! Verification of a registry that fails closed: from one pinned root key down to each
//! index line (see `docs/trust.md`, "Verifying as a client").
//!
//! A run fixes `now`, walks the keyset chain from the pinned root key, opens the timestamp
//! (signature, expiry, clock skew) and the checkpoint it binds, checks the checkpoint extends
//! the one kept from earlier runs (consistency proof; an older one is a rollback, an equal
//! size with another root a split view), checks the snapshot's bin list, fetches the log's
//! leaves and checks they hash to the checkpoint's root, replays them per package (origin,
//! signatures by the keys valid at each event's log time, yank state), and checks each
//! selected package's index file: its hash in the snapshot, each line against its release
//! leaf (and its inclusion proof when packages are named), and no release missing or line
//! added. The kept state is saved, atomically, only when everything held.
//!
//! ```no_run
//! use wharf_client::verify::{Selection, Verifier, VerifyOptions};
//! use wharf_trust::PublicKey;
//!
//! let root = PublicKey::parse("wharf-ed25519:M6qXXNVAuO0MY2QikiRQPgkO2RzLrrBNVxbNvCQzbb8=")?;
//! let verifier = Verifier::new(
//!     root,
//!     "sparse+https://registry.example/index/",
//!     None,
//!     "/var/lib/wharf-verify".into(),
//!     VerifyOptions::default(),
//! )?;
//! let report = verifier.verify(&Selection::Packages(vec!["acme-widget".into()]))?;
//! for failure in &report.failures {
//!     eprintln!("{failure}");
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cut_file;
mod error;
mod head;
mod held_files;
mod http;
mod index_check;
mod leaf_store;
mod log_replay;
mod state;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use wharf_trust::{Hash, PublicKey, UtcTime};

pub use error::VerifyError;
pub use held_files::VerifiedLog;

use crate::{ClientOptions, IndexUrl};
use http::{CappedHttp, SMALL_CAP};
use state::KeptState;

/// How a [`Verifier`] runs. Every override of a check is off by default and reported in
/// [`Report::overrides`] when used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOptions {
    /// TLS roots, as for the sparse index client (only `ca_certs` is used).
    pub client: ClientOptions,
    /// How far in the future a timestamp may have been issued (this machine's clock may be
    /// behind the registry's).
    pub clock_skew: Duration,
    /// The longest one answer may take, connecting included.
    pub timeout: Duration,
    /// Accept an expired timestamp (an override: reported, and the state is still kept).
    pub allow_expired: bool,
    /// Accept a checkpoint or timestamp older than the one kept (an override: reported, and
    /// the kept state is left untouched).
    pub allow_rollback: bool,
    /// Also download every `.crate` of the packages checked and compare its SHA-256.
    pub check_crates: bool,
    /// The time to judge expiry by; `None` is the current time, read once at the start.
    pub now: Option<UtcTime>,
}

impl VerifyOptions {
    /// The default allowed clock skew: five minutes.
    pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_mins(5);
    /// The default time limit per answer.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_mins(1);
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            client: ClientOptions::default(),
            clock_skew: Self::DEFAULT_CLOCK_SKEW,
            timeout: Self::DEFAULT_TIMEOUT,
            allow_expired: false,
            allow_rollback: false,
            check_crates: false,
            now: None,
        }
    }
}

/// Which packages to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// These packages (each line's inclusion proof is fetched too).
    Packages(Vec<String>),
    /// Every package the log has.
    All,
}

/// One problem found, naming the package and version when it concerns one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The package.
    pub package: String,
    /// The version, when the problem is about one.
    pub version: Option<String>,
    /// One line: what is wrong (it starts with the kind, e.g. `entry mismatch:`).
    pub reason: String,
}

impl Failure {
    fn new(package: &str, version: Option<&str>, reason: String) -> Self {
        Self {
            package: package.to_owned(),
            version: version.map(str::to_owned),
            reason,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            Some(version) => write!(f, "{} {version}: {}", self.package, self.reason),
            None => write!(f, "{}: {}", self.package, self.reason),
        }
    }
}

/// One release as the verified log signs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedRelease {
    /// Its leaf in the log.
    pub leaf: u64,
    /// SHA-256 of the `.crate` (the line's `cksum`).
    pub cksum: Hash,
    /// SHA-256 of the exact index line as published (without the `wharf` member and with
    /// `"yanked":false`).
    pub entry: Hash,
}

/// The outcome of a run that reached the packages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Every problem; empty when everything held.
    pub failures: Vec<Failure>,
    /// Each override used, one line each (e.g. `--allow-expired: accepted …`).
    pub overrides: Vec<String>,
    /// Other things worth telling (e.g. a rotated key dropped the kept state).
    pub notices: Vec<String>,
    /// How many packages were checked.
    pub packages: usize,
    /// How many index lines (versions) were checked.
    pub versions: usize,
    /// The size of the checkpoint verified.
    pub tree_size: u64,
    /// Whether the new state was kept.
    pub state_saved: bool,
    /// The releases of the packages checked, as the log signs them: package → version →
    /// its leaf and signed hashes. An installer compares what it downloaded with these.
    pub releases: BTreeMap<String, BTreeMap<String, SignedRelease>>,
}

impl Report {
    /// Whether everything held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// A client that verifies one registry against a pinned root key.
#[derive(Debug)]
pub struct Verifier {
    root: PublicKey,
    index: IndexUrl,
    token: Option<String>,
    state_dir: PathBuf,
    options: VerifyOptions,
}

/// The working state of one run.
#[derive(Debug)]
pub(crate) struct Session {
    http: CappedHttp,
    index: IndexUrl,
    api: String,
    dl: String,
    now: UtcTime,
    options: VerifyOptions,
    notices: Vec<String>,
    overrides: Vec<String>,
    keep_state: bool,
    bins: HashMap<u8, String>,
    documents: HeadDocuments,
}

/// The signed head documents exactly as the registry served them in one run, for a mirror
/// that serves them again (they verify against the origin's keys wherever they are served).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeadDocuments {
    /// The body of `/api/wharf/v1/log/keyset` (`{"keysets":[…]}`).
    pub keyset_chain: Vec<u8>,
    /// The timestamp note (`/index/.wharf/timestamp`).
    pub timestamp: Vec<u8>,
    /// The checkpoint note the timestamp binds (`/api/wharf/v1/log/checkpoint`).
    pub checkpoint: Vec<u8>,
    /// The snapshot's bin list the timestamp binds, as served: a mirror lists from it
    /// instead of asking for it again.
    pub bin_list: String,
    /// Where under the index the bins of that list were found: [`BINS_PATH`], or, on a
    /// partial mirror, [`ORIGIN_BINS_PATH`].
    pub bins_path: String,
}

/// Where a registry serves its snapshot bins under the index (`/index/.wharf/bins`, then
/// `/NN`): the listing of the files it serves.
pub const BINS_PATH: &str = ".wharf/bins";
/// Where a partial mirror serves the origin's signed snapshot bins, which name files it does
/// not hold, when its own listing at [`BINS_PATH`] names only those it holds.
pub const ORIGIN_BINS_PATH: &str = ".wharf/origin-bins";
/// Where a partial mirror serves, under the index, the origin's whole file of each file it
/// cut (`--roots`, `--lockfile`): `/index/.wharf/origin/<index path>`, byte-identical to the
/// origin's, so the cut file is proven against the origin's signed snapshot.
pub const ORIGIN_FILES_PATH: &str = ".wharf/origin";

/// The verified head and log of one run.
#[derive(Debug)]
struct LogView {
    session: Session,
    kept: KeptState,
    head: head::Head,
    leaves: Vec<Vec<u8>>,
    replay: log_replay::Replay,
}

impl Session {
    fn index_url(&self, path: &str) -> String {
        self.index.join(path)
    }

    fn log_url(&self, rest: &str) -> String {
        format!("{}/api/wharf/v1/log/{rest}", self.api)
    }

    /// The text of snapshot bin `bin`, fetched once per run.
    fn bin(&mut self, bin: u8) -> Result<String, VerifyError> {
        if let Some(text) = self.bins.get(&bin) {
            return Ok(text.clone());
        }
        let path = match self.documents.bins_path.as_str() {
            "" => BINS_PATH,
            path => path,
        };
        let url = self.index_url(&format!("{path}/{bin:02x}"));
        let text = self.http.get_text(&url, "snapshot bin", http::LARGE_CAP)?;
        self.bins.insert(bin, text.clone());
        Ok(text)
    }

    /// The download URL of a version, from `config.json`'s `dl` as cargo expands it.
    fn download_url(&self, name: &str, version: &str, cksum: &Hash) -> String {
        wharf_index_format::download_url(&self.dl, name, version, &cksum.to_hex())
    }
}

impl Verifier {
    /// A verifier of the registry at `index_url` (`sparse+http(s)://…/`) for clients that
    /// pinned `root`, keeping its state under `state_dir` (one file per root key).
    pub fn new(
        root: PublicKey,
        index_url: &str,
        token: Option<String>,
        state_dir: PathBuf,
        options: VerifyOptions,
    ) -> Result<Self, VerifyError> {
        Ok(Self {
            root,
            index: IndexUrl::parse(index_url)?,
            token,
            state_dir,
            options,
        })
    }

    /// Fixes `now`, sets up HTTP and reads `config.json` for the API and download URLs.
    fn open_session(&self) -> Result<Session, VerifyError> {
        let now = head::fixed_now(self.options.now);
        let http = CappedHttp::new(
            self.token.clone(),
            &self.options.client,
            self.options.timeout,
        )?;
        let config_url = self.index.join("config.json");
        let config = http.get(&config_url, "registry config.json", SMALL_CAP)?;
        let config: serde_json::Value =
            serde_json::from_slice(&config).map_err(|e| VerifyError::Malformed {
                url: config_url.clone(),
                what: "registry config.json".to_owned(),
                reason: e.to_string(),
            })?;
        let text = |key: &str| config.get(key).and_then(serde_json::Value::as_str);
        let api = text("api").map_or_else(
            || {
                self.index
                    .as_str()
                    .trim_end_matches('/')
                    .trim_end_matches("/index")
                    .to_owned()
            },
            |api| api.trim_end_matches('/').to_owned(),
        );
        let dl = text("dl").unwrap_or_default().to_owned();
        Ok(Session {
            http,
            index: self.index.clone(),
            api,
            dl,
            now,
            options: self.options.clone(),
            notices: Vec::new(),
            overrides: Vec::new(),
            keep_state: true,
            bins: HashMap::new(),
            documents: HeadDocuments::default(),
        })
    }

    /// Steps 1–4: the head from the pinned root key, the leaves, and their replay (the
    /// signatures of the events of `names`, or of every package).
    fn open_log(&self, names: Option<&[String]>) -> Result<LogView, VerifyError> {
        let mut session = self.open_session()?;
        let mut kept = KeptState::load(&state::state_path(&self.state_dir, &self.root))?;
        let keysets = head::keyset_chain(&mut session, &self.root)?;
        head::apply_keyset(
            &mut session,
            keysets.last().expect("a chain has at least one keyset"),
            &mut kept,
        )?;
        let head = head::fetch_head(&mut session, keysets, &mut kept)?;
        let known = if session.keep_state {
            leaf_store::load(&leaf_store::leaves_path(&self.state_dir, &self.root))
        } else {
            Vec::new()
        };
        let leaves = log_replay::fetch_leaves(
            &mut session,
            head.checkpoint.size(),
            head.checkpoint.root(),
            known,
        )?;
        let replay = log_replay::replay(&leaves, &head.keysets, names);
        Ok(LogView {
            session,
            kept,
            head,
            leaves,
            replay,
        })
    }

    /// Keeps the state and the leaves of a run where everything held.
    fn save(&self, kept: &KeptState, leaves: &[Vec<u8>]) -> Result<(), VerifyError> {
        leaf_store::save(
            &leaf_store::leaves_path(&self.state_dir, &self.root),
            leaves,
        )?;
        kept.save(&state::state_path(&self.state_dir, &self.root))
    }

    /// Runs the checks on `selection`. `Err` when the registry's head (keyset, timestamp,
    /// checkpoint, bin list, leaves) does not verify or cannot be fetched: nothing can be
    /// trusted then. Package problems are in [`Report::failures`].
    pub fn verify(&self, selection: &Selection) -> Result<Report, VerifyError> {
        let names = match selection {
            Selection::Packages(names) => Some(names.as_slice()),
            Selection::All => None,
        };
        let LogView {
            mut session,
            kept,
            head,
            leaves,
            replay,
        } = self.open_log(names)?;
        let size = head.checkpoint.size();
        let prove_lines = names.is_some();
        let mut report = Report {
            tree_size: size,
            ..Report::default()
        };
        report.failures.extend(replay.failures.iter().cloned());
        let packages: Vec<String> = match selection {
            Selection::Packages(names) => names.clone(),
            // Every package the log released (one with only owner events has no file).
            Selection::All => replay
                .packages
                .iter()
                .filter(|(_, package)| !package.releases.is_empty())
                .map(|(name, _)| name.clone())
                .collect(),
        };
        if names.is_none() {
            for (leaf, reason) in &replay.broken {
                report.failures.push(Failure::new(
                    "(log)",
                    None,
                    format!("leaf {leaf} is refused: {reason}"),
                ));
            }
        }
        for name in &packages {
            let failures = index_check::check_package(
                &mut session,
                &head,
                &replay,
                &leaves,
                name,
                prove_lines,
            )?;
            report.versions += replay
                .packages
                .get(name)
                .map_or(0, |package| package.releases.len());
            report.failures.extend(failures);
            if let Some(package) = replay.packages.get(name) {
                report
                    .releases
                    .insert(name.clone(), package.signed_releases());
            }
        }
        report.packages = packages.len();
        report.overrides = std::mem::take(&mut session.overrides);
        report.notices = std::mem::take(&mut session.notices);
        if report.passed() && session.keep_state {
            self.save(&kept, &leaves)?;
            report.state_saved = true;
        }
        tracing::debug!(
            requests = session
                .http
                .requests
                .load(std::sync::atomic::Ordering::Relaxed),
            "verification done"
        );
        Ok(report)
    }
}
