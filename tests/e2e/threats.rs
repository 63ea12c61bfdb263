//! The threats `wharf verify` stops (numbered as in docs/threats.md): a real `wharf serve`
//! behind a real tampering proxy, and the real `wharf verify` binary with its own state
//! directory. Each tampered answer must fail verification with the message naming the
//! attack; the honest path passes (`verify_cli.rs`).

use std::time::Duration;

use wharf_e2e_tests::TestRegistry;
use wharf_e2e_tests::forged_log::{ForgedLog, StolenKeys, keyset_body, resign_timestamp};
use wharf_e2e_tests::tamper_proxy::{Action, Rule, add_line, drop_line, edit, edit_line};
use wharf_e2e_tests::verify_setup::{VerifySetup as Setup, publish};
use wharf_trust::SigningKey;

const TIMESTAMP: &str = "/index/.wharf/timestamp";
const CHECKPOINT: &str = "/api/wharf/v1/log/checkpoint";
const KEYSET: &str = "/api/wharf/v1/log/keyset";
const BINS: &str = "/index/.wharf/bins";

fn demo_file() -> String {
    format!("/index/{}", wharf_index_format::index_path("demo-pkg"))
}

fn other_file() -> String {
    format!("/index/{}", wharf_index_format::index_path("other-pkg"))
}

fn bin_path(name: &str) -> String {
    let bin = wharf_trust::snapshot::bin_of(&wharf_index_format::index_path(name));
    format!("{BINS}/{bin:02x}")
}

#[test]
fn threat_01_swapped_blob() {
    let setup = Setup::start();
    setup.proxy.add(Rule::prefix(
        "/blobs/",
        edit(|body| {
            let mut body = body.to_vec();
            let last = body.len() - 1;
            body[last] ^= 0x01;
            body
        }),
    ));
    setup.fails_with(
        &["demo-pkg", "--crates"],
        "demo-pkg 1.0.0: checksum mismatch",
    );
}

#[test]
fn threat_02_injected_dependency() {
    let setup = Setup::start();
    setup.proxy.add(Rule::exact(
        &demo_file(),
        edit(|file| {
            edit_line(file, "1.0.0", |line| {
                line.replacen(
                    "\"deps\":[]",
                    "\"deps\":[{\"name\":\"evil\",\"req\":\"^1\",\"features\":[],\"optional\":false,\"default_features\":true,\"target\":null,\"kind\":\"normal\"}]",
                    1,
                )
            })
        }),
    ));
    let stdout = setup.fails_with(&["demo-pkg"], "demo-pkg 1.0.0: entry mismatch");
    assert!(stdout.contains("demo-pkg: snapshot:"), "{stdout}");
}

#[test]
fn threat_03_line_served_under_another_name() {
    let setup = Setup::start();
    let demo = setup.fetch(&demo_file());
    let line = String::from_utf8(demo)
        .expect("text")
        .lines()
        .next()
        .expect("a line")
        .to_owned();
    setup.proxy.add(Rule::exact(
        &other_file(),
        edit(move |file| add_line(file, &line)),
    ));
    setup.fails_with(&["other-pkg"], "other-pkg 1.0.0: name mismatch");
}

#[test]
fn threat_04_cross_registry_replay() {
    let setup = Setup::start();
    let elsewhere = TestRegistry::start();
    publish(&elsewhere, "demo-pkg", "1.0.0");
    let foreign = ForgedLog::of(&elsewhere).leaves[0].clone();
    let mut forged = ForgedLog::of(&setup.registry);
    forged.leaves[0] = foreign;
    let keys = StolenKeys::of(&setup.registry);
    setup
        .proxy
        .set(forged.rules(&keys, &setup.fetch(TIMESTAMP)));
    setup.fails_with(&["demo-pkg"], "demo-pkg 1.0.0: wrong origin");
}

#[test]
fn threat_05_rollback_after_newer_state_and_restart() {
    let setup = Setup::start();
    setup.passes(&["demo-pkg"]);
    let old: Vec<(String, Vec<u8>)> = [
        TIMESTAMP.to_owned(),
        CHECKPOINT.to_owned(),
        BINS.to_owned(),
        bin_path("demo-pkg"),
        demo_file(),
    ]
    .into_iter()
    .map(|path| {
        let body = setup.fetch(&path);
        (path, body)
    })
    .collect();
    publish(&setup.registry, "demo-pkg", "1.2.0");
    setup.passes(&["demo-pkg"]);
    setup.proxy.set(
        old.into_iter()
            .map(|(path, body)| Rule::exact(&path, Action::Replace(body)))
            .collect(),
    );
    // Each run is a new process: the state kept on disk remembers the newer checkpoint.
    for _ in 0..2 {
        setup.fails_with(
            &["demo-pkg"],
            "rollback: checkpoint 3 is older than the 4 already seen",
        );
    }
}

#[test]
fn threat_06_freeze_with_an_expired_timestamp() {
    let setup = Setup::start();
    let keys = StolenKeys::of(&setup.registry);
    let expired = resign_timestamp(&setup.fetch(TIMESTAMP), &keys.timestamp, -7200, -60);
    setup
        .proxy
        .add(Rule::exact(TIMESTAMP, Action::Replace(expired)));
    setup.fails_with(&["demo-pkg"], "expired: the timestamp expired at");
    let stdout = setup.passes(&["demo-pkg", "--allow-expired"]);
    assert!(
        stdout.contains("override: --allow-expired: accepted a timestamp that expired at"),
        "{stdout}"
    );
}

#[test]
fn threat_07_mix_and_match() {
    let setup = Setup::start();
    let old_bins = setup.fetch(BINS);
    let old_file = setup.fetch(&demo_file());
    publish(&setup.registry, "demo-pkg", "1.2.0");
    setup
        .proxy
        .add(Rule::exact(BINS, Action::Replace(old_bins)));
    setup.fails_with(&["demo-pkg"], "the snapshot bin list has SHA-256");
    setup
        .proxy
        .set(vec![Rule::exact(&demo_file(), Action::Replace(old_file))]);
    let stdout = setup.fails_with(&["demo-pkg"], "demo-pkg: snapshot: the index file");
    assert!(stdout.contains("demo-pkg 1.2.0: dropped line"), "{stdout}");
}

#[test]
fn threat_08_fast_forward_undone_by_key_rotation() {
    let setup = Setup::start();
    let keys = StolenKeys::of(&setup.registry);
    // A thief with the timestamp key signs one issued ahead of time; the client keeps it.
    let ahead = resign_timestamp(&setup.fetch(TIMESTAMP), &keys.timestamp, 240, 3600);
    setup
        .proxy
        .add(Rule::exact(TIMESTAMP, Action::Replace(ahead)));
    setup.passes(&["demo-pkg"]);
    // The registry's honest timestamps are now refused as replays.
    setup.proxy.clear();
    setup.fails_with(&["demo-pkg"], "replayed timestamp");
    // The operator rotates the timestamp key in keyset version 2.
    let new_root = SigningKey::generate();
    let new_timestamp = SigningKey::generate();
    let v2 = keys
        .keyset(2, &new_root, &new_timestamp)
        .sign(&[&keys.root, &new_root])
        .expect("signed");
    let v1 = String::from_utf8(
        std::fs::read(setup.registry.data_dir().join("keys/keyset-1.note")).expect("keyset 1"),
    )
    .expect("text");
    let fresh = resign_timestamp(&setup.fetch(TIMESTAMP), &new_timestamp, 0, 3600);
    setup.proxy.set(vec![
        Rule::exact(KEYSET, Action::Replace(keyset_body(&[v1, v2]))),
        Rule::exact(TIMESTAMP, Action::Replace(fresh)),
    ]);
    let stdout = setup.passes(&["demo-pkg"]);
    assert!(
        stdout.contains(
            "note: the timestamp key changed in keyset version 2: dropped the timestamp kept"
        ),
        "{stdout}"
    );
}

#[test]
fn threat_09_endless_data() {
    let setup = Setup::start();
    setup.proxy.add(Rule::exact(TIMESTAMP, Action::Endless));
    setup.fails_with(&["demo-pkg"], "sent more than 262144 bytes");
}

#[test]
fn threat_10_slow_retrieval() {
    let setup = Setup::start();
    setup.proxy.add(Rule::exact(
        TIMESTAMP,
        Action::Drip(Duration::from_millis(200)),
    ));
    setup.fails_with(&["demo-pkg", "--timeout", "2"], "took over 2 s");
}

#[test]
fn threat_11_history_rewrite() {
    let setup = Setup::start();
    setup.passes(&["demo-pkg"]);
    publish(&setup.registry, "other-pkg", "0.2.0");
    let mut forged = ForgedLog::of(&setup.registry);
    forged.backdate(0);
    let keys = StolenKeys::of(&setup.registry);
    setup
        .proxy
        .set(forged.rules(&keys, &setup.fetch(TIMESTAMP)));
    setup.fails_with(
        &["demo-pkg"],
        "the log of 4 leaves is not an extension of the 3 already seen",
    );
}

#[test]
fn threat_12_split_view() {
    let setup = Setup::start();
    setup.passes(&["demo-pkg"]);
    let mut forged = ForgedLog::of(&setup.registry);
    forged.backdate(2);
    let keys = StolenKeys::of(&setup.registry);
    setup
        .proxy
        .set(forged.rules(&keys, &setup.fetch(TIMESTAMP)));
    setup.fails_with(&["demo-pkg"], "split view: two checkpoints of size 3");
}

fn keyset_one(setup: &Setup) -> String {
    std::fs::read_to_string(setup.registry.data_dir().join("keys/keyset-1.note")).expect("keyset 1")
}

#[test]
fn threat_16_keyset_signed_only_by_the_old_root() {
    let setup = Setup::start();
    let keys = StolenKeys::of(&setup.registry);
    let new_root = SigningKey::generate();
    let v2 = keys
        .keyset(2, &new_root, &keys.timestamp)
        .sign(&[&keys.root])
        .expect("signed");
    setup.proxy.add(Rule::exact(
        KEYSET,
        Action::Replace(keyset_body(&[keyset_one(&setup), v2])),
    ));
    setup.fails_with(&["demo-pkg"], "is not signed by");
}

#[test]
fn threat_17_keyset_chain_skipping_looping_or_too_long() {
    let setup = Setup::start();
    let keys = StolenKeys::of(&setup.registry);
    let v1 = keyset_one(&setup);
    let sign = |version: u64| {
        keys.keyset(version, &keys.root, &keys.timestamp)
            .sign(&[&keys.root, &keys.root])
            .expect("signed")
    };
    setup.proxy.set(vec![Rule::exact(
        KEYSET,
        Action::Replace(keyset_body(&[v1.clone(), sign(3)])),
    )]);
    setup.fails_with(&["demo-pkg"], "expected version 2 to follow version 1");
    setup.proxy.set(vec![Rule::exact(
        KEYSET,
        Action::Replace(keyset_body(&[v1.clone(), sign(2), sign(2)])),
    )]);
    setup.fails_with(&["demo-pkg"], "expected version 3 to follow version 2");
    setup.proxy.set(vec![Rule::exact(
        KEYSET,
        Action::Replace(keyset_body(&vec![v1; 1025])),
    )]);
    setup.fails_with(&["demo-pkg"], "over the 1024 limit");
}

#[test]
fn threat_18_two_signatures_by_one_key_count_once() {
    let setup = Setup::start();
    let keys = StolenKeys::of(&setup.registry);
    let new_root = SigningKey::generate();
    // Keyset version 2 needs the old and the new root; the old one twice is not enough.
    let v2 = keys
        .keyset(2, &new_root, &keys.timestamp)
        .sign(&[&keys.root, &keys.root])
        .expect("signed");
    setup.proxy.add(Rule::exact(
        KEYSET,
        Action::Replace(keyset_body(&[keyset_one(&setup), v2])),
    ));
    setup.fails_with(&["demo-pkg"], "is not signed by");
    // A release leaf carrying the release key's signature twice is refused.
    let mut forged = ForgedLog::of(&setup.registry);
    let text = String::from_utf8(forged.leaves[0].clone()).expect("text");
    let signature = text
        .lines()
        .find(|line| line.starts_with("signature: "))
        .expect("a signature")
        .to_owned();
    forged.rewrite_leaf(0, &signature, &format!("{signature}\n{signature}"));
    setup
        .proxy
        .set(forged.rules(&keys, &setup.fetch(TIMESTAMP)));
    setup.fails_with(&["demo-pkg"], "carries two signatures by key");
}

#[test]
fn threat_20_parser_differential() {
    let setup = Setup::start();
    setup.proxy.add(Rule::exact(
        &demo_file(),
        edit(|file| {
            edit_line(file, "1.0.0", |line| {
                line.replacen("{\"name\"", "{\"cksum\":\"00\",\"name\"", 1)
            })
        }),
    ));
    setup.fails_with(&["demo-pkg"], "refused line: it is not one index entry");
    setup.proxy.set(vec![Rule::exact(
        &demo_file(),
        edit(|file| {
            let mut out = "\u{feff}".as_bytes().to_vec();
            out.extend_from_slice(file);
            out
        }),
    )]);
    setup.fails_with(&["demo-pkg"], "demo-pkg: line 1: refused line");
}

#[test]
fn threat_35_hidden_yank() {
    let setup = Setup::start();
    setup.proxy.add(Rule::exact(
        &demo_file(),
        edit(|file| {
            edit_line(file, "1.1.0", |line| {
                line.replacen("\"yanked\":false", "\"yanked\":true", 1)
            })
        }),
    ));
    let stdout = setup.fails_with(&["demo-pkg"], "demo-pkg 1.1.0: yank mismatch");
    assert!(
        stdout.contains("demo-pkg: snapshot: the index file"),
        "{stdout}"
    );
}

#[test]
fn threat_36_stale_replay_needs_an_explicit_override() {
    let setup = Setup::start();
    setup.passes(&["other-pkg"]);
    let old: Vec<(String, Vec<u8>)> = [
        TIMESTAMP.to_owned(),
        CHECKPOINT.to_owned(),
        BINS.to_owned(),
        bin_path("other-pkg"),
    ]
    .into_iter()
    .map(|path| {
        let body = setup.fetch(&path);
        (path, body)
    })
    .collect();
    publish(&setup.registry, "demo-pkg", "1.2.0");
    setup.passes(&["other-pkg"]);
    setup.proxy.set(
        old.into_iter()
            .map(|(path, body)| Rule::exact(&path, Action::Replace(body)))
            .collect(),
    );
    setup.fails_with(&["other-pkg"], "rollback: checkpoint 3 is older than the 4");
    let stdout = setup.passes(&["other-pkg", "--allow-rollback"]);
    assert!(
        stdout.contains(
            "override: --allow-rollback: accepted checkpoint 3, older than the 4 already seen"
        ),
        "{stdout}"
    );
    // The override kept nothing: the next run still knows the newer state.
    setup.fails_with(&["other-pkg"], "rollback: checkpoint 3 is older than the 4");
}

#[test]
fn threat_37_fail_closed_without_a_timestamp() {
    let mut setup = Setup::start();
    setup.proxy.add(Rule::exact(TIMESTAMP, Action::Status(404)));
    setup.fails_with(&["demo-pkg"], "cannot fetch");
    setup
        .proxy
        .set(vec![Rule::exact(TIMESTAMP, Action::Status(503))]);
    setup.fails_with(&["demo-pkg"], "HTTP 503");
    setup.proxy.clear();
    setup.registry.stop();
    setup.fails_with(&["demo-pkg"], "verification needs it and fails closed");
}

#[test]
fn threat_38_clock_set_back() {
    let setup = Setup::start();
    let keys = StolenKeys::of(&setup.registry);
    let served = setup.fetch(TIMESTAMP);
    let future = resign_timestamp(&served, &keys.timestamp, 3600, 7200);
    setup
        .proxy
        .add(Rule::exact(TIMESTAMP, Action::Replace(future)));
    setup.fails_with(&["demo-pkg"], "check this machine's clock");
    // Once a timestamp was seen, one issued before it is refused, whatever the clock says.
    let newer = resign_timestamp(&served, &keys.timestamp, 120, 3600);
    setup
        .proxy
        .set(vec![Rule::exact(TIMESTAMP, Action::Replace(newer))]);
    setup.passes(&["demo-pkg"]);
    let older = resign_timestamp(&served, &keys.timestamp, 60, 3600);
    setup
        .proxy
        .set(vec![Rule::exact(TIMESTAMP, Action::Replace(older))]);
    setup.fails_with(&["demo-pkg"], "replayed timestamp");
}

#[test]
fn threat_39_unknown_v_smuggled() {
    let setup = Setup::start();
    setup.proxy.add(Rule::exact(
        &demo_file(),
        edit(|file| edit_line(file, "1.0.0", |line| line.replacen('{', "{\"v\":99,", 1))),
    ));
    setup.fails_with(&["demo-pkg"], "demo-pkg 1.0.0: entry mismatch");
}

#[test]
fn threat_40_fabricated_or_dropped_line() {
    let setup = Setup::start();
    let demo = String::from_utf8(setup.fetch(&demo_file())).expect("text");
    let first = demo.lines().next().expect("a line").to_owned();
    let fabricated = first
        .replace("\"vers\":\"1.0.0\"", "\"vers\":\"9.9.9\"")
        .replace("\"leaf\":0}", "\"leaf\":999}");
    setup.proxy.add(Rule::exact(
        &demo_file(),
        edit(move |file| add_line(file, &fabricated)),
    ));
    setup.fails_with(
        &["demo-pkg"],
        "demo-pkg 9.9.9: no leaf: leaf 999 is not in the log",
    );
    let unlogged = first
        .replace("\"vers\":\"1.0.0\"", "\"vers\":\"9.9.9\"")
        .replace(",\"wharf\":{\"leaf\":0}", "");
    setup.proxy.set(vec![Rule::exact(
        &demo_file(),
        edit(move |file| add_line(file, &unlogged)),
    )]);
    setup.fails_with(&["demo-pkg"], "demo-pkg 9.9.9: no leaf");
    setup.proxy.set(vec![Rule::exact(
        &demo_file(),
        edit(|file| drop_line(file, "1.1.0")),
    )]);
    setup.fails_with(&["demo-pkg"], "demo-pkg 1.1.0: dropped line");
}
