//! Events in the shape the databases store them, prepared off the writer thread.
//!
//! The writer is the one stage that cannot run in parallel (a database takes one writer), so
//! everything that can be computed beforehand is: the parse workers turn each [`Event`] into an
//! [`EncodedEvent`], and the writer only binds values. The columns that queries filter on are
//! typed columns; the rest of the event travels as one IntelMQ-style JSON object (`detail`),
//! which keeps the row narrow and is still readable with the databases' JSON functions.

use focal_model::{Event, Field};
use std::net::IpAddr;
use std::sync::Arc;

/// Fields kept in `detail` rather than in their own column.
const DETAIL_FIELDS: &[Field] = &[
    Field::TimeSource,
    Field::TimeObservation,
    Field::FeedProvider,
    Field::FeedUrl,
    Field::SourcePort,
    Field::SourceAsName,
    Field::SourceNetwork,
    Field::SourceFqdn,
    Field::SourceUrl,
    Field::DestinationIp,
    Field::DestinationPort,
    Field::DestinationFqdn,
    Field::ProtocolTransport,
    Field::ProtocolApplication,
    Field::ClassificationIdentifier,
    Field::Comment,
];

/// One event, ready to insert.
#[derive(Debug, Clone)]
pub struct EncodedEvent {
    pub id: [u8; 16],
    /// `time.source`, else `time.observation`, in Unix microseconds.
    pub time_event: i64,
    pub feed_name: Arc<str>,
    /// 16 bytes, IPv4 as IPv4-mapped IPv6.
    pub source_ip: Option<[u8; 16]>,
    /// First and last address of `source.network`, for events whose indicator is a network.
    pub source_net: Option<([u8; 16], [u8; 16])>,
    pub source_asn: Option<u32>,
    pub source_cc: Option<String>,
    pub classification_type: &'static str,
    pub malware_name: Option<String>,
    pub tlp: &'static str,
    pub constituent: Option<Arc<str>>,
    /// The other fields, as a JSON object with harmonised keys.
    pub detail: String,
    pub raw: Option<Vec<u8>>,
}

pub fn ip_bytes(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

pub fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    let arr: [u8; 16] = bytes.try_into().ok()?;
    let v6 = std::net::Ipv6Addr::from(arr);
    Some(
        v6.to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
    )
}

impl EncodedEvent {
    pub fn new(e: Event) -> EncodedEvent {
        let mut detail = serde_json::Map::new();
        for field in DETAIL_FIELDS {
            if let Some(text) = e.get_text(field) {
                let value = match field {
                    Field::SourcePort | Field::DestinationPort => text
                        .parse::<u64>()
                        .map(Into::into)
                        .unwrap_or_else(|_| text.into_owned().into()),
                    _ => text.into_owned().into(),
                };
                detail.insert(field.name().into_owned(), value);
            }
        }
        for (k, v) in &e.extra {
            detail.insert(format!("extra.{k}"), v.clone());
        }
        EncodedEvent {
            id: *e.id.as_bytes(),
            time_event: e.effective_time().as_microsecond(),
            source_ip: e.source_ip.map(ip_bytes),
            source_net: match (e.source_ip, e.source_network) {
                (None, Some(net)) => Some((ip_bytes(net.network()), ip_bytes(net.broadcast()))),
                _ => None,
            },
            source_asn: e.source_asn,
            source_cc: e.source_cc.map(|c| c.as_str().to_string()),
            classification_type: e.classification_type.as_str(),
            tlp: e.tlp.as_str(),
            detail: serde_json::Value::Object(detail).to_string(),
            feed_name: e.feed_name,
            malware_name: e.malware_name,
            constituent: e.constituent,
            raw: e.raw,
        }
    }
}

/// Rebuilds an event from its columns and `detail`. Values were validated on the way in; a
/// value that no longer parses (a hand-edited row) is reported, not guessed.
#[allow(clippy::too_many_arguments)]
pub fn decode(
    id: &[u8],
    feed_name: String,
    source_ip: Option<Vec<u8>>,
    source_asn: Option<u32>,
    source_cc: Option<String>,
    classification_type: &str,
    malware_name: Option<String>,
    tlp: &str,
    constituent: Option<String>,
    detail: &str,
    raw: Option<Vec<u8>>,
) -> Result<Event, String> {
    let type_ = classification_type
        .parse()
        .map_err(|e| format!("classification_type: {e}"))?;
    let mut e = Event::new(feed_name.into(), jiff::Timestamp::UNIX_EPOCH, type_);
    e.id = uuid::Uuid::from_slice(id).map_err(|_| "id is not 16 bytes".to_string())?;
    e.source_ip = source_ip.and_then(|b| ip_from_bytes(&b));
    e.source_asn = source_asn;
    e.source_cc = source_cc.and_then(|c| c.parse().ok());
    e.malware_name = malware_name;
    e.tlp = tlp.parse().map_err(|e| format!("tlp: {e}"))?;
    e.constituent = constituent.map(Into::into);
    e.raw = raw;
    let detail: serde_json::Map<String, serde_json::Value> = serde_json::from_str(detail)
        .map_err(|err| format!("detail is not a JSON object: {err}"))?;
    for (key, value) in detail {
        let field: Field = key.parse().map_err(|err| format!("detail: {err}"))?;
        match (field, value) {
            (Field::Extra(name), v) => {
                e.extra.insert(name, v);
            }
            (field, serde_json::Value::String(s)) => e
                .set_text(&field, &s)
                .map_err(|err| format!("detail {key}: {err}"))?,
            (field, v) => e
                .set_text(&field, &v.to_string())
                .map_err(|err| format!("detail {key}: {err}"))?,
        }
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use focal_model::{ClassificationType, Tlp};

    #[test]
    fn encode_then_decode_is_the_identity() {
        let mut e = Event::new(
            "f".into(),
            "2026-11-24T00:00:00Z".parse().unwrap(),
            ClassificationType::C2Server,
        );
        for (f, v) in [
            ("source.ip", "2001:db8::7"),
            ("source.port", "443"),
            ("source.asn", "64500"),
            ("source.as_name", "Example"),
            ("source.network", "2001:db8::/32"),
            ("source.geolocation.cc", "NL"),
            ("source.fqdn", "c2.example"),
            ("destination.ip", "192.0.2.1"),
            ("protocol.transport", "udp"),
            ("malware.name", "qakbot"),
            ("time.source", "2026-11-23T10:00:00Z"),
            ("extra.note", "x"),
            ("feed.provider", "P"),
        ] {
            e.set_text(&f.parse().unwrap(), v).unwrap();
        }
        e.tlp = Tlp::Green;
        e.constituent = Some("org-1".into());
        e.raw = Some(b"raw,\xff".to_vec());
        e.id = uuid::Uuid::from_u128(7);
        let enc = EncodedEvent::new(e.clone());
        let back = decode(
            &enc.id,
            enc.feed_name.to_string(),
            enc.source_ip.map(|b| b.to_vec()),
            enc.source_asn,
            enc.source_cc.clone(),
            enc.classification_type,
            enc.malware_name.clone(),
            enc.tlp,
            enc.constituent.as_deref().map(str::to_string),
            &enc.detail,
            enc.raw.clone(),
        )
        .unwrap();
        assert_eq!(back, e);
    }
}
