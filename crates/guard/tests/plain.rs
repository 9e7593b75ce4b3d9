//! The layer under a plain tower service and a plain hyper server.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use m2m_guard::{Auth, Guard};
use tower::{Service, ServiceBuilder, ServiceExt};

use crate::common::*;

async fn handler<B>(req: Request<B>) -> Result<Response<Full<Bytes>>, Infallible> {
    let who = req
        .extensions()
        .get::<Auth>()
        .map_or("nobody".to_owned(), |a| a.client_id().to_string());
    Ok(Response::new(Full::new(Bytes::from(who))))
}

#[tokio::test]
async fn under_a_plain_tower_service() {
    let key = key();
    let guard = Guard::builder(ISS, AUD)
        .jwk_set(jwk_set(&[&key]))
        .build()
        .await
        .unwrap();
    let mut service = ServiceBuilder::new()
        .layer(guard.require(["invoices:read"]))
        .service_fn(handler::<Full<Bytes>>);

    let request = Request::get("/")
        .header(
            "authorization",
            format!("Bearer {}", token(&key, "invoices:read")),
        )
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = service.ready().await.unwrap().call(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "m2m_client1");

    let request = Request::get("/").body(Full::new(Bytes::new())).unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["error"], "unauthorized");
}

#[tokio::test]
async fn under_a_plain_hyper_server_over_tcp() {
    let key = key();
    let issuer = Issuer::start(&[&key]).await;
    let guard = builder(&issuer).build().await.unwrap();
    let service = ServiceBuilder::new()
        .layer(guard.require(["invoices:read"]))
        .service_fn(handler::<hyper::body::Incoming>);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });

    // A plain hyper client, as a caller of the guarded app.
    let ok = http_get(addr, Some(&token(&key, "invoices:read"))).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let body = ok.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "m2m_client1");

    let forbidden = http_get(addr, Some(&token(&key, "other:scope"))).await;
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    assert!(
        forbidden.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(r#"scope="invoices:read""#)
    );
    assert_eq!(forbidden.headers()["content-type"], "application/json");
    let missing = http_get(addr, None).await;
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    server.abort();
}

async fn http_get(
    addr: std::net::SocketAddr,
    bearer: Option<&str>,
) -> Response<hyper::body::Incoming> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut request = Request::get("/anything").header("host", addr.to_string());
    if let Some(token) = bearer {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    sender
        .send_request(request.body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap()
}
