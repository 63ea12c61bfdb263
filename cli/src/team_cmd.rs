//! `wharf team create|add|remove|list`: teams, managed directly on the data directory (a
//! tenant admin can do the same over the API, docs/roles.md). A team owns packages through
//! `cargo owner --add team:NAME`.

use clap::{Args, Subcommand};
use wharf_storage::AuditEntry;

use crate::admin_audit::record_admin_action;
use crate::admin_licence::{ADMIN_ACTOR, DataDir};

/// Team subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum TeamCommand {
    /// Create a team (lowercase letters, digits, `-`, `_`).
    Create(CreateArgs),
    /// Add users to a team.
    Add(MembersArgs),
    /// Remove users from a team.
    Remove(MembersArgs),
    /// List the teams with their members and packages.
    List(ListArgs),
}

/// `wharf team create`.
#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    #[command(flatten)]
    data: DataDir,
    /// The team's name.
    name: String,
}

/// `wharf team add|remove`.
#[derive(Debug, Args)]
pub(crate) struct MembersArgs {
    #[command(flatten)]
    data: DataDir,
    /// The team's name.
    name: String,
    /// Logins of the users.
    #[arg(required = true)]
    logins: Vec<String>,
}

/// `wharf team list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    data: DataDir,
}

fn audit(storage: &wharf_storage::Storage, action: &str, target: String) -> anyhow::Result<()> {
    record_admin_action(
        storage,
        &AuditEntry::new(ADMIN_ACTOR, "local", action, target, "ok"),
    )
}

/// Runs a team subcommand.
pub(crate) fn run(command: TeamCommand) -> anyhow::Result<std::process::ExitCode> {
    crate::open_registry::run_command(async move {
        match command {
            TeamCommand::Create(args) => {
                let storage = args.data.open().await?;
                storage.create_team(None, &args.name)?;
                audit(&storage, "team.create", format!("team {}", args.name))?;
                eprintln!("created team `{}`", args.name);
            }
            TeamCommand::Add(args) => {
                let storage = args.data.open().await?;
                let added = storage.add_team_members(None, &args.name, &args.logins)?;
                let target = format!("team {}: {}", args.name, args.logins.join(", "));
                audit(&storage, "team.member.add", target)?;
                eprintln!("added to `{}`: {}", args.name, added.join(", "));
            }
            TeamCommand::Remove(args) => {
                let storage = args.data.open().await?;
                let removed = storage.remove_team_members(None, &args.name, &args.logins)?;
                let target = format!("team {}: {}", args.name, args.logins.join(", "));
                audit(&storage, "team.member.remove", target)?;
                eprintln!("removed from `{}`: {}", args.name, removed.join(", "));
            }
            TeamCommand::List(args) => {
                let storage = args.data.open().await?;
                for team in storage.teams()? {
                    println!(
                        "{}\tmembers: {}\tpackages: {}",
                        team.name,
                        team.members.join(","),
                        team.packages.join(",")
                    );
                }
            }
        }
        Ok(std::process::ExitCode::SUCCESS)
    })
}
