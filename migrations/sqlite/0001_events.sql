-- The event store of brobyg on SQLite (the embedded default).
--
-- `events` is the table sqlite-es 0.5.0 reads and writes (same columns, same primary key: a
-- duplicate (aggregate_type, aggregate_id, sequence) is the optimistic-concurrency conflict).
CREATE TABLE events
(
    aggregate_type text                          NOT NULL,
    aggregate_id   text                          NOT NULL,
    sequence       integer CHECK (sequence >= 0) NOT NULL,
    event_type     text                          NOT NULL,
    event_version  text                          NOT NULL,
    payload        text                          NOT NULL,
    metadata       text                          NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
) STRICT;

-- The global order. SQLite has one writer at a time, so positions handed out by AUTOINCREMENT
-- inside the writing transaction commit in position order: a reader paging by position never
-- skips an event. A rolled-back insert rolls back its position too (sqlite_sequence is
-- transactional), so the feed has no holes.
CREATE TABLE event_feed
(
    position       integer PRIMARY KEY AUTOINCREMENT,
    aggregate_type text    NOT NULL,
    aggregate_id   text    NOT NULL,
    sequence       integer NOT NULL,
    recorded_at    text    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (aggregate_type, aggregate_id, sequence)
) STRICT;

CREATE TRIGGER events_feed_after_insert
    AFTER INSERT ON events
BEGIN
    INSERT INTO event_feed (aggregate_type, aggregate_id, sequence)
    VALUES (NEW.aggregate_type, NEW.aggregate_id, NEW.sequence);
END;

-- Events are never changed or deleted through the application; these triggers make an
-- accidental UPDATE or DELETE fail loudly. (Tamper evidence against deliberate edits is the
-- hash chain's job.)
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;

CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;

-- Stored cursors of consumers that follow the feed (projections, publishers).
CREATE TABLE feed_checkpoints
(
    consumer   text PRIMARY KEY NOT NULL,
    cursor     text             NOT NULL,
    updated_at text             NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
