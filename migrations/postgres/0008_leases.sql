-- Leases: a background duty that must run in one replica at a time (the checkpointer, retention,
-- the NATS publisher, each webhook subscription's deliveries) is held by one process until its
-- lease expires; the holder renews it as it works, another replica takes over once it lapses.
CREATE TABLE leases (
    name text PRIMARY KEY,
    holder text NOT NULL,
    expires_at text NOT NULL
);
