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

/// The `detail` object, serialised straight from borrowed fields (no intermediate map: this runs
/// once per event on the parse threads).
#[derive(serde::Serialize)]
struct Detail<'a> {
    #[serde(rename = "time.source", skip_serializing_if = "Option::is_none")]
    time_source: Option<String>,
    #[serde(rename = "time.observation")]
    time_observation: String,
    #[serde(rename = "feed.provider", skip_serializing_if = "Option::is_none")]
    feed_provider: Option<&'a str>,
    #[serde(rename = "feed.url", skip_serializing_if = "Option::is_none")]
    feed_url: Option<&'a str>,
    #[serde(rename = "source.port", skip_serializing_if = "Option::is_none")]
    source_port: Option<u16>,
    #[serde(rename = "source.as_name", skip_serializing_if = "Option::is_none")]
    source_as_name: Option<&'a str>,
    #[serde(rename = "source.network", skip_serializing_if = "Option::is_none")]
    source_network: Option<String>,
    #[serde(rename = "source.fqdn", skip_serializing_if = "Option::is_none")]
    source_fqdn: Option<&'a str>,
    #[serde(rename = "source.url", skip_serializing_if = "Option::is_none")]
    source_url: Option<&'a str>,
    #[serde(rename = "destination.ip", skip_serializing_if = "Option::is_none")]
    destination_ip: Option<IpAddr>,
    #[serde(rename = "destination.port", skip_serializing_if = "Option::is_none")]
    destination_port: Option<u16>,
    #[serde(rename = "destination.fqdn", skip_serializing_if = "Option::is_none")]
    destination_fqdn: Option<&'a str>,
    #[serde(rename = "protocol.transport", skip_serializing_if = "Option::is_none")]
    protocol_transport: Option<String>,
    #[serde(
        rename = "protocol.application",
        skip_serializing_if = "Option::is_none"
    )]
    protocol_application: Option<&'a str>,
    #[serde(
        rename = "classification.identifier",
        skip_serializing_if = "Option::is_none"
    )]
    classification_identifier: Option<&'a str>,
    #[serde(rename = "comment", skip_serializing_if = "Option::is_none")]
    comment: Option<&'a str>,
    #[serde(flatten)]
    extra: std::collections::BTreeMap<String, &'a serde_json::Value>,
}

impl EncodedEvent {
    pub fn new(e: Event) -> EncodedEvent {
        let detail = Detail {
            time_source: e.time_source.map(focal_model::event::format_time),
            time_observation: focal_model::event::format_time(e.time_observation),
            feed_provider: e.feed_provider.as_deref(),
            feed_url: e.feed_url.as_deref(),
            source_port: e.source_port,
            source_as_name: e.source_as_name.as_deref(),
            source_network: e.source_network.map(|n| n.to_string()),
            source_fqdn: e.source_fqdn.as_deref(),
            source_url: e.source_url.as_deref(),
            destination_ip: e.destination_ip,
            destination_port: e.destination_port,
            destination_fqdn: e.destination_fqdn.as_deref(),
            protocol_transport: e.protocol_transport.map(|t| t.to_string()),
            protocol_application: e.protocol_application.as_deref(),
            classification_identifier: e.classification_identifier.as_deref(),
            comment: e.comment.as_deref(),
            extra: e
                .extra
                .iter()
                .map(|(k, v)| (format!("extra.{k}"), v))
                .collect(),
        };
        // Serialising plain strings, numbers and JSON values cannot fail.
        let detail = serde_json::to_string(&detail).unwrap_or_else(|_| "{}".into());
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
            detail,
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
