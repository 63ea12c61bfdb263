//! Monitoring an operator can adopt as is: the Prometheus alerting rules pass `promtool check
//! rules`, a real server's `/metrics` passes `promtool check metrics`, and every metric (and
//! every `route` label value) that the rules and the Grafana dashboard name is one that a real
//! server exposes; the dashboard's queries are valid PromQL (checked by promtool as recording
//! rules).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use wharf_e2e_tests::{TestRegistry, TestResult};

fn monitoring(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../packaging/monitoring")
        .join(file)
}

/// Runs `promtool ARGS` with `stdin`, failing with the install hint when it is missing.
fn promtool(args: &[&str], stdin: &[u8]) -> TestResult<(bool, String)> {
    let mut child = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| {
            format!(
                "`promtool` cannot run ({error}): install Debian's `prometheus` package (scripts/test.sh does when it is missing)"
            )
        })?;
    child
        .stdin
        .take()
        .ok_or("stdin is piped")?
        .write_all(stdin)?;
    let output = child.wait_with_output()?;
    let said = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
    Ok((output.status.success(), said.into_owned()))
}

/// Every `wharf_…` metric name in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    for (start, _) in text.match_indices("wharf_") {
        let follows_a_name =
            start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        if follows_a_name {
            continue;
        }
        let name: String = text[start..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        names.insert(name);
    }
    names
}

/// Every `route="…"` label matcher in `text`.
fn route_labels(text: &str) -> BTreeSet<String> {
    text.match_indices("route=\\\"")
        .map(|(i, m)| (i, m.len()))
        .chain(text.match_indices("route=\"").map(|(i, m)| (i, m.len())))
        .filter_map(|(i, len)| {
            let rest = &text[i + len..];
            let end = rest.find(['"', '\\'])?;
            Some(format!("route=\"{}\"", &rest[..end]))
        })
        .collect()
}

/// A real server's `/metrics` after some traffic: an index file, a missing one, a health check.
fn scraped_metrics() -> TestResult<String> {
    let registry = TestRegistry::start();
    let http = registry.http();
    for path in ["/index/config.json", "/index/3/n/nop", "/health"] {
        http.get(registry.url() + path).send()?;
    }
    Ok(http.get(registry.url() + "/metrics").send()?.text()?)
}

/// The names of the series in a Prometheus text exposition (without labels and comments).
fn exposed_series(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// Names in `named` that the server does not expose.
fn missing(named: &BTreeSet<String>, exposition: &str) -> Vec<String> {
    let series = exposed_series(exposition);
    named
        .iter()
        .filter(|name| !series.contains(*name))
        .cloned()
        .collect()
}

#[test]
fn the_alerting_rules_are_valid_and_name_only_exposed_metrics() -> TestResult {
    let rules_path = monitoring("wharf-alerts.yml");
    let (ok, said) = promtool(&["check", "rules", &rules_path.to_string_lossy()], b"")?;
    assert!(ok, "promtool check rules: {said}");
    let exposition = scraped_metrics()?;
    let (ok, said) = promtool(&["check", "metrics"], exposition.as_bytes())?;
    assert!(ok, "promtool check metrics on /metrics: {said}");

    let rules = std::fs::read_to_string(&rules_path)?;
    let named = metric_names(&rules);
    for needed in [
        "wharf_ready",
        "wharf_http_requests_total",
        "wharf_http_request_duration_seconds_bucket",
        "wharf_index_writes_pending",
        "wharf_data_dir_free_bytes",
        "wharf_follower_lag_seconds",
    ] {
        assert!(named.contains(needed), "the rules do not watch {needed}");
    }
    assert_eq!(missing(&named, &exposition), Vec::<String>::new());
    for route in route_labels(&rules) {
        assert!(exposition.contains(&route), "no {route} in /metrics");
    }
    Ok(())
}

#[test]
fn every_dashboard_query_is_valid_and_names_exposed_metrics() -> TestResult {
    let text = std::fs::read_to_string(monitoring("wharf-dashboard.json"))?;
    let dashboard: serde_json::Value = serde_json::from_str(&text)?;
    let panels = dashboard["panels"].as_array().ok_or("a panels array")?;
    let mut queries = Vec::new();
    for panel in panels {
        let targets = panel["targets"]
            .as_array()
            .ok_or("every panel has targets")?;
        assert!(!targets.is_empty(), "panel {} has no query", panel["title"]);
        for target in targets {
            let expr = target["expr"].as_str().ok_or("every target has an expr")?;
            assert!(
                !metric_names(expr).is_empty(),
                "`{expr}` names no Wharf metric"
            );
            queries.push(expr.to_owned());
        }
    }
    let exposition = scraped_metrics()?;
    assert_eq!(
        missing(&metric_names(&text), &exposition),
        Vec::<String>::new()
    );
    for route in route_labels(&text) {
        assert!(exposition.contains(&route), "no {route} in /metrics");
    }
    // Each query, with Grafana's variables filled in, as a recording rule for promtool to parse.
    let rules: Vec<serde_json::Value> = queries
        .iter()
        .enumerate()
        .map(|(i, expr)| {
            serde_json::json!({
                "record": format!("dashboard:query_{i}"),
                "expr": expr.replace("$__rate_interval", "5m").replace("$instance", ".*"),
            })
        })
        .collect();
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("dashboard-queries.yml");
    // JSON is YAML: promtool reads it as a rule file.
    std::fs::write(
        &path,
        serde_json::to_string(&serde_json::json!({
            "groups": [{ "name": "dashboard", "rules": rules }]
        }))?,
    )?;
    let (ok, said) = promtool(&["check", "rules", &path.to_string_lossy()], b"")?;
    assert!(ok, "the dashboard's queries do not parse: {said}");
    assert!(
        said.contains(&format!("{} rules found", queries.len())),
        "{said}"
    );
    Ok(())
}
