//! Throttling of failed client authentication (contract section 6): only
//! failures are throttled, per client id and per source address, and the
//! source is the TCP peer unless the peer is a trusted proxy.

use m2m_issuer::{Cidr, ThrottleConfig};

use crate::common::{TestServer, expect_oauth_error};

/// A token request with Basic credentials and extra headers.
async fn token_with(
    server: &TestServer,
    id: &str,
    secret: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = server
        .http
        .post(server.url("/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")]);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request")
}

/// Asserts a 429 `slow_down` with a `Retry-After` within the window.
async fn expect_slow_down(response: reqwest::Response) {
    let (headers, _) = expect_oauth_error(response, 429, "slow_down").await;
    let retry: u64 = headers["retry-after"]
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "retry-after {retry}");
}

fn limits(per_client: u32, per_address: u32) -> ThrottleConfig {
    ThrottleConfig {
        max_failures_per_client: per_client,
        max_failures_per_address: per_address,
        ..ThrottleConfig::default()
    }
}

fn localhost_proxy() -> Vec<Cidr> {
    vec!["127.0.0.1/32".parse().expect("cidr")]
}

#[tokio::test]
async fn bad_secrets_for_a_client_id_cannot_lock_its_owner_out() {
    // The default limits: 10 per client id, 100 per address.
    let mut server = TestServer::start().await;
    let (id, secret) = server.org_client(&["a:b"]).await;
    for i in 0..30 {
        let response = server.token_basic(&id, "m2ms_guess", &[]).await;
        if i < 10 {
            expect_oauth_error(response, 401, "invalid_client").await;
        } else {
            expect_slow_down(response).await;
        }
    }
    let response = server.token_basic(&id, &secret, &[]).await;
    assert_eq!(response.status(), 200, "the right secret is not throttled");
    let response = server.token_basic(&id, "m2ms_guess", &[]).await;
    expect_slow_down(response).await;
    // The other endpoints authenticate the same way.
    let response = server
        .http
        .post(server.url("/oauth/introspect"))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", "x")])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);

    server.advance(61);
    let response = server.token_basic(&id, "m2ms_guess", &[]).await;
    expect_oauth_error(response, 401, "invalid_client").await;
}

#[tokio::test]
async fn failures_from_one_address_do_not_stop_its_other_clients() {
    let mut server = TestServer::start().await;
    let (id, secret) = server.org_client(&["a:b"]).await;
    for i in 0..150 {
        let response = server
            .token_basic(&format!("m2m_unknown{i}"), "m2ms_x", &[])
            .await;
        if i < 100 {
            expect_oauth_error(response, 401, "invalid_client").await;
        } else {
            expect_slow_down(response).await;
        }
    }
    let response = server.token_basic(&id, &secret, &[]).await;
    assert_eq!(
        response.status(),
        200,
        "a valid secret from the same address"
    );
    let response = server.token_basic(&id, "m2ms_wrong", &[]).await;
    expect_slow_down(response).await;
}

#[tokio::test]
async fn an_untrusted_peer_is_keyed_by_itself_whatever_it_forwards() {
    let server = TestServer::start_with(|b| b.throttle(limits(100, 3))).await;
    for i in 0..3 {
        let spoof = format!("198.51.100.{i}");
        let response = token_with(
            &server,
            &format!("m2m_unknown{i}"),
            "m2ms_x",
            &[
                ("x-forwarded-for", spoof.as_str()),
                ("forwarded", &format!("for={spoof}")),
            ],
        )
        .await;
        expect_oauth_error(response, 401, "invalid_client").await;
    }
    let response = token_with(
        &server,
        "m2m_unknown9",
        "m2ms_x",
        &[("x-forwarded-for", "198.51.100.9")],
    )
    .await;
    expect_slow_down(response).await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let mut server = TestServer::start_with(|b| {
        b.throttle(limits(100, 3))
            .trusted_proxies(localhost_proxy())
    })
    .await;
    let (id, secret) = server.org_client(&["a:b"]).await;
    // What the client wrote is left of what the proxy appended: not read.
    let first = [("x-forwarded-for", "203.0.113.1, 192.0.2.1")];
    for i in 0..3 {
        let response = token_with(&server, &format!("m2m_u{i}"), "m2ms_x", &first).await;
        expect_oauth_error(response, 401, "invalid_client").await;
    }
    expect_slow_down(token_with(&server, "m2m_u9", "m2ms_x", &first).await).await;
    let response = token_with(&server, &id, &secret, &first).await;
    assert_eq!(response.status(), 200, "valid from a throttled address");

    // Another forwarded client, through either header, has its own budget.
    let second = [("forwarded", "for=192.0.2.2;proto=https")];
    for i in 0..3 {
        let response = token_with(&server, &format!("m2m_v{i}"), "m2ms_x", &second).await;
        expect_oauth_error(response, 401, "invalid_client").await;
    }
    expect_slow_down(token_with(&server, "m2m_v9", "m2ms_x", &second).await).await;

    // IPv6 clients count per /64.
    for (i, address) in ["2001:db8:1:2::a", "2001:db8:1:2::b", "2001:db8:1:2:ffff::1"]
        .into_iter()
        .enumerate()
    {
        let forwarded = [("x-forwarded-for", address)];
        let response = token_with(&server, &format!("m2m_w{i}"), "m2ms_x", &forwarded).await;
        expect_oauth_error(response, 401, "invalid_client").await;
    }
    let same_64 = [("x-forwarded-for", "2001:db8:1:2::99")];
    expect_slow_down(token_with(&server, "m2m_w9", "m2ms_x", &same_64).await).await;
    let other_64 = [("x-forwarded-for", "2001:db8:1:3::99")];
    let response = token_with(&server, "m2m_w9", "m2ms_x", &other_64).await;
    expect_oauth_error(response, 401, "invalid_client").await;

    // A forwarding header that cannot be read counts as the proxy itself,
    // never as a server error.
    let junk = [("x-forwarded-for", "not an address")];
    for i in 0..3 {
        let response = token_with(&server, &format!("m2m_j{i}"), "m2ms_x", &junk).await;
        expect_oauth_error(response, 401, "invalid_client").await;
    }
    let response = token_with(&server, "m2m_j9", "m2ms_x", &[]).await;
    expect_slow_down(response).await;
}

#[tokio::test]
async fn a_full_throttle_map_keeps_throttling() {
    let mut server = TestServer::start_with(|b| {
        b.throttle(ThrottleConfig {
            max_entries: 8,
            ..limits(2, 1_000)
        })
    })
    .await;
    let (id, secret) = server.org_client(&["a:b"]).await;
    for _ in 0..2 {
        let response = server.token_basic(&id, "m2ms_wrong", &[]).await;
        expect_oauth_error(response, 401, "invalid_client").await;
    }
    expect_slow_down(server.token_basic(&id, "m2ms_wrong", &[]).await).await;
    // Ten times the capacity of new client ids, each failing once.
    for i in 0..80 {
        let response = server
            .token_basic(&format!("m2m_flood{i}"), "m2ms_x", &[])
            .await;
        expect_oauth_error(response, 401, "invalid_client").await;
    }
    expect_slow_down(server.token_basic(&id, "m2ms_wrong", &[]).await).await;
    assert_eq!(server.token_basic(&id, &secret, &[]).await.status(), 200);
}
