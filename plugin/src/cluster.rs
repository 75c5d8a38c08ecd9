//! The cluster connection as kubectl would make it from --kubeconfig, --context and
//! --namespace.

use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::{Client, Config};

use crate::cli::KubeFlags;
use crate::error::PluginError;

/// A client and the namespace the command works in.
pub struct Cluster {
    pub client: Client,
    pub namespace: String,
}

/// The namespace of --namespace, or the one the kubeconfig context names, or "default"
/// (kube's loader applies that fallback).
pub async fn connect(flags: &KubeFlags) -> Result<Cluster, PluginError> {
    let config = config(flags).await?;
    let namespace = flags
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = Client::try_from(config).map_err(PluginError::kube("creating the client"))?;
    Ok(Cluster { client, namespace })
}

/// The namespace alone, for commands that need no cluster (export): without a kubeconfig
/// named by a flag, a machine with none at all gets "default", as kubectl's would.
pub async fn namespace(flags: &KubeFlags) -> Result<String, PluginError> {
    match &flags.namespace {
        Some(namespace) => Ok(namespace.clone()),
        None => match config(flags).await {
            Ok(config) => Ok(config.default_namespace),
            Err(PluginError::KubeconfigMissing(_)) => Ok("default".to_owned()),
            Err(error) => Err(error),
        },
    }
}

async fn config(flags: &KubeFlags) -> Result<Config, PluginError> {
    let kubeconfig = match &flags.kubeconfig {
        Some(path) => {
            Kubeconfig::read_from(path).map_err(|e| PluginError::KubeconfigUnreadable {
                path: path.clone(),
                reason: match &e {
                    // Its own text repeats the path.
                    KubeconfigError::ReadConfig(io, _) => io.to_string(),
                    _ => cause(&e),
                },
            })?
        }
        None => Kubeconfig::read().map_err(|e| PluginError::KubeconfigMissing(cause(&e)))?,
    };
    if let Some(context) = &flags.context
        && !kubeconfig.contexts.iter().any(|c| &c.name == context)
    {
        return Err(PluginError::UnknownContext(context.clone()));
    }
    let options = KubeConfigOptions {
        context: flags.context.clone(),
        cluster: None,
        user: None,
    };
    Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| PluginError::Kubeconfig(cause(&e)))
}

/// The error and its sources on one line.
fn cause(error: &KubeconfigError) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        let next = inner.to_string();
        if !text.contains(&next) {
            text = format!("{text}: {next}");
        }
        source = inner.source();
    }
    text.replace('\n', " ")
}
