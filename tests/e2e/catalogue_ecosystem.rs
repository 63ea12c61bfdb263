//! The catalogue on a small generated ecosystem (`gen-ecosystem --plugins 30 --seed 7`,
//! published through the real publish API and yanked as its yank list says): search and
//! package page snapshots, and the host-compatibility ranking over many plugins.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use wharf_e2e_tests::{TestRegistry, TestResult, wharf_binary};

use crate::catalogue::{get, stable};

/// Runs `gen-ecosystem` (built beside `wharf` by `cargo build --workspace --bins`).
pub(crate) fn generate(out: &Path) -> TestResult {
    let binary =
        wharf_binary().with_file_name(format!("gen-ecosystem{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "`{}` is missing: run `cargo build --workspace --bins` first",
        binary.display()
    );
    let status = Command::new(binary)
        .args(["--plugins", "30", "--seed", "7", "--out"])
        .arg(out)
        .status()?;
    assert!(status.success(), "gen-ecosystem failed");
    Ok(())
}

/// Publishes every body in publish order, then yanks the yank list.
pub(crate) fn publish_ecosystem(registry: &TestRegistry, dir: &Path) -> TestResult {
    let mut bodies: Vec<_> = std::fs::read_dir(dir.join("publish"))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    bodies.sort();
    for body in bodies {
        let response = registry
            .http()
            .put(format!("{}/api/v1/crates/new", registry.url()))
            .header("Authorization", &registry.admin_token)
            .body(std::fs::read(&body)?)
            .send()?;
        assert!(
            response.status().is_success(),
            "{}: {}",
            body.display(),
            response.text()?
        );
    }
    for line in std::fs::read_to_string(dir.join("yanked.txt"))?.lines() {
        let (name, version) = line.split_once(' ').ok_or("NAME VERSION")?;
        let response = registry
            .http()
            .delete(format!(
                "{}/api/v1/crates/{name}/{version}/yank",
                registry.url()
            ))
            .header("Authorization", &registry.admin_token)
            .send()?;
        assert!(response.status().is_success(), "yank {line}");
    }
    Ok(())
}

#[test]
fn a_generated_ecosystem_searches_ranks_and_shows_pages_as_snapshotted() -> TestResult {
    let dir = tempfile::tempdir()?;
    generate(dir.path())?;
    let registry = TestRegistry::start();
    publish_ecosystem(&registry, dir.path())?;

    let all = get(&registry, "search?per_page=100&sort=relevance", 200)?;
    let total = all["total"].as_u64().ok_or("total")?;
    assert!(total >= 30, "{all}");
    insta::assert_json_snapshot!("ecosystem_search_all", stable(all.clone(), &registry));

    // The first name searched for exactly comes first.
    let first = all["results"][0]["name"]
        .as_str()
        .ok_or("a name")?
        .to_owned();
    let exact = get(&registry, &format!("search?q={first}"), 200)?;
    assert_eq!(exact["results"][0]["name"], first.as_str(), "{exact}");
    insta::assert_json_snapshot!("ecosystem_search_exact", stable(exact, &registry));

    let templates = get(&registry, "search?kind=template&per_page=100", 200)?;
    for hit in templates["results"].as_array().ok_or("results")? {
        assert_eq!(hit["kind"], "template", "{hit}");
    }

    let page = get(&registry, &format!("packages/{first}"), 200)?;
    insta::assert_json_snapshot!("ecosystem_page_first", stable(page, &registry));

    // Across three host API majors, compatible plugins always precede incompatible ones,
    // and each major leaves some of each.
    for host in ["1.4.0", "2.3.0", "3.1.0"] {
        let results = get(&registry, &format!("search?host={host}&per_page=100"), 200)?;
        let flags: Vec<bool> = results["results"]
            .as_array()
            .ok_or("results")?
            .iter()
            .map(|hit| hit["compatible"] == Value::Bool(true))
            .collect();
        assert!(
            flags.windows(2).all(|pair| pair[0] || !pair[1]),
            "host {host}: an incompatible plugin ranks above a compatible one"
        );
        assert!(flags.contains(&true), "host {host}: nothing compatible");
        insta::assert_json_snapshot!(
            format!("ecosystem_search_host_{}", host.replace('.', "_")),
            stable(results, &registry)
        );
    }
    Ok(())
}
