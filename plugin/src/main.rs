//! `kubectl-ssm_contacts`: the kubectl plugin for ContactChannelActivation objects.
//!
//! - [`cli`]: kubectl's global flags and the subcommands; [`cluster`]: the connection they
//!   describe.
//! - [`status`] reads objects and prints what [`waiting`] (pure) derives from each status.
//! - [`resend`] sets a new `spec.resendToken`; [`activate`] writes the code Secret.
//! - [`export`] lists contacts and channels in AWS and prints objects named by [`names`].
//!
//! Every failure is one [`error::PluginError`] line on stderr and exit code 1.

#![forbid(unsafe_code)]

mod activate;
mod cli;
mod cluster;
mod error;
mod export;
mod names;
mod resend;
mod status;
mod waiting;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::error::PluginError;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // kube and the AWS SDK both link rustls with aws-lc-rs only (workspace features), so
    // rustls finds its one crypto provider by itself.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&cli)) {
        Ok(output) => {
            let mut stdout = std::io::stdout().lock();
            if stdout
                .write_all(output.as_bytes())
                .and_then(|()| stdout.flush())
                .is_err()
            {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: &Cli) -> Result<String, PluginError> {
    if let Command::Export(args) = &cli.command {
        let namespace = cluster::namespace(&cli.kube).await?;
        return export::run(args, &namespace).await;
    }
    if cli.kube.all_namespaces && !matches!(cli.command, Command::Status { .. }) {
        return Err(PluginError::AllNamespacesUnsupported);
    }
    let cluster = cluster::connect(&cli.kube).await?;
    match &cli.command {
        Command::Status { name } => {
            status::run(&cluster, cli.kube.all_namespaces, name.as_deref()).await
        }
        Command::Resend { name } => resend::run(&cluster, name).await,
        Command::Activate { name } => activate::run(&cluster, name).await,
        Command::Export(_) => Ok(String::new()),
    }
}
