//! A database made by an older version (the 0001 and 0002 schemas, with
//! rows in it) is brought up to date on open, and reads back right: client
//! revocations get their exp (revoked_at + 86400), the head keeps counting
//! entries that were purged, and new entries follow it; clients are
//! confidential (`client_secret_basic`) and codes and grants bound to no
//! resource; clients require no DPoP proof and refresh tokens are bound to
//! no DPoP key.

use std::path::Path;

use m2m_core::{AccessTokenClaims, Audience, ClientId, Revocation, RevokedClient, RevokedToken};
use m2m_issuer::store::{ConsumeCode, LoggedRevocation, Store, TokenEndpointAuthMethod};
use m2m_store_sql::{PostgresStore, SqliteStore};
use sqlx::Connection;
use sqlx::migrate::Migrator;

use crate::support::with_postgres_schema;

const T0: u64 = 1_700_000_000;

/// The statements that fill the old schema, each with its blob parameters.
/// The third revocation is purged, so the old sequence is one ahead of the
/// log.
fn old_rows() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    vec![
        (
            "INSERT INTO clients (client_id, name, kind, org_id, user_id, scopes, audiences, \
             token_ttl, redirect_uris, metadata, enabled, created_at, updated_at) VALUES \
             ('m2m_old', 'old', 'org', 'org_1', NULL, 'a:b', '[\"https://api\"]', 900, '[]', \
             '{\"k\":1}', TRUE, 1700000000, 1700000001)",
            vec![],
        ),
        (
            "INSERT INTO secrets (client_id, secret_id, hash, created_at) \
             VALUES ('m2m_old', 's1', $1, 1700000000)",
            vec![vec![7; 32]],
        ),
        (
            "INSERT INTO revocation_log (kind, jti, client_id, exp, revoked_at) \
             VALUES ('token', 'jti-old', 'm2m_old', 1700000900, 1700000000)",
            vec![],
        ),
        (
            "INSERT INTO revocation_log (kind, client_id, revoked_at) \
             VALUES ('client', 'm2m_gone', 1700000100)",
            vec![],
        ),
        (
            "INSERT INTO revocation_log (kind, jti, client_id, exp, revoked_at) \
             VALUES ('token', 'jti-purged', 'm2m_old', 1700000010, 1700000000)",
            vec![],
        ),
        (
            "DELETE FROM revocation_log WHERE jti = 'jti-purged'",
            vec![],
        ),
        (
            "INSERT INTO grants (grant_id, client_id, user_id, org_id, scopes, created_at) \
             VALUES ('grant_old', 'm2m_user', 'user_1', 'org_1', 'a:b', 1700000000)",
            vec![],
        ),
        (
            "INSERT INTO refresh_tokens (token_hash, grant_id, client_id, scopes, access_jti, \
             access_exp, created_at, expires_at) VALUES ($1, 'grant_old', 'm2m_user', 'a:b', \
             'jti-grant', 1700000900, 1700000000, 1700086400)",
            vec![vec![9; 32]],
        ),
        (
            "INSERT INTO auth_codes (code_hash, client_id, grant_id, redirect_uri, \
             code_challenge, user_id, org_id, scopes, created_at, expires_at) VALUES \
             ($1, 'm2m_user', 'grant_code', 'https://app/cb', 'ch', 'user_1', 'org_1', 'a:b', \
             1700000000, 1700000060)",
            vec![vec![5; 32]],
        ),
        (
            "INSERT INTO audit_events (at, kind, client_id, actor, detail) \
             VALUES (1700000000, 'client.created', 'm2m_old', NULL, '{}')",
            vec![],
        ),
    ]
}

/// A folder with only the first two migrations of `dialect`, as an older
/// m2m-store-sql shipped them.
fn old_migrations(dir: &Path, dialect: &str) -> std::path::PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dialect);
    let to = dir.join(format!("old-{dialect}"));
    std::fs::create_dir_all(&to).unwrap();
    for name in ["0001_initial.sql", "0002_user_clients.sql"] {
        std::fs::copy(from.join(name), to.join(name)).unwrap();
    }
    to
}

fn claims(jti: &str, client: &str, iat: u64) -> AccessTokenClaims {
    AccessTokenClaims {
        iss: "i".into(),
        sub: client.into(),
        client_id: ClientId::new(client),
        aud: Audience::One("a".into()),
        exp: iat + 900,
        nbf: None,
        iat,
        jti: jti.into(),
        scope: Default::default(),
        oid: None,
        uid: None,
        cnf: None,
        act: None,
        may_act: None,
    }
}

/// What a migrated store must read back.
async fn reads_back(store: &impl Store) {
    let client = store
        .get_client(&ClientId::new("m2m_old"))
        .await
        .unwrap()
        .expect("the old client");
    assert_eq!(
        (
            client.name.as_str(),
            client.audiences.as_slice(),
            client.updated_at
        ),
        ("old", ["https://api".to_owned()].as_slice(), T0 + 1)
    );
    assert_eq!(
        client.token_endpoint_auth_method,
        TokenEndpointAuthMethod::ClientSecretBasic,
        "a client from before public clients is confidential"
    );
    assert!(
        !client.dpop_bound_access_tokens,
        "a client from before DPoP does not require proofs"
    );
    let secrets = store.list_secrets(&client.client_id).await.unwrap();
    assert_eq!(secrets.len(), 1);
    assert_eq!(secrets[0].hash.as_bytes(), &[7; 32]);

    let page = store.revocations_since(0, 100).await.unwrap();
    assert_eq!(
        page.entries,
        [
            LoggedRevocation {
                seq: 1,
                revocation: Revocation::Token(RevokedToken {
                    jti: "jti-old".into(),
                    exp: T0 + 900
                }),
            },
            LoggedRevocation {
                seq: 2,
                revocation: Revocation::Client(RevokedClient {
                    client_id: ClientId::new("m2m_gone"),
                    revoked_at: T0 + 100,
                    exp: T0 + 100 + 86_400,
                }),
            },
        ],
        "old entries keep their numbers; a client entry gets exp = revoked_at + 86400"
    );
    assert_eq!(page.head, 3, "the head counts the purged third entry");
    assert!(
        store
            .is_revoked(&claims("jti-old", "m2m_x", T0), None)
            .await
            .unwrap()
    );
    assert!(
        store
            .is_revoked(&claims("j", "m2m_gone", T0 + 100), None)
            .await
            .unwrap()
    );
    assert!(
        !store
            .is_revoked(&claims("j", "m2m_gone", T0 + 101), None)
            .await
            .unwrap()
    );

    // New entries follow the old head; the old client entry purges by its exp.
    let new = RevokedToken {
        jti: "jti-new".into(),
        exp: T0 + 200_000,
    };
    assert!(
        store
            .revoke_token(&new, &client.client_id, T0)
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_token(&new, &client.client_id, T0)
            .await
            .unwrap()
    );
    let after = store.revocations_since(2, 100).await.unwrap();
    assert_eq!(after.entries.len(), 1);
    assert_eq!(
        after.entries[0].seq, 4,
        "the first new entry takes the number after the head"
    );
    assert_eq!(
        store
            .purge_revocations(T0 + 100 + 86_400 + 1)
            .await
            .unwrap(),
        2,
        "the old token and the old client entry are purged by exp"
    );

    let grant = store
        .get_grant("grant_old")
        .await
        .unwrap()
        .expect("the old grant");
    assert_eq!(grant.revoked_at, None);
    assert_eq!(
        grant.resources,
        Vec::<String>::new(),
        "bound to no resource"
    );
    match store.consume_auth_code(&[5; 32], T0 + 1).await.unwrap() {
        ConsumeCode::Consumed(code) => {
            assert_eq!(code.grant_id, "grant_code");
            assert_eq!(code.resources, Vec::<String>::new());
        }
        other => panic!("the old code is there and unused: {other:?}"),
    }
    let refresh = store
        .get_refresh_token(&[9; 32])
        .await
        .unwrap()
        .expect("its token");
    assert_eq!(refresh.access_jti, "jti-grant");
    assert_eq!(
        refresh.dpop_jkt, None,
        "a refresh token from before DPoP is unbound"
    );
    let audit = store
        .list_audit(&Default::default(), None, 10)
        .await
        .unwrap();
    assert_eq!(audit.items.len(), 1);
    assert_eq!(audit.items[0].kind, "client.created");
}

#[tokio::test]
async fn sqlite_database_of_the_0002_schema_migrates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    {
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let old = Migrator::new(old_migrations(dir.path(), "sqlite"))
            .await
            .unwrap();
        old.run_direct(&mut conn).await.unwrap();
        for (sql, blobs) in old_rows() {
            let mut query = sqlx::query(sql);
            for blob in blobs {
                query = query.bind(blob);
            }
            query
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        conn.close().await.unwrap();
    }
    let store = SqliteStore::open(&path)
        .await
        .expect("the old file migrates");
    reads_back(&store).await;
    store.close().await;
    // Opening it again migrates nothing twice.
    let again = SqliteStore::open(&path)
        .await
        .expect("a migrated file opens");
    assert_eq!(again.revocations_since(0, 10).await.unwrap().head, 4);
}

#[tokio::test]
async fn postgres_schema_of_the_0002_schema_migrates() {
    with_postgres_schema("postgres_0002_migrates", |url, schema| async move {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query(&format!("CREATE SCHEMA \"{schema}\""))
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query(&format!("SET search_path = \"{schema}\""))
            .execute(&mut conn)
            .await
            .unwrap();
        let old = Migrator::new(old_migrations(dir.path(), "postgres"))
            .await
            .unwrap();
        old.run_direct(&mut conn).await.unwrap();
        for (sql, blobs) in old_rows() {
            let mut query = sqlx::query(sql);
            for blob in blobs {
                query = query.bind(blob);
            }
            query
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        conn.close().await.unwrap();
        let store = PostgresStore::connect_with_schema(&url, &schema)
            .await
            .expect("the old schema migrates");
        reads_back(&store).await;
        store.close().await;
        let again = PostgresStore::connect_with_schema(&url, &schema)
            .await
            .expect("a migrated schema opens");
        assert_eq!(again.revocations_since(0, 10).await.unwrap().head, 4);
        again.close().await;
    })
    .await;
}
