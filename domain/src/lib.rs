//! The rules of brobyg as pure, synchronous aggregates.
//!
//! Three aggregates hold every rule of the product:
//! - [`case::Case`]: one young person's journey through one NGO programme, with its
//!   information items, consents, checkpoint disclosures, match and concern reports;
//! - [`agreement::Agreement`]: the partnership agreement between a municipality and an NGO
//!   that says which categories may flow in which direction at which checkpoint;
//! - [`volunteer::Volunteer`]: an NGO volunteer, their vetting and their assignments.
//!
//! Each aggregate exposes `decide(&self, command) -> Result<Vec<Event>, Error>` holding every
//! rule, and `apply(&mut self, &event)` holding none. Time, actor and organisation arrive inside
//! the command: nothing here reads a clock, a database or the network.

pub mod agreement;
pub mod calendar;
pub mod case;
pub mod ids;
pub mod personal;
pub mod vocab;
pub mod volunteer;

pub use ids::*;
pub use personal::Personal;
pub use vocab::*;

/// The version written into every event's `event_version`; bump it per event type when its
/// payload changes shape, and add an upcaster in the store.
pub const EVENT_VERSION: &str = "1";
