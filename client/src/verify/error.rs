//! [`VerifyError`]: why verification could not run or stopped before any package was judged.

use std::path::PathBuf;

use wharf_trust::TrustError;

use crate::ClientError;

/// Everything that stops a verification run as a whole. Each variant names the URL or file
/// at fault; a package-level problem is a [`crate::verify::Failure`] instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The index URL, TLS setup or token was refused before anything was fetched.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A request got no usable answer (no connection, an HTTP error status, a broken body).
    #[error("cannot fetch `{url}`: {reason}; verification needs it and fails closed")]
    Fetch {
        /// The URL requested.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// An answer grew over its size cap (a server streaming endless data).
    #[error(
        "`{url}` sent more than {cap} bytes, the most a {what} may have: the source is broken or hostile; refuse it"
    )]
    TooLarge {
        /// The URL requested.
        url: String,
        /// What was fetched.
        what: String,
        /// The cap in bytes.
        cap: u64,
    },
    /// An answer took longer than the time allowed (a server dripping bytes).
    #[error(
        "`{url}` took over {seconds} s to send {received} bytes: the source is too slow or stalling; try another mirror or a longer `--timeout`"
    )]
    TooSlow {
        /// The URL requested.
        url: String,
        /// The time allowed, in seconds.
        seconds: u64,
        /// The bytes received by then.
        received: u64,
    },
    /// An answer is not in the format the endpoint serves.
    #[error("`{url}` is not a valid {what}: {reason}")]
    Malformed {
        /// The URL requested.
        url: String,
        /// What it should be.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// A signed document failed a check (keyset chain, timestamp, checkpoint, consistency,
    /// snapshot bin list).
    #[error("{source} (served by `{url}`)")]
    Trust {
        /// The URL that served the document.
        url: String,
        /// The check that failed.
        source: TrustError,
    },
    /// The leaves served are not the tree the signed checkpoint names.
    #[error(
        "the {size} leaves served by `{url}` do not hash to the root of the signed checkpoint: the log was altered in transit; refuse it"
    )]
    LeavesMismatch {
        /// The leaves endpoint.
        url: String,
        /// The checkpoint's size.
        size: u64,
    },
    /// The state directory cannot be read or written.
    #[error("verification state `{}`: {reason}", .path.display())]
    State {
        /// The state file or directory.
        path: PathBuf,
        /// What went wrong, and what to do.
        reason: String,
    },
}
