//! Self-contained kubeconfig files (certificates inline) for kubectl, helm and kube-rs.
//!
//! Rendered as text rather than through kube's `Kubeconfig` type: it is a small fixed
//! shape, and inline data keeps a copy valid wherever it is moved (`testenv up` copies it).

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::Error;

/// Cluster and context name in every kubeconfig written here.
pub const CLUSTER: &str = "testenv";

/// How a kubeconfig's user proves who it is.
pub enum Credentials<'a> {
    /// Client certificate and key, PEM.
    ClientCert { cert_pem: &'a str, key_pem: &'a str },
    /// Bearer token, e.g. a ServiceAccount token from the TokenRequest API.
    Token(&'a str),
}

/// A kubeconfig for `server`, trusting `ca_pem`, logged in as `user` with `credentials`.
/// `user` only names the entry; the server takes the identity from the credentials.
pub fn render(server: &str, ca_pem: &str, user: &str, credentials: &Credentials<'_>) -> String {
    let credentials = match credentials {
        Credentials::ClientCert { cert_pem, key_pem } => format!(
            "    client-certificate-data: {}\n    client-key-data: {}\n",
            STANDARD.encode(cert_pem),
            STANDARD.encode(key_pem)
        ),
        Credentials::Token(token) => format!("    token: {}\n", quote(token)),
    };
    let user = quote(user);
    let server = quote(server);
    let ca = STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {CLUSTER}
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: {user}
  user:
{credentials}contexts:
- name: {CLUSTER}
  context:
    cluster: {CLUSTER}
    user: {user}
current-context: {CLUSTER}
"
    )
}

/// Writes `contents` to `path` with mode 0600, atomically: a reader (a script waiting for
/// `testenv up`) sees no file or the whole file, never half of it.
pub fn write(path: &Path, contents: &str) -> Result<(), Error> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = Path::new(&partial);
    crate::certs::write_private(partial, contents)?;
    std::fs::rename(partial, path).map_err(Error::io(format!(
        "moving {} to {}",
        partial.display(),
        path.display()
    )))
}

/// A YAML double-quoted scalar. JSON string escaping is a subset of YAML's, so serde_json
/// does the escaping of user names such as `system:serviceaccount:ns:sa`.
fn quote(value: &str) -> String {
    serde_json::Value::from(value).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::config::Kubeconfig;

    /// A token kubeconfig parses back to the same server, user name and token.
    #[test]
    fn token_kubeconfig_round_trips() {
        let text = render(
            "https://127.0.0.1:6443",
            "CA",
            "system:serviceaccount:ns:sa",
            &Credentials::Token("abc.def.ghi"),
        );
        let parsed = Kubeconfig::from_yaml(&text).unwrap();
        assert_eq!(parsed.current_context.as_deref(), Some(CLUSTER));
        let cluster = parsed.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(cluster.server.as_deref(), Some("https://127.0.0.1:6443"));
        assert_eq!(
            cluster.certificate_authority_data.as_deref(),
            Some(STANDARD.encode("CA").as_str())
        );
        let user = &parsed.auth_infos[0];
        assert_eq!(user.name, "system:serviceaccount:ns:sa");
        assert!(user.auth_info.as_ref().unwrap().token.is_some());
        assert!(text.contains("    token: \"abc.def.ghi\"\n"), "{text}");
    }

    /// A client-certificate kubeconfig carries both PEMs inline.
    #[test]
    fn cert_kubeconfig_inlines_cert_and_key() {
        let text = render(
            "https://127.0.0.1:6443",
            "CA",
            "admin",
            &Credentials::ClientCert {
                cert_pem: "CERT",
                key_pem: "KEY",
            },
        );
        let parsed = Kubeconfig::from_yaml(&text).unwrap();
        let auth = parsed.auth_infos[0].auth_info.as_ref().unwrap();
        assert_eq!(
            auth.client_certificate_data.as_deref(),
            Some(STANDARD.encode("CERT").as_str())
        );
        assert!(auth.client_key_data.is_some());
    }

    /// The written file is private and complete.
    #[test]
    fn write_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        write(&path, "x").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "x");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
