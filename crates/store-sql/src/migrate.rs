//! The schema migrations, embedded in the binary: one folder per dialect.
//!
//! sqlx's `migrate!` macro would do the same at the cost of its proc-macro
//! crate (and a second build of the drivers); a [`MigrationSource`] over
//! `include_str!` keeps the build small. Migrations are append-only: never
//! edit one that has shipped, add the next number.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

/// One migration: version, description, SQL.
type Step = (i64, &'static str, &'static str);

#[cfg(feature = "sqlite")]
pub(crate) const SQLITE: &[Step] = &[
    (
        1,
        "initial",
        include_str!("../migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        "user clients",
        include_str!("../migrations/sqlite/0002_user_clients.sql"),
    ),
    (
        3,
        "one revocation log",
        include_str!("../migrations/sqlite/0003_one_revocation_log.sql"),
    ),
    (
        4,
        "bounded audit",
        include_str!("../migrations/sqlite/0004_bounded_audit.sql"),
    ),
    (
        5,
        "public clients and resources",
        include_str!("../migrations/sqlite/0005_public_clients_and_resources.sql"),
    ),
    (
        6,
        "private key jwt",
        include_str!("../migrations/sqlite/0006_private_key_jwt.sql"),
    ),
    (
        7,
        "federated credentials",
        include_str!("../migrations/sqlite/0007_federated_credentials.sql"),
    ),
    (
        8,
        "dpop bound access tokens",
        include_str!("../migrations/sqlite/0008_dpop_bound_access_tokens.sql"),
    ),
    (
        9,
        "token exchange",
        include_str!("../migrations/sqlite/0009_token_exchange.sql"),
    ),
    (
        10,
        "quotas",
        include_str!("../migrations/sqlite/0010_quotas.sql"),
    ),
    (
        11,
        "quota overrides",
        include_str!("../migrations/sqlite/0011_quota_overrides.sql"),
    ),
];

#[cfg(feature = "postgres")]
pub(crate) const POSTGRES: &[Step] = &[
    (
        1,
        "initial",
        include_str!("../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "user clients",
        include_str!("../migrations/postgres/0002_user_clients.sql"),
    ),
    (
        3,
        "one revocation log",
        include_str!("../migrations/postgres/0003_one_revocation_log.sql"),
    ),
    (
        4,
        "bounded audit",
        include_str!("../migrations/postgres/0004_bounded_audit.sql"),
    ),
    (
        5,
        "public clients and resources",
        include_str!("../migrations/postgres/0005_public_clients_and_resources.sql"),
    ),
    (
        6,
        "private key jwt",
        include_str!("../migrations/postgres/0006_private_key_jwt.sql"),
    ),
    (
        7,
        "federated credentials",
        include_str!("../migrations/postgres/0007_federated_credentials.sql"),
    ),
    (
        8,
        "dpop bound access tokens",
        include_str!("../migrations/postgres/0008_dpop_bound_access_tokens.sql"),
    ),
    (
        9,
        "token exchange",
        include_str!("../migrations/postgres/0009_token_exchange.sql"),
    ),
    (
        10,
        "quotas",
        include_str!("../migrations/postgres/0010_quotas.sql"),
    ),
    (
        11,
        "quota overrides",
        include_str!("../migrations/postgres/0011_quota_overrides.sql"),
    ),
];

#[derive(Debug)]
struct Embedded(&'static [Step]);

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        let migrations = self
            .0
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    Cow::Borrowed(sql),
                    false,
                )
            })
            .collect();
        Box::pin(std::future::ready(Ok(migrations)))
    }
}

/// The migrator for one dialect's steps.
pub(crate) async fn migrator(
    steps: &'static [Step],
) -> Result<Migrator, sqlx::migrate::MigrateError> {
    Migrator::new(Embedded(steps)).await
}
