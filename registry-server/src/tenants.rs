//! Tenants: registries of their own inside one server.
//!
//! A tenant has its own storage (index, names, users, tokens, owners, log and keys) and its
//! own [`AppState`]; its paths are the default registry's paths under `/t/{tenant}`
//! (`/t/acme/index/config.json`, `/t/acme/api/v1/crates/new`, ...). The default tenant keeps
//! the paths without a prefix. Which tenants exist is decided by whoever builds the
//! [`Tenants`] (`wharf serve` reads a table in the data directory and calls
//! [`Tenants::activate`], [`Tenants::suspend`] and [`Tenants::remove`] when it changes).
//!
//! What a tenant's paths answer, so that no answer tells one tenant's packages, or even its
//! existence, to a caller without a token of that tenant:
//! - an active tenant with `auth-required` needs a token of its own for every request: none is
//!   a 401 with cargo's login challenge, a token it does not know (another tenant's, say) a
//!   401 naming the token as invalid, before any path is looked at;
//! - a name that is no active or suspended tenant (or no valid name at all) answers exactly
//!   as such a tenant does: the token is looked up in an empty registry's storage (the same
//!   work as a real lookup) and refused the same way, with the name the caller gave;
//! - a suspended tenant answers 403 naming the tenant and saying an operator must resume it;
//! - each of those refusals is recorded in an audit log (`tenant.refused`): the default
//!   registry's (the operator's) for a suspended or unknown tenant, the tenant's own for a
//!   token it does not know; no tenant's log tells of another tenant;
//! - a tenant cannot change its own plan (`PUT /t/{tenant}/api/wharf/v1/plan` is a 403,
//!   audited in the tenant's log): the operator sets it on the tenant's data directory;
//! - the web UI's pages (`/t/{tenant}/`, `/t/{tenant}/packages/...`) skip the token gate and
//!   check the visitor's session in the tenant's storage, their links under the prefix; a name
//!   that is no tenant shows the pages of the empty registry as an `auth-required` tenant, so
//!   they look like an `auth-required` tenant's to a visitor without its session; a suspended
//!   tenant's pages are the 403 as an HTML page;
//! - a public tenant (no `auth-required`) serves its index to anyone, like the default one.

use std::collections::HashMap;
use std::convert::Infallible;
use std::error::Error as StdError;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, Uri};
use hyper::body::Body;
use wharf_storage::{AuditEntry, Storage, StorageError};

use crate::auth::presented_token;
use crate::error::ApiError;
use crate::response::Resp;
use crate::router;
use crate::state::AppState;

/// The path prefix of tenants' registries: `/t/{tenant}/...`.
pub const TENANT_PREFIX: &str = "/t/";

/// A tenant as the server sees it.
#[derive(Debug, Clone)]
enum Tenant {
    /// Serving.
    Active(Arc<AppState>),
    /// Keeps its data; every request answers 403.
    Suspended,
}

/// The default registry and the tenants one server serves.
#[derive(Debug)]
pub struct Tenants {
    default: Arc<AppState>,
    by_name: RwLock<HashMap<String, Tenant>>,
    /// An empty registry's storage: tokens presented to a name that is no tenant are looked
    /// up here, so that such a request does the work a real tenant's refusal does.
    void: OnceLock<Storage>,
    /// The same empty registry as an `auth-required` registry's state: its web UI answers the
    /// pages of names that are no tenant.
    void_state: OnceLock<Arc<AppState>>,
}

impl Tenants {
    /// The default registry (today's paths) with no tenants yet.
    pub fn new(default: Arc<AppState>) -> Self {
        Self {
            default,
            by_name: RwLock::new(HashMap::new()),
            void: OnceLock::new(),
            void_state: OnceLock::new(),
        }
    }

    /// Gives the storage of an empty registry that holds no tokens: from now on requests to
    /// names that are no tenant look their token up there (the work a real tenant's refusal
    /// does) before they are refused. Only the first call counts.
    pub fn set_void(&self, void: Storage) {
        let mut config = self.default.config.clone();
        config.auth_required = true;
        config.git_index = None;
        config.presigned_downloads = None;
        let _first = self
            .void_state
            .set(Arc::new(AppState::new(void.clone(), config)));
        let _first = self.void.set(void);
    }

    /// The default registry's state.
    pub fn default_state(&self) -> &Arc<AppState> {
        &self.default
    }

    /// Serves `name` from `state` from now on (a new tenant, or a resumed one).
    pub fn activate(&self, name: &str, state: Arc<AppState>) {
        self.write().insert(name.to_owned(), Tenant::Active(state));
    }

    /// Answers every request of `name` with 403 from now on; its data is kept.
    pub fn suspend(&self, name: &str) {
        self.write().insert(name.to_owned(), Tenant::Suspended);
    }

    /// Forgets `name`: its paths answer as for a name that is no tenant.
    pub fn remove(&self, name: &str) {
        self.write().remove(name);
    }

    /// The state of an active tenant.
    pub fn active(&self, name: &str) -> Option<Arc<AppState>> {
        match self.read().get(name) {
            Some(Tenant::Active(state)) => Some(Arc::clone(state)),
            _ => None,
        }
    }

    /// The names the server knows (active and suspended), sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.read().keys().cloned().collect();
        names.sort();
        names
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Tenant>> {
        self.by_name.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Tenant>> {
        self.by_name.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Answers an index file of the default registry or of a public tenant at once (see
    /// [`router::answer_index_file_now`]); `None` for anything else.
    pub(crate) fn answer_now<B>(&self, request: &Request<B>) -> Option<Resp> {
        let path = request.uri().path();
        let Some(rest) = path.strip_prefix(TENANT_PREFIX) else {
            return router::answer_index_file_now(&self.default, request, path);
        };
        let (name, sub) = split_tenant(rest);
        let state = match self.read().get(name) {
            Some(Tenant::Active(state)) if !state.config.auth_required => Arc::clone(state),
            _ => return None,
        };
        router::answer_index_file_now(&state, request, sub)
    }

    /// Runs `answer` with the public registry (the default or an active tenant) and the index
    /// file path that `path` names (see [`crate::site::Site::with_index_file`]).
    pub(crate) fn with_index_file<R>(
        &self,
        path: &str,
        answer: impl FnOnce(&AppState, &str) -> R,
    ) -> Option<R> {
        let Some(rest) = path.strip_prefix(TENANT_PREFIX) else {
            let file = router::index_file_path(path)?;
            return (!self.default.config.auth_required).then(|| answer(&self.default, file));
        };
        let (name, sub) = split_tenant(rest);
        let file = router::index_file_path(sub)?;
        let state = match self.read().get(name) {
            Some(Tenant::Active(state)) if !state.config.auth_required => Arc::clone(state),
            _ => return None,
        };
        Some(answer(&state, file))
    }

    /// Answers one request of the default registry or of a tenant.
    pub(crate) async fn handle<B>(
        self: Arc<Self>,
        mut request: Request<B>,
    ) -> Result<Resp, Infallible>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let Some(rest) = request.uri().path().strip_prefix(TENANT_PREFIX) else {
            return router::handle(Arc::clone(&self.default), request).await;
        };
        let (name, sub) = split_tenant(rest);
        let name = name.to_owned();
        let sub = sub.to_owned();
        let web = crate::web::is_web_path(&sub);
        let tenant = self.read().get(&name).cloned();
        let state = match tenant {
            Some(Tenant::Active(state)) => state,
            Some(Tenant::Suspended) => {
                let refusal = refused(&self.default, &name, &request, suspended(&name));
                return Ok(answer(web, &name, refusal));
            }
            // A name that is no tenant shows the pages of an empty `auth-required` registry,
            // which is what a tenant's pages show a visitor without a session of its own.
            None if web && self.void_state.get().is_some() => {
                let void = self.void_state.get().map(Arc::clone);
                return Ok(Box::pin(web_page(void, &name, &sub, request)).await);
            }
            None => {
                let login_url = format!("{}{TENANT_PREFIX}{name}/me", self.base_url());
                let refusal = admit(self.void.get(), &login_url, request.headers())
                    .await
                    .err()
                    .unwrap_or_else(|| no_such_endpoint(&name, &sub));
                return Ok(refused(&self.default, &name, &request, refusal).into_response());
            }
        };
        // The pages check the visitor's session themselves (`auth-required`: every page but
        // the login form needs one of this tenant's sessions).
        if web {
            return Ok(Box::pin(web_page(Some(state), &name, &sub, request)).await);
        }
        if state.config.auth_required
            && let Err(refusal) = admit(
                Some(&state.storage),
                &state.config.login_url(),
                request.headers(),
            )
            .await
        {
            return Ok(refused(&state, &name, &request, refusal).into_response());
        }
        if sub == crate::handlers::usage::PLAN_PATH {
            let actor = crate::auth::login_or_anonymous(&state, request.headers()).await;
            return Ok(record_refusal(
                &state,
                &name,
                &request,
                &actor,
                "plan.set",
                operator_sets_plans(&name),
            )
            .into_response());
        }
        match with_path(request.uri(), &sub) {
            Ok(uri) => *request.uri_mut() = uri,
            Err(error) => return Ok(error.into_response()),
        }
        router::handle(state, request).await
    }

    /// The default registry's public URL, the base of every tenant's.
    fn base_url(&self) -> &str {
        &self.default.config.public_url
    }
}

/// Answers a web UI page `sub` of tenant `name` from `state` (the tenant's, or the empty
/// registry's for a name that is no tenant), its links, forms and cookies under `/t/{name}`.
/// A name that cannot be a tenant's (see `docs/tenants.md`) is no page.
async fn web_page<B>(
    state: Option<Arc<AppState>>,
    name: &str,
    sub: &str,
    mut request: Request<B>,
) -> Resp
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let could_be_tenant = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-');
    let Some(state) = state.filter(|_| could_be_tenant) else {
        return crate::web::error_page_under(String::new(), &no_such_endpoint(name, sub));
    };
    match with_path(request.uri(), sub) {
        Ok(uri) => *request.uri_mut() = uri,
        Err(error) => return answer(true, name, error),
    }
    let handled = crate::web::under(
        format!("{TENANT_PREFIX}{name}"),
        router::handle(state, request),
    );
    match handled.await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// The answer to a refused request: the web UI's HTML page (under the tenant's prefix) for a
/// page's path, the API's JSON error otherwise.
fn answer(web: bool, name: &str, refusal: ApiError) -> Resp {
    if web {
        crate::web::error_page_under(format!("{TENANT_PREFIX}{name}"), &refusal)
    } else {
        refusal.into_response()
    }
}

/// Splits `acme/index/co/nf` into the tenant's name and the path within it (`/index/co/nf`).
fn split_tenant(rest: &str) -> (&str, &str) {
    match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    }
}

/// `uri` with its path replaced by `path` (the query kept).
fn with_path(uri: &Uri, path: &str) -> Result<Uri, ApiError> {
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(
        path_and_query
            .parse()
            .map_err(|_| ApiError::bad_request(format!("the path `{path}` is not valid")))?,
    );
    Uri::from_parts(parts)
        .map_err(|_| ApiError::bad_request(format!("the path `{path}` is not valid")))
}

/// Lets a request of an `auth-required` tenant through only with a token of that tenant; the
/// refusal is the same whatever path was asked for. Without a storage (no tenant was ever
/// configured) every token is refused as invalid.
async fn admit(
    storage: Option<&Storage>,
    login_url: &str,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let Some(token) = presented_token(headers) else {
        return Err(ApiError::unauthorized(
            format!(
                "this registry requires a token; create one with `wharf token create` (see {login_url}) and run `cargo login`"
            ),
            login_url,
        ));
    };
    let authenticated = match storage {
        Some(storage) => storage.authenticate_async(token).await,
        None => Err(StorageError::InvalidToken),
    };
    match authenticated {
        Ok(_) => Ok(()),
        Err(
            error @ (StorageError::InvalidToken
            | StorageError::ExpiredToken
            | StorageError::RevokedToken),
        ) => Err(ApiError::unauthorized(error.to_string(), login_url)),
        Err(other) => Err(other.into()),
    }
}

/// The answer of every request to a suspended tenant.
fn suspended(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        format!(
            "tenant `{name}` is suspended; an operator must resume it (`wharf tenant resume {name}`) before it serves again"
        ),
    )
}

/// Answers `refusal` and records it in `state`'s audit log (action `tenant.refused`, the
/// path asked for, the status and message): the default registry's log for a suspended or
/// unknown tenant, the tenant's own for a token it does not know. Each refusal queues one
/// record, whichever case it is, the record names `tenant` (the one asked for) and nothing
/// but what the caller sent.
fn refused<B>(state: &AppState, tenant: &str, request: &Request<B>, refusal: ApiError) -> ApiError {
    record_refusal(
        state,
        tenant,
        request,
        "anonymous",
        "tenant.refused",
        refusal,
    )
}

/// Records `refusal` as `action` of `actor` about `tenant` in `state`'s audit log and gives
/// it back to be answered.
fn record_refusal<B>(
    state: &AppState,
    tenant: &str,
    request: &Request<B>,
    actor: &str,
    action: &str,
    refusal: ApiError,
) -> ApiError {
    let outcome = format!("{}: {}", refusal.status().as_u16(), refusal.detail());
    let source = request
        .extensions()
        .get::<crate::audit::PeerAddr>()
        .map_or_else(|| "unknown".to_owned(), |peer| peer.0.ip().to_string());
    state.storage.audit_about(
        tenant,
        AuditEntry::new(actor, source, action, request.uri().path(), outcome),
    );
    refusal
}

/// A tenant's plan is the operator's to set, never its own admins'.
fn operator_sets_plans(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        format!(
            "tenant `{name}` cannot change its own plan: the server's operator sets it (`wharf admin plan set PLAN --data DATA/tenants/{name}`)"
        ),
    )
}

/// A 404 for a path a tenant does not serve.
fn no_such_endpoint(name: &str, sub: &str) -> ApiError {
    ApiError::not_found(format!("no such endpoint: {TENANT_PREFIX}{name}{sub}"))
}

#[cfg(test)]
mod tests {
    use super::split_tenant;

    #[test]
    fn splits_the_tenant_from_its_path() {
        assert_eq!(split_tenant("acme/index/co/nf"), ("acme", "/index/co/nf"));
        assert_eq!(split_tenant("acme"), ("acme", "/"));
        assert_eq!(split_tenant("/index/x"), ("", "/index/x"));
    }
}
