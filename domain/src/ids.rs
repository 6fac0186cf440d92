//! Identifiers: UUID newtypes for everything the service names, and the organisation id.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh random id.
            #[must_use]
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self(Uuid::nil())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// A case (one young person's journey in one programme).
    CaseId
);
uuid_id!(
    /// A person named in a case: the young person or a custody holder; used as grantor id.
    PersonId
);
uuid_id!(
    /// An information item.
    ItemId
);
uuid_id!(
    /// A consent.
    ConsentId
);
uuid_id!(
    /// A concern report (underretning).
    ConcernId
);
uuid_id!(
    /// A partnership agreement.
    AgreementId
);
uuid_id!(
    /// A volunteer.
    VolunteerId
);
uuid_id!(
    /// One disclosure (videregivelse) at a checkpoint.
    DisclosureId
);
uuid_id!(
    /// A meeting of the journey (the pre-meeting or the closing meeting), planned and held.
    MeetingId
);

/// The user who acts (the JWT `sub`). Opaque; never a name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub String);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The kind of an organisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgKind {
    /// A Danish municipality (kommune).
    Municipality,
    /// A civil-society organisation.
    Ngo,
}

/// An organisation: `municipality:<4-digit code>` or `ngo:<slug>`.
///
/// Invariant: a value of this type always has the canonical form, so comparing two `Org`s
/// compares organisations.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Org(String);

/// Why a string is not an organisation id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("organisation must be `municipality:<4 digits>` or `ngo:<slug of a-z, 0-9, ->`, got {0:?}")]
pub struct InvalidOrg(pub String);

impl Org {
    /// The kind of organisation.
    #[must_use]
    pub fn kind(&self) -> OrgKind {
        if self.0.starts_with("municipality:") { OrgKind::Municipality } else { OrgKind::Ngo }
    }

    /// Whether this is a municipality.
    #[must_use]
    pub fn is_municipality(&self) -> bool {
        self.kind() == OrgKind::Municipality
    }

    /// The canonical string form.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Org {
    type Err = InvalidOrg;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = if let Some(code) = s.strip_prefix("municipality:") {
            code.len() == 4 && code.bytes().all(|b| b.is_ascii_digit())
        } else if let Some(slug) = s.strip_prefix("ngo:") {
            !slug.is_empty()
                && slug.len() <= 64
                && !slug.starts_with('-')
                && slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        } else {
            false
        };
        if ok { Ok(Self(s.to_owned())) } else { Err(InvalidOrg(s.to_owned())) }
    }
}

impl TryFrom<String> for Org {
    type Error = InvalidOrg;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Org> for String {
    fn from(o: Org) -> Self {
        o.0
    }
}

impl fmt::Display for Org {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organisation_ids_are_parsed_strictly() {
        assert!("municipality:0746".parse::<Org>().is_ok());
        assert!("ngo:kfum-sa".parse::<Org>().is_ok());
        for bad in ["municipality:746", "municipality:07467", "ngo:", "ngo:KFUM", "ngo:-x", "kfum", ""] {
            assert!(bad.parse::<Org>().is_err(), "{bad} should be refused");
        }
        assert_eq!("ngo:kfum-sa".parse::<Org>().map(|o| o.kind()), Ok(OrgKind::Ngo));
    }
}
