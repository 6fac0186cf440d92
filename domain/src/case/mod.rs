//! The case journey (DESIGN §3): one young person's course in one NGO programme.
//!
//! ```text
//! opened ─refer─▶ referred ─accept─▶ accepted ─pre-meeting─▶ awaiting_match ─match─▶ in_course
//!                    │ decline                                   ▲   end match   │
//!                    ▼                                           └───────────────┘
//!                 declined       in_course (or awaiting_match after a match) ─closing meeting─▶ closed
//! withdraw (either party) / redirect (the caseworker): from any open state
//! meetings are planned, moved or missed beside the states; measures and a follow-up after closed
//! ```
//!
//! Knowledge crosses the organisational border only through [`CaseEvent::InformationDisclosed`],
//! and only at the three checkpoints, when the agreement lets the category flow in that direction
//! and a consent active at that moment covers the recipient, the category and a purpose of the
//! flow. A concern report needs no consent: it reaches the municipality by the reporting duty.

mod actions;
mod decide;
mod errors;
mod events;
mod model;

pub use actions::*;
pub use errors::*;
pub use events::*;
pub use model::*;

/// Hours within which the municipality assesses a concern (Barnets lov § 136).
pub const ASSESSMENT_HOURS: i64 = 24;
/// Working days within which the municipality acknowledges a professional's concern (§ 137).
pub const RECEIPT_WORKING_DAYS: u32 = 6;
/// Days after a meeting within which a party records what it disclosed there.
pub const DISCLOSURE_DAYS_AFTER_MEETING: i64 = 7;

pure_aggregate!(Case, "case", CaseCommand, CaseEvent, CaseError);

#[cfg(test)]
pub(crate) mod tests;
