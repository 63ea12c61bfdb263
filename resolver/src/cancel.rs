//! Stopping a resolution from outside: a deadline, or a token another thread sets.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::ResolveError;

/// A flag that stops every resolution holding a clone of it; cheap to clone and share.
///
/// ```
/// use wharf_resolver::CancelToken;
/// let token = CancelToken::new();
/// let for_the_ui = token.clone();
/// for_the_ui.cancel();
/// assert!(token.is_cancelled());
/// ```
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token not yet cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every resolution using this token to stop at its next step.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// When a resolution stops early, checked between PubGrub's steps.
#[derive(Debug, Clone, Default)]
pub(crate) struct Cancellation {
    pub(crate) deadline: Option<Instant>,
    pub(crate) token: Option<CancelToken>,
}

impl Cancellation {
    /// `Err(Cancelled)` once the deadline has passed or the token is set.
    pub(crate) fn check(&self) -> Result<(), ResolveError> {
        if self.token.as_ref().is_some_and(CancelToken::is_cancelled) {
            return Err(ResolveError::Cancelled {
                reason: "its cancel token was set".to_owned(),
            });
        }
        if self
            .deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
        {
            return Err(ResolveError::Cancelled {
                reason: "its deadline passed".to_owned(),
            });
        }
        Ok(())
    }
}
