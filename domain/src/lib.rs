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

/// Implements `cqrs_es::DomainEvent` and `cqrs_es::Aggregate` for a pure aggregate whose
/// `decide` holds every rule and whose `apply` holds none; its event type has `name()`.
macro_rules! pure_aggregate {
    ($aggregate:ty, $type_name:literal, $command:ty, $event:ty, $error:ty) => {
        impl cqrs_es::DomainEvent for $event {
            fn event_type(&self) -> String {
                self.name().to_owned()
            }

            fn event_version(&self) -> String {
                crate::EVENT_VERSION.to_owned()
            }
        }

        impl cqrs_es::Aggregate for $aggregate {
            const TYPE: &'static str = $type_name;
            type Command = $command;
            type Event = $event;
            type Error = $error;
            type Services = ();

            async fn handle(
                &mut self,
                command: Self::Command,
                _services: &Self::Services,
                sink: &cqrs_es::event_sink::EventSink<Self>,
            ) -> Result<(), Self::Error> {
                for event in self.decide(command)? {
                    sink.write(event, self).await;
                }
                Ok(())
            }

            fn apply(&mut self, event: Self::Event) {
                <$aggregate>::apply(self, &event);
            }
        }
    };
}

pub mod agreement;
pub mod calendar;
pub mod case;
pub mod ids;
pub mod personal;
pub mod vocab;
pub mod volunteer;

pub use ids::*;

/// Which organisations may know that a record exists. Every command and read asks this first,
/// so that a record of another organisation answers exactly as one that does not exist.
pub trait Parties {
    /// Whether `org` is a party to this record; a record that does not exist yet admits anyone
    /// (creating it is then up to the rules).
    fn admits(&self, org: &Org) -> bool;
}

impl Parties for case::Case {
    fn admits(&self, org: &Org) -> bool {
        // A municipality the case moved away from still knows the case: its own records stay.
        self.state.is_none() || self.side_of(org).is_some() || self.moved_away_at(org).is_some()
    }
}

impl Parties for agreement::Agreement {
    fn admits(&self, org: &Org) -> bool {
        self.terms.as_ref().is_none_or(|t| t.side_of(org).is_some())
    }
}

impl Parties for volunteer::Volunteer {
    fn admits(&self, org: &Org) -> bool {
        self.ngo.as_ref().is_none_or(|ngo| ngo == org)
    }
}
pub use personal::Personal;
pub use vocab::*;

/// The version written into every event's `event_version`; bump it per event type when its
/// payload changes shape, and add an upcaster in the store.
pub const EVENT_VERSION: &str = "1";
