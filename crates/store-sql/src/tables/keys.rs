//! `signing_keys`: the key ring.
//!
//! `save_key_ring` is compare-and-swap: in one write transaction it reads the
//! `key_ring` row of `store_locks` with
//! [`FOR_UPDATE`](crate::dialect::Dialect::FOR_UPDATE) (so savers take
//! turns even when the ring is empty), compares the stored kids, and only
//! then replaces the ring and appends the killed key's revocation.

use m2m_core::{Algorithm, KeySchedule, PublicJwk, RevokedKey};
use m2m_issuer::store::{StoreError, StoreResult, StoredKey};

use crate::backend::{Backend, commit, execute, fetch_all, fetch_one};
use crate::dialect::{Dialect, Sql};
use crate::rows::{RowExt, from_db, json_text, opt_from_db, opt_to_db, parse_json, to_db};
use crate::tables::revocations;

const LOCK_RING: &str = "SELECT name FROM store_locks WHERE name = 'key_ring'";

const LIST_KEYS: &str = "SELECT kid, alg, encrypted_private_key, public_jwk, created_at, \
    signs_from, signs_until, published_until FROM signing_keys ORDER BY created_at, kid";

const LIST_KIDS: &str = "SELECT kid FROM signing_keys";

const DELETE_KEY: &str = "DELETE FROM signing_keys WHERE kid = $1";

const UPSERT_KEY: &str = "INSERT INTO signing_keys (kid, alg, encrypted_private_key, \
    public_jwk, created_at, signs_from, signs_until, published_until) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
    ON CONFLICT (kid) DO UPDATE SET alg = excluded.alg, \
    encrypted_private_key = excluded.encrypted_private_key, public_jwk = excluded.public_jwk, \
    created_at = excluded.created_at, signs_from = excluded.signs_from, \
    signs_until = excluded.signs_until, published_until = excluded.published_until";

/// A key's columns, converted before anything is written.
struct KeyParams<'a> {
    key: &'a StoredKey,
    public_jwk: String,
    created_at: i64,
    signs_from: i64,
    signs_until: Option<i64>,
    published_until: Option<i64>,
}

impl<'a> KeyParams<'a> {
    fn new(key: &'a StoredKey) -> StoreResult<Self> {
        let schedule = &key.schedule;
        Ok(KeyParams {
            key,
            public_jwk: json_text(&key.public_jwk, "public_jwk")?,
            created_at: to_db(schedule.created_at, "key created_at")?,
            signs_from: to_db(schedule.signs_from, "key signs_from")?,
            signs_until: opt_to_db(schedule.signs_until, "key signs_until")?,
            published_until: opt_to_db(schedule.published_until, "key published_until")?,
        })
    }

    fn upsert(&'a self) -> Sql<'a> {
        Sql::new(UPSERT_KEY)
            .bind(self.key.kid.as_str())
            .bind(self.key.alg.as_str())
            .bind(self.key.encrypted_private_key.as_slice())
            .bind(&self.public_jwk)
            .bind(self.created_at)
            .bind(self.signs_from)
            .bind(self.signs_until)
            .bind(self.published_until)
    }
}

fn key_from_row(row: &impl RowExt) -> StoreResult<StoredKey> {
    let kid = row.text("kid")?;
    let what = |column: &str| format!("signing_keys.{column} of {kid}");
    let alg = row.text("alg")?;
    let alg = Algorithm::from_name(&alg)
        .ok_or_else(|| StoreError::Corrupt(format!("{}: unknown `{alg}`", what("alg"))))?;
    let public_jwk: PublicJwk = parse_json(&row.text("public_jwk")?, &what("public_jwk"))?;
    let schedule = KeySchedule {
        created_at: from_db(row.int("created_at")?, &what("created_at"))?,
        signs_from: from_db(row.int("signs_from")?, &what("signs_from"))?,
        signs_until: opt_from_db(row.opt_int("signs_until")?, &what("signs_until"))?,
        published_until: opt_from_db(row.opt_int("published_until")?, &what("published_until"))?,
    };
    Ok(StoredKey {
        alg,
        encrypted_private_key: row.blob("encrypted_private_key")?,
        public_jwk,
        schedule,
        kid,
    })
}

/// Whether the stored kids are exactly the expected ones, in any order.
fn same_kids(mut stored: Vec<String>, expected: &[String]) -> bool {
    let mut expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    stored.sort_unstable();
    stored.dedup();
    expected.sort_unstable();
    let distinct = expected.len();
    expected.dedup();
    // A kid expected twice cannot match a set of stored kids.
    distinct == expected.len() && stored.iter().map(String::as_str).eq(expected)
}

impl<D: Dialect> Backend<D> {
    pub(crate) async fn list_keys(&self) -> StoreResult<Vec<StoredKey>> {
        let mut conn = self.conn().await?;
        fetch_all::<D>(&mut conn, Sql::new(LIST_KEYS))
            .await?
            .iter()
            .map(key_from_row)
            .collect()
    }

    pub(crate) async fn save_key_ring(
        &self,
        keys: &[StoredKey],
        expected_kids: &[String],
        revoked: Option<&RevokedKey>,
    ) -> StoreResult<bool> {
        let params = keys
            .iter()
            .map(KeyParams::new)
            .collect::<StoreResult<Vec<_>>>()?;
        let mut tx = self.write().await?;
        fetch_one::<D>(&mut tx, Sql::new(format!("{LOCK_RING}{}", D::FOR_UPDATE))).await?;
        let stored = fetch_all::<D>(&mut tx, Sql::new(LIST_KIDS))
            .await?
            .iter()
            .map(|row| row.text("kid"))
            .collect::<StoreResult<Vec<String>>>()?;
        if !same_kids(stored.clone(), expected_kids) {
            return Ok(false);
        }
        for kid in stored
            .iter()
            .filter(|kid| !keys.iter().any(|k| &k.kid == *kid))
        {
            execute::<D>(&mut tx, Sql::new(DELETE_KEY).bind(kid)).await?;
        }
        for key in &params {
            execute::<D>(&mut tx, key.upsert()).await?;
        }
        if let Some(revoked) = revoked {
            let mut log = revocations::lock::<D>(&mut tx).await?;
            log.append_key::<D>(&mut tx, revoked).await?;
        }
        commit(tx).await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::same_kids;

    fn kids(kids: &[&str]) -> Vec<String> {
        kids.iter().map(|k| (*k).to_owned()).collect()
    }

    #[test]
    fn kids_match_as_sets_in_any_order() {
        assert!(same_kids(kids(&["a", "b"]), &kids(&["b", "a"])));
        assert!(same_kids(vec![], &[]));
        assert!(!same_kids(kids(&["a", "b"]), &kids(&["a"])));
        assert!(!same_kids(kids(&["a"]), &kids(&["a", "b"])));
        assert!(
            !same_kids(kids(&["a"]), &kids(&["a", "a"])),
            "a kid expected twice is not the stored set (MemoryStore refuses it too)"
        );
    }
}
