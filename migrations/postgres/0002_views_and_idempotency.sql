-- List views, fed from the global feed by the view runner (services/src/views.rs). They hold
-- no personal data: ids, organisations, states, times. Times are RFC 3339 UTC text with a
-- fixed width so that text order is time order. Each batch of changes is written in one
-- transaction with the runner's cursor in feed_checkpoints ('views'), so a crash neither loses
-- nor repeats a change; `brobyg replay` rebuilds them from the feed.
CREATE TABLE case_summaries
(
    case_id      text PRIMARY KEY NOT NULL,
    municipality text             NOT NULL,
    ngo          text,
    programme    text,
    state        text             NOT NULL,
    version      bigint           NOT NULL,
    opened_at    text             NOT NULL,
    updated_at   text             NOT NULL
);
CREATE INDEX case_summaries_by_municipality ON case_summaries (municipality, opened_at, case_id);
CREATE INDEX case_summaries_by_ngo ON case_summaries (ngo, opened_at, case_id);

CREATE TABLE volunteer_summaries
(
    volunteer_id text PRIMARY KEY NOT NULL,
    ngo          text             NOT NULL,
    status       text             NOT NULL,
    capacity     bigint           NOT NULL,
    assignments  bigint           NOT NULL,
    version      bigint           NOT NULL
);
CREATE INDEX volunteer_summaries_by_ngo ON volunteer_summaries (ngo, volunteer_id);

CREATE TABLE concern_summaries
(
    concern_id      text PRIMARY KEY NOT NULL,
    case_id         text             NOT NULL,
    reporter_org    text             NOT NULL,
    reported_to     text             NOT NULL,
    reported_at     text             NOT NULL,
    assessment_due  text             NOT NULL,
    receipt_due     text             NOT NULL,
    acknowledged_at text
);
CREATE INDEX concern_summaries_by_reported_to ON concern_summaries (reported_to, reported_at);
CREATE INDEX concern_summaries_by_reporter ON concern_summaries (reporter_org, reported_at);

-- Idempotency-Key: the first response to a (caller, key) is kept and replayed for a retry
-- with the same request; the same key with another request is refused. A row with a NULL
-- status is a request still being processed.
CREATE TABLE idempotency_keys
(
    org          text   NOT NULL,
    sub          text   NOT NULL,
    key          text   NOT NULL,
    request_hash text   NOT NULL,
    status       bigint,
    headers      text,
    body         bytea,
    created_at   text   NOT NULL,
    PRIMARY KEY (org, sub, key)
);
