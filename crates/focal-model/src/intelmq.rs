//! IntelMQ's JSON event format: one flat object with dotted harmonised keys (`"source.ip"`,
//! `"extra.foo"`), `"__type": "Event"`, times in UTC with `+00:00`, and `raw` in Base64.
//!
//! Two Focal values have no IntelMQ field. The constituent goes to `extra.constituent`; the
//! exact TLP 2.0 label goes to `extra.tlp`, while `tlp` carries the 1.0 colour that IntelMQ
//! accepts (never a wider one, see [`crate::Tlp::intelmq_label`]). On the way in, `extra.tlp`
//! wins over `tlp` and `extra.constituent` becomes the constituent again, so a round trip is exact.

use crate::{ClassificationType, Event, Field, Tlp, ValueError};
use base64::Engine;
use jiff::Timestamp;
use serde_json::{Map, Value};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The harmonised fields of an event, in IntelMQ's usual order (`tlp`, `extra.*` and `raw` aside).
pub const FIELDS: &[Field] = &[
    Field::FeedName,
    Field::FeedProvider,
    Field::FeedUrl,
    Field::TimeSource,
    Field::TimeObservation,
    Field::ClassificationTaxonomy,
    Field::ClassificationType,
    Field::ClassificationIdentifier,
    Field::SourceIp,
    Field::SourcePort,
    Field::SourceNetwork,
    Field::SourceAsn,
    Field::SourceAsName,
    Field::SourceCountry,
    Field::SourceFqdn,
    Field::SourceUrl,
    Field::DestinationIp,
    Field::DestinationPort,
    Field::DestinationFqdn,
    Field::ProtocolTransport,
    Field::ProtocolApplication,
    Field::MalwareName,
    Field::Comment,
];

/// The event as an IntelMQ JSON object.
pub fn to_json(event: &Event) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("__type".into(), "Event".into());
    for field in FIELDS {
        let Some(text) = event.get_text(field) else {
            continue;
        };
        let value = match field {
            Field::SourcePort | Field::DestinationPort | Field::SourceAsn => text
                .parse::<u64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::String(text.into_owned())),
            _ => Value::String(text.into_owned()),
        };
        out.insert(field.name().into_owned(), value);
    }
    out.insert("tlp".into(), event.tlp.intelmq_label().into());
    for (key, value) in &event.extra {
        out.insert(format!("extra.{key}"), value.clone());
    }
    out.insert("extra.tlp".into(), event.tlp.label().into());
    if let Some(c) = &event.constituent {
        out.insert("extra.constituent".into(), c.to_string().into());
    }
    if !event.id.is_nil() {
        out.insert("extra.focal_event_id".into(), event.id.to_string().into());
    }
    if let Some(raw) = &event.raw {
        out.insert("raw".into(), B64.encode(raw).into());
    }
    out
}

/// Why an IntelMQ JSON object could not become an event.
#[derive(Debug, thiserror::Error)]
pub enum IntelMqError {
    #[error("field {field:?}: {source}")]
    Value { field: String, source: ValueError },
    #[error("field {0:?}: {1}")]
    Field(String, String),
    #[error("the object has no {0:?}, which Focal requires")]
    Missing(&'static str),
}

/// Reads an IntelMQ JSON event (flat, dotted keys). Unknown non-`extra.` keys are refused, as IntelMQ does.
pub fn from_json(
    object: &Map<String, Value>,
    observed_default: Timestamp,
) -> Result<Event, IntelMqError> {
    let text = |key: &str| -> Option<String> {
        object.get(key).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    let type_: ClassificationType = match text("classification.type") {
        Some(t) => t.parse().map_err(|source| IntelMqError::Value {
            field: "classification.type".into(),
            source,
        })?,
        None => ClassificationType::Undetermined,
    };
    let feed = text("feed.name").ok_or(IntelMqError::Missing("feed.name"))?;
    let mut event = Event::new(feed.into(), observed_default, type_);
    let mut tlp2: Option<Tlp> = None;
    for (key, value) in object {
        if key == "__type" || key == "classification.type" || key == "feed.name" {
            continue;
        }
        let value_text = match value {
            Value::String(s) => s.clone(),
            Value::Null => continue,
            other => other.to_string(),
        };
        let wrap = |source| IntelMqError::Value {
            field: key.clone(),
            source,
        };
        match key.as_str() {
            "raw" => {
                let bytes = B64
                    .decode(value_text.as_bytes())
                    .map_err(|e| IntelMqError::Field(key.clone(), format!("not Base64: {e}")))?;
                event.raw = Some(bytes);
            }
            "extra.tlp" => tlp2 = Some(value_text.parse().map_err(wrap)?),
            "extra.constituent" => event.constituent = Some(value_text.into()),
            "extra.focal_event_id" => {
                event.id = value_text
                    .parse()
                    .map_err(|e| IntelMqError::Field(key.clone(), format!("not a UUID: {e}")))?
            }
            _ => {
                let field: Field = key.parse().map_err(|e: crate::field::UnknownField| {
                    IntelMqError::Field(key.clone(), e.to_string())
                })?;
                match field {
                    Field::Extra(name) => {
                        event.extra.insert(name, value.clone());
                    }
                    other => event.set_text(&other, &value_text).map_err(wrap)?,
                }
            }
        }
    }
    if let Some(t) = tlp2 {
        event.tlp = t;
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_every_field() {
        let mut e = Event::new(
            "drones".into(),
            "2026-11-24T00:00:00Z".parse().unwrap(),
            ClassificationType::InfectedSystem,
        );
        for (f, v) in [
            ("source.ip", "2001:db8::1"),
            ("source.port", "4444"),
            ("source.asn", "64500"),
            ("source.as_name", "Example Net"),
            ("source.network", "2001:db8::/32"),
            ("source.geolocation.cc", "at"),
            ("source.fqdn", "Host.Example."),
            ("destination.ip", "192.0.2.10"),
            ("destination.port", "80"),
            ("protocol.transport", "tcp"),
            ("malware.name", "mirai"),
            ("time.source", "2026-11-23T10:00:00Z"),
            ("extra.sbl_id", "SBL1"),
        ] {
            e.set_text(&f.parse().unwrap(), v).unwrap();
        }
        e.tlp = Tlp::AmberStrict;
        e.constituent = Some("org-1".into());
        e.raw = Some(b"a,b,\xff".to_vec());
        let json = to_json(&e);
        assert_eq!(json["tlp"], "RED");
        assert_eq!(json["extra.tlp"], "TLP:AMBER+STRICT");
        assert_eq!(json["time.source"], "2026-11-23T10:00:00+00:00");
        assert_eq!(json["source.port"], 4444);
        assert_eq!(json["classification.taxonomy"], "malicious-code");
        assert_eq!(json["source.fqdn"], "host.example");
        let back = from_json(&json, Timestamp::UNIX_EPOCH).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused_with_the_key() {
        let mut m = Map::new();
        m.insert("feed.name".into(), "x".into());
        m.insert("source.ipaddress".into(), "1.2.3.4".into());
        let err = from_json(&m, Timestamp::UNIX_EPOCH)
            .unwrap_err()
            .to_string();
        assert!(err.contains("source.ipaddress"), "{err}");
        m.remove("source.ipaddress");
        m.insert("source.port".into(), 70000.into());
        let err = from_json(&m, Timestamp::UNIX_EPOCH)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("source.port") && err.contains("70000"),
            "{err}"
        );
    }
}
