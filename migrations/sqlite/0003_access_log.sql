-- The access log (adgangslog): every read of personal data, durable before the response
-- leaves. Who (user, organisation, role), which case, which categories were shown, for which
-- purpose, through which endpoint, when. Append-only: the triggers refuse changes.
CREATE TABLE access_log
(
    id          integer PRIMARY KEY AUTOINCREMENT,
    case_id     text    NOT NULL,
    reader_sub  text    NOT NULL,
    reader_org  text    NOT NULL,
    reader_role text    NOT NULL,
    purpose     text    NOT NULL,
    categories  text    NOT NULL,
    endpoint    text    NOT NULL,
    read_at     text    NOT NULL
) STRICT;
CREATE INDEX access_log_by_case ON access_log (case_id, id);

CREATE TRIGGER access_log_no_update BEFORE UPDATE ON access_log
BEGIN
    SELECT RAISE(ABORT, 'the access log is append-only');
END;

CREATE TRIGGER access_log_no_delete BEFORE DELETE ON access_log
BEGIN
    SELECT RAISE(ABORT, 'the access log is append-only');
END;
