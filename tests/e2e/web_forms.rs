//! The web UI's forms and pages beyond reading, over plain HTTP against a real `wharf
//! serve`: an owner replies to a review and the administrator shows a hidden review again
//! (each form refused without its CSRF token, changing nothing); the account page makes a
//! token (its secret shown once, never more scopes than the session's) and revokes one;
//! sessions are kept in the database, survive a restart, and end with their token; the
//! package page shows the recommendations the API gives with their explanations; a fully
//! yanked package is left out of search and the home page but marked on its own page; and
//! `wharf admin review hide|unhide|list-reported` moderates from the server's machine.

use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};
use wharf_e2e_tests::{TestRegistry, TestResult};

use crate::catalogue::{core_registry, get, publish_plugin};
use crate::web_pages::{csrf_field, page, post, publish_crate_with_readme, sign_in};

/// Text as the templates escape it.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

/// `carol` rates `email` 2 with `body` through the form; returns the review's id.
fn carol_reviews_email(registry: &TestRegistry, body: &str) -> TestResult<i64> {
    let token = registry.create_token("carol", &["publish-update"]);
    let carol = sign_in(registry, &token)?;
    let (_, package) = page(registry, "/packages/email", Some(&carol.cookie))?;
    let csrf = csrf_field(&package)?;
    let saved = post(
        registry,
        "/packages/email/review",
        &carol.cookie,
        &[("csrf", &csrf), ("rating", "2"), ("body", body)],
    )?;
    assert_eq!(saved.status(), 303);
    get(registry, "packages/email/reviews", 200)?[0]["id"]
        .as_i64()
        .ok_or_else(|| "no review id".into())
}

#[test]
fn owners_reply_and_the_administrator_unhides_through_forms() -> TestResult {
    let registry = core_registry()?;
    let id = carol_reviews_email(&registry, "too slow for me")?;
    // The core plugins are published by the administrator, who owns them.
    let admin = sign_in(&registry, &registry.admin_token)?;
    let (_, package) = page(&registry, "/packages/email", Some(&admin.cookie))?;
    assert!(
        package.contains(&format!("/packages/email/reviews/{id}/reply")),
        "the owner sees a reply form"
    );
    let csrf = csrf_field(&package)?;
    let reply_path = format!("/packages/email/reviews/{id}/reply");

    // Without the CSRF token the reply is refused and nothing changes.
    let before = get(&registry, "packages/email/reviews", 200)?;
    let refused = post(&registry, &reply_path, &admin.cookie, &[("body", "x")])?;
    assert_eq!(refused.status(), 403);
    assert_eq!(get(&registry, "packages/email/reviews", 200)?, before);
    // Someone who is not an owner cannot reply.
    let dave_token = registry.create_token("dave", &["publish-update"]);
    let dave = sign_in(&registry, &dave_token)?;
    let (_, dave_page) = page(&registry, "/packages/email", Some(&dave.cookie))?;
    assert!(!dave_page.contains(&reply_path), "no reply form for others");
    let not_owner = post(
        &registry,
        &reply_path,
        &dave.cookie,
        &[("csrf", &csrf_field(&dave_page)?), ("body", "fake reply")],
    )?;
    assert_eq!(not_owner.status(), 403, "{}", not_owner.text()?);
    assert_eq!(get(&registry, "packages/email/reviews", 200)?, before);

    let replied = post(
        &registry,
        &reply_path,
        &admin.cookie,
        &[("csrf", &csrf), ("body", "fixed in 1.1 <b>now</b>")],
    )?;
    assert_eq!(replied.status(), 303);
    let reviews = get(&registry, "packages/email/reviews", 200)?;
    assert_eq!(reviews[0]["reply"]["body"], "fixed in 1.1 <b>now</b>");
    let (_, public) = page(&registry, "/packages/email", None)?;
    assert!(
        public.contains("<p>fixed in 1.1 &lt;b&gt;now&lt;&#x2f;b&gt;</p>"),
        "{public}"
    );

    // Hide, then show again through the unhide form on the admin page.
    let hidden = post(
        &registry,
        &format!("/packages/email/reviews/{id}/hide"),
        &admin.cookie,
        &[("csrf", &csrf), ("reason", "checking a claim")],
    )?;
    assert_eq!(hidden.status(), 303);
    let (_, public) = page(&registry, "/packages/email", None)?;
    assert!(!public.contains("too slow for me"));
    let (_, admin_page) = page(&registry, "/admin", Some(&admin.cookie))?;
    let unhide_path = format!("/packages/email/reviews/{id}/unhide");
    assert!(admin_page.contains(&unhide_path), "{admin_page}");
    let refused = post(
        &registry,
        &unhide_path,
        &admin.cookie,
        &[("reason", "claim checked")],
    )?;
    assert_eq!(refused.status(), 403);
    let by_carol = post(
        &registry,
        &unhide_path,
        &dave.cookie,
        &[("csrf", &csrf_field(&dave_page)?), ("reason", "mine")],
    )?;
    assert_eq!(by_carol.status(), 403, "only the administrator unhides");
    let (_, public) = page(&registry, "/packages/email", None)?;
    assert!(!public.contains("too slow for me"), "still hidden");
    let shown = post(
        &registry,
        &unhide_path,
        &admin.cookie,
        &[("csrf", &csrf), ("reason", "claim checked")],
    )?;
    assert_eq!(shown.status(), 303);
    let (_, public) = page(&registry, "/packages/email", None)?;
    assert!(public.contains("too slow for me"), "{public}");
    let (_, admin_page) = page(&registry, "/admin", Some(&admin.cookie))?;
    assert!(admin_page.contains("No hidden reviews."), "{admin_page}");
    // Unhiding a review that is not hidden is refused with one line.
    let again = post(
        &registry,
        &unhide_path,
        &admin.cookie,
        &[("csrf", &csrf), ("reason", "twice")],
    )?;
    assert_eq!(again.status(), 400);
    assert!(again.text()?.contains("is not hidden"));
    Ok(())
}

#[test]
fn the_account_page_makes_and_revokes_tokens() -> TestResult {
    let registry = TestRegistry::start();
    let token = registry.create_token("erin", &["read", "publish-update"]);
    let erin = sign_in(&registry, &token)?;
    let (_, account) = page(&registry, "/account", Some(&erin.cookie))?;
    let csrf = csrf_field(&account)?;
    // A scope the session's token lacks is refused; so is a form without its token.
    let wider = post(
        &registry,
        "/account/tokens",
        &erin.cookie,
        &[("csrf", &csrf), ("scope", "yank")],
    )?;
    assert_eq!(wider.status(), 403, "{}", wider.text()?);
    let no_csrf = post(
        &registry,
        "/account/tokens",
        &erin.cookie,
        &[("scope", "read")],
    )?;
    assert_eq!(no_csrf.status(), 403);
    let listed = registry.run_on_data(&["token", "list"], &["--user", "erin"]);
    assert_eq!(
        String::from_utf8(listed.stdout)?.lines().count(),
        2,
        "one token"
    );

    let made = post(
        &registry,
        "/account/tokens",
        &erin.cookie,
        &[
            ("csrf", &csrf),
            ("scope", "read"),
            ("label", "ci reader"),
            ("days", "30"),
        ],
    )?;
    assert_eq!(made.status(), 200);
    assert_eq!(made.headers()["cache-control"], "no-store");
    let shown = made.text()?;
    let start = shown
        .find("<code id=\"new-token-secret\">")
        .ok_or("no secret shown")?
        + "<code id=\"new-token-secret\">".len();
    let secret = &shown[start..start + shown[start..].find('<').ok_or("unterminated")?];
    assert!(secret.starts_with("wharf_"), "{secret}");
    // The new token works, with its own scopes.
    let ci = sign_in(&registry, secret)?;
    let (status, ci_account) = page(&registry, "/account", Some(&ci.cookie))?;
    assert_eq!(status, 200);
    assert!(ci_account.contains("ci reader"));
    // The secret is shown once: the account page never shows it again.
    let (_, account) = page(&registry, "/account", Some(&erin.cookie))?;
    assert!(!account.contains(secret));
    assert!(!account.contains("new-token-secret"));

    // Revoking it from erin's page ends its sessions.
    let listing = String::from_utf8(
        registry
            .run_on_data(&["token", "list"], &["--user", "erin"])
            .stdout,
    )?;
    let id = listing
        .lines()
        .find(|line| line.contains("ci reader"))
        .and_then(|line| line.split_whitespace().next())
        .ok_or("the new token is listed")?
        .to_owned();
    let revoked = post(
        &registry,
        &format!("/account/tokens/{id}/revoke"),
        &erin.cookie,
        &[("csrf", &csrf)],
    )?;
    assert_eq!(revoked.status(), 303);
    let (status, _) = page(&registry, "/account", Some(&ci.cookie))?;
    assert_eq!(status, 401, "the revoked token's session ended");
    // Someone else's token cannot be revoked from erin's page.
    let frank = registry.create_token("frank", &["read"]);
    let frank_id = registry.token_id("frank");
    let foreign = post(
        &registry,
        &format!("/account/tokens/{frank_id}/revoke"),
        &erin.cookie,
        &[("csrf", &csrf)],
    )?;
    assert_eq!(foreign.status(), 404);
    sign_in(&registry, &frank)?;
    Ok(())
}

/// The SHA-256 of `text` in hex.
fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[test]
fn sessions_survive_a_restart_are_stored_by_digest_and_end_with_their_token() -> TestResult {
    let mut registry = TestRegistry::start();
    let token = registry.create_token("gina", &["read"]);
    let gina = sign_in(&registry, &token)?;
    let other = sign_in(&registry, &token)?;
    let id = gina
        .cookie
        .strip_prefix("wharf_session=")
        .ok_or("cookie pair")?;

    // Only the digest of the id is in the database, and never the token.
    let db = rusqlite::Connection::open(registry.data_dir().join("wharf.db"))?;
    let stored: Vec<String> = db
        .prepare("SELECT id_sha256 FROM web_sessions")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    assert!(stored.contains(&sha256_hex(id)), "{stored:?}");
    assert!(!stored.iter().any(|row| row == id));
    let dump: String = db.query_row(
        "SELECT group_concat(id_sha256 || token_id || expires_at) FROM web_sessions",
        [],
        |row| row.get(0),
    )?;
    assert!(!dump.contains(&token) && !dump.contains(id));
    drop(db);

    registry.restart();
    let (status, account) = page(&registry, "/account", Some(&gina.cookie))?;
    assert_eq!(status, 200, "the session survived the restart");
    assert!(account.contains("Your account: gina"));

    // Signing out deletes that session only.
    let csrf = csrf_field(&account)?;
    let out = post(&registry, "/logout", &gina.cookie, &[("csrf", &csrf)])?;
    assert_eq!(out.status(), 303);
    assert_eq!(page(&registry, "/account", Some(&gina.cookie))?.0, 401);
    assert_eq!(page(&registry, "/account", Some(&other.cookie))?.0, 200);

    // Revoking the token (from the command line here) ends its other sessions.
    let revoked = registry.run_on_data(&["token", "revoke"], &[&registry.token_id("gina")]);
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    assert_eq!(page(&registry, "/account", Some(&other.cookie))?.0, 401);
    let db = rusqlite::Connection::open(registry.data_dir().join("wharf.db"))?;
    let left: i64 = db.query_row("SELECT count(*) FROM web_sessions", [], |row| row.get(0))?;
    assert_eq!(left, 0, "no session of a revoked token is kept");
    Ok(())
}

#[test]
fn the_package_page_shows_recommendations_with_their_explanations() -> TestResult {
    let registry = core_registry()?;
    for template in crate::recommendations::TEMPLATES {
        publish_plugin(
            &registry,
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../fixtures/templates")
                .join(template)
                .join("1.0.0"),
        )?;
    }
    let response = registry
        .http()
        .get(format!(
            "{}/api/wharf/v1/packages/http-client/recommendations",
            registry.url()
        ))
        .send()?;
    let recommended: Value = serde_json::from_str(&response.text()?)?;
    let (_, html) = page(&registry, "/packages/http-client", None)?;
    for heading in [
        "Often installed together",
        "Alternatives",
        "Templates that use this plugin",
    ] {
        assert!(html.contains(heading), "{heading}");
    }
    let mut shown = 0;
    for list in ["installed_together", "alternatives", "templates"] {
        for item in recommended[list].as_array().ok_or("a list")? {
            let name = item["name"].as_str().ok_or("name")?;
            let reason = item["reason"].as_str().ok_or("reason")?;
            assert!(
                html.contains(&format!("<a href=\"/packages/{name}\">{name}</a>")),
                "{name}"
            );
            assert!(html.contains(&escaped(reason)), "{reason}");
            shown += 1;
        }
    }
    assert!(
        recommended["templates"]
            .as_array()
            .is_some_and(|t| !t.is_empty()),
        "templates use http-client: {recommended}"
    );
    assert!(shown > 1, "{recommended}");
    Ok(())
}

#[test]
fn a_fully_yanked_package_is_left_out_of_lists_but_marked_on_its_page() -> TestResult {
    let registry = TestRegistry::start();
    publish_crate_with_readme(&registry, "gone-soon", "# gone")?;
    publish_crate_with_readme(&registry, "gone-later", "# stays")?;
    let (_, search) = page(&registry, "/search?q=gone", None)?;
    assert!(search.contains("gone-soon") && search.contains("gone-later"));
    let yanked = registry
        .http()
        .delete(format!(
            "{}/api/v1/crates/gone-soon/1.0.0/yank",
            registry.url()
        ))
        .header("Authorization", &registry.admin_token)
        .send()?;
    assert!(yanked.status().is_success(), "{}", yanked.text()?);
    let (_, search) = page(&registry, "/search?q=gone", None)?;
    assert!(!search.contains("gone-soon") && search.contains("gone-later"));
    let (_, home) = page(&registry, "/", None)?;
    assert!(!home.contains("gone-soon") && home.contains("gone-later"));
    let (status, package) = page(&registry, "/packages/gone-soon", None)?;
    assert_eq!(status, 200, "still reachable by name");
    assert!(package.contains("id=\"all-yanked\""), "{package}");
    let (_, other) = page(&registry, "/packages/gone-later", None)?;
    assert!(!other.contains("id=\"all-yanked\""));
    Ok(())
}

#[test]
fn wharf_admin_review_hides_unhides_and_lists_reported_reviews() -> TestResult {
    let registry = core_registry()?;
    let id = carol_reviews_email(&registry, "buy my course")?;
    let dave_token = registry.create_token("dave", &["publish-update"]);
    let dave = sign_in(&registry, &dave_token)?;
    let (_, dave_page) = page(&registry, "/packages/email", Some(&dave.cookie))?;
    let reported = post(
        &registry,
        &format!("/packages/email/reviews/{id}/report"),
        &dave.cookie,
        &[
            ("csrf", &csrf_field(&dave_page)?),
            ("reason", "advertising"),
        ],
    )?;
    assert_eq!(reported.status(), 303);

    let review = |command: &[&str]| {
        let mut full = vec!["admin", "review"];
        full.extend_from_slice(command);
        registry.run_on_data(&full, &[])
    };
    let listed = review(&["list-reported"]);
    assert!(listed.status.success());
    let listing = String::from_utf8(listed.stdout)?;
    assert!(
        listing.contains(&format!("email {id} by carol rated 2: 1 report(s)"))
            && listing.contains("\"advertising\""),
        "{listing}"
    );
    let id_text = id.to_string();
    let hidden = registry.run_on_data(
        &["admin", "review", "hide", "email", &id_text],
        &["--reason", "spam"],
    );
    assert!(
        hidden.status.success(),
        "{}",
        String::from_utf8_lossy(&hidden.stderr)
    );
    assert_eq!(
        get(&registry, "packages/email/reviews", 200)?,
        Value::Array(Vec::new())
    );
    let listing = String::from_utf8(review(&["list-reported"]).stdout)?;
    assert_eq!(listing.trim(), "no reported reviews");
    let all = String::from_utf8(review(&["list-reported", "--all"]).stdout)?;
    assert!(all.contains("(hidden)"), "{all}");

    // A bad id is refused with one line naming it, and changes nothing.
    let unknown = registry.run_on_data(
        &["admin", "review", "unhide", "email", "999999"],
        &["--reason", "x"],
    );
    assert!(!unknown.status.success());
    let said = String::from_utf8(unknown.stderr)?;
    assert!(said.contains("999999"), "{said}");
    assert_eq!(
        get(&registry, "packages/email/reviews", 200)?,
        Value::Array(Vec::new())
    );

    let shown = registry.run_on_data(
        &["admin", "review", "unhide", "email", &id_text],
        &["--reason", "appeal granted"],
    );
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    assert_eq!(get(&registry, "packages/email/reviews", 200)?[0]["id"], id);
    Ok(())
}
