//! `wharf token create|list|revoke` against a running server, and `serve` settings from a
//! config file and `WHARF_*` variables.

use std::process::Command;

use wharf_e2e_tests::upload::publish_body;
use wharf_e2e_tests::{TestRegistry, TestResult, http_client_builder, wharf_binary};

fn publish(registry: &TestRegistry, token: &str, name: &str) -> TestResult<(u16, String)> {
    let response = registry
        .http()
        .put(format!("{}/api/v1/crates/new", registry.url()))
        .header("Authorization", token)
        .body(publish_body(name, "1.0.0"))
        .send()?;
    Ok((response.status().as_u16(), response.text()?))
}

#[test]
fn tokens_created_listed_and_revoked_while_the_server_runs() -> TestResult {
    let registry = TestRegistry::start();
    let token = registry.create_token("carol", &["publish-new", "publish-update"]);
    assert!(token.starts_with("wharf_"), "{token}");
    let (status, body) = publish(&registry, &token, "carol-one")?;
    assert_eq!(status, 200, "{body}");

    let listed = registry.run_on_data(&["token", "list"], &["--user", "carol"]);
    let listing = String::from_utf8(listed.stdout)?;
    assert!(
        listing.contains("carol") && listing.contains("publish-new,publish-update"),
        "{listing}"
    );
    assert!(!listing.contains(&token), "a listing never shows secrets");
    let revoked = registry.run_on_data(&["token", "revoke"], &[&registry.token_id("carol")]);
    assert!(revoked.status.success());
    let (status, body) = publish(&registry, &token, "carol-two")?;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("revoked"), "{body}");
    Ok(())
}

#[test]
fn expired_and_pattern_limited_tokens_are_refused() -> TestResult {
    let registry = TestRegistry::start();
    let expired = registry.run_on_data(&["token", "create"], &["--user", "dave", "--expires", "1"]);
    let expired = String::from_utf8(expired.stdout)?.trim().to_owned();
    let (status, body) = publish(&registry, &expired, "dave-one")?;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("expired"), "{body}");

    let limited = registry.run_on_data(
        &["token", "create"],
        &["--user", "erin", "--crate-pattern", "acme-*"],
    );
    let limited = String::from_utf8(limited.stdout)?.trim().to_owned();
    let (status, body) = publish(&registry, &limited, "acme-widget")?;
    assert_eq!(status, 200, "{body}");
    let (status, body) = publish(&registry, &limited, "other-widget")?;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("acme-*"), "{body}");
    Ok(())
}

#[test]
fn serve_reads_a_config_file_and_environment() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("wharf.toml");
    std::fs::write(
        &config,
        "auth-required = true\npublic-url = \"http://registry.example:9999\"\n",
    )?;
    let mut child = Command::new(wharf_binary())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("WHARF_CONFIG", &config)
        .env("WHARF_DATA", dir.path().join("data"))
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().ok_or("stderr is piped")?;
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    let addr = lines
        .find_map(|line| {
            line.ok()?
                .strip_prefix("wharf: serving on http://")
                .map(|rest| {
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned()
                })
        })
        .ok_or("the server printed its address")?;
    let token = std::fs::read_to_string(dir.path().join("data/admin-token"))?;
    let http = http_client_builder().build()?;
    let anonymous = http
        .get(format!("http://{addr}/index/config.json"))
        .send()?;
    assert_eq!(
        anonymous.status(),
        401,
        "auth-required comes from the config file"
    );
    let served: serde_json::Value = http
        .get(format!("http://{addr}/index/config.json"))
        .header("Authorization", token.trim())
        .send()?
        .json()?;
    assert_eq!(served["api"], "http://registry.example:9999");
    assert_eq!(
        served["dl"],
        "http://registry.example:9999/blobs/sha256/{sha256-checksum}"
    );
    child.kill()?;
    child.wait()?;

    // Unknown keys in the config file are an error that names the key.
    std::fs::write(&config, "listen-port = 3\n")?;
    let refused = Command::new(wharf_binary())
        .args(["serve", "--config"])
        .arg(&config)
        .output()?;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("listen-port"));
    Ok(())
}

#[test]
fn display_names_show_in_owner_lists_and_bad_ones_create_nothing() -> TestResult {
    let registry = TestRegistry::start();
    let output = registry.run_on_data(
        &["token", "create"],
        &["--user", "frida", "--display-name", "Frida Kahlo"],
    );
    assert!(output.status.success());
    let token = String::from_utf8(output.stdout)?.trim().to_owned();
    let (status, body) = publish(&registry, &token, "frida-one")?;
    assert_eq!(status, 200, "{body}");
    let owners: serde_json::Value = registry
        .http()
        .get(format!("{}/api/v1/crates/frida-one/owners", registry.url()))
        .header("Authorization", &token)
        .send()?
        .json()?;
    assert_eq!(owners["users"][0]["login"], "frida");
    assert_eq!(owners["users"][0]["name"], "Frida Kahlo");

    let refused = registry.run_on_data(
        &["token", "create"],
        &["--user", "gustav", "--display-name", "line\nbreak"],
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("display name"), "{stderr}");
    let listed = registry.run_on_data(&["token", "list"], &[]);
    let listing = String::from_utf8(listed.stdout)?;
    assert!(!listing.contains("gustav"), "{listing}");
    Ok(())
}
