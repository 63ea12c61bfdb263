//! Roles, teams and narrowed tokens against a real `wharf serve`: every role × every action
//! of the permission table over real HTTP (the table read from docs/roles.md and compared
//! with the binary's own), teams owning a crate through real `cargo owner`, tokens narrowed
//! to a role, and the audit records of role and team changes and refusals.

use std::path::Path;

use reqwest::Method;
use serde_json::{Value, json};
use wharf_e2e_tests::upload::publish_body;
use wharf_e2e_tests::{CargoEnv, CrateProject, TestRegistry, TestResult, wharf_binary};

const ROLES: [&str; 5] = [
    "tenant-admin",
    "maintainer",
    "publisher",
    "reader",
    "auditor",
];

/// The table between the markers of docs/roles.md.
fn documented_table() -> TestResult<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/roles.md");
    let text = std::fs::read_to_string(&path)?;
    let start = text
        .find("<!-- permission-table:start -->\n")
        .ok_or("docs/roles.md has no permission-table start marker")?;
    let end = text
        .find("<!-- permission-table:end -->")
        .ok_or("docs/roles.md has no permission-table end marker")?;
    Ok(text[start + "<!-- permission-table:start -->\n".len()..end].to_owned())
}

/// `(action, [allowed per role in ROLES order])` rows of a Markdown table.
fn parse_table(table: &str) -> TestResult<Vec<(String, Vec<bool>)>> {
    let mut lines = table.lines();
    let header: Vec<&str> = lines
        .next()
        .ok_or("empty table")?
        .split('|')
        .map(str::trim)
        .filter(|cell| !cell.is_empty())
        .collect();
    assert_eq!(header[1..], ROLES, "the table's columns are the roles");
    lines
        .skip(1)
        .map(|line| {
            let cells: Vec<&str> = line
                .split('|')
                .map(str::trim)
                .filter(|cell| !cell.is_empty())
                .collect();
            let allowed = cells[1..]
                .iter()
                .map(|cell| match *cell {
                    "yes" => Ok(true),
                    "no" => Ok(false),
                    other => Err(format!("cell `{other}` is neither yes nor no")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((cells[0].to_owned(), allowed))
        })
        .collect()
}

fn send(
    registry: &TestRegistry,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Vec<u8>>,
) -> TestResult<(u16, String)> {
    let mut request = registry
        .http()
        .request(method, format!("{}{path}", registry.url()))
        .header("Authorization", token);
    if let Some(body) = body {
        request = request.body(body);
    }
    let response = request.send()?;
    Ok((response.status().as_u16(), response.text()?))
}

fn json_body(value: &Value) -> Option<Vec<u8>> {
    let bytes = value.to_string().into_bytes();
    (!bytes.is_empty()).then_some(bytes)
}

fn ok_output(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Tries `action` as `login` (whose token is `token`); `Ok(true)` when the server did it,
/// `Ok(false)` when it answered 403. Any other answer fails the test.
fn attempt(
    registry: &TestRegistry,
    action: &str,
    login: &str,
    token: &str,
    review: i64,
) -> TestResult<bool> {
    let owned = format!("own-{login}");
    let (status, body) = match action {
        "read" => send(
            registry,
            Method::GET,
            &format!("/index/ow/n-/{owned}"),
            token,
            None,
        )?,
        "publish-new" => send(
            registry,
            Method::PUT,
            "/api/v1/crates/new",
            token,
            Some(publish_body(&format!("new-{login}"), "1.0.0")),
        )?,
        "publish-update" => send(
            registry,
            Method::PUT,
            "/api/v1/crates/new",
            token,
            Some(publish_body(&owned, "1.1.0")),
        )?,
        "yank" => send(
            registry,
            Method::DELETE,
            &format!("/api/v1/crates/{owned}/1.0.0/yank"),
            token,
            None,
        )?,
        "manage-owners" => send(
            registry,
            Method::PUT,
            &format!("/api/v1/crates/{owned}/owners"),
            token,
            json_body(&json!({ "users": ["bystander"] })),
        )?,
        "manage-users" => send(
            registry,
            Method::PUT,
            "/api/wharf/v1/users/bystander/role",
            token,
            json_body(&json!({ "role": "maintainer" })),
        )?,
        "manage-tokens" => send(
            registry,
            Method::POST,
            "/api/wharf/v1/tokens",
            token,
            json_body(&json!({ "user": "bystander", "role": "reader" })),
        )?,
        "manage-teams" => send(
            registry,
            Method::POST,
            "/api/wharf/v1/teams",
            token,
            json_body(&json!({ "name": format!("team-{login}") })),
        )?,
        "moderate-reviews" => send(
            registry,
            Method::POST,
            &format!("/api/wharf/v1/catalogue/packages/reviewed/reviews/{review}/hide"),
            token,
            json_body(&json!({ "reason": "checking the permission table" })),
        )?,
        "lifecycle" => send(registry, Method::GET, "/api/wharf/v1/webhooks", token, None)?,
        "read-audit" => send(registry, Method::GET, "/api/wharf/v1/audit", token, None)?,
        "change-plan" => send(
            registry,
            Method::PUT,
            "/api/wharf/v1/plan",
            token,
            json_body(&json!({ "plan": null })),
        )?,
        other => return Err(format!("the test has no request for the action `{other}`").into()),
    };
    match status {
        200 => Ok(true),
        403 => Ok(false),
        _ => Err(format!("{action} as {login}: unexpected {status}: {body}").into()),
    }
}

#[test]
fn every_role_and_action_against_a_real_server() -> TestResult {
    let registry = TestRegistry::start_with(&["--auth-required"]);
    // The docs show exactly the code's table (as the binary prints it).
    let code_table = ok_output(
        &std::process::Command::new(wharf_binary())
            .args(["admin", "role", "table"])
            .output()?,
    );
    let documented = documented_table()?;
    assert_eq!(
        documented, code_table,
        "docs/roles.md and `wharf admin role table` differ"
    );
    let table = parse_table(&documented)?;
    assert!(table.len() >= 12, "{documented}");

    let admin = registry.admin_token.clone();
    registry.create_token("bystander", &[]);
    // A review for the moderation probe.
    let (status, body) = send(
        &registry,
        Method::PUT,
        "/api/v1/crates/new",
        &admin,
        Some(publish_body("reviewed", "1.0.0")),
    )?;
    assert_eq!(status, 200, "{body}");
    let reviewer = registry.create_token("reviewer", &[]);
    let (status, body) = send(
        &registry,
        Method::PUT,
        "/api/wharf/v1/catalogue/packages/reviewed/reviews",
        &reviewer,
        json_body(&json!({ "rating": 4, "body": "fine" })),
    )?;
    assert_eq!(status, 200, "{body}");
    let review = serde_json::from_str::<Value>(&body)?["id"]
        .as_i64()
        .ok_or("the review has no id")?;

    // One user per role, each owning a crate the administrator published for them.
    let mut users = Vec::new();
    for role in ROLES {
        let login = format!("u-{role}");
        let token = registry.create_token(&login, &[]);
        let owned = format!("own-{login}");
        let (status, body) = send(
            &registry,
            Method::PUT,
            "/api/v1/crates/new",
            &admin,
            Some(publish_body(&owned, "1.0.0")),
        )?;
        assert_eq!(status, 200, "{body}");
        let (status, body) = send(
            &registry,
            Method::PUT,
            &format!("/api/v1/crates/{owned}/owners"),
            &admin,
            json_body(&json!({ "users": [login] })),
        )?;
        assert_eq!(status, 200, "{body}");
        ok_output(&registry.run_on_data(&["admin", "role", "set"], &[&login, role]));
        users.push((login, token));
    }

    let mut observed = Vec::new();
    for (action, _) in &table {
        let mut row = Vec::new();
        for (login, token) in &users {
            row.push(attempt(&registry, action, login, token, review)?);
        }
        observed.push((action.clone(), row));
    }
    assert_eq!(
        observed, table,
        "the server's answers differ from the permission table"
    );

    refusals_and_changes_are_audited(&registry)
}

/// Refusals are in the audit log with the actor and the 403, and changes with their target.
fn refusals_and_changes_are_audited(registry: &TestRegistry) -> TestResult {
    // Refusals are in the audit log, with the actor and the 403.
    registry.settle();
    let audit = ok_output(&registry.run_on_data(&["admin", "audit", "export"], &[]));
    let records: Vec<Value> = audit
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let refused = |actor: &str, action: &str| {
        records.iter().any(|r| {
            r["actor"] == actor
                && r["action"] == action
                && r["outcome"].as_str().is_some_and(|o| o.starts_with("403"))
        })
    };
    assert!(refused("u-reader", "role.set"), "{audit}");
    assert!(refused("u-publisher", "team.create"), "{audit}");
    assert!(refused("u-maintainer", "auth.denied"), "{audit}");
    assert!(refused("u-auditor", "plan.set"), "{audit}");
    assert!(
        records.iter().any(|r| r["action"] == "plan.set"
            && r["actor"] == "u-tenant-admin"
            && r["target"] == "none -> none"
            && r["outcome"] == "ok"),
        "{audit}"
    );
    assert!(
        records.iter().any(|r| r["action"] == "role.set"
            && r["target"] == "u-reader: maintainer -> reader"
            && r["outcome"] == "ok"),
        "{audit}"
    );
    Ok(())
}

#[test]
fn a_team_owns_a_crate_through_real_cargo() {
    const PUBLISH: [&str; 4] = ["publish", "--registry", "wharf", "--no-verify"];
    let registry = TestRegistry::start();
    let cargo = CargoEnv::new(&registry.index_url());
    cargo.login(&registry.admin_token);
    let work = cargo.work_dir().to_owned();
    let project = CrateProject::new("team-owned", "1.0.0")
        .lib("pub fn one() -> u32 { 1 }")
        .write(&work.join("v1"));
    cargo.cargo_ok(&project, &PUBLISH);

    let carol = CargoEnv::new(&registry.index_url());
    carol.login(&registry.create_token("carol", &[]));
    let update = CrateProject::new("team-owned", "1.1.0")
        .lib("pub fn one() -> u32 { 1 }")
        .write(&carol.work_dir().join("v11"));
    let refused = carol.cargo_err(&update, &PUBLISH);
    assert!(refused.contains("not an owner"), "{refused}");

    ok_output(&registry.run_on_data(&["team", "create"], &["core"]));
    ok_output(&registry.run_on_data(&["team", "add"], &["core", "carol"]));
    let unknown = registry.run_on_data(&["team", "add"], &["core", "nobody"]);
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("nobody"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
    let added = cargo.cargo_ok(
        &work,
        &[
            "owner",
            "--registry",
            "wharf",
            "--add",
            "team:core",
            "team-owned",
        ],
    );
    assert!(
        String::from_utf8_lossy(&added.stderr).contains("team:core"),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let listed = cargo.cargo_ok(
        &work,
        &["owner", "--registry", "wharf", "--list", "team-owned"],
    );
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        listed.contains("admin") && listed.contains("team:core"),
        "{listed}"
    );

    // A member publishes and yanks as an owner, as her role allows.
    carol.cargo_ok(&update, &PUBLISH);
    carol.cargo_ok(
        carol.work_dir(),
        &["yank", "--registry", "wharf", "team-owned@1.1.0"],
    );
    // As a reader she may no longer yank, owner or not.
    ok_output(&registry.run_on_data(&["admin", "role", "set"], &["carol", "reader"]));
    let refused = carol.cargo_err(
        carol.work_dir(),
        &["yank", "--undo", "--registry", "wharf", "team-owned@1.1.0"],
    );
    assert!(refused.contains("role reader"), "{refused}");
    ok_output(&registry.run_on_data(&["admin", "role", "set"], &["carol", "maintainer"]));

    team_removal_ends_ownership(&registry, &cargo, &carol);
}

/// Removing the member, then the team, ends their ownership; each change is audited.
fn team_removal_ends_ownership(registry: &TestRegistry, cargo: &CargoEnv, carol: &CargoEnv) {
    let work = cargo.work_dir().to_owned();
    // Removed from the team, she is no owner any more.
    ok_output(&registry.run_on_data(&["team", "remove"], &["core", "carol"]));
    let refused = carol.cargo_err(
        carol.work_dir(),
        &["yank", "--undo", "--registry", "wharf", "team-owned@1.1.0"],
    );
    assert!(refused.contains("not an owner"), "{refused}");
    cargo.cargo_ok(
        &work,
        &[
            "owner",
            "--registry",
            "wharf",
            "--remove",
            "team:core",
            "team-owned",
        ],
    );
    let listed = cargo.cargo_ok(
        &work,
        &["owner", "--registry", "wharf", "--list", "team-owned"],
    );
    assert!(
        !String::from_utf8_lossy(&listed.stdout).contains("team:core"),
        "{}",
        String::from_utf8_lossy(&listed.stdout)
    );
    let teams = ok_output(&registry.run_on_data(&["team", "list"], &[]));
    assert!(teams.starts_with("core\tmembers: \t"), "{teams}");

    registry.settle();
    let audit = ok_output(&registry.run_on_data(&["admin", "audit", "export"], &[]));
    for action in [
        "team.create",
        "team.member.add",
        "team.member.remove",
        "role.set",
    ] {
        assert!(
            audit.contains(&format!("\"action\":\"{action}\"")),
            "{action}: {audit}"
        );
    }
}

#[test]
fn narrowed_tokens_stay_within_their_user_and_their_narrowing() -> TestResult {
    let registry = TestRegistry::start();
    let dave = registry.create_token("dave", &[]);
    let (status, body) = send(
        &registry,
        Method::PUT,
        "/api/v1/crates/new",
        &dave,
        Some(publish_body("dave-crate", "1.0.0")),
    )?;
    assert_eq!(status, 200, "{body}");

    // A reader token of a maintainer reads but cannot yank.
    let reader = ok_output(&registry.run_on_data(
        &["token", "create"],
        &["--user", "dave", "--role", "reader"],
    ));
    let reader = reader.trim();
    let (status, body) = send(
        &registry,
        Method::DELETE,
        "/api/v1/crates/dave-crate/1.0.0/yank",
        reader,
        None,
    )?;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("role reader"), "{body}");

    // A role above the user's is refused and nothing is created.
    let before = ok_output(&registry.run_on_data(&["token", "list"], &["--user", "dave"]));
    let above = registry.run_on_data(
        &["token", "create"],
        &["--user", "dave", "--role", "tenant-admin"],
    );
    assert!(!above.status.success());
    let stderr = String::from_utf8_lossy(&above.stderr);
    assert!(
        stderr.contains("tenant-admin") && stderr.contains("maintainer"),
        "{stderr}"
    );
    let after = ok_output(&registry.run_on_data(&["token", "list"], &["--user", "dave"]));
    assert_eq!(before, after);

    // Over the API, a token for oneself never exceeds the presented one.
    let (status, body) = send(
        &registry,
        Method::POST,
        "/api/wharf/v1/tokens",
        reader,
        json_body(&json!({ "role": "publisher" })),
    )?;
    assert_eq!(status, 403, "{body}");
    let (status, body) = send(
        &registry,
        Method::POST,
        "/api/wharf/v1/tokens",
        &dave,
        json_body(&json!({ "role": "publisher", "crate_patterns": ["dave-*"] })),
    )?;
    assert_eq!(status, 200, "{body}");
    let narrowed: Value = serde_json::from_str(&body)?;
    assert_eq!(narrowed["role"], "publisher");
    let publisher = narrowed["token"].as_str().ok_or("no token")?.to_owned();
    let (status, body) = send(
        &registry,
        Method::PUT,
        "/api/v1/crates/new",
        &publisher,
        Some(publish_body("other-crate", "1.0.0")),
    )?;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("dave-*"), "{body}");
    let (status, body) = send(
        &registry,
        Method::PUT,
        "/api/v1/crates/dave-crate/owners",
        &publisher,
        json_body(&json!({ "users": ["admin"] })),
    )?;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("role publisher"), "{body}");
    let (status, body) = send(
        &registry,
        Method::DELETE,
        "/api/v1/crates/dave-crate/1.0.0/yank",
        &publisher,
        None,
    )?;
    assert_eq!(status, 200, "{body}");

    // Lowering the user's role lowers the narrowed token at once.
    ok_output(&registry.run_on_data(&["admin", "role", "set"], &["dave", "reader"]));
    let (status, body) = send(
        &registry,
        Method::PUT,
        "/api/v1/crates/dave-crate/1.0.0/unyank",
        &publisher,
        None,
    )?;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("role reader"), "{body}");
    let bad_role = registry.run_on_data(&["admin", "role", "set"], &["dave", "root"]);
    assert!(!bad_role.status.success());
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("`root` is not a role"));
    Ok(())
}

#[test]
fn the_last_tenant_admin_cannot_be_demoted() -> TestResult {
    let registry = TestRegistry::start();
    let admin = registry.admin_token.clone();
    let (status, body) = send(
        &registry,
        Method::PUT,
        "/api/wharf/v1/users/admin/role",
        &admin,
        json_body(&json!({ "role": "reader" })),
    )?;
    assert_eq!(status, 400, "{body}");
    let detail = serde_json::from_str::<Value>(&body)?["errors"][0]["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        detail.contains("`admin` is the last tenant admin")
            && detail.contains("nothing changed")
            && !detail.contains('\n'),
        "{detail}"
    );
    // The same refusal on the data directory; the role is unchanged.
    let refused = registry.run_on_data(&["admin", "role", "set"], &["admin", "auditor"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("last tenant admin"), "{stderr}");
    let roles = ok_output(&registry.run_on_data(&["admin", "role", "list"], &[]));
    assert!(
        roles
            .lines()
            .any(|line| line.contains("admin") && line.contains("tenant-admin")),
        "{roles}"
    );
    // With a second tenant admin, the first may step down.
    registry.create_token("second", &[]);
    ok_output(&registry.run_on_data(&["admin", "role", "set"], &["second", "tenant-admin"]));
    ok_output(&registry.run_on_data(&["admin", "role", "set"], &["admin", "auditor"]));
    Ok(())
}
