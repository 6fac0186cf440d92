-- The access log (adgangslog): every read of personal data, durable before the response
-- leaves. Who (user, organisation, role), which case, which categories were shown, for which
-- purpose, through which endpoint, when. Append-only: the trigger refuses changes.
CREATE TABLE access_log
(
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id     text   NOT NULL,
    reader_sub  text   NOT NULL,
    reader_org  text   NOT NULL,
    reader_role text   NOT NULL,
    purpose     text   NOT NULL,
    categories  text   NOT NULL,
    endpoint    text   NOT NULL,
    read_at     text   NOT NULL
);
CREATE INDEX access_log_by_case ON access_log (case_id, id);

CREATE FUNCTION access_log_append_only() RETURNS trigger LANGUAGE plpgsql AS
$$
BEGIN
    RAISE EXCEPTION 'the access log is append-only';
END;
$$;

CREATE TRIGGER access_log_no_update_or_delete
    BEFORE UPDATE OR DELETE ON access_log
    FOR EACH ROW EXECUTE FUNCTION access_log_append_only();
