//! Page sizes, waits and pauses, named once. Each is a bound a caller or an operator may meet,
//! so each has one name and one place.

use std::time::Duration;

/// A list page (caseloads, volunteers) when the caller names no `limit`.
pub const LIST_PAGE_DEFAULT: u32 = 100;
/// The largest list page a caller may ask for.
pub const LIST_PAGE_MAX: u32 = 500;
/// How long a list waits for `min_position` at most.
pub const MIN_POSITION_WAIT: Duration = Duration::from_secs(5);
/// The most concerns one concern list returns.
pub const CONCERN_LIST_MAX: i64 = 1000;
/// The most volunteers one volunteer list returns.
pub const VOLUNTEER_LIST_MAX: i64 = 10_000;

/// An integrator's feed page when the caller names no `limit`.
pub const FEED_PAGE_DEFAULT: usize = 100;
/// The largest feed page an integrator may ask for.
pub const FEED_PAGE_MAX: usize = 1000;
/// The longest long poll (`wait`) on the feed.
pub const LONG_POLL_MAX: Duration = Duration::from_secs(30);
/// How often a waiting long poll or stream looks again without a commit to wake it (a commit
/// becomes visible once older transactions end).
pub const FEED_RECHECK: Duration = Duration::from_millis(200);
/// The page a Server-Sent Events stream reads at once.
pub const STREAM_PAGE: usize = 100;
/// The heartbeat of a Server-Sent Events stream.
pub const STREAM_HEARTBEAT: Duration = Duration::from_secs(15);

/// The feed page background workers (views, checkpointer, verifier) read at once.
pub const WORKER_PAGE: u32 = 1000;
/// The feed page the NATS publisher sends and has acknowledged at once.
pub const NATS_PAGE: u32 = 200;
/// The view runner's and the webhook worker's rest when nothing was new and nothing woke them.
pub const FOLLOWER_IDLE: Duration = Duration::from_millis(250);
/// The NATS publisher's rest when nothing was new and nothing woke it.
pub const NATS_IDLE: Duration = Duration::from_secs(1);
