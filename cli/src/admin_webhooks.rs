//! `wharf admin webhooks deliveries|retry`: the webhook delivery outbox and retrying failed
//! deliveries (docs/lifecycle.md), either over a running server's API with an
//! administrator's token (`--registry URL --token T`) or on the data directory as the
//! administrator (`--data DIR`, and `--database URL` on PostgreSQL), also while a server
//! runs on it. Both list the same rows and refuse the same retries with the same one-line
//! messages, and each retry request, done or refused, is the audit record `webhook.retry`
//! the API's route writes.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context;
use clap::{Args, Subcommand};
use reqwest::Method;
use wharf_registry_server::ApiError;
use wharf_storage::{AuditEntry, WebhookRetry};

use crate::admin_audit::record_admin_action;
use crate::admin_licence::{ADMIN_ACTOR, DataDir};
use crate::open_registry::run_command;
use crate::registry_api::{RegistryApi, RegistryArgs};

/// The API's webhooks, delivery log and retry endpoints.
const WEBHOOKS_PATH: &str = "/api/wharf/v1/webhooks";
const DELIVERIES_PATH: &str = "/api/wharf/v1/webhooks/deliveries";
const RETRY_PATH: &str = "/api/wharf/v1/webhooks/deliveries/retry";

/// Outbox rows listed, newest first (as many as the API shows).
const LISTED: u32 = 500;

/// `wharf admin webhooks …`.
#[derive(Debug, Subcommand)]
pub(crate) enum WebhooksCommand {
    /// List the newest 500 deliveries (one event to one webhook each), newest first: id,
    /// state, event, attempts, the webhook's URL and the last error.
    Deliveries(DeliveriesArgs),
    /// Retry failed deliveries: each is due at once with a fresh round of attempts.
    Retry(RetryArgs),
}

/// Which registry: a running server's API, or the data directory.
#[derive(Debug, Args)]
pub(crate) struct Reach {
    /// A running registry's URL (as given to `wharf serve --public-url`), reached over its
    /// API with `--token`, an administrator's token [default: the data directory].
    #[arg(long, env = "WHARF_REGISTRY", value_name = "URL")]
    registry: Option<String>,
    /// The administrator's API token, with `--registry` [default: `WHARF_TOKEN`].
    #[arg(
        long,
        env = "WHARF_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    #[command(flatten)]
    data: DataDir,
}

/// `wharf admin webhooks deliveries`.
#[derive(Debug, Args)]
pub(crate) struct DeliveriesArgs {
    /// Only the deliveries that failed (every attempt made), the ones `retry` takes.
    #[arg(long)]
    failed: bool,
    #[command(flatten)]
    registry: Reach,
}

/// `wharf admin webhooks retry`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["id", "all_failed"])))]
pub(crate) struct RetryArgs {
    /// The failed delivery's id (`wharf admin webhooks deliveries --failed` lists them).
    #[arg(long, value_name = "N")]
    id: Option<i64>,
    /// Every failed delivery.
    #[arg(long)]
    all_failed: bool,
    #[command(flatten)]
    registry: Reach,
}

impl Reach {
    /// The running registry's API, when `--registry` names one; `None` for the data
    /// directory.
    fn api(&self) -> anyhow::Result<Option<RegistryApi>> {
        match (&self.registry, &self.token) {
            (Some(registry), Some(token)) => Ok(Some(RegistryApi::new(&RegistryArgs {
                registry: registry.clone(),
                token: token.clone(),
            })?)),
            (Some(registry), None) => anyhow::bail!(
                "`--registry {registry}` needs the administrator's token: give `--token TOKEN` (or WHARF_TOKEN), or leave out `--registry` to work on the data directory"
            ),
            (None, _) => Ok(None),
        }
    }
}

/// Runs `wharf admin webhooks …`: over the API with a blocking client, or on the data
/// directory in a runtime of its own ([`run_command`]).
pub(crate) fn run(command: &WebhooksCommand) -> anyhow::Result<ExitCode> {
    match command {
        WebhooksCommand::Deliveries(args) => deliveries(args),
        WebhooksCommand::Retry(args) => retry(args),
    }
}

/// Prints the outbox rows, one line each.
fn deliveries(args: &DeliveriesArgs) -> anyhow::Result<ExitCode> {
    let what = "reading the webhook deliveries";
    let (rows, hooks) = match args.registry.api()? {
        Some(api) => {
            let log = api.send(api.request(Method::GET, DELIVERIES_PATH), what)?;
            let hooks = api.send(api.request(Method::GET, WEBHOOKS_PATH), what)?;
            (log["outbox"].clone(), hooks["webhooks"].clone())
        }
        None => run_command(async {
            let storage = args.registry.data.open().await?;
            storage.administrator().await.context(what)?;
            let rows = storage.webhook_outbox(LISTED).await.context(what)?;
            let hooks: Vec<_> = storage
                .webhooks()
                .await
                .context(what)?
                .into_iter()
                .map(|hook| serde_json::json!({ "id": hook.id, "url": hook.url }))
                .collect();
            Ok((serde_json::to_value(rows)?, serde_json::Value::from(hooks)))
        })?,
    };
    let urls: HashMap<i64, &str> = hooks
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|hook| Some((hook["id"].as_i64()?, hook["url"].as_str()?)))
        .collect();
    let mut shown = 0;
    for row in rows.as_array().into_iter().flatten() {
        if args.failed && row["state"] != "failed" {
            continue;
        }
        println!("{}", delivery_line(row, &urls));
        shown += 1;
    }
    if shown == 0 {
        println!(
            "no {}webhook deliveries",
            if args.failed { "failed " } else { "" }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// One outbox row as a line: `7 failed deprecate, 12 attempts, to https://… (webhook 1),
/// event <id>, last error: 500`.
fn delivery_line(row: &serde_json::Value, urls: &HashMap<i64, &str>) -> String {
    let text = |name: &str| row[name].as_str().unwrap_or_default().to_owned();
    let webhook = row["webhook"].as_i64().unwrap_or_default();
    let mut line = format!(
        "{} {} {}, {} attempts, to {} (webhook {webhook}), event {}",
        row["id"],
        text("state"),
        text("event"),
        row["attempts"],
        urls.get(&webhook).copied().unwrap_or("(removed)"),
        text("event_id"),
    );
    if row["state"] == "pending"
        && let Some(due) = row["next_attempt"].as_u64()
    {
        let due = UNIX_EPOCH + Duration::from_secs(due);
        let _ = write!(
            line,
            ", next attempt {}",
            humantime::format_rfc3339_seconds(due)
        );
    }
    if let Some(error) = row["last_error"].as_str() {
        let _ = write!(line, ", last error: {}", error.replace(['\n', '\r'], " "));
    }
    line
}

/// Retries the failed deliveries named, over the API or on the data directory.
fn retry(args: &RetryArgs) -> anyhow::Result<ExitCode> {
    let which = match args.id {
        Some(id) => WebhookRetry::Delivery(id),
        None => WebhookRetry::AllFailed,
    };
    let target = match which {
        WebhookRetry::Delivery(id) => format!("webhook delivery {id}"),
        WebhookRetry::AllFailed => "every failed webhook delivery".to_owned(),
    };
    let what = format!("retrying {target}");
    let (retried, note) = match args.registry.api()? {
        Some(api) => {
            let body = match which {
                WebhookRetry::Delivery(id) => serde_json::json!({ "id": id }),
                WebhookRetry::AllFailed => serde_json::json!({ "all_failed": true }),
            };
            let answer = api.send(api.request(Method::POST, RETRY_PATH).json(&body), &what)?;
            (answer["retried"].as_u64().unwrap_or_default(), "")
        }
        None => (
            run_command(retry_on_data(&args.registry.data, which, target, &what))?,
            "; a server running on this data sends them within 30 seconds (one reached with `--registry` at once)",
        ),
    };
    let plural = if retried == 1 { "y" } else { "ies" };
    println!(
        "retried {retried} failed deliver{plural}: each is due at once with a fresh round of attempts{note}"
    );
    Ok(ExitCode::SUCCESS)
}

/// Retries `which` on the registry in `data` as the administrator, recording the request
/// (`target`) as the API's route does: `ok`, or a refusal's status and message.
async fn retry_on_data(
    data: &DataDir,
    which: WebhookRetry,
    target: String,
    what: &str,
) -> anyhow::Result<u64> {
    let storage = data.open().await?;
    let admin = storage.administrator().await.context(what.to_owned())?;
    let (done, outcome) = match storage.retry_webhook_deliveries(&admin, which).await {
        Ok(retried) => (Ok(retried), "ok".to_owned()),
        Err(error) => {
            let refused = ApiError::from(error);
            let outcome = format!("{}: {}", refused.status().as_u16(), refused.detail());
            (Err(refused.detail().to_owned()), outcome)
        }
    };
    record_admin_action(
        &storage,
        &AuditEntry::new(ADMIN_ACTOR, "local", "webhook.retry", target, outcome),
    )?;
    done.map_err(|detail| anyhow::anyhow!("{what}: {detail}"))
}
