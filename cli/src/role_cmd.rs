//! `wharf admin role set|list`: users' roles, managed directly on the data directory (a
//! tenant admin can do the same over the API, docs/roles.md). A change takes effect on the
//! next request of every token of the user, also while a server runs.

use clap::{Args, Subcommand};
use wharf_storage::{AuditEntry, Role};

use crate::admin_audit::record_admin_action;
use crate::admin_licence::{ADMIN_ACTOR, DataDir};

/// Role subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum RoleCommand {
    /// Give a user a role: tenant-admin, maintainer, publisher, reader or auditor.
    Set(SetArgs),
    /// List every user with their role.
    List(ListArgs),
    /// Print the permission table (role × action) as Markdown, as docs/roles.md shows it.
    Table,
}

/// `wharf admin role set`.
#[derive(Debug, Args)]
pub(crate) struct SetArgs {
    #[command(flatten)]
    data: DataDir,
    /// The user's login.
    login: String,
    /// The role: tenant-admin, maintainer, publisher, reader or auditor.
    role: String,
}

/// `wharf admin role list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    data: DataDir,
}

/// Runs a role subcommand.
pub(crate) async fn run(command: RoleCommand) -> anyhow::Result<std::process::ExitCode> {
    match command {
        RoleCommand::Set(args) => {
            // Checked before the data is opened, so a typo changes nothing.
            let role: Role = args.role.parse()?;
            let storage = args.data.open().await?;
            let before = storage.set_role(None, &args.login, role)?;
            record_admin_action(
                &storage,
                &AuditEntry::new(
                    ADMIN_ACTOR,
                    "local",
                    "role.set",
                    format!("{}: {before} -> {role}", args.login),
                    "ok",
                ),
            )?;
            eprintln!("`{}` is now {role} (was {before})", args.login);
        }
        RoleCommand::Table => print!("{}", wharf_storage::permission_table_markdown()),
        RoleCommand::List(args) => {
            let storage = args.data.open().await?;
            for (login, role) in storage.roles()? {
                println!("{login}\t{role}");
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}
