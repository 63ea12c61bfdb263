//! Install reports and recommendations over real HTTP against a real `wharf serve`: `wharf
//! install --report-installs` reports the set it installed (and only when opted in), the
//! report endpoint refuses bad bodies naming the field (changing nothing), limits sizes and
//! rates, a report sent with a token makes that user's review a verified install, and the
//! recommendations of the core plugins (with the template families) and of a generated
//! ecosystem match their snapshots and are the same on every call.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};
use wharf_e2e_tests::{TestRegistry, TestResult, wharf_binary};

use crate::catalogue::{core_registry, get, publish_plugin, stable};

/// The template families, each depending on some core plugins.
pub(crate) const TEMPLATES: &[&str] = &[
    "api-integration",
    "approval-flow",
    "data-sync",
    "microservice",
    "cloud-deployment",
    "database",
];

/// `GET /api/wharf/v1/packages/{name}/recommendations`, expecting `status`.
fn recommendations(registry: &TestRegistry, name: &str, status: u16) -> TestResult<Value> {
    let response = registry
        .http()
        .get(format!(
            "{}/api/wharf/v1/packages/{name}/recommendations",
            registry.url()
        ))
        .send()?;
    let code = response.status().as_u16();
    let text = response.text()?;
    assert_eq!(code, status, "recommendations of {name}: {text}");
    Ok(serde_json::from_str(&text)?)
}

/// `POST /api/wharf/v1/install-reports` with `body` and an optional token.
fn post_report(
    registry: &TestRegistry,
    body: Vec<u8>,
    token: Option<&str>,
) -> TestResult<(u16, Value)> {
    let mut request = registry
        .http()
        .post(format!("{}/api/wharf/v1/install-reports", registry.url()))
        .header("Content-Type", "application/json")
        .body(body);
    if let Some(token) = token {
        request = request.header("Authorization", token);
    }
    let response = request.send()?;
    let code = response.status().as_u16();
    let text = response.text()?;
    Ok((
        code,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

/// Runs `wharf install` into `dir` for host API 2.1.0 with `extra` flags.
fn install(registry: &TestRegistry, dir: &Path, packages: &[&str], extra: &[&str]) -> Output {
    Command::new(wharf_binary())
        .arg("install")
        .args(packages)
        .arg("--dir")
        .arg(dir)
        .args(["--index-url", &registry.index_url(), "--host-api", "2.1.0"])
        .args(extra)
        .env_remove("WHARF_TOKEN")
        .output()
        .expect("wharf runs")
}

fn succeeded(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The names of one recommendation list.
fn names(recommended: &Value, list: &str) -> Vec<String> {
    recommended[list]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn opted_in_installs_report_their_sets_and_feed_recommendations() -> TestResult {
    let registry = core_registry()?;
    for template in TEMPLATES {
        publish_plugin(
            &registry,
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../fixtures/templates")
                .join(template)
                .join("1.0.0"),
        )?;
    }
    let work = tempfile::tempdir()?;
    let (one, two, quiet) = (
        work.path().join("one"),
        work.path().join("two"),
        work.path().join("quiet"),
    );
    let said = succeeded(&install(
        &registry,
        &one,
        &["http-client", "webhook-trigger"],
        &["--report-installs"],
    ));
    assert!(said.contains("reported 2 installed package(s)"), "{said}");
    let id = std::fs::read_to_string(one.join(".wharf/report-id"))?;
    assert_eq!(id.trim().len(), 32, "{id}");
    // Remembered: a later run in the same directory reports without the flag.
    succeeded(&install(&registry, &one, &["data-mapper"], &[]));
    assert_eq!(std::fs::read_to_string(one.join(".wharf/report-id"))?, id);
    succeeded(&install(
        &registry,
        &two,
        &["http-client", "email"],
        &["--report-installs"],
    ));
    // Not opted in: no id, no report.
    let quiet_said = succeeded(&install(
        &registry,
        &quiet,
        &["http-client", "scheduler"],
        &[],
    ));
    assert!(!quiet_said.contains("reported"), "{quiet_said}");
    assert!(!quiet.join(".wharf/report-id").exists());

    let http = recommendations(&registry, "http-client", 200)?;
    let together = &http["installed_together"];
    let first_three: Vec<(String, String)> = together
        .as_array()
        .ok_or("installed_together")?
        .iter()
        .take(3)
        .map(|item| {
            (
                item["name"].as_str().unwrap_or_default().to_owned(),
                item["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        first_three,
        [
            (
                "data-mapper".to_owned(),
                "installed together with http-client in 50 % of 2 reported installs".to_owned()
            ),
            (
                "email".to_owned(),
                "installed together with http-client in 50 % of 2 reported installs".to_owned()
            ),
            (
                "webhook-trigger".to_owned(),
                "installed together with http-client in 50 % of 2 reported installs".to_owned()
            ),
        ],
        "{http}"
    );
    assert!(
        !names(&http, "installed_together").contains(&"scheduler".to_owned()),
        "an install that did not opt in was counted: {http}"
    );
    // Templates using http-client, by name.
    let templates = names(&http, "templates");
    assert!(templates.contains(&"api-integration".to_owned()), "{http}");
    assert!(templates.windows(2).all(|pair| pair[0] < pair[1]), "{http}");
    assert_eq!(recommendations(&registry, "http-client", 200)?, http);
    insta::assert_json_snapshot!("core_recommendations_http_client", stable(http, &registry));
    let email = recommendations(&registry, "email", 200)?;
    insta::assert_json_snapshot!("core_recommendations_email", stable(email, &registry));
    recommendations(&registry, "no-such-plugin", 404)?;

    // Opting out deletes the id.
    let off = succeeded(&install(
        &registry,
        &two,
        &["email"],
        &["--no-report-installs"],
    ));
    assert!(off.contains("install reports are off"), "{off}");
    assert!(!two.join(".wharf/report-id").exists());
    Ok(())
}

#[test]
fn bad_reports_are_refused_naming_the_field_and_change_nothing() -> TestResult {
    let registry = core_registry()?;
    let id = "0123456789abcdef0123456789abcdef";
    let good = json!({"install_id": id, "host_api": "2.1.0",
        "packages": [{"name": "http-client", "version": "2.0.0"}, {"name": "email", "version": "2.0.0"}]});
    let (code, answer) = post_report(&registry, serde_json::to_vec(&good)?, None)?;
    assert_eq!(
        (code, &answer),
        (200, &json!({"recorded": 2, "unknown": 0}))
    );
    let before = recommendations(&registry, "http-client", 200)?;
    for (body, field) in [
        (
            json!({"install_id": "nope", "packages": []}),
            "`install_id`",
        ),
        (json!({"install_id": id}), "`packages`"),
        (
            json!({"install_id": id, "packages": [{"name": "email"}]}),
            "`packages[0].version`",
        ),
        (
            json!({"install_id": id, "packages": [{"name": "email", "version": "two"}]}),
            "`packages[].version`",
        ),
        (
            json!({"install_id": id, "packages": [], "login": "me"}),
            "`login`",
        ),
        (
            json!({"install_id": id, "host_api": 2, "packages": []}),
            "`host_api`",
        ),
    ] {
        let (code, answer) = post_report(&registry, serde_json::to_vec(&body)?, None)?;
        assert_eq!(code, 400, "{body}: {answer}");
        let detail = answer["errors"][0]["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(field), "{body}: {detail}");
    }
    let (code, _) = post_report(&registry, vec![b' '; 70 * 1024], None)?;
    assert_eq!(code, 413);
    assert_eq!(recommendations(&registry, "http-client", 200)?, before);

    // A report sent with a token makes that user's review a verified install.
    let carol = registry.create_token("carol", &["read"]);
    let dave = registry.create_token("dave", &["read"]);
    let report = json!({"install_id": "fedcba9876543210fedcba9876543210",
        "packages": [{"name": "email", "version": "2.0.0"}]});
    let (code, answer) = post_report(&registry, serde_json::to_vec(&report)?, Some(&carol))?;
    assert_eq!(code, 200, "{answer}");
    for (token, verified) in [(&carol, true), (&dave, false)] {
        let review = registry
            .http()
            .put(format!(
                "{}/api/wharf/v1/catalogue/packages/email/reviews",
                registry.url()
            ))
            .header("Authorization", token.as_str())
            .body(r#"{"rating": 4}"#)
            .send()?;
        let review: Value = serde_json::from_str(&review.text()?)?;
        assert_eq!(review["verified_install"], verified, "{review}");
    }

    // The per-address rate: 30 reports a minute (three were accepted above).
    let mut limited = None;
    for attempt in 0..40 {
        let (code, answer) = post_report(&registry, serde_json::to_vec(&good)?, None)?;
        if code == 429 {
            limited = Some((attempt, answer));
            break;
        }
        assert_eq!(code, 200, "{answer}");
    }
    let (attempt, answer) = limited.ok_or("no 429 after 40 reports")?;
    assert!(attempt >= 20, "limited after {attempt} reports: {answer}");
    assert!(
        answer["errors"][0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("30 reports per minute")),
        "{answer}"
    );
    Ok(())
}

#[test]
fn recommendations_on_a_generated_ecosystem_match_their_snapshot() -> TestResult {
    let dir = tempfile::tempdir()?;
    crate::catalogue_ecosystem::generate(dir.path())?;
    let registry = TestRegistry::start();
    crate::catalogue_ecosystem::publish_ecosystem(&registry, dir.path())?;
    // The most depended-upon plugin: its dependents' other dependencies are recommended.
    let all = get(&registry, "search?per_page=100", 200)?;
    let mut best: Option<(usize, String)> = None;
    for hit in all["results"].as_array().ok_or("results")? {
        let name = hit["name"].as_str().ok_or("name")?;
        let page = get(&registry, &format!("packages/{name}"), 200)?;
        let dependents = page["reverse_dependencies"].as_array().map_or(0, Vec::len);
        if best.as_ref().is_none_or(|(most, _)| dependents > *most) {
            best = Some((dependents, name.to_owned()));
        }
    }
    let (dependents, name) = best.ok_or("no package")?;
    assert!(dependents > 1, "no plugin with two dependents");
    let recommended = recommendations(&registry, &name, 200)?;
    assert_eq!(recommendations(&registry, &name, 200)?, recommended);
    for item in recommended["installed_together"]
        .as_array()
        .ok_or("installed_together")?
    {
        assert_eq!(item["basis"], "dependencies", "{item}");
        assert!(
            item["reason"]
                .as_str()
                .is_some_and(|r| r.contains(&format!("packages that depend on {name}"))),
            "{item}"
        );
    }
    for list in ["installed_together", "alternatives", "templates"] {
        for item in recommended[list].as_array().ok_or("a list")? {
            assert_ne!(item["name"], "host-api", "{item}");
            assert_ne!(item["name"], name.as_str(), "{item}");
        }
    }
    insta::assert_json_snapshot!("ecosystem_recommendations", stable(recommended, &registry));
    Ok(())
}
