//! `wharf completions SHELL` and `wharf man`: shell completions and manual pages generated
//! from the command-line definition itself (`clap_complete`, `clap_mangen`), so they never
//! drift from the flags the binary takes.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, CommandFactory};
use clap_complete::Shell;

/// Flags of `wharf completions`.
#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to write a completion script for.
    #[arg(value_enum)]
    shell: Shell,
}

/// Flags of `wharf man`.
#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// Write `wharf.1` and one page per subcommand (`wharf-serve.1`, `wharf-token-create.1`,
    /// …) into this directory (created when missing) instead of printing `wharf.1` to stdout.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// Prints the completion script for `args.shell` on stdout.
pub(crate) fn completions(args: &CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut command = crate::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "wharf", &mut script);
    std::io::stdout()
        .lock()
        .write_all(&script)
        .context("writing the completion script to stdout")?;
    Ok(ExitCode::SUCCESS)
}

/// Prints the manual page `wharf(1)`, or writes every page into `args.out`.
pub(crate) fn man(args: &ManArgs) -> anyhow::Result<ExitCode> {
    let command = crate::Cli::command();
    match &args.out {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut page)
                .context("rendering the manual page")?;
            std::io::stdout()
                .lock()
                .write_all(&page)
                .context("writing the manual page to stdout")?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| {
                format!(
                    "cannot create the manual directory `{}`; choose a writable --out",
                    dir.display()
                )
            })?;
            clap_mangen::generate_to(command, dir).with_context(|| {
                format!(
                    "cannot write manual pages into `{}`; choose a writable --out",
                    dir.display()
                )
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    #[test]
    fn the_command_line_definition_is_consistent() {
        crate::Cli::command().debug_assert();
    }
}
