//! A running issuer and a guarded API, wired over real HTTP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use m2m_client::TokenSource;
use m2m_core::{ClientSecret, RotationPolicy};
use m2m_guard::{Auth, Guard};
use m2m_issuer::Issuer;
use m2m_issuer::store::MemoryStore;
use serde_json::{Value, json};
use tokio::net::TcpListener;

pub(crate) const API_AUDIENCE: &str = "https://api.e2e.test";

pub(crate) struct World {
    pub(crate) issuer: Issuer,
    pub(crate) issuer_url: String,
    pub(crate) api_url: String,
    pub(crate) guard: Guard,
    pub(crate) admin: TokenSource,
    pub(crate) http: reqwest::Client,
    /// Requests the API served (any status).
    pub(crate) served: Arc<AtomicU64>,
}

pub(crate) struct Settings {
    pub(crate) policy: RotationPolicy,
    pub(crate) jwks_max_age: u64,
    pub(crate) revocation_poll: Option<Duration>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            policy: RotationPolicy::default(),
            jwks_max_age: 300,
            revocation_poll: None,
        }
    }
}

impl World {
    pub(crate) async fn start(settings: Settings) -> World {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let issuer_url = format!("http://{}", listener.local_addr().expect("addr"));
        let issuer = Issuer::builder(issuer_url.clone(), MemoryStore::new())
            .rotation_policy(settings.policy)
            .jwks_max_age(settings.jwks_max_age)
            .key_check_interval(Duration::from_millis(200))
            .build()
            .await
            .expect("issuer");
        let (admin_id, admin_secret) = issuer
            .bootstrap_admin()
            .await
            .expect("bootstrap")
            .expect("fresh store");
        let app = issuer
            .router()
            .into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, app).await });

        let mut builder = Guard::builder(issuer_url.as_str(), API_AUDIENCE)
            .jwks_url(format!("{issuer_url}/.well-known/jwks.json"))
            .refresh_bounds(Duration::from_secs(1), Duration::from_secs(60))
            .unknown_kid_cooldown(Duration::from_secs(30));
        if let Some(poll) = settings.revocation_poll {
            builder = builder
                .revocation_feed(format!("{issuer_url}/oauth/revocations"))
                .revocation_poll_interval(poll);
        }
        let guard = builder.build().await.expect("guard");
        let served = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&served);
        let api = Router::new()
            .route(
                "/reports",
                get(move |auth: Auth| {
                    let counter = Arc::clone(&counter);
                    async move {
                        counter.fetch_add(1, Ordering::Relaxed);
                        auth.client_id().to_string()
                    }
                }),
            )
            .route_layer(guard.require(["reports:read"]));
        let api_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let api_url = format!("http://{}", api_listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(api_listener, api).await });

        let admin = TokenSource::builder(
            format!("{issuer_url}/oauth/token"),
            admin_id.as_str(),
            admin_secret.expose(),
        )
        .scope("m2m:admin")
        .build()
        .expect("admin token source");
        World {
            issuer,
            issuer_url,
            api_url,
            guard,
            admin,
            // Every call is bounded: a hung server fails the test, not CI's clock.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("HTTP client"),
            served,
        }
    }

    /// Registers a service client for the API; returns (id, secret).
    pub(crate) async fn create_client(&self, scopes: &[&str]) -> (String, ClientSecret) {
        let body = json!({
            "name": "e2e",
            "kind": "service",
            "audiences": [API_AUDIENCE],
            "scopes": scopes,
        });
        let response = self
            .http
            .post(format!("{}/admin/clients", self.issuer_url))
            .header(
                "authorization",
                self.admin
                    .token()
                    .await
                    .expect("admin token")
                    .authorization(),
            )
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("create client");
        assert_eq!(response.status(), 201);
        let created: Value =
            serde_json::from_slice(&response.bytes().await.expect("body")).expect("json");
        (
            created["client_id"].as_str().expect("id").to_owned(),
            ClientSecret::from_received(created["client_secret"].as_str().expect("secret")),
        )
    }

    pub(crate) async fn admin_delete_client(&self, client_id: &str) {
        let response = self
            .http
            .delete(format!("{}/admin/clients/{client_id}", self.issuer_url))
            .header(
                "authorization",
                self.admin
                    .token()
                    .await
                    .expect("admin token")
                    .authorization(),
            )
            .send()
            .await
            .expect("delete client");
        assert_eq!(response.status(), 204);
    }

    pub(crate) fn token_source(&self, client_id: &str, secret: &ClientSecret) -> TokenSource {
        TokenSource::builder(
            format!("{}/oauth/token", self.issuer_url),
            client_id,
            secret.expose(),
        )
        .build()
        .expect("token source")
    }

    /// Calls the guarded API with a token; returns the status.
    pub(crate) async fn call_api(&self, token: &str) -> u16 {
        self.http
            .get(format!("{}/reports", self.api_url))
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .expect("call API")
            .status()
            .as_u16()
    }
}
