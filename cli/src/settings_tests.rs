//! Precedence of every serve key: default < config file < flag (variables fill the same
//! fields as flags, through clap's `env`).

use clap::Parser;

use super::*;

/// `wharf serve`'s keys as flags, without the rest of the command line.
#[derive(Debug, Parser)]
struct Flags {
    #[command(flatten)]
    keys: SettingKeys,
}

fn flags(args: &[&str]) -> SettingKeys {
    Flags::try_parse_from(std::iter::once("serve").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
        .keys
}

fn file(text: &str) -> SettingKeys {
    toml::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn resolved(file_text: &str, args: &[&str]) -> ServeSettings {
    flags(args).over(file(file_text)).resolve().unwrap()
}

/// One key: its config-file line, its flags, and what each makes of the resolved settings.
struct Case {
    key: &'static str,
    file: &'static str,
    flags: &'static [&'static str],
    shown: fn(&ServeSettings) -> String,
    from_file: &'static str,
    from_flags: &'static str,
}

#[expect(
    clippy::too_many_lines,
    reason = "one table of all keys reads best in one place"
)]
fn cases() -> Vec<Case> {
    vec![
        Case {
            key: "data",
            file: "data = \"from-file\"",
            flags: &["--data", "from-flag"],
            shown: |s| s.data.display().to_string(),
            from_file: "from-file",
            from_flags: "from-flag",
        },
        Case {
            key: "listen",
            file: "listen = \"0.0.0.0:1111\"",
            flags: &["--listen", "localhost:2222"],
            shown: |s| s.listen.to_string(),
            from_file: "0.0.0.0:1111",
            from_flags: "127.0.0.1:2222",
        },
        Case {
            key: "public-url",
            file: "public-url = \"https://file.example\"",
            flags: &["--public-url", "https://flag.example"],
            shown: |s| format!("{:?}", s.public_url),
            from_file: "Some(\"https://file.example\")",
            from_flags: "Some(\"https://flag.example\")",
        },
        Case {
            key: "auth-required",
            file: "auth-required = true",
            flags: &["--auth-required=false"],
            shown: |s| s.auth_required.to_string(),
            from_file: "true",
            from_flags: "false",
        },
        Case {
            key: "require-signatures",
            file: "require-signatures = true",
            flags: &["--require-signatures=false"],
            shown: |s| s.require_signatures.to_string(),
            from_file: "true",
            from_flags: "false",
        },
        Case {
            key: "max-crate-bytes",
            file: "max-crate-bytes = 1000",
            flags: &["--max-crate-bytes", "2000"],
            shown: |s| format!("{:?}", s.max_crate_bytes),
            from_file: "Some(1000)",
            from_flags: "Some(2000)",
        },
        Case {
            key: "workers",
            file: "workers = 3",
            flags: &["--workers", "1"],
            shown: |s| format!("{:?}", s.workers),
            from_file: "Some(3)",
            from_flags: "Some(1)",
        },
        Case {
            key: "yield-every",
            file: "yield-every = 5",
            flags: &["--yield-every", "0"],
            shown: |s| s.yield_every.to_string(),
            from_file: "5",
            from_flags: "0",
        },
        Case {
            key: "index-fast-path",
            file: "index-fast-path = false",
            flags: &["--index-fast-path=true"],
            shown: |s| format!("{:?}", s.index_path),
            from_file: "General",
            from_flags: "Fast",
        },
        Case {
            key: "timestamp-expiry",
            file: "timestamp-expiry = \"12h\"",
            flags: &["--timestamp-expiry", "90m"],
            shown: |s| humantime::format_duration(s.timestamp_expiry).to_string(),
            from_file: "12h",
            from_flags: "1h 30m",
        },
        Case {
            key: "allowed-dependency-registries",
            file: "allowed-dependency-registries = [\"https://file.example/index\"]",
            flags: &[
                "--allowed-dependency-registry",
                "sparse+https://a.example/index/",
                "--allowed-dependency-registry",
                "sparse+https://b.example/index/",
            ],
            shown: |s| s.allowed_dependency_registries.join(" "),
            from_file: "https://file.example/index",
            from_flags: "sparse+https://a.example/index/ sparse+https://b.example/index/",
        },
        Case {
            key: "publish-rate-per-minute",
            file: "publish-rate-per-minute = 10",
            flags: &["--publish-rate-per-minute", "20"],
            shown: |s| format!("{:?}", s.rate_limits.publish_rate_per_minute),
            from_file: "Some(10)",
            from_flags: "Some(20)",
        },
        Case {
            key: "publish-burst",
            file: "publish-burst = 3\npublish-rate-per-minute = 1",
            flags: &["--publish-burst", "4"],
            shown: |s| format!("{:?}", s.rate_limits.publish_burst),
            from_file: "Some(3)",
            from_flags: "Some(4)",
        },
        Case {
            key: "new-crates-per-day",
            file: "new-crates-per-day = 5",
            flags: &["--new-crates-per-day", "6"],
            shown: |s| format!("{:?}", s.rate_limits.new_crates_per_day),
            from_file: "Some(5)",
            from_flags: "Some(6)",
        },
        Case {
            key: "publishes-per-day",
            file: "publishes-per-day = 7",
            flags: &["--publishes-per-day", "8"],
            shown: |s| format!("{:?}", s.rate_limits.publishes_per_day),
            from_file: "Some(7)",
            from_flags: "Some(8)",
        },
        Case {
            key: "versions-per-crate-per-day",
            file: "versions-per-crate-per-day = 9",
            flags: &["--versions-per-crate-per-day", "10"],
            shown: |s| format!("{:?}", s.rate_limits.versions_per_crate_per_day),
            from_file: "Some(9)",
            from_flags: "Some(10)",
        },
        // HTTPS needs both files, so each file line gives the other key too.
        Case {
            key: "tls-cert",
            file: "tls-cert = \"file-cert.pem\"\ntls-key = \"file-key.pem\"",
            flags: &["--tls-cert", "flag-cert.pem"],
            shown: |s| format!("{:?}", s.tls.as_ref().map(|(cert, _)| cert)),
            from_file: "Some(\"file-cert.pem\")",
            from_flags: "Some(\"flag-cert.pem\")",
        },
        Case {
            key: "tls-key",
            file: "tls-key = \"file-key.pem\"\ntls-cert = \"file-cert.pem\"",
            flags: &["--tls-key", "flag-key.pem"],
            shown: |s| format!("{:?}", s.tls.as_ref().map(|(_, key)| key)),
            from_file: "Some(\"file-key.pem\")",
            from_flags: "Some(\"flag-key.pem\")",
        },
        Case {
            key: "header-timeout",
            file: "header-timeout = \"3s\"",
            flags: &["--header-timeout", "0s"],
            shown: |s| format!("{:?}", s.connection_limits.header_timeout),
            from_file: "Some(3s)",
            from_flags: "None",
        },
        Case {
            key: "body-timeout",
            file: "body-timeout = \"2m\"",
            flags: &["--body-timeout", "1m 30s"],
            shown: |s| format!("{:?}", s.connection_limits.body_timeout),
            from_file: "Some(120s)",
            from_flags: "Some(90s)",
        },
        Case {
            key: "min-upload-rate",
            file: "min-upload-rate = 1024",
            flags: &["--min-upload-rate", "0"],
            shown: |s| s.connection_limits.min_upload_rate.to_string(),
            from_file: "1024",
            from_flags: "0",
        },
        Case {
            key: "idle-timeout",
            file: "idle-timeout = \"5s\"",
            flags: &["--idle-timeout", "500ms"],
            shown: |s| format!("{:?}", s.connection_limits.idle_timeout),
            from_file: "Some(5s)",
            from_flags: "Some(500ms)",
        },
        Case {
            key: "git-index",
            file: "git-index = true",
            flags: &["--git-index=false"],
            shown: |s| s.git_index.to_string(),
            from_file: "true",
            from_flags: "false",
        },
        Case {
            key: "git-push",
            file: "git-push = [\"file:///srv/file.git\"]\ngit-index = true",
            flags: &[
                "--git-push",
                "file:///srv/a.git",
                "--git-push",
                "https://git.example/b.git",
            ],
            shown: |s| s.git_push.join(" "),
            from_file: "file:///srv/file.git",
            from_flags: "file:///srv/a.git https://git.example/b.git",
        },
        Case {
            key: "storage",
            file: "storage = \"s3://file-bucket/wharf\"",
            flags: &["--storage", "s3://flag-bucket/blobs/"],
            shown: |s| {
                s.storage
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            },
            from_file: "s3://file-bucket/wharf",
            from_flags: "s3://flag-bucket/blobs",
        },
        Case {
            key: "database",
            file: "database = \"postgres://wharf:file-secret@file-db/wharf\"",
            flags: &["--database", "postgresql://wharf@flag-db:5433/registry"],
            shown: |s| format!("{:?}", s.database),
            from_file: "Postgres(\"postgres://wharf:***@file-db/wharf\")",
            from_flags: "Postgres(\"postgresql://wharf@flag-db:5433/registry\")",
        },
        Case {
            key: "s3-presigned-downloads",
            file: "s3-presigned-downloads = true",
            flags: &["--s3-presigned-downloads=false"],
            shown: |s| format!("{:?}", s.presigned_downloads),
            from_file: "Some(300s)",
            from_flags: "None",
        },
        Case {
            key: "plans",
            file: "plans = \"file-plans.toml\"",
            flags: &["--plans", "flag-plans.toml"],
            shown: |s| format!("{:?}", s.plans),
            from_file: "Some(\"file-plans.toml\")",
            from_flags: "Some(\"flag-plans.toml\")",
        },
        Case {
            key: "max-connections",
            file: "max-connections = 3",
            flags: &["--max-connections", "4"],
            shown: |s| s.connection_limits.max_connections.to_string(),
            from_file: "3",
            from_flags: "4",
        },
    ]
}

#[test]
fn every_key_comes_from_the_file_unless_a_flag_gives_it() {
    let defaults = resolved("", &[]);
    for case in cases() {
        let from_file = resolved(case.file, &[]);
        assert_eq!((case.shown)(&from_file), case.from_file, "{}", case.key);
        assert_ne!(
            (case.shown)(&defaults),
            case.from_file,
            "{}: the file value must differ from the default",
            case.key
        );
        let both = resolved(case.file, case.flags);
        assert_eq!((case.shown)(&both), case.from_flags, "{}", case.key);
    }
}

#[test]
fn every_key_is_covered() {
    let keys = format!("{:?}", SettingKeys::default())
        .matches("None")
        .count();
    let mut covered: Vec<&str> = cases().iter().map(|c| c.key).collect();
    for case in cases() {
        assert!(
            case.file.starts_with(&format!("{} = ", case.key)),
            "{}",
            case.key
        );
    }
    covered.sort_unstable();
    covered.dedup();
    assert_eq!(covered.len(), keys, "each key needs one case: {covered:?}");
}

#[test]
fn defaults_apply_when_no_source_gives_a_key() {
    let defaults = resolved("", &[]);
    assert_eq!(defaults.data, PathBuf::from(DEFAULT_DATA_DIR));
    assert_eq!(defaults.listen.to_string(), DEFAULT_LISTEN);
    assert!(!defaults.auth_required);
    assert!(!defaults.require_signatures);
    assert_eq!(defaults.yield_every, DEFAULT_YIELD_EVERY);
    assert_eq!(defaults.index_path, crate::settings::IndexPath::Fast);
    assert_eq!(
        defaults.timestamp_expiry,
        wharf_registry_server::DEFAULT_TIMESTAMP_EXPIRY
    );
    assert_eq!(
        defaults.allowed_dependency_registries,
        wharf_index_format::default_dependency_registries()
    );
    assert_eq!(defaults.rate_limits, PublishRateLimits::default());
    assert_eq!(defaults.connection_limits, ConnectionLimits::default());
}

#[test]
fn a_storage_that_is_no_s3_url_is_refused_naming_it() {
    let error = flags(&["--storage", "/srv/blobs"])
        .resolve()
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("`/srv/blobs` is not an S3 storage URL")
            && error.contains("s3://BUCKET/PREFIX"),
        "{error}"
    );
}

#[test]
fn a_database_that_is_no_postgres_url_is_refused_without_its_password() {
    let error = flags(&["--database", "mysql://wharf:hunter2@db/wharf"])
        .resolve()
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("`database`")
            && error.contains("mysql://wharf:***@db/wharf")
            && error.contains("postgres://USER:PASSWORD@HOST:PORT/DATABASE")
            && !error.contains("hunter2"),
        "{error}"
    );
    assert_eq!(
        resolved("database = \"sqlite\"", &[]).database,
        wharf_storage::MetadataDatabase::Embedded
    );
}

#[test]
fn debug_of_the_settings_leaves_the_database_password_out() {
    let url = "postgres://wharf:hunter2@db:5432/wharf?password=hunter3";
    let from_flags = flags(&["--database", url]);
    let from_file = file(&format!("database = \"{url}\""));
    let settings = from_flags
        .clone()
        .over(from_file.clone())
        .resolve()
        .unwrap();
    let args = crate::open_registry::DatabaseArg {
        database: from_flags.database.clone(),
    };
    for shown in [
        format!("{from_flags:?}"),
        format!("{from_file:#?}"),
        format!("{settings:?}"),
        format!("{args:?}"),
    ] {
        assert!(
            shown.contains("postgres://wharf:***@db:5432/wharf?password=***")
                && !shown.contains("hunter"),
            "{shown}"
        );
    }
    // The value itself still reaches the database.
    assert_eq!(
        settings.database,
        wharf_storage::MetadataDatabase::Postgres(url.to_owned())
    );
}

#[test]
fn a_push_remote_needs_the_git_index() {
    let error = flags(&["--git-push", "file:///srv/a.git"])
        .resolve()
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("`git-push` is set without `git-index = true`"),
        "{error}"
    );
}

#[test]
fn booleans_override_in_both_directions() {
    assert!(resolved("auth-required = false", &["--auth-required"]).auth_required);
    assert!(resolved("auth-required = false", &["--auth-required=true"]).auth_required);
    assert!(resolved("auth-required = false", &["--auth-required=yes"]).auth_required);
    assert!(!resolved("auth-required = true", &["--auth-required=no"]).auth_required);
    assert!(resolved("auth-required = true", &[]).auth_required);
}

#[test]
fn an_empty_registry_list_allows_this_registry_alone() {
    assert!(
        resolved("allowed-dependency-registries = []", &[])
            .allowed_dependency_registries
            .is_empty()
    );
    assert!(
        resolved(
            "allowed-dependency-registries = [\"https://a.example/index\"]",
            &["--allowed-dependency-registry", ""]
        )
        .allowed_dependency_registries
        .is_empty()
    );
    let error = flags(&["--allowed-dependency-registry", "crates.io"])
        .resolve()
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("`crates.io` in `allowed-dependency-registries` is not an index URL"),
        "{error}"
    );
}

#[test]
fn a_bad_config_file_is_one_line_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wharf.toml");
    for (text, needle) in [
        (
            "workers = 2\nlisten = \"localhost\"\n",
            "line 2 (`listen = \"localhost\"`): `localhost` is not a listen address; use HOST:PORT",
        ),
        (
            "colour = \"blue\"\n",
            "line 1 (`colour = \"blue\"`): unknown field `colour`",
        ),
        ("workers = \"many\"\n", "line 1 (`workers = \"many\"`)"),
        (
            "idle-timeout = \"soon\"\n",
            "line 1 (`idle-timeout = \"soon\"`): `soon` is not a duration like `10s` or `2m`",
        ),
    ] {
        std::fs::write(&path, text).unwrap();
        let error = SettingKeys::load(&path).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("config file `{}` ", path.display())),
            "{error}"
        );
        assert!(error.contains(needle), "{error}");
        assert!(!error.contains('\n'), "{error}");
    }
}

#[test]
fn a_timestamp_expiry_under_a_minute_is_refused_naming_it() {
    let error = Flags::try_parse_from(["serve", "--timestamp-expiry", "30s"])
        .expect_err("too short")
        .to_string();
    assert!(error.contains("`30s` is shorter than a minute"), "{error}");
    let error = toml::from_str::<SettingKeys>("timestamp-expiry = \"soon\"")
        .expect_err("not a duration")
        .to_string();
    assert!(error.contains("`soon` is not a duration"), "{error}");
}
