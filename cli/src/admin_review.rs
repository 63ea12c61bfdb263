//! `wharf admin review hide|unhide|list-reported`: review moderation from the server's
//! machine, acting on the data directory as the administrator (the same storage calls as
//! the review API and the web UI, logged in the moderation log with the reason).

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::admin_licence::DataDir;

/// `wharf admin review …`.
#[derive(Debug, Subcommand)]
pub(crate) enum ReviewCommand {
    /// Hide a review, logging the reason.
    Hide(ModerateArgs),
    /// Show a hidden review again, logging the reason.
    Unhide(ModerateArgs),
    /// List reported reviews that are still shown, most reported first (one line each).
    #[command(name = "list-reported")]
    ListReported(ListReportedArgs),
}

/// `wharf admin review hide|unhide`.
#[derive(Debug, Args)]
pub(crate) struct ModerateArgs {
    /// The package reviewed.
    package: String,
    /// The review's id (shown by `list-reported` and on the package page as `#review-ID`).
    id: i64,
    /// Why (kept in the moderation log).
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    data: DataDir,
}

/// `wharf admin review list-reported`.
#[derive(Debug, Args)]
pub(crate) struct ListReportedArgs {
    /// Also list reported reviews already hidden.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    data: DataDir,
}

/// Runs `wharf admin review …`.
pub(crate) async fn run(command: ReviewCommand) -> anyhow::Result<ExitCode> {
    match command {
        ReviewCommand::Hide(args) | ReviewCommand::Unhide(args)
            if args.reason.trim().is_empty() =>
        {
            anyhow::bail!("--reason is empty; say why, it is kept in the moderation log")
        }
        ReviewCommand::Hide(args) => {
            let storage = args.data.open().await?;
            let admin = storage.administrator().await?;
            storage
                .hide_review(&admin, &args.package, args.id, &args.reason)
                .await?;
            println!("hid review {} of {}", args.id, args.package);
        }
        ReviewCommand::Unhide(args) => {
            let storage = args.data.open().await?;
            let admin = storage.administrator().await?;
            storage
                .unhide_review(&admin, &args.package, args.id, &args.reason)
                .await?;
            println!("review {} of {} is shown again", args.id, args.package);
        }
        ReviewCommand::ListReported(args) => {
            let storage = args.data.open().await?;
            let admin = storage.administrator().await?;
            let reviews = storage.reported_reviews(&admin, args.all).await?;
            if reviews.is_empty() {
                println!("no reported reviews");
            }
            for review in reviews {
                println!(
                    "{} {} by {} rated {}: {} report(s), latest {} \"{}\"{}",
                    review.package,
                    review.id,
                    review.author,
                    review.rating,
                    review.reports,
                    review.latest_at,
                    review.latest_reason.replace(['\n', '\r'], " "),
                    if review.hidden { " (hidden)" } else { "" }
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
