//! The cluster's credentials: a self-signed CA, a server certificate for the loopback
//! addresses it signs, a bearer token, and the kubeconfig that carries all three to
//! clients (kube-rs, kubectl) unchanged.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use base64::Engine;
use rand::Rng;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// Everything a client needs to trust and authenticate to the cluster.
pub struct Credentials {
    pub ca_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
    pub token: String,
}

impl Credentials {
    /// A fresh CA, a server certificate for `127.0.0.1`, `::1` and `localhost`, and a
    /// random 32-byte bearer token.
    pub fn generate() -> anyhow::Result<Credentials> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "ferry-cluster-ca");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ])?;
        params
            .distinguished_name
            .push(DnType::CommonName, "ferry-cluster-apiserver");
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = params.signed_by(&server_key, &issuer)?;

        let mut raw = [0u8; 32];
        rand::rng().fill(&mut raw);
        let token = raw.iter().map(|b| format!("{b:02x}")).collect::<String>();
        Ok(Credentials {
            ca_pem: ca_cert.pem(),
            server_cert_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
            token,
        })
    }

    /// A rustls server configuration offering HTTP/1.1 only (exec upgrades need it).
    pub fn server_config(&self) -> anyhow::Result<Arc<rustls::ServerConfig>> {
        let certs = rustls_pemfile_certs(&self.server_cert_pem)?;
        let key = rustls::pki_types::PrivateKeyDer::try_from(
            pem_body(&self.server_key_pem, "PRIVATE KEY").context("server key PEM")?,
        )
        .map_err(|e| anyhow::anyhow!("server key: {e}"))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// Writes a kubeconfig for `server` (e.g. `https://127.0.0.1:34567`) with one cluster,
    /// one user (bearer token), and one context `ferry-cluster` with namespace `default`.
    pub fn write_kubeconfig(&self, path: &Path, server: &str) -> anyhow::Result<()> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let doc = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{
                "name": "ferry-cluster",
                "cluster": {
                    "server": server,
                    "certificate-authority-data": b64.encode(&self.ca_pem),
                }
            }],
            "users": [{ "name": "ferry-cluster-admin", "user": { "token": self.token } }],
            "contexts": [{
                "name": "ferry-cluster",
                "context": {
                    "cluster": "ferry-cluster",
                    "user": "ferry-cluster-admin",
                    "namespace": "default",
                }
            }],
            "current-context": "ferry-cluster",
            "preferences": {},
        });
        let text = serde_yaml::to_string(&doc)?;
        crate::util::write_atomic(path, text.as_bytes(), 0o600)
            .with_context(|| format!("writing kubeconfig {}", path.display()))
    }
}

fn pem_body(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = pem[start..].find(&end)? + start;
    let body: String = pem[start..stop].split_whitespace().collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

fn rustls_pemfile_certs(
    pem: &str,
) -> anyhow::Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    let der = pem_body(pem, "CERTIFICATE").context("certificate PEM")?;
    Ok(vec![rustls::pki_types::CertificateDer::from(der)])
}
