//! A solution template's parameters as a user meets them: the package page (HTML and the
//! catalogue API's JSON) shows its lineage and each parameter's type, default and validation,
//! and `wharf template new` given only the required values renders with the defaults, typed
//! as declared (integers and bools, not text).

use wharf_e2e_tests::TestResult;

use crate::templates::{Setup, rendered};

#[test]
fn a_templates_page_shows_its_lineage_and_defaults_and_rendering_uses_them() -> TestResult {
    let setup = Setup::start()?;
    let base = setup.registry.url();
    let http = setup.registry.http();

    let json: serde_json::Value = http
        .get(format!(
            "{base}/api/wharf/v1/catalogue/packages/cloud-deployment"
        ))
        .send()?
        .json()?;
    let template = &json["plugin"]["template"];
    assert_eq!(template["forked_from"], "microservice@1.0.0", "{json}");
    let parameters = template["parameters"].as_array().expect("a list");
    let names: Vec<&str> = parameters
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["app_name", "provider", "region", "instances", "public"]
    );
    assert!(parameters[0].get("default").is_none(), "required: {json}");
    assert_eq!(parameters[2]["default"], "eu-west-1");
    assert_eq!(parameters[3]["default"], 3);
    assert_eq!(parameters[3]["min"], 1);
    assert_eq!(parameters[4]["default"], false);

    let page = http
        .get(format!("{base}/packages/cloud-deployment"))
        .send()?
        .text()?;
    assert!(
        page.contains("Forked from <a href=\"/packages/microservice\">microservice@1.0.0</a>."),
        "{page}"
    );
    for row in [
        "<td>string</td>\n        <td>required</td>\n        <td>matches <code>[a-z][a-z0-9-]{1,30}</code></td>",
        "<td>choice</td>\n        <td>required</td>\n        <td>aws, gcp, azure</td>",
        "<td>integer</td>\n        <td><code>3</code></td>\n        <td>at least 1, at most 50</td>",
        "<td>bool</td>\n        <td><code>false</code></td>\n        <td>any</td>",
    ] {
        assert!(page.contains(row), "{row} in {page}");
    }
    // A plugin has no template section.
    let plugin_page = http
        .get(format!("{base}/packages/http-client"))
        .send()?
        .text()?;
    assert!(!plugin_page.contains("id=\"template\""));
    // An original template says so.
    let original = http
        .get(format!("{base}/packages/microservice"))
        .send()?
        .text()?;
    assert!(original.contains("An original template"), "{original}");

    // Only the required value given: every default is used, with its declared type.
    let printed =
        rendered(&setup.template_new("database", "defaults", &["--set", "database_name=notes"]));
    assert!(printed.contains("  wrote database.toml\n"), "{printed}");
    assert_eq!(
        setup.read("defaults/database.toml"),
        "[database]\nname = \"notes\"\nengine = \"postgres\"\nport = 5432\npool-size = 10\nschema = \"public\"\n"
    );
    assert_eq!(
        setup.read("defaults/migrations/0001_notes.sql"),
        "-- First migration of notes (postgres)\nCREATE TABLE public.items (\n    id BIGSERIAL PRIMARY KEY,\n    name TEXT NOT NULL\n);\n"
    );
    let flow: serde_json::Value = serde_json::from_str(&setup.read("defaults/flow.json"))?;
    assert_eq!(flow["steps"][0]["engine"], "postgres");
    Ok(())
}
