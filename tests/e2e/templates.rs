//! Solution templates end to end: the ten core plugins and the six template families of
//! `fixtures/templates` published signed to a real `wharf serve`, each family rendered with
//! `wharf template new` (its plugins installed and verified against the registry's signed
//! log, its files' names and contents rendered from the parameters), and the refusals: bad
//! `--set` values, unknown and missing parameters, a hostile template whose file name
//! renders outside the target, a symlink in the target, a non-empty target, and a bad
//! parameter spec refused at publish with 400 naming the parameter and nothing stored.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use wharf_e2e_tests::core_plugins::{CORE_PLUGINS, core_plugin_dir};
use wharf_e2e_tests::upload::frame;
use wharf_e2e_tests::{TestRegistry, TestResult, describe, wharf_binary};
use wharf_index_format::{PackFile, PluginManifest, pack_plugin};

use crate::signed_plugins::{ok, path};

/// The six template families, each `fixtures/templates/NAME/VERSION`.
const FAMILIES: &[(&str, &str)] = &[
    ("api-integration", "1.0.0"),
    ("data-sync", "1.0.0"),
    ("approval-flow", "1.0.0"),
    ("microservice", "1.0.0"),
    ("cloud-deployment", "1.0.0"),
    ("database", "1.0.0"),
];

fn template_dir(name: &str, version: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/templates")
        .join(name)
        .join(version)
}

/// A registry holding the core plugins and the template families, all signed with a
/// registered publisher key, and the registry's exported root key.
pub(crate) struct Setup {
    pub(crate) registry: TestRegistry,
    pub(crate) work: tempfile::TempDir,
    key: PathBuf,
    root_key: PathBuf,
}

impl Setup {
    pub(crate) fn start() -> TestResult<Self> {
        let registry = TestRegistry::start();
        let work = tempfile::tempdir()?;
        let key = work.path().join("publisher.key");
        ok(&["keys", "new", "--out", path(&key)]);
        ok(&[
            "keys",
            "register",
            "--registry",
            &registry.url(),
            "--token",
            &registry.admin_token,
            "--key",
            path(&key),
        ]);
        let exported = registry.run_on_data(&["admin", "root-key", "export"], &[]);
        assert!(exported.status.success(), "{}", describe(&exported));
        let root_key = work.path().join("root.pub");
        std::fs::write(&root_key, &exported.stdout)?;
        let setup = Self {
            registry,
            work,
            key,
            root_key,
        };
        for (name, version) in CORE_PLUGINS {
            setup.publish(&core_plugin_dir(name, version));
        }
        for (name, version) in FAMILIES {
            let printed = setup.publish(&template_dir(name, version));
            assert!(
                printed.starts_with(&format!("published template {name} {version} to ")),
                "{printed}"
            );
        }
        setup.registry.settle();
        Ok(setup)
    }

    /// `wharf publish DIR --key FILE`: a signed release statement with the upload.
    fn publish(&self, dir: &Path) -> String {
        ok(&[
            "publish",
            path(dir),
            "--registry",
            &self.registry.url(),
            "--token",
            &self.registry.admin_token,
            "--key",
            path(&self.key),
        ])
    }

    /// `wharf template new TEMPLATE --dir WORK/DIR ARGS... --index-url … --host-api 2.1.0
    /// --root-key …`.
    pub(crate) fn template_new(&self, template: &str, dir: &str, args: &[&str]) -> Output {
        self.template_new_command(template, dir, args)
            .output()
            .expect("the wharf binary runs")
    }

    /// The command [`Setup::template_new`] runs, to spawn it instead.
    pub(crate) fn template_new_command(&self, template: &str, dir: &str, args: &[&str]) -> Command {
        let target = self.work.path().join(dir);
        let index = self.registry.index_url();
        let mut all = vec!["template", "new", template, "--dir", path(&target)];
        all.extend_from_slice(args);
        all.extend_from_slice(&[
            "--index-url",
            &index,
            "--host-api",
            "2.1.0",
            "--root-key",
            path(&self.root_key),
        ]);
        let mut command = Command::new(wharf_binary());
        command
            .args(&all)
            .env_remove("WHARF_TOKEN")
            .env_remove("WHARF_CA_CERT")
            .env_remove("WHARF_INSTALL_PAUSE_BEFORE_SWITCH");
        command
    }

    pub(crate) fn read(&self, file: &str) -> String {
        let full = self.work.path().join(file);
        std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
    }

    /// `wharf list` of `DIR/plugins`: `name version` per line.
    fn installed(&self, dir: &str) -> String {
        ok(&[
            "list",
            "--dir",
            path(&self.work.path().join(dir).join("plugins")),
        ])
    }

    /// The names in the work folder, so a refusal can be shown to have left nothing.
    fn work_entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.work.path())
            .expect("the work folder is readable")
            .map(|entry| {
                entry
                    .expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }
}

pub(crate) fn rendered(output: &Output) -> String {
    assert!(output.status.success(), "{}", describe(output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn refused(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(2), "{}", describe(output));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    stderr
}

#[test]
fn the_six_template_families_render_with_their_plugins_installed() -> TestResult {
    let setup = Setup::start()?;

    render_flow_families(&setup)?;

    rendered(&setup.template_new(
        "microservice",
        "svc",
        &[
            "--set",
            "service_name=billing",
            "--set",
            "port=9090",
            "--set",
            "health_check=false",
        ],
    ));
    assert_eq!(
        setup.read("svc/billing/service.toml"),
        "[service]\nname = \"billing\"\nport = 9090\nreplicas = 2\nlog-level = \"info\"\n"
    );

    let printed = rendered(&setup.template_new(
        "cloud-deployment@=1.0.0",
        "deploy",
        &[
            "--set",
            "app_name=shop",
            "--set",
            "provider=gcp",
            "--set",
            "region=europe-west-4",
            "--set",
            "public=true",
        ],
    ));
    assert!(printed.contains("  wrote deploy/gcp.yaml\n"), "{printed}");
    assert_eq!(
        setup.read("deploy/deploy/gcp.yaml"),
        "app: shop\nprovider: gcp\nregion: europe-west-4\ninstances: 3\ningress: public\n"
    );

    rendered(&setup.template_new(
        "database",
        "db",
        &["--set", "database_name=shop", "--set", "engine=mysql"],
    ));
    assert!(
        setup
            .read("db/database.toml")
            .contains("engine = \"mysql\"\nport = 3306\npool-size = 10\n")
    );
    assert_eq!(
        setup.read("db/migrations/0001_shop.sql"),
        "-- First migration of shop (mysql)\nCREATE TABLE public.items (\n    id BIGINT AUTO_INCREMENT PRIMARY KEY,\n    name TEXT NOT NULL\n);\n"
    );
    assert!(setup.installed("db").contains("sql-connector 2.1.0"));

    // The registry shows each template's lineage and parameters.
    let shown: serde_json::Value = setup
        .registry
        .http()
        .get(format!(
            "{}/api/wharf/v1/plugins/cloud-deployment",
            setup.registry.url()
        ))
        .send()?
        .json()?;
    let template = &shown["versions"][0]["template"];
    assert_eq!(template["forked_from"], "microservice@1.0.0", "{shown}");
    assert_eq!(template["parameters"][1]["name"], "provider");
    assert_eq!(template["parameters"][1]["type"], "choice");
    assert_eq!(
        template["parameters"][1]["choices"],
        serde_json::json!(["aws", "gcp", "azure"])
    );

    // Nothing of the temporary installs is left beside the targets.
    assert_eq!(
        setup.work_entries(),
        [
            "approvals",
            "db",
            "deploy",
            "orders",
            "publisher.key",
            "root.pub",
            "svc",
            "sync"
        ]
    );
    Ok(())
}

/// A template whose file name is a parameter with no pattern: a value can try to leave
/// the target folder.
const HOSTILE: &str = r#"[plugin]
name = "hostile"
version = "1.0.0"
kind = "template"
description = "Writes a file named by its parameter"
license = "MIT"
entry = "files/flow.json"

[dependencies]
host-api = "^2.1"
http-client = "^2.0"

[template]

[[template.parameters]]
name = "target"
type = "string"
description = "The file's name"
default = "notes"
"#;

#[test]
fn bad_values_hostile_templates_and_bad_specs_are_refused_and_change_nothing() -> TestResult {
    let setup = Setup::start()?;
    let hostile = setup.work.path().join("hostile-src");
    std::fs::create_dir_all(hostile.join("files"))?;
    std::fs::write(hostile.join("plugin.toml"), HOSTILE)?;
    std::fs::write(hostile.join("files/flow.json"), "{}\n")?;
    std::fs::write(hostile.join("files/{{ target }}.txt"), "owned\n")?;
    setup.publish(&hostile);
    setup.registry.settle();
    let before = setup.work_entries();

    for (template, args, says) in [
        (
            "api-integration",
            &[
                "--set",
                "service_name=orders",
                "--set",
                "timeout_seconds=9999",
            ][..],
            "template parameter `timeout_seconds`: 9999 is above the maximum 300",
        ),
        (
            "api-integration",
            &["--set", "service_name=Orders!"],
            "template parameter `service_name`: `Orders!` does not match the pattern",
        ),
        (
            "microservice",
            &["--set", "service_name=svc", "--set", "port=eighty"],
            "template parameter `port`: `eighty` is not an integer",
        ),
        (
            "microservice",
            &["--set", "service_name=svc", "--set", "health_check=yes"],
            "template parameter `health_check`: `yes` is not a bool; give `true` or `false`",
        ),
        (
            "cloud-deployment",
            &["--set", "app_name=shop", "--set", "provider=mars"],
            "template parameter `provider`: `mars` is not one of `aws`, `gcp`, `azure`",
        ),
        (
            "database",
            &["--set", "database_name=shop", "--set", "colour=red"],
            "template parameter `colour`: no such parameter; the template has `database_name`",
        ),
        (
            "cloud-deployment",
            &["--set", "region=us-east-1"],
            "missing template parameters: `app_name` (string: The application's name), `provider` (choice: The cloud provider to deploy to); give each with `--set NAME=VALUE`",
        ),
        (
            "database",
            &["--set", "database_name"],
            "`--set database_name`: write `--set KEY=VALUE`",
        ),
        (
            "hostile",
            &["--set", "target=../../escape"],
            "template file `{{ target }}.txt`: its name renders to `../../escape.txt`, which would leave the target folder",
        ),
        (
            "hostile",
            &["--set", "target=/tmp/escape"],
            "its name renders to `/tmp/escape.txt`, which is absolute",
        ),
        (
            "hostile",
            &["--set", "target=plugins/current/x"],
            "renders to `plugins/current/x.txt`, inside `plugins/`",
        ),
        (
            "approval-step",
            &[],
            "approval-step 2.0.0 is a plugin, not a template",
        ),
    ] {
        let output = setup.template_new(template, "refused", args);
        let stderr = refused(&output);
        assert!(stderr.contains(says), "{template} {args:?}: {stderr}");
        assert_eq!(
            setup.work_entries(),
            before,
            "{template} {args:?} left files"
        );
    }

    check_targets_that_are_not_safe(&setup)?;

    check_bad_specs_at_publish(&setup.registry)
}

/// A template package whose `plugin.toml` is `manifest`, with a rendered file; the publish
/// metadata is derived from `metadata_from` (the manifest may not parse).
fn template_body(manifest: &str, metadata_from: &str, file: (&str, &str)) -> TestResult<Vec<u8>> {
    let parsed = PluginManifest::parse(metadata_from)?;
    let root = format!("{}-{}", parsed.plugin.name, parsed.plugin.version);
    let files = [("plugin.toml", manifest), ("files/flow.json", "{}\n"), file]
        .into_iter()
        .map(|(path, text)| PackFile {
            path: path.to_owned(),
            data: text.as_bytes().to_vec(),
            executable: false,
        })
        .collect();
    let json = serde_json::to_vec(&parsed.to_new_crate(None))?;
    Ok(frame(&json, &pack_plugin(&root, files)))
}

/// Bad parameter specs and bad template files, uploaded directly (bypassing the client's
/// own check): 400 naming the parameter or file, nothing stored.
fn check_bad_specs_at_publish(registry: &TestRegistry) -> TestResult {
    let http = registry.http();
    let url = format!("{}/api/v1/crates/new", registry.url());
    let before = registry.data_snapshot();
    let base = HOSTILE.replace("name = \"hostile\"", "name = \"spec-check\"");
    let readme = ("files/README.md", "{{ target }}\n");
    let mut failures = Vec::new();
    for (what, from, to, file, needle) in [
        (
            "min above max",
            "default = \"notes\"",
            "default = \"notes\"\n\n[[template.parameters]]\nname = \"port\"\ntype = \"integer\"\ndescription = \"Port\"\nmin = 10\nmax = 1",
            readme,
            "plugin.toml: [[template.parameters]] port: min 10 is above max 1",
        ),
        (
            "bad regex",
            "default = \"notes\"",
            "default = \"notes\"\npattern = \"[a-z\"",
            readme,
            "plugin.toml: [[template.parameters]] target: pattern: `[a-z` is not a regular expression",
        ),
        (
            "default outside the pattern",
            "default = \"notes\"",
            "default = \"notes\"\npattern = \"[0-9]+\"",
            readme,
            "plugin.toml: [[template.parameters]] target: default: `notes` does not match the pattern `[0-9]+`",
        ),
        (
            "choice without choices",
            "type = \"string\"",
            "type = \"choice\"",
            readme,
            "plugin.toml: [[template.parameters]] target: choices: a `choice` parameter lists 1 to 64 values",
        ),
        (
            "pattern on an integer",
            "type = \"string\"\ndescription = \"The file's name\"\ndefault = \"notes\"",
            "type = \"integer\"\ndescription = \"The file's name\"\ndefault = 3\npattern = \"[0-9]\"",
            readme,
            "plugin.toml: [[template.parameters]] target: pattern: only a `string` parameter has it; this one is `integer`",
        ),
        (
            "unknown key",
            "default = \"notes\"",
            "default = \"notes\"\nrequired = true",
            readme,
            "plugin.toml: [template] parameters[0].required: unknown key",
        ),
        (
            "bad lineage",
            "[template]",
            "[template]\nforked-from = \"microservice\"",
            readme,
            "plugin.toml: [template] forked-from: `microservice` is not NAME@VERSION",
        ),
        (
            "undeclared variable",
            "[template]",
            "[template]",
            ("files/README.md", "{{ colour }}\n"),
            "template file `README.md`: its contents uses `colour`, which is not a parameter",
        ),
        (
            "bad syntax",
            "[template]",
            "[template]",
            ("files/README.md", "{% if target %}\n"),
            "template file `README.md`: its contents cannot be rendered (line 1)",
        ),
    ] {
        let manifest = base.replacen(from, to, 1);
        assert!(from == to || manifest != base, "{what}: {from} not found");
        let response = http
            .put(&url)
            .header("Authorization", &registry.admin_token)
            .body(template_body(&manifest, &base, file)?)
            .send()?;
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().unwrap_or_default();
        let detail = body["errors"][0]["detail"].as_str().unwrap_or_default();
        if status != 400 || !detail.contains(needle) {
            failures.push(format!(
                "{what}: got {status} {detail:?}, want 400 containing {needle:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        registry.data_snapshot(),
        before,
        "a refused template changed stored data"
    );
    Ok(())
}

/// api-integration, data-sync and approval-flow: contents, names and installed plugins.
fn render_flow_families(setup: &Setup) -> TestResult {
    let printed = rendered(&setup.template_new(
        "api-integration@1",
        "orders",
        &["--set", "service_name=orders", "--set", "auth=none"],
    ));
    assert!(
        printed.starts_with("Rendered api-integration 1.0.0 into `"),
        "{printed}"
    );
    assert!(
        printed.contains("  wrote orders.env.example\n"),
        "{printed}"
    );
    let flow: serde_json::Value = serde_json::from_str(&setup.read("orders/flow.json"))?;
    assert_eq!(flow["flow"], "orders");
    assert_eq!(flow["trigger"]["path"], "/hooks/orders");
    assert_eq!(flow["trigger"]["verify_signatures"], true);
    assert_eq!(flow["steps"][0]["url"], "https://api.example.com/events");
    assert_eq!(flow["steps"][0]["timeout_seconds"], 30);
    assert!(flow["steps"][0].get("auth").is_none(), "{flow}");
    assert_eq!(
        setup.read("orders/orders.env.example"),
        "# Secrets the orders integration needs\nWEBHOOK_SIGNING_KEY=\n"
    );
    assert_eq!(
        setup.installed("orders"),
        "api-integration 1.0.0 (requested 1)\ndata-mapper 1.3.0\nhttp-client 2.0.0\nwebhook-trigger 2.0.0\n"
    );

    rendered(&setup.template_new(
        "data-sync",
        "sync",
        &[
            "--set",
            "source_table=invoices",
            "--set",
            "bucket=finance-archive",
            "--set",
            "format=csv",
            "--set",
            "incremental=false",
            "--set",
            "interval_minutes=15",
        ],
    ));
    let flow: serde_json::Value = serde_json::from_str(&setup.read("sync/flow.json"))?;
    assert_eq!(flow["trigger"]["every_minutes"], 15);
    assert_eq!(flow["steps"][0]["query"], "SELECT * FROM invoices");
    assert_eq!(flow["steps"][2]["key"], "invoices/{run_id}.csv");
    let mapping: serde_json::Value =
        serde_json::from_str(&setup.read("sync/mapping/invoices.map.json"))?;
    assert_eq!(mapping["format"], "csv");
    assert_eq!(mapping["incremental"], false);
    let plugins = setup.installed("sync");
    for plugin in [
        "scheduler 1.0.0",
        "sql-connector 2.1.0",
        "object-storage 2.0.0",
        "http-client 2.0.0",
    ] {
        assert!(plugins.contains(plugin), "{plugins}");
    }

    rendered(&setup.template_new(
        "approval-flow",
        "approvals",
        &[
            "--set",
            "flow_name=expenses",
            "--set",
            "approvers_needed=1",
            "--set",
            "escalate=true",
        ],
    ));
    assert_eq!(
        setup.read("approvals/messages/request.txt"),
        "expenses: your approval is needed.\n1 approval release the request; you will be reminded every 24 hours.\nWithout an answer after three reminders the request goes to its owner.\n"
    );
    let flow: serde_json::Value = serde_json::from_str(&setup.read("approvals/flow.json"))?;
    assert_eq!(flow["steps"][0]["quorum"], 1);
    assert_eq!(flow["steps"][1]["channel"], "email");
    let plugins = setup.installed("approvals");
    for plugin in [
        "approval-step 2.0.0",
        "notifications 2.0.0",
        "email 2.0.0",
        "http-client 2.0.0",
    ] {
        assert!(plugins.contains(plugin), "{plugins}");
    }

    Ok(())
}

/// A target that is not empty is refused; with `--force`, a symlink on the way is too.
fn check_targets_that_are_not_safe(setup: &Setup) -> TestResult {
    let outside = setup.work.path().join("outside");
    std::fs::create_dir(&outside)?;
    let target = setup.work.path().join("linked");
    std::fs::create_dir(&target)?;
    std::os::unix::fs::symlink(&outside, target.join("svc"))?;
    let stderr =
        refused(&setup.template_new("microservice", "linked", &["--set", "service_name=svc"]));
    assert!(stderr.contains("is not empty"), "{stderr}");
    let stderr = refused(&setup.template_new(
        "microservice",
        "linked",
        &["--set", "service_name=svc", "--force"],
    ));
    assert!(
        stderr.contains("cannot write template file `svc/service.toml`")
            && stderr.contains("is a symlink"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(&outside)?.count(), 0);
    assert_eq!(std::fs::read_dir(&target)?.count(), 1);

    // The same hostile template renders where its value is harmless.
    rendered(&setup.template_new("hostile", "harmless", &["--set", "target=notes"]));
    assert_eq!(setup.read("harmless/notes.txt"), "owned\n");

    Ok(())
}
