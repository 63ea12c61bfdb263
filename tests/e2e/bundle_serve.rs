//! A bundle exported from one registry and imported into a fresh directory that a second
//! `wharf serve` serves, with the first registry stopped: cargo fetches through the second
//! one by source replacement and then builds offline; a newer bundle is served without a
//! restart, an older one refused while the newer stays served.

use std::fmt::Write as _;

use wharf_e2e_tests::{
    CargoEnv, CrateProject, TestRegistry, TestResult, describe, http_client_builder,
};

use crate::bundle::{export, import, keys, tree};
use crate::bundle_data::publish_pair;
use crate::mirror_serve::MirrorServer;

#[test]
fn a_bundle_imported_into_a_second_server_builds_offline_with_the_first_stopped() -> TestResult {
    let mut first = TestRegistry::start();
    publish_pair(&first);
    let dir = tempfile::tempdir()?;
    let (key, exporter_pub, root) = keys(&first, dir.path());
    let older = dir.path().join("older.bundle");
    export(&first, &key, &root, &older, &["--all"]);
    let cargo = CargoEnv::new(&first.index_url());
    cargo.login(&first.admin_token);
    let newer_top = CrateProject::new("air-top", "0.1.1")
        .dep("air-base", r#"{ version = "1", registry = "wharf" }"#)
        .lib("pub fn top() -> u32 { air_base::base() + 3 }")
        .write(cargo.work_dir());
    cargo.cargo_ok(
        &newer_top,
        &["publish", "--registry", "wharf", "--no-verify"],
    );
    let newer = dir.path().join("newer.bundle");
    export(&first, &key, &root, &newer, &["--all"]);
    let first_index = first.index_url();
    first.stop();

    // A fresh directory, the older bundle imported, served by a second server.
    let data = dir.path().join("second");
    let imported = import(&older, &data, &exporter_pub, &root, &[]);
    assert!(imported.status.success(), "{}", describe(&imported));
    let second = MirrorServer::start(&data);

    // cargo knows the first registry by name and is sent to the second by replacement.
    let consumer_env = CargoEnv::new(&first_index);
    let config = consumer_env.home().join("config.toml");
    let mut text = std::fs::read_to_string(&config)?;
    let _ = write!(
        text,
        "\n[source.wharf-first]\nregistry = \"{first_index}\"\nreplace-with = \"wharf-second\"\n\n[source.wharf-second]\nregistry = \"sparse+{}/index/\"\n",
        second.url
    );
    std::fs::write(&config, text)?;
    let consumer = CrateProject::new("air-consumer", "0.1.0")
        .dep("air-top", r#"{ version = "0.1", registry = "wharf" }"#)
        .main("fn main() { println!(\"value={}\", air_top::top()); }")
        .write(consumer_env.work_dir());
    consumer_env.cargo_ok(&consumer, &["fetch"]);
    let run = consumer_env.cargo_ok(&consumer, &["run", "--offline", "--quiet"]);
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "value=42");

    // The newer bundle, imported while the second server runs, is served without a restart.
    let imported = import(&newer, &data, &exporter_pub, &root, &[]);
    assert!(imported.status.success(), "{}", describe(&imported));
    consumer_env.cargo_ok(&consumer, &["update"]);
    consumer_env.cargo_ok(&consumer, &["fetch"]);
    let run = consumer_env.cargo_ok(&consumer, &["run", "--offline", "--quiet"]);
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "value=43");

    // The older bundle again: refused as a rollback, and the newer copy stays served.
    let before = tree(&data);
    let refused = import(&older, &data, &exporter_pub, &root, &[]);
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("refused as a rollback"),
        "{}",
        describe(&refused)
    );
    assert_eq!(tree(&data), before);
    let served = http_client_builder()
        .build()?
        .get(format!("{}/index/ai/r-/air-top", second.url))
        .send()?
        .text()?;
    assert!(served.contains(r#""vers":"0.1.1""#), "{served}");
    Ok(())
}
