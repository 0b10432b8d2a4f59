//! Events in the shape the databases store them, prepared off the writer thread.
//!
//! The writer is the one stage that cannot run in parallel (a database takes one writer), so
//! everything that can be computed beforehand is: the parse workers turn each [`Event`] into an
//! [`EncodedEvent`], and the writer only binds values. Rows are kept narrow because the ingest is
//! bound by the bytes written: what all events of a run share (feed name, provider, URL,
//! observation time) is stored once with the run ([`RunContext`]), AS names once per AS, and
//! only the rare fields go to a JSON `detail` column.

use focal_model::event::format_time;
use focal_model::{Event, Field};
use std::net::IpAddr;
use std::sync::Arc;

/// An address as 16 bytes, IPv4 as IPv4-mapped IPv6, so that one byte range covers any CIDR.
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

/// One event, ready to insert.
#[derive(Debug, Clone)]
pub struct EncodedEvent {
    pub id: [u8; 16],
    /// The de-duplication window, `(length in seconds, number)`: see `DedupKey::bucket`.
    pub bucket: (i64, i64),
    /// `time.source`, else `time.observation`, in Unix microseconds.
    pub time_event: i64,
    pub time_source: Option<i64>,
    /// 16 bytes, IPv4 as IPv4-mapped IPv6.
    pub source_ip: Option<[u8; 16]>,
    /// First and last address of `source.network`, for events whose indicator is a network.
    pub source_net: Option<([u8; 16], [u8; 16])>,
    pub source_port: Option<u16>,
    pub source_asn: Option<u32>,
    /// Stored once per AS, not per event.
    pub source_as_name: Option<Arc<str>>,
    pub source_network: Option<String>,
    pub source_cc: Option<String>,
    pub source_fqdn: Option<String>,
    pub destination_ip: Option<[u8; 16]>,
    pub destination_port: Option<u16>,
    pub protocol_transport: Option<String>,
    pub malware_name: Option<String>,
    pub classification_type: &'static str,
    pub tlp: &'static str,
    pub constituent: Option<Arc<str>>,
    /// Rare fields and `extra.*`, as a JSON object with harmonised keys; `None` when there are none.
    pub detail: Option<String>,
    pub raw: Option<Vec<u8>>,
}

/// What all events of a run share: stored once with the run, not in every row.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub feed_name: Arc<str>,
    pub feed_provider: Option<Arc<str>>,
    pub feed_url: Option<Arc<str>>,
    /// `time.observation` of the run's events.
    pub observed: jiff::Timestamp,
}

/// Fields that are rare enough to live in `detail` rather than in a column of their own.
#[derive(serde::Serialize, Default)]
struct Detail<'a> {
    #[serde(rename = "time.observation", skip_serializing_if = "Option::is_none")]
    time_observation: Option<String>,
    #[serde(rename = "feed.name", skip_serializing_if = "Option::is_none")]
    feed_name: Option<&'a str>,
    #[serde(rename = "feed.provider", skip_serializing_if = "Option::is_none")]
    feed_provider: Option<&'a str>,
    #[serde(rename = "feed.url", skip_serializing_if = "Option::is_none")]
    feed_url: Option<&'a str>,
    #[serde(rename = "source.url", skip_serializing_if = "Option::is_none")]
    source_url: Option<&'a str>,
    #[serde(rename = "destination.fqdn", skip_serializing_if = "Option::is_none")]
    destination_fqdn: Option<&'a str>,
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

impl Detail<'_> {
    fn is_empty(&self) -> bool {
        self.time_observation.is_none()
            && self.feed_name.is_none()
            && self.feed_provider.is_none()
            && self.feed_url.is_none()
            && self.source_url.is_none()
            && self.destination_fqdn.is_none()
            && self.protocol_application.is_none()
            && self.classification_identifier.is_none()
            && self.comment.is_none()
            && self.extra.is_empty()
    }
}

impl EncodedEvent {
    /// Prepares an event of the run described by `run`. Values that differ from the run's (a feed
    /// that maps `feed.provider` per record, say) are kept in `detail`, so nothing is lost.
    pub fn new(e: Event, bucket: (i64, i64), run: &RunContext) -> EncodedEvent {
        let differs =
            |mine: &Option<Arc<str>>, run: &Option<Arc<str>>| mine.as_deref() != run.as_deref();
        let detail = Detail {
            time_observation: (e.time_observation != run.observed)
                .then(|| format_time(e.time_observation)),
            feed_name: (*e.feed_name != *run.feed_name).then_some(&*e.feed_name),
            feed_provider: if differs(&e.feed_provider, &run.feed_provider) {
                e.feed_provider.as_deref()
            } else {
                None
            },
            feed_url: if differs(&e.feed_url, &run.feed_url) {
                e.feed_url.as_deref()
            } else {
                None
            },
            source_url: e.source_url.as_deref(),
            destination_fqdn: e.destination_fqdn.as_deref(),
            protocol_application: e.protocol_application.as_deref(),
            classification_identifier: e.classification_identifier.as_deref(),
            comment: e.comment.as_deref(),
            extra: e
                .extra
                .iter()
                .map(|(k, v)| (format!("extra.{k}"), v))
                .collect(),
        };
        // Serialising strings and JSON values into a string cannot fail.
        let detail = (!detail.is_empty())
            .then(|| serde_json::to_string(&detail).unwrap_or_else(|_| "{}".into()));
        EncodedEvent {
            id: *e.id.as_bytes(),
            bucket,
            time_event: e.effective_time().as_microsecond(),
            time_source: e.time_source.map(|t| t.as_microsecond()),
            source_ip: e.source_ip.map(ip_bytes),
            source_net: match (e.source_ip, e.source_network) {
                (None, Some(net)) => Some((ip_bytes(net.network()), ip_bytes(net.broadcast()))),
                _ => None,
            },
            source_port: e.source_port,
            source_asn: e.source_asn,
            source_as_name: e.source_as_name,
            source_network: e.source_network.map(|n| n.to_string()),
            source_cc: e.source_cc.map(|c| c.as_str().to_string()),
            source_fqdn: e.source_fqdn,
            destination_ip: e.destination_ip.map(ip_bytes),
            destination_port: e.destination_port,
            protocol_transport: e.protocol_transport.map(|t| t.to_string()),
            malware_name: e.malware_name,
            classification_type: e.classification_type.as_str(),
            tlp: e.tlp.as_str(),
            constituent: e.constituent,
            detail,
            raw: e.raw,
        }
    }
}

/// One stored row, as read back, with its run's shared values.
#[derive(Debug, Clone, Default)]
pub struct StoredRow {
    pub id: Vec<u8>,
    pub time_source: Option<i64>,
    pub source_ip: Option<Vec<u8>>,
    pub source_port: Option<u16>,
    pub source_asn: Option<u32>,
    pub source_as_name: Option<String>,
    pub source_network: Option<String>,
    pub source_cc: Option<String>,
    pub source_fqdn: Option<String>,
    pub destination_ip: Option<Vec<u8>>,
    pub destination_port: Option<u16>,
    pub protocol_transport: Option<String>,
    pub malware_name: Option<String>,
    pub classification_type: String,
    pub tlp: String,
    pub constituent: Option<String>,
    pub detail: Option<String>,
    pub raw: Option<Vec<u8>>,
    pub feed_name: String,
    pub feed_provider: Option<String>,
    pub feed_url: Option<String>,
    pub observed: i64,
}

fn micros(us: i64) -> Result<jiff::Timestamp, String> {
    jiff::Timestamp::from_microsecond(us).map_err(|e| format!("time {us} out of range: {e}"))
}

/// Rebuilds an event from its stored row. Values were validated on the way in; a value that no
/// longer parses (a hand-edited row) is reported, not guessed.
pub fn decode(row: StoredRow) -> Result<Event, String> {
    let type_ = row
        .classification_type
        .parse()
        .map_err(|e| format!("classification_type: {e}"))?;
    let mut e = Event::new(row.feed_name.into(), micros(row.observed)?, type_);
    e.id = uuid::Uuid::from_slice(&row.id).map_err(|_| "id is not 16 bytes".to_string())?;
    e.feed_provider = row.feed_provider.map(Into::into);
    e.feed_url = row.feed_url.map(Into::into);
    e.time_source = row.time_source.map(micros).transpose()?;
    e.source_ip = row.source_ip.and_then(|b| ip_from_bytes(&b));
    e.source_port = row.source_port;
    e.source_asn = row.source_asn;
    e.source_as_name = row.source_as_name.map(Into::into);
    e.source_network = row
        .source_network
        .map(|n| n.parse())
        .transpose()
        .map_err(|_| "source_network is not a network".to_string())?;
    e.source_cc = row.source_cc.and_then(|c| c.parse().ok());
    e.source_fqdn = row.source_fqdn;
    e.destination_ip = row.destination_ip.and_then(|b| ip_from_bytes(&b));
    e.destination_port = row.destination_port;
    e.protocol_transport = row
        .protocol_transport
        .map(|t| t.parse())
        .transpose()
        .map_err(|e| format!("protocol_transport: {e}"))?;
    e.malware_name = row.malware_name;
    e.tlp = row.tlp.parse().map_err(|e| format!("tlp: {e}"))?;
    e.constituent = row.constituent.map(Into::into);
    e.raw = row.raw;
    if let Some(detail) = row.detail {
        let detail: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&detail)
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
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use focal_model::{ClassificationType, Tlp};

    fn round_trip(e: &Event, run: &RunContext) -> Event {
        let enc = EncodedEvent::new(e.clone(), (0, 0), run);
        decode(StoredRow {
            id: enc.id.to_vec(),
            time_source: enc.time_source,
            source_ip: enc.source_ip.map(|b| b.to_vec()),
            source_port: enc.source_port,
            source_asn: enc.source_asn,
            source_as_name: enc.source_as_name.as_deref().map(str::to_string),
            source_network: enc.source_network.clone(),
            source_cc: enc.source_cc.clone(),
            source_fqdn: enc.source_fqdn.clone(),
            destination_ip: enc.destination_ip.map(|b| b.to_vec()),
            destination_port: enc.destination_port,
            protocol_transport: enc.protocol_transport.clone(),
            malware_name: enc.malware_name.clone(),
            classification_type: enc.classification_type.to_string(),
            tlp: enc.tlp.to_string(),
            constituent: enc.constituent.as_deref().map(str::to_string),
            detail: enc.detail.clone(),
            raw: enc.raw.clone(),
            feed_name: run.feed_name.to_string(),
            feed_provider: run.feed_provider.as_deref().map(str::to_string),
            feed_url: run.feed_url.as_deref().map(str::to_string),
            observed: run.observed.as_microsecond(),
        })
        .unwrap()
    }

    #[test]
    fn encode_then_decode_is_the_identity() {
        let observed: jiff::Timestamp = "2026-11-24T00:00:00Z".parse().unwrap();
        let mut e = Event::new("f".into(), observed, ClassificationType::C2Server);
        for (f, v) in [
            ("source.ip", "2001:db8::7"),
            ("source.port", "443"),
            ("source.asn", "64500"),
            ("source.as_name", "Example"),
            ("source.network", "2001:db8::/32"),
            ("source.geolocation.cc", "NL"),
            ("source.fqdn", "c2.example"),
            ("source.url", "http://c2.example/x"),
            ("destination.ip", "192.0.2.1"),
            ("protocol.transport", "udp"),
            ("malware.name", "qakbot"),
            ("time.source", "2026-11-23T10:00:00Z"),
            ("extra.note", "x"),
            ("feed.provider", "P"),
            ("classification.identifier", "qakbot-c2"),
        ] {
            e.set_text(&f.parse().unwrap(), v).unwrap();
        }
        e.tlp = Tlp::Green;
        e.constituent = Some("org-1".into());
        e.raw = Some(b"raw,\xff".to_vec());
        e.id = uuid::Uuid::from_u128(7);
        let run = RunContext {
            feed_name: "f".into(),
            feed_provider: Some("P".into()),
            feed_url: None,
            observed,
        };
        assert_eq!(round_trip(&e, &run), e);
        let enc = EncodedEvent::new(e.clone(), (0, 0), &run);
        assert!(
            !enc.detail.as_deref().unwrap().contains("feed.provider"),
            "shared values live in the run"
        );
        // A record whose provider or observation time differs from the run's keeps its own.
        let other = RunContext {
            feed_provider: Some("Q".into()),
            observed: "2026-11-25T00:00:00Z".parse().unwrap(),
            ..run
        };
        assert_eq!(round_trip(&e, &other), e);
    }
}
