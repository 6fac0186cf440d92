//! Leases: one replica at a time holds a background duty until its lease expires (migration
//! 0008). Renewed by the holder as it works; taken over by another once it lapses.

use chrono::{DateTime, TimeDelta, Utc};

use super::sql::{Statement, time_text};
use super::{Store, StoreError};

impl Store {
    /// Takes or renews the lease `name` for `holder` until `now + ttl`; whether `holder` holds it
    /// now. Another holder's lease is taken only once it has expired.
    pub async fn hold_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: TimeDelta,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let changed = self
            .run_one(Statement::new(
                "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
                 WHERE leases.holder = excluded.holder OR leases.expires_at < $4",
                vec![name.into(), holder.into(), time_text(now + ttl).into(), time_text(now).into()],
            ))
            .await?;
        Ok(changed > 0)
    }

    /// Gives the lease `name` up, if `holder` holds it (on a clean stop, so another replica need
    /// not wait for it to expire).
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.run_one(Statement::new(
            "DELETE FROM leases WHERE name = $1 AND holder = $2",
            vec![name.into(), holder.into()],
        ))
        .await
        .map(drop)
    }

    /// Gives up every lease `holder` holds (a replica stopping cleanly: its duties pass to
    /// another at once instead of after the leases expire).
    pub async fn release_leases_of(&self, holder: &str) -> Result<u64, StoreError> {
        self.run_one(Statement::new("DELETE FROM leases WHERE holder = $1", vec![holder.into()])).await
    }
}
