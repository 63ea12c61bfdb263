//! Plans and metering: usage counted by the writer and recounted by reconcile, refusals that
//! leave nothing behind, and plan changes that take effect at once.

use wharf_storage::{
    CountedDownload, Entitlement, NewToken, PlanCatalog, Plans, Scope, Storage, StorageError,
    UsageReport,
};

use crate::support::{TestResult, admin, fresh, observe, open, tarball, upload};

const PLANS: &str = r#"
[plans.tiny]
storage-bytes = 50
packages = 2
seats = 1
monthly-download-bytes = 30
publishes-per-hour = 10

[plans.big]
storage-bytes = "1 MiB"
packages = 100
seats = 10

[plans.hourly]
publishes-per-hour = 2
"#;

fn catalog(private_registry: bool) -> PlanCatalog {
    PlanCatalog {
        plans: Plans::parse(PLANS, "plans.toml").expect("plans parse"),
        file: "plans.toml".to_owned(),
        private_registry,
    }
}

fn used(report: &UsageReport, entitlement: Entitlement) -> u64 {
    report.get(entitlement).expect("every entitlement").usage
}

fn limit(report: &UsageReport, entitlement: Entitlement) -> Option<u64> {
    report.get(entitlement).expect("every entitlement").limit
}

fn len(name: &str, version: &str) -> u64 {
    u64::try_from(tarball(name, version).len()).expect("small")
}

#[tokio::test]
async fn usage_counts_blob_bytes_packages_seats_and_downloads() -> TestResult {
    let (_dir, storage) = fresh().await;
    storage.set_plans(catalog(true));
    let report = storage.usage().await?;
    assert_eq!(report.plan, None);
    assert!(report.entitlements.iter().all(|e| e.limit.is_none()));

    let alice = admin(&storage, "alice");
    let _bob = admin(&storage, "bob");
    let mut published = Vec::new();
    for (name, version) in [("one", "1.0.0"), ("one", "1.1.0"), ("two", "0.1.0")] {
        let done = storage.publish(&alice, upload(name, version)).await?;
        published.push(done.entry.cksum.clone());
    }
    let bytes = len("one", "1.0.0") + len("one", "1.1.0") + len("two", "0.1.0");
    let now = wharf_index_format::Pubtime::now().unix();
    storage
        .record_downloads(vec![
            CountedDownload {
                cksum: published[0].clone(),
                at: now,
                user_id: None,
            },
            CountedDownload {
                cksum: published[2].clone(),
                at: now,
                user_id: None,
            },
        ])
        .await?;

    let report = storage.usage().await?;
    assert_eq!(used(&report, Entitlement::StorageBytes), bytes);
    assert_eq!(used(&report, Entitlement::Packages), 2);
    assert_eq!(used(&report, Entitlement::PrivatePackages), 2);
    assert_eq!(used(&report, Entitlement::Seats), 2);
    assert_eq!(
        used(&report, Entitlement::MonthlyDownloadBytes),
        len("one", "1.0.0") + len("two", "0.1.0")
    );
    assert_eq!(used(&report, Entitlement::PublishesPerHour), 3);

    // Reconcile recounts from the database to the same figures.
    storage.reconcile().await?;
    assert_eq!(storage.usage().await?, report);

    // A public registry has no private packages.
    storage.set_plans(catalog(false));
    assert_eq!(
        used(&storage.usage().await?, Entitlement::PrivatePackages),
        0
    );
    Ok(())
}

#[tokio::test]
async fn reconcile_recounts_counters_lost_or_never_kept() -> TestResult {
    let dir = tempfile::tempdir()?;
    let storage = open(dir.path()).await;
    let alice = admin(&storage, "alice");
    storage.publish(&alice, upload("kept", "1.0.0")).await?;
    storage.settle().await;
    let expected = storage.usage().await?;
    drop(storage);
    // A registry made before sizes were kept: no counters, no sizes.
    let conn = rusqlite::Connection::open(dir.path().join(wharf_storage::DATABASE_FILE))?;
    conn.execute_batch("DELETE FROM usage_counters; DELETE FROM blob_sizes;")?;
    drop(conn);
    let storage = open(dir.path()).await;
    assert_eq!(storage.usage().await?, expected);
    assert_eq!(
        used(&expected, Entitlement::StorageBytes),
        len("kept", "1.0.0")
    );
    Ok(())
}

#[tokio::test]
async fn a_publish_over_the_plan_is_refused_leaves_nothing_and_passes_once_the_plan_grows()
-> TestResult {
    let (_dir, storage) = fresh().await;
    storage.set_plans(catalog(false));
    storage.set_plan(Some("tiny"), "admin", "local")?;
    let alice = admin(&storage, "alice");
    storage.publish(&alice, upload("aa", "1.0.0")).await?;
    storage.publish(&alice, upload("bb", "1.0.0")).await?;

    // A third package passes `packages = 2`.
    let before = observe(&storage).await;
    let usage_before = storage.usage().await?;
    let refused = storage
        .publish(&alice, upload("cc", "1.0.0"))
        .await
        .expect_err("over the package limit");
    assert!(
        matches!(
            refused,
            StorageError::QuotaExceeded {
                entitlement: Entitlement::Packages,
                limit: 2,
                usage: 2,
                ..
            }
        ),
        "{refused:?}"
    );
    assert_eq!(
        refused.to_string(),
        "publish refused: the limit `packages` of this registry's plan `tiny` is 2, it uses 2 and this publish creates a new one; ask an operator to move this registry to a larger plan: wharf admin plan set NAME"
    );
    assert_eq!(observe(&storage).await, before);
    assert_eq!(storage.usage().await?, usage_before);

    // A new version of an existing package passes the package limit but not the bytes.
    let stored = used(&usage_before, Entitlement::StorageBytes);
    let refused = storage
        .publish(&alice, upload("aa", "1.0.1"))
        .await
        .expect_err("over the storage limit");
    assert!(
        matches!(
            refused,
            StorageError::QuotaExceeded { entitlement: Entitlement::StorageBytes, limit: 50, usage, adding, .. }
                if usage == stored && adding == len("aa", "1.0.1")
        ),
        "{refused:?}"
    );
    assert_eq!(observe(&storage).await, before);

    // The plan changes; the same publishes pass at once.
    storage.set_plan(Some("big"), "admin", "local")?;
    storage.publish(&alice, upload("cc", "1.0.0")).await?;
    storage.publish(&alice, upload("aa", "1.0.1")).await?;
    let report = storage.usage().await?;
    assert_eq!(report.plan.as_deref(), Some("big"));
    assert_eq!(used(&report, Entitlement::Packages), 3);
    assert_eq!(limit(&report, Entitlement::Packages), Some(100));
    assert_eq!(limit(&report, Entitlement::PublishesPerHour), None);

    // Plan changes are in the audit log.
    let changes: Vec<_> = storage
        .audit_records(None)?
        .into_iter()
        .filter(|record| record.action == "plan.set")
        .map(|record| (record.target, record.outcome))
        .collect();
    assert_eq!(
        changes,
        [
            ("tiny".to_owned(), "ok (was none)".to_owned()),
            ("big".to_owned(), "ok (was tiny)".to_owned())
        ]
    );
    Ok(())
}

#[tokio::test]
async fn the_publish_rate_is_refused_with_a_wait() -> TestResult {
    let (_dir, storage) = fresh().await;
    storage.set_plans(catalog(false));
    storage.set_plan(Some("hourly"), "admin", "local")?;
    let alice = admin(&storage, "alice");
    storage.publish(&alice, upload("r1", "1.0.0")).await?;
    storage.publish(&alice, upload("r2", "1.0.0")).await?;
    let refused = storage
        .publish(&alice, upload("r3", "1.0.0"))
        .await
        .expect_err("over the hourly rate");
    match refused {
        StorageError::QuotaExceeded {
            entitlement: Entitlement::PublishesPerHour,
            usage: 2,
            retry_after_secs: Some(wait),
            ..
        } => assert!(wait > 0 && wait <= 3600, "{wait}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        refused_kind(&storage, "r3").await,
        wharf_storage::ErrorKind::TooManyRequests
    );
    Ok(())
}

async fn refused_kind(storage: &Storage, name: &str) -> wharf_storage::ErrorKind {
    let alice = admin(storage, "alice");
    storage
        .publish(&alice, upload(name, "1.0.0"))
        .await
        .expect_err("refused")
        .kind()
}

#[tokio::test]
async fn seats_and_downloads_are_refused_over_the_plan() -> TestResult {
    let (_dir, storage) = fresh().await;
    storage.set_plans(catalog(false));
    let alice = admin(&storage, "alice");
    let published = storage.publish(&alice, upload("dl", "1.0.0")).await?;
    storage.set_plan(Some("tiny"), "admin", "local")?;

    // alice holds the one seat: she may get more tokens, bob may not get his first.
    admin(&storage, "alice");
    let token = |user: &str| NewToken {
        user: user.to_owned(),
        scopes: Scope::ALL.to_vec(),
        expires_at: None,
        name_patterns: vec![],
        label: None,
    };
    let users_before = storage.list_tokens(None)?.len();
    let refused = storage
        .create_token(token("bob"))
        .expect_err("no seat left");
    assert!(
        matches!(
            refused,
            StorageError::QuotaExceeded {
                entitlement: Entitlement::Seats,
                limit: 1,
                usage: 1,
                ..
            }
        ),
        "{refused:?}"
    );
    assert_eq!(storage.list_tokens(None)?.len(), users_before);
    // The built-in admin takes no seat.
    storage.create_token(token("admin"))?;

    // Each download of the 19-byte blob counts; the second passes 30 bytes.
    let cksum = published.entry.cksum;
    storage.check_download_quota(&cksum).await?;
    let now = wharf_index_format::Pubtime::now().unix();
    storage
        .record_downloads(vec![CountedDownload {
            cksum: cksum.clone(),
            at: now,
            user_id: None,
        }])
        .await?;
    let refused = storage
        .check_download_quota(&cksum)
        .await
        .expect_err("over the monthly bytes");
    assert!(
        refused.to_string().starts_with(
            "download refused: the limit `monthly-download-bytes` of this registry's plan `tiny` is 30 B, it uses"
        ),
        "{refused}"
    );
    Ok(())
}

#[tokio::test]
async fn a_plan_the_file_does_not_define_is_refused() -> TestResult {
    let (_dir, storage) = fresh().await;
    let error = storage
        .set_plan(Some("gold"), "admin", "local")
        .expect_err("no plans file");
    assert_eq!(
        error.to_string(),
        "there is no plan `gold` in the plans file (none given); the plans there are: none (give a plans file with --plans FILE or WHARF_PLANS)"
    );
    storage.set_plans(catalog(false));
    let error = storage
        .set_plan(Some("gold"), "admin", "local")
        .expect_err("unknown plan");
    assert_eq!(
        error.to_string(),
        "there is no plan `gold` in the plans file `plans.toml`; the plans there are: big, hourly, tiny"
    );
    assert_eq!(storage.current_plan()?, None);
    Ok(())
}

#[tokio::test]
async fn the_stored_limits_hold_in_every_process_and_follow_the_plans_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = open(dir.path()).await;
    server.set_plans(catalog(false));
    admin(&server, "alice");
    server.set_plan(Some("tiny"), "admin", "local")?;
    // Another process (here another handle) with no plans file enforces the same limits.
    let other = open(dir.path()).await;
    let refused = other
        .create_token(NewToken {
            user: "bob".to_owned(),
            scopes: Scope::ALL.to_vec(),
            expires_at: None,
            name_patterns: vec![],
            label: None,
        })
        .expect_err("the stored plan allows one seat");
    assert!(
        matches!(
            refused,
            StorageError::QuotaExceeded {
                entitlement: Entitlement::Seats,
                ..
            }
        ),
        "{refused:?}"
    );
    // The file now gives `tiny` more seats: a server starting with it brings the copy up.
    let grown = PLANS.replace("seats = 1", "seats = 5");
    server.set_plans(PlanCatalog {
        plans: Plans::parse(&grown, "plans.toml")?,
        file: "plans.toml".to_owned(),
        private_registry: false,
    });
    assert_eq!(server.sync_plan_limits()?, Some(("tiny".to_owned(), true)));
    assert_eq!(limit(&other.usage().await?, Entitlement::Seats), Some(5));
    admin(&other, "bob");
    let actions: Vec<_> = server
        .audit_records(None)?
        .into_iter()
        .map(|record| record.action)
        .filter(|action| action.starts_with("plan."))
        .collect();
    assert_eq!(actions, ["plan.set", "plan.limits"]);
    Ok(())
}
