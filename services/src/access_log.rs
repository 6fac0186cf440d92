//! The access-log writer: every read of personal data, and every delivery of it to an
//! integrator (feed page, stream, webhook, NATS), is durable before it leaves.
//!
//! Reads hand their entry to one writer task and wait for its acknowledgement; the writer
//! commits all entries waiting at that moment in one transaction, so under load many reads
//! share one commit, and no read is answered whose entry could still be lost.

use tokio::sync::{mpsc, oneshot};

use crate::store::{AccessEntry, Store};

/// Entries one commit takes at most.
const MAX_BATCH: usize = 512;

type Ack = oneshot::Sender<Result<(), AccessLogError>>;

/// A handle to the writer.
#[derive(Clone, Debug)]
pub struct AccessLog {
    tx: mpsc::Sender<(Vec<AccessEntry>, Ack)>,
}

/// Why an entry may not be durable.
#[derive(Clone, Debug, thiserror::Error)]
pub enum AccessLogError {
    /// The commit of the batch the entry was in failed (the store's error is logged once).
    #[error("the access log could not be written")]
    Commit,
    /// The writer task is gone (the service is stopping).
    #[error("the access log writer stopped")]
    Stopped,
}

impl AccessLog {
    /// Starts the writer; it ends when every handle is dropped.
    #[must_use]
    pub fn spawn(store: Store) -> Self {
        let (tx, mut rx) = mpsc::channel::<(Vec<AccessEntry>, Ack)>(4096);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut size = first.0.len();
                let mut batch = vec![first];
                while size < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(next) => {
                            size += next.0.len();
                            batch.push(next);
                        }
                        Err(_) => break,
                    }
                }
                let entries: Vec<AccessEntry> = batch.iter().flat_map(|(e, _)| e.iter().cloned()).collect();
                let result = store.append_access_log(&entries).await.map_err(|e| {
                    tracing::error!(error = %e, entries = entries.len(), "access log commit failed");
                    AccessLogError::Commit
                });
                for (_, ack) in batch {
                    let _ = ack.send(result.clone());
                }
            }
        });
        Self { tx }
    }

    /// Records one read; returns once it is committed.
    pub async fn record(&self, entry: AccessEntry) -> Result<(), AccessLogError> {
        self.record_all(vec![entry]).await
    }

    /// Records the entries of one response (a feed page: one per case it carries personal data
    /// of) in one commit; returns once they are committed. Nothing to record returns at once.
    pub async fn record_all(&self, entries: Vec<AccessEntry>) -> Result<(), AccessLogError> {
        if entries.is_empty() {
            return Ok(());
        }
        let (ack, done) = oneshot::channel();
        self.tx.send((entries, ack)).await.map_err(|_| AccessLogError::Stopped)?;
        done.await.map_err(|_| AccessLogError::Stopped)?
    }
}
