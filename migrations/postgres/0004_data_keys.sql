-- Sealing personal data at rest (crypto-shredding).
--
-- data_keys: one AES-256-GCM data key per (aggregate, organisation that wrote the data),
-- key_id = '<aggregate_type>:<aggregate_id>:<org>'. The key is stored wrapped (encrypted) by the
-- key-encryption key from configuration, which never enters the database. Erasure sets
-- wrapped_key to NULL: every value sealed under it then reads as erased, everywhere.
CREATE TABLE data_keys
(
    key_id           text PRIMARY KEY NOT NULL,
    wrapped_key      bytea,
    created_at       text             NOT NULL,
    destroyed_at     text,
    destroyed_reason text
);

-- A known value sealed by the key-encryption key on first start: a wrong key is found at
-- start instead of serving garbage.
CREATE TABLE kek_check
(
    id     integer PRIMARY KEY CHECK (id = 1),
    sealed bytea NOT NULL
);

-- The young person of each case, so a subject id leads to its case (export, erasure).
ALTER TABLE case_summaries ADD COLUMN young_person_id text;
CREATE INDEX case_summaries_by_young_person ON case_summaries (young_person_id);
