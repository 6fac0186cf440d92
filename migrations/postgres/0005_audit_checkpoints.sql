-- Signed checkpoints over the feed: every so many events the checkpointer signs (ed25519) the
-- position it reached, how many events the feed held up to there, and the running hash over
-- their chain hashes. `brobyg audit verify` recomputes all of it; a deleted, changed or
-- reordered event, or a truncated feed, no longer matches what was signed.
CREATE TABLE audit_checkpoints
(
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    position    text   NOT NULL,
    event_count bigint NOT NULL,
    feed_hash   text   NOT NULL,
    signed_at   text   NOT NULL,
    public_key  text   NOT NULL,
    signature   text   NOT NULL
);
