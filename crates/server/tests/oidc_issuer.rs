//! TEST-ONLY: a local OIDC issuer on 127.0.0.1 over https (a throwaway CA
//! made with the openssl CLI), serving a discovery document and a JWKS, and
//! minting Kubernetes-shaped and GitHub-Actions-shaped workload tokens, for
//! the workload identity federation tests through `m2m serve`.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use m2m_core::{Algorithm, SigningKey};
use serde_json::{Value, json};

/// A CA, and a certificate for 127.0.0.1 and localhost signed by it; returns
/// (CA PEM, leaf PEM, leaf key PEM).
fn test_pki(dir: &Path) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("the openssl CLI");
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=test CA",
    ]);
    run(&ca);
    let mut leaf = vec!["req"];
    leaf.extend(ec);
    leaf.extend([
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=localhost",
    ]);
    run(&leaf);
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .expect("ext");
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
    ]);
    let read = |name: &str| std::fs::read(dir.join(name)).expect("pem");
    (read("ca.pem"), read("leaf.pem"), read("leaf.key"))
}

/// The running test issuer.
pub(crate) struct OidcIssuer {
    /// Its issuer identifier, `https://127.0.0.1:PORT`.
    pub(crate) issuer: String,
    /// The CA file `m2m serve --federation-ca-file` must trust.
    pub(crate) ca_file: std::path::PathBuf,
    key: SigningKey,
    /// How many JWKS fetches it answered.
    jwks_hits: Arc<AtomicUsize>,
    next_jti: AtomicUsize,
    _served: Arc<Mutex<()>>,
}

impl OidcIssuer {
    /// Starts it in a thread; its files go to `dir`.
    pub(crate) fn start(dir: &Path) -> OidcIssuer {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let (ca_pem, leaf_pem, key_pem) = test_pki(dir);
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, &ca_pem).expect("ca file");
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&leaf_pem)
            .collect::<Result<_, _>>()
            .expect("leaf");
        let tls_key = PrivateKeyDer::from_pem_slice(&key_pem).expect("key");
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(certs, tls_key)
            .expect("server config"),
        );
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let issuer = format!(
            "https://127.0.0.1:{}",
            listener.local_addr().expect("addr").port()
        );
        let key = SigningKey::generate(Algorithm::ES256).expect("key");
        let discovery = json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}/keys"),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
        })
        .to_string();
        let jwks = json!({"keys": [key.public_jwk()]}).to_string();
        let jwks_hits = Arc::new(AtomicUsize::new(0));
        let hits = Arc::clone(&jwks_hits);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(tcp) = stream else { continue };
                let Ok(conn) = rustls::ServerConnection::new(Arc::clone(&config)) else {
                    continue;
                };
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let mut buf = [0u8; 4096];
                let mut request = Vec::new();
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&request);
                let path = head.split(' ').nth(1).unwrap_or("/");
                let (status, body) = match path {
                    "/.well-known/openid-configuration" => ("200 OK", discovery.as_str()),
                    "/keys" => {
                        hits.fetch_add(1, Ordering::SeqCst);
                        ("200 OK", jwks.as_str())
                    }
                    _ => ("404 Not Found", "{}"),
                };
                let reply = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n\
                     Cache-Control: max-age=300\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(reply.as_bytes());
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        });
        OidcIssuer {
            issuer,
            ca_file,
            key,
            jwks_hits,
            next_jti: AtomicUsize::new(0),
            _served: Arc::default(),
        }
    }

    /// The JWK Set it publishes (what a cluster's `/openid/v1/jwks` gives).
    pub(crate) fn jwks(&self) -> Value {
        json!({"keys": [self.key.public_jwk()]})
    }

    /// How many times its JWKS was fetched.
    pub(crate) fn jwks_hits(&self) -> usize {
        self.jwks_hits.load(Ordering::SeqCst)
    }

    /// Signs `claims` with its key (`iss` added when missing).
    pub(crate) fn sign(&self, mut claims: Value) -> String {
        if claims.get("iss").is_none() {
            claims["iss"] = json!(self.issuer);
        }
        m2m_core::sign_assertion(&self.key, &claims).expect("sign")
    }

    fn jti(&self) -> String {
        format!("jti-{}", self.next_jti.fetch_add(1, Ordering::SeqCst))
    }

    /// A Kubernetes projected service-account token's claims for
    /// `system:serviceaccount:{ns}:{sa}`, valid an hour from `now`.
    pub(crate) fn kubernetes_claims(&self, audience: &str, ns: &str, sa: &str, now: u64) -> Value {
        json!({
            "iss": self.issuer,
            "sub": format!("system:serviceaccount:{ns}:{sa}"),
            "aud": [audience],
            "exp": now + 3600,
            "iat": now,
            "nbf": now,
            "jti": self.jti(),
            "kubernetes.io": {
                "namespace": ns,
                "serviceaccount": {"name": sa, "uid": "6d7c0d5e-0000-4000-8000-000000000001"},
                "pod": {"name": format!("{sa}-7f9c"), "uid": "9a1b0000-0000-4000-8000-000000000002"},
            },
        })
    }

    /// A GitHub Actions OIDC token's claims for `repo` at `git_ref`, valid
    /// five minutes from `now`.
    pub(crate) fn github_claims(
        &self,
        audience: &str,
        repo: &str,
        git_ref: &str,
        now: u64,
    ) -> Value {
        json!({
            "iss": self.issuer,
            "sub": format!("repo:{repo}:ref:{git_ref}"),
            "aud": audience,
            "exp": now + 300,
            "iat": now,
            "nbf": now,
            "jti": self.jti(),
            "repository": repo,
            "repository_owner": repo.split('/').next().unwrap_or_default(),
            "ref": git_ref,
            "job_workflow_ref": format!("{repo}/.github/workflows/deploy.yml@{git_ref}"),
            "event_name": "push",
            "run_id": "1234567890",
        })
    }
}
