//! Command line: kubectl's global flags, then one subcommand.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Status, resend, activate and export of ContactChannelActivation objects
/// (run as `kubectl ssm-contacts ...`).
#[derive(Debug, Parser)]
#[command(name = "kubectl ssm-contacts", version)]
pub struct Cli {
    #[command(flatten)]
    pub kube: KubeFlags,

    #[command(subcommand)]
    pub command: Command,
}

/// The flags kubectl users expect, with kubectl's meaning.
#[derive(Debug, Args)]
pub struct KubeFlags {
    /// Namespace to use (default: the kubeconfig context's namespace, else "default").
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,

    /// Every namespace (status only).
    #[arg(short = 'A', long, global = true)]
    pub all_namespaces: bool,

    /// The kubeconfig context to use.
    #[arg(long, global = true)]
    pub context: Option<String>,

    /// Path of the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// What each object waits for and until when, its attempts and last error.
    Status {
        /// One object; all in the namespace when omitted.
        name: Option<String>,
    },
    /// Ask for one new code: sets a new spec.resendToken (a new generation).
    Resend { name: String },
    /// Read the code from standard input (no echo on a terminal) and put it into the
    /// object's code Secret, creating the Secret and spec.activationCodeSecretRef if needed.
    Activate { name: String },
    /// Print one ContactChannelActivation per channel of the account's contacts as YAML for
    /// `kubectl apply -f -`; applies nothing.
    Export(ExportArgs),
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// AWS region to list the contacts of.
    #[arg(long)]
    pub region: String,

    /// Only this contact (its ARN); repeatable. Default: every contact of the account.
    #[arg(long = "contact", value_name = "CONTACT_ARN")]
    pub contacts: Vec<String>,

    /// Page size of the List calls (tests use a small one to exercise paging).
    #[arg(long, hide = true, value_parser = clap::value_parser!(i32).range(1..=1024))]
    pub page_size: Option<i32>,
}
