//! Throwaway PKI for one control plane: serving CA and certificate, client CA and client
//! certificates, and the ServiceAccount token signing key.
//!
//! All keys are ECDSA P-256, which kube-apiserver, kubectl, helm and kube-rs all accept, and
//! which rcgen generates in microseconds (RSA would cost seconds on two slow cores).
//! Certificates keep rcgen's default validity (1975 to 4096): the PKI lives as long as the
//! temp dir, so an expiry date could only ever break a test, never protect anything.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};

use crate::Error;

/// DNS names in the serving certificate: loopback for tests, plus the names a pod would use
/// for the in-cluster `kubernetes` Service, so certificates stay valid if a test proxies them.
const SERVING_DNS_NAMES: [&str; 5] = [
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
];

/// First address of `--service-cluster-ip-range=10.0.0.0/24`: the `kubernetes` Service's
/// ClusterIP. Never dialled here; it only makes the certificate match that Service.
const SERVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

/// A client certificate and its private key, both PEM.
#[derive(Clone)]
pub struct ClientCert {
    pub cert_pem: String,
    pub key_pem: String,
}

/// Every key and certificate one control plane needs.
pub struct Pki {
    /// CA that signed the API server's serving certificate; clients trust it.
    pub serving_ca_pem: String,
    pub serving_cert_pem: String,
    pub serving_key_pem: String,
    /// CA the API server trusts for client certificates (`--client-ca-file`).
    pub client_ca_pem: String,
    /// `CN=admin, O=system:masters`: bypasses RBAC.
    pub admin: ClientCert,
    /// Signs ServiceAccount tokens (`--service-account-signing-key-file`).
    pub service_account_key_pem: String,
    /// Verifies them (`--service-account-key-file`).
    pub service_account_public_pem: String,
    client_ca: CertifiedIssuer<'static, KeyPair>,
}

/// Paths of the files [`Pki::write_to`] wrote.
pub struct PkiFiles {
    pub serving_ca: PathBuf,
    pub serving_cert: PathBuf,
    pub serving_key: PathBuf,
    pub client_ca: PathBuf,
    pub service_account_key: PathBuf,
    pub service_account_public: PathBuf,
}

impl Pki {
    /// Generates a fresh PKI; nothing is written to disk.
    pub fn generate() -> Result<Pki, Error> {
        let serving_ca = new_ca("testenv serving CA")?;

        let mut serving = CertificateParams::new(SERVING_DNS_NAMES.map(String::from).to_vec())?;
        serving
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        serving
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(SERVICE_IP)));
        serving
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        serving.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let serving_key = KeyPair::generate()?;
        let serving_cert = serving.signed_by(&serving_key, &serving_ca)?;

        let client_ca = new_ca("testenv client CA")?;
        let admin = issue_client_cert(&client_ca, "admin", &["system:masters"])?;

        let service_account = KeyPair::generate()?;

        Ok(Pki {
            serving_ca_pem: serving_ca.pem(),
            serving_cert_pem: serving_cert.pem(),
            serving_key_pem: serving_key.serialize_pem(),
            client_ca_pem: client_ca.pem(),
            admin,
            service_account_key_pem: service_account.serialize_pem(),
            service_account_public_pem: service_account.public_key_pem(),
            client_ca,
        })
    }

    /// A client certificate for `user` (CN) in `groups` (O), signed by the client CA.
    ///
    /// At most one group: rcgen keeps one value per subject attribute type
    /// (rustls/rcgen#81), so a second O would silently replace the first. Every
    /// authenticated user is in `system:authenticated` anyway; bind RBAC to the user or to
    /// one group.
    pub fn client_cert(&self, user: &str, groups: &[&str]) -> Result<ClientCert, Error> {
        issue_client_cert(&self.client_ca, user, groups)
    }

    /// Writes the files kube-apiserver reads into `dir`, private keys readable by the owner only.
    pub fn write_to(&self, dir: &Path) -> Result<PkiFiles, Error> {
        std::fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
        let files = PkiFiles {
            serving_ca: dir.join("serving-ca.crt"),
            serving_cert: dir.join("apiserver.crt"),
            serving_key: dir.join("apiserver.key"),
            client_ca: dir.join("client-ca.crt"),
            service_account_key: dir.join("sa.key"),
            service_account_public: dir.join("sa.pub"),
        };
        write_file(&files.serving_ca, &self.serving_ca_pem)?;
        write_file(&files.serving_cert, &self.serving_cert_pem)?;
        write_private(&files.serving_key, &self.serving_key_pem)?;
        write_file(&files.client_ca, &self.client_ca_pem)?;
        write_private(&files.service_account_key, &self.service_account_key_pem)?;
        write_file(
            &files.service_account_public,
            &self.service_account_public_pem,
        )?;
        Ok(files)
    }
}

fn new_ca(name: &str) -> Result<CertifiedIssuer<'static, KeyPair>, Error> {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(CertifiedIssuer::self_signed(params, KeyPair::generate()?)?)
}

fn issue_client_cert(
    ca: &CertifiedIssuer<'static, KeyPair>,
    user: &str,
    groups: &[&str],
) -> Result<ClientCert, Error> {
    if groups.len() > 1 {
        return Err(Error::ClientCert {
            user: user.to_owned(),
            reason: "at most one group fits in a certificate made by rcgen (rustls/rcgen#81)",
        });
    }
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, user);
    for group in groups {
        params
            .distinguished_name
            .push(DnType::OrganizationName, *group);
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, ca)?;
    Ok(ClientCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn write_file(path: &Path, contents: &str) -> Result<(), Error> {
    std::fs::write(path, contents).map_err(Error::io(format!("writing {}", path.display())))
}

/// Creates the file with mode 0600 before any secret byte lands in it.
pub(crate) fn write_private(path: &Path, contents: &str) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(Error::io(format!("creating {}", path.display())))?;
    file.write_all(contents.as_bytes())
        .map_err(Error::io(format!("writing {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The PKI comes out as PEM of the kinds kube-apiserver's flags expect.
    #[test]
    fn generates_pem_of_the_expected_kinds() {
        let pki = Pki::generate().unwrap();
        assert!(
            pki.serving_ca_pem
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        assert!(
            pki.serving_key_pem
                .starts_with("-----BEGIN PRIVATE KEY-----")
        );
        assert!(
            pki.admin
                .cert_pem
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        assert!(
            pki.service_account_public_pem
                .starts_with("-----BEGIN PUBLIC KEY-----")
        );
        assert_ne!(pki.serving_ca_pem, pki.client_ca_pem);
    }

    /// Two groups are refused rather than silently reduced to the last one.
    #[test]
    fn more_than_one_group_is_refused() {
        let pki = Pki::generate().unwrap();
        assert!(pki.client_cert("alice", &["a", "b"]).is_err());
        assert!(pki.client_cert("alice", &["a"]).is_ok());
        assert!(pki.client_cert("alice", &[]).is_ok());
    }

    /// Private keys are not world readable.
    #[test]
    fn private_keys_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let files = Pki::generate().unwrap().write_to(dir.path()).unwrap();
        let mode = std::fs::metadata(files.serving_key)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
