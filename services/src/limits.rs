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
/// The first re-check of a waiting long poll or stream while an event committed before it is
/// not yet visible (on PostgreSQL it shows once older transactions end, and their end wakes
/// nobody); each further one waits twice as long, up to `FEED_RECHECK_PENDING_MAX`.
pub const FEED_RECHECK_PENDING: Duration = Duration::from_millis(10);
/// The longest re-check while an event is committed but not yet visible: what it adds at most
/// to commit-to-feed (target under 100 ms). Each re-check is one query of two index probes.
pub const FEED_RECHECK_PENDING_MAX: Duration = Duration::from_millis(20);
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

/// Long polls and streams an organisation may hold open at once (`BROBYG_MAX_STREAMS_PER_ORG`
/// overrides): one integrator cannot take every connection.
pub const STREAMS_PER_ORG_DEFAULT: usize = 16;
/// What a caller refused for too many open streams is told to wait before it tries again.
pub const STREAMS_RETRY_AFTER: Duration = Duration::from_secs(2);

/// Slots for long polls and streams, counted per organisation.
#[derive(Clone, Debug)]
pub struct OrgSlots {
    max: usize,
    held: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
}

/// A slot held while a long poll or stream is open; dropping it gives it back.
#[derive(Debug)]
pub struct Slot {
    org: String,
    held: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
}

impl OrgSlots {
    /// At most `max` slots per organisation (at least one).
    #[must_use]
    pub fn new(max: usize) -> Self {
        Self { max: max.max(1), held: std::sync::Arc::default() }
    }

    /// The most slots one organisation may hold.
    #[must_use]
    pub fn max(&self) -> usize {
        self.max
    }

    /// A slot for `org`, unless it holds every one already.
    #[must_use]
    pub fn try_take(&self, org: &str) -> Option<Slot> {
        let mut held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = held.entry(org.to_owned()).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(Slot { org: org.to_owned(), held: self.held.clone() })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = held.get_mut(&self.org) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.remove(&self.org);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_per_organisation_and_given_back_on_drop() {
        let slots = OrgSlots::new(2);
        let a = slots.try_take("municipality:0746").expect("first");
        let _b = slots.try_take("municipality:0746").expect("second");
        assert!(slots.try_take("municipality:0746").is_none(), "a third is refused");
        assert!(slots.try_take("ngo:kfum-sa").is_some(), "another organisation is not affected");
        drop(a);
        assert!(slots.try_take("municipality:0746").is_some(), "a slot given back can be taken");
    }
}
