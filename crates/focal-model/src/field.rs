//! IntelMQ's harmonised field names, as the one vocabulary for mapping feeds and writing filters.

use std::fmt;
use std::str::FromStr;

/// A field of an [`crate::Event`], named as in IntelMQ's `harmonization.conf`.
/// `Extra(name)` is `extra.<name>`: anything a feed carries that has no harmonised field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Field {
    TimeSource,
    TimeObservation,
    FeedName,
    FeedProvider,
    FeedUrl,
    SourceIp,
    SourcePort,
    SourceAsn,
    SourceAsName,
    SourceNetwork,
    SourceCountry,
    SourceFqdn,
    SourceUrl,
    DestinationIp,
    DestinationPort,
    DestinationFqdn,
    ProtocolTransport,
    ProtocolApplication,
    MalwareName,
    ClassificationTaxonomy,
    ClassificationType,
    ClassificationIdentifier,
    Comment,
    Raw,
    Tlp,
    Constituent,
    Extra(String),
}

const NAMED: &[(Field, &str)] = &[
    (Field::TimeSource, "time.source"),
    (Field::TimeObservation, "time.observation"),
    (Field::FeedName, "feed.name"),
    (Field::FeedProvider, "feed.provider"),
    (Field::FeedUrl, "feed.url"),
    (Field::SourceIp, "source.ip"),
    (Field::SourcePort, "source.port"),
    (Field::SourceAsn, "source.asn"),
    (Field::SourceAsName, "source.as_name"),
    (Field::SourceNetwork, "source.network"),
    (Field::SourceCountry, "source.geolocation.cc"),
    (Field::SourceFqdn, "source.fqdn"),
    (Field::SourceUrl, "source.url"),
    (Field::DestinationIp, "destination.ip"),
    (Field::DestinationPort, "destination.port"),
    (Field::DestinationFqdn, "destination.fqdn"),
    (Field::ProtocolTransport, "protocol.transport"),
    (Field::ProtocolApplication, "protocol.application"),
    (Field::MalwareName, "malware.name"),
    (Field::ClassificationTaxonomy, "classification.taxonomy"),
    (Field::ClassificationType, "classification.type"),
    (Field::ClassificationIdentifier, "classification.identifier"),
    (Field::Comment, "comment"),
    (Field::Raw, "raw"),
    (Field::Tlp, "tlp"),
    (Field::Constituent, "constituent"),
];

impl Field {
    /// The harmonised name, e.g. `source.geolocation.cc` or `extra.sbl_id`.
    pub fn name(&self) -> std::borrow::Cow<'static, str> {
        match self {
            Field::Extra(name) => format!("extra.{name}").into(),
            known => NAMED
                .iter()
                .find(|(f, _)| f == known)
                .map(|(_, n)| (*n).into())
                .unwrap_or_else(|| unreachable!("every non-extra field is in NAMED")),
        }
    }

    /// All harmonised names Focal understands (for error messages and docs).
    pub fn known_names() -> impl Iterator<Item = &'static str> {
        NAMED.iter().map(|(_, n)| *n)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// The name is not a harmonised field and not `extra.*`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown field {0:?}: use a harmonised IntelMQ name (e.g. source.ip, malware.name) or extra.<name>"
)]
pub struct UnknownField(pub String);

impl FromStr for Field {
    type Err = UnknownField;
    fn from_str(text: &str) -> Result<Self, UnknownField> {
        if let Some((field, _)) = NAMED.iter().find(|(_, n)| *n == text) {
            return Ok(field.clone());
        }
        // IntelMQ spells the country both ways in different places; accept the long form too.
        if text == "source.geolocation.country_code" {
            return Ok(Field::SourceCountry);
        }
        match text.strip_prefix("extra.") {
            Some(rest) if !rest.is_empty() => Ok(Field::Extra(rest.to_string())),
            _ => Err(UnknownField(text.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in Field::known_names() {
            assert_eq!(name.parse::<Field>().unwrap().name(), name);
        }
        assert_eq!(
            "extra.sbl_id".parse::<Field>().unwrap(),
            Field::Extra("sbl_id".into())
        );
        assert!("source.ipaddr".parse::<Field>().is_err());
        assert!("extra.".parse::<Field>().is_err());
    }
}
