//! The plugin's one error type: every failure ends as one line on stderr and exit code 1.
//! No variant ever carries an activation code.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("cannot read kubeconfig {}: {reason}", path.display())]
    KubeconfigUnreadable { path: PathBuf, reason: String },

    #[error("cannot load a kubeconfig: {0}")]
    KubeconfigMissing(String),

    #[error("context {0:?} is not in the kubeconfig")]
    UnknownContext(String),

    #[error("kubeconfig: {0}")]
    Kubeconfig(String),

    #[error("{what}: {source}")]
    Kube {
        what: String,
        #[source]
        source: kube::Error,
    },

    #[error("contactchannelactivation {name:?} not found in namespace {namespace:?}")]
    NotFound { namespace: String, name: String },

    #[error("-A/--all-namespaces applies to status only; name the namespace with -n")]
    AllNamespacesUnsupported,

    #[error("a resource cannot be retrieved by name across all namespaces")]
    NameWithAllNamespaces,

    #[error("the activation code must be 6 to 10 digits (got {length} characters after trimming)")]
    MalformedCode { length: usize },

    #[error("reading the activation code from standard input: {0}")]
    Stdin(String),

    #[error("{operation} failed: {message}")]
    Aws { operation: String, message: String },

    #[error("writing the output: {0}")]
    Output(String),
}

impl PluginError {
    /// Wraps an API error with what the plugin was doing.
    pub fn kube(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let what = what.into();
        move |source| Self::Kube { what, source }
    }
}
