//! Teams over HTTP (docs/roles.md):
//!
//! - `GET /api/wharf/v1/teams`: every team with its members and packages;
//! - `POST /api/wharf/v1/teams` with `{"name":"…"}` (needs `manage-teams`);
//! - `PUT|DELETE /api/wharf/v1/teams/{name}/members` with `{"users":["login",…]}` (needs
//!   `manage-teams`).
//!
//! A team owns packages through the cargo owners API: `cargo owner --add team:NAME`.

use http::{HeaderMap, Method, StatusCode};
use serde::Deserialize;
use wharf_storage::Action;

use crate::audit::AuditTarget;
use crate::auth;
use crate::error::ApiError;
use crate::response::{Resp, json_ok};
use crate::state::AppState;

/// The teams endpoint and the prefix of `/{name}/members`.
pub(crate) const PATH: &str = "/api/wharf/v1/teams";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TeamBody {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MembersBody {
    users: Vec<String>,
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8], what: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the {what} body is not valid JSON: {e}")))
}

fn with_target(mut response: Resp, target: String) -> Resp {
    response.extensions_mut().insert(AuditTarget(target));
    response
}

/// Routes the teams endpoints (`segments` follow `/api/wharf/v1/`).
pub(crate) async fn route(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
    path: &str,
    segments: &[&str],
    body: &[u8],
) -> Result<Resp, ApiError> {
    let principal = auth::writer(state, headers).await?;
    match (method, segments) {
        (&Method::GET, ["teams"]) => {
            principal.require(Action::Read, "list teams")?;
            Ok(json_ok(
                &serde_json::json!({ "teams": state.storage.teams()? }),
            ))
        }
        (&Method::POST, ["teams"]) => {
            let request: TeamBody = parse(body, "team")?;
            state.storage.create_team(Some(&principal), &request.name)?;
            Ok(with_target(
                json_ok(&serde_json::json!({ "ok": true, "name": request.name })),
                format!("team {}", request.name),
            ))
        }
        (&Method::PUT | &Method::DELETE, ["teams", name, "members"]) => {
            let request: MembersBody = parse(body, "team members")?;
            if request.users.is_empty() {
                return Err(ApiError::bad_request(
                    "no users named; send {\"users\":[\"login\",…]}",
                ));
            }
            let changed = if method == Method::PUT {
                state
                    .storage
                    .add_team_members(Some(&principal), name, &request.users)?
            } else {
                state
                    .storage
                    .remove_team_members(Some(&principal), name, &request.users)?
            };
            Ok(with_target(
                json_ok(&serde_json::json!({ "ok": true, "changed": changed })),
                format!("team {name}: {}", request.users.join(", ")),
            ))
        }
        _ => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not allowed on {path}"),
        )),
    }
}
