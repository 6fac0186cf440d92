-- Webhook subscriptions of integrators, and every delivery attempt. The signing secret is
-- stored sealed with the key-encryption key. Each subscription follows the feed with its own
-- cursor; the event at the cursor is retried with backoff until delivered or the subscription
-- is disabled, so delivery is at least once, in order, with the event's stable id.
CREATE TABLE webhook_subscriptions
(
    id              text PRIMARY KEY NOT NULL,
    org             text NOT NULL,
    created_by      text NOT NULL,
    url             text NOT NULL,
    event_types     text NOT NULL,
    secret_sealed   bytea NOT NULL,
    cursor          text NOT NULL,
    attempts        bigint NOT NULL DEFAULT 0,
    next_attempt_at text,
    disabled_at     text,
    disabled_reason text,
    created_at      text NOT NULL
);

CREATE TABLE webhook_deliveries
(
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id text NOT NULL,
    event_id        text NOT NULL,
    attempt         bigint NOT NULL,
    attempted_at    text NOT NULL,
    status_code     bigint,
    outcome         text NOT NULL,
    error           text
);
CREATE INDEX webhook_deliveries_by_subscription ON webhook_deliveries (subscription_id, id);
