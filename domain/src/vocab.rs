//! The closed vocabularies of the product: categories, checkpoints, purposes, roles, states.
//!
//! Every enum here is matched exhaustively elsewhere, so adding a variant fails to compile until
//! someone decides what it means for every rule and every reader.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{Org, UserId};

macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The wire name.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary!(
    /// Information categories (closed set). `Health` and `Family` are sensitive.
    Category {
        Identity = "identity",
        Contact = "contact",
        Practical = "practical",
        School = "school",
        Family = "family",
        Health = "health",
        Background = "background",
        Wishes = "wishes",
        Development = "development",
        Outcome = "outcome",
    }
);

impl Category {
    /// Sensitive categories (special categories of personal data).
    #[must_use]
    pub fn is_sensitive(self) -> bool {
        matches!(self, Self::Health | Self::Family)
    }
}

vocabulary!(
    /// The three fixed points where knowledge crosses the organisational border.
    Checkpoint {
        /// Henvisning.
        Referral = "referral",
        /// Forsamtale.
        PreMeeting = "pre_meeting",
        /// Afsluttende samtale.
        ClosingMeeting = "closing_meeting",
    }
);

vocabulary!(
    /// Why information is shared.
    Purpose {
        Referral = "referral",
        CoursePlanning = "course_planning",
        Matching = "matching",
        ClosingEvaluation = "closing_evaluation",
        Statistics = "statistics",
    }
);

vocabulary!(
    /// The role a user acts in (JWT `roles`).
    Role {
        Caseworker = "caseworker",
        Coordinator = "coordinator",
        Auditor = "auditor",
        Integrator = "integrator",
        Admin = "admin",
    }
);

vocabulary!(
    /// The role a consent names as recipient.
    RecipientRole {
        Coordinator = "coordinator",
        Volunteer = "volunteer",
        Caseworker = "caseworker",
    }
);

vocabulary!(
    /// The direction of a flow between the two parties of an agreement.
    Side {
        Municipality = "municipality",
        Ngo = "ngo",
    }
);

vocabulary!(
    /// Grounds of a concern report.
    Ground {
        NeedsSupport = "needs_support",
        SchoolAbsence = "school_absence",
        Abuse = "abuse",
        Neglect = "neglect",
    }
);

vocabulary!(
    /// The reporting duty of the person behind a concern report.
    Duty {
        /// Skærpet underretningspligt, Barnets lov § 133.
        Heightened = "heightened",
        /// Almindelig underretningspligt, Barnets lov § 134.
        General = "general",
    }
);

vocabulary!(
    /// The states of a case journey (DESIGN §3).
    CaseState {
        Opened = "opened",
        Referred = "referred",
        Accepted = "accepted",
        AwaitingMatch = "awaiting_match",
        InCourse = "in_course",
        Closed = "closed",
        Declined = "declined",
        Withdrawn = "withdrawn",
        Redirected = "redirected",
    }
);

impl CaseState {
    /// Whether the journey has ended.
    #[must_use]
    pub fn is_final(self) -> bool {
        matches!(self, Self::Closed | Self::Declined | Self::Withdrawn | Self::Redirected)
    }
}

vocabulary!(
    /// Who may take part in a meeting.
    Participant {
        Coordinator = "coordinator",
        Caseworker = "caseworker",
        YoungPerson = "young_person",
        CustodyHolder = "custody_holder",
        Volunteer = "volunteer",
    }
);

vocabulary!(
    /// When a measure was taken (baseline at the pre-meeting, at closing, a follow-up months
    /// after closing).
    MeasurePoint {
        Baseline = "baseline",
        Closing = "closing",
        FollowUp = "follow_up",
    }
);

vocabulary!(
    /// Who withdrew from the course.
    WithdrawnBy {
        YoungPerson = "young_person",
        CustodyHolder = "custody_holder",
        Family = "family",
    }
);

impl Side {
    /// The side an organisation is on.
    #[must_use]
    pub fn of(org: &Org) -> Self {
        if org.is_municipality() { Self::Municipality } else { Self::Ngo }
    }

    /// The staff role that works a case on this side: the caseworker in a municipality, the
    /// project coordinator in an NGO.
    #[must_use]
    pub fn working_role(self) -> Role {
        match self {
            Self::Municipality => Role::Caseworker,
            Self::Ngo => Role::Coordinator,
        }
    }

    /// The role that receives what is disclosed to this side, as a consent names it: the
    /// working role.
    #[must_use]
    pub fn receiving_role(self) -> RecipientRole {
        match self {
            Self::Municipality => RecipientRole::Caseworker,
            Self::Ngo => RecipientRole::Coordinator,
        }
    }
}

/// Who acts, in which organisation and role, and when. Every command carries one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The user (JWT `sub`).
    pub user: UserId,
    /// The user's organisation.
    pub org: Org,
    /// The role the user acts in for this command.
    pub role: Role,
    /// When the command was given.
    pub at: DateTime<Utc>,
}
