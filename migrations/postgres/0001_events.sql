-- The event store of brobyg on PostgreSQL.
--
-- `events` is the table postgres-es 0.5.0 reads and writes (same columns, same primary key: a
-- duplicate (aggregate_type, aggregate_id, sequence) is the optimistic-concurrency conflict),
-- plus three columns filled by defaults, which postgres-es never names:
--   global_position  identity: the order of insertion (not of commit);
--   tx_id            the inserting transaction; with the snapshot's xmin it lets a reader
--                    page in commit-safe order (see docs/decisions/0002-feed-cursor.md);
--   recorded_at      when the row was written.
CREATE TABLE events
(
    aggregate_type  text                         NOT NULL,
    aggregate_id    text                         NOT NULL,
    sequence        bigint CHECK (sequence >= 0) NOT NULL,
    event_type      text                         NOT NULL,
    event_version   text                         NOT NULL,
    payload         json                         NOT NULL,
    metadata        json                         NOT NULL,
    global_position bigint GENERATED ALWAYS AS IDENTITY,
    tx_id           xid8                         NOT NULL DEFAULT pg_current_xact_id(),
    recorded_at     timestamptz                  NOT NULL DEFAULT now(),
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

-- The feed reads `(tx_id, global_position) > cursor` in that order.
CREATE UNIQUE INDEX events_feed_order ON events (tx_id, global_position);

-- Events are append-only for the application.
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS
$$
BEGIN
    RAISE EXCEPTION 'events are append-only';
END;
$$;

CREATE TRIGGER events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();

-- Stored cursors of consumers that follow the feed (projections, publishers).
CREATE TABLE feed_checkpoints
(
    consumer   text PRIMARY KEY NOT NULL,
    cursor     text             NOT NULL,
    updated_at timestamptz      NOT NULL DEFAULT now()
);
