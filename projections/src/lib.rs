//! Read models of brobyg, as pure folds of events: what a reader may see of a case, and the
//! summaries that lists are built from.
//!
//! Nothing here does IO. The HTTP layer loads events, calls these functions, and stores or
//! returns what they produce.

pub mod case_view;
pub mod caseload;
pub mod feed;
pub mod matching;
pub mod policy;
pub mod statistics;
pub mod summaries;
pub mod waiting;
