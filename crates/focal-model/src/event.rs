//! The event: one fact about one indicator, with IntelMQ's field names.

use crate::{ClassificationType, Field, Taxonomy, Tlp, ValueError};
use ipnet::IpNet;
use jiff::Timestamp;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use uuid::Uuid;

/// Longest value Focal accepts in any single field (bytes). Longer values are quarantined, not truncated.
pub const MAX_FIELD_BYTES: usize = 4096;

/// An ISO 3166-1 alpha-2 country code, upper case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    pub fn as_str(&self) -> &str {
        // Only ASCII letters are ever stored (see `FromStr`), so this cannot fail.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl FromStr for CountryCode {
    type Err = ValueError;
    fn from_str(text: &str) -> Result<Self, ValueError> {
        let bytes = text.trim().as_bytes();
        if bytes.len() == 2 && bytes.iter().all(u8::is_ascii_alphabetic) {
            Ok(CountryCode([
                bytes[0].to_ascii_uppercase(),
                bytes[1].to_ascii_uppercase(),
            ]))
        } else {
            Err(ValueError::InvalidCountry(text.to_string()))
        }
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `protocol.transport`: IntelMQ stores the IANA keyword in lower case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Tcp,
    Udp,
    Icmp,
    Sctp,
    /// Any other IANA protocol number.
    Number(u8),
}

impl FromStr for Transport {
    type Err = ValueError;
    fn from_str(text: &str) -> Result<Self, ValueError> {
        let t = text.trim();
        Ok(match t.to_ascii_lowercase().as_str() {
            "tcp" | "6" => Transport::Tcp,
            "udp" | "17" => Transport::Udp,
            "icmp" | "1" => Transport::Icmp,
            "sctp" | "132" => Transport::Sctp,
            other => Transport::Number(
                other
                    .parse()
                    .map_err(|_| ValueError::InvalidTransport(text.to_string()))?,
            ),
        })
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transport::Tcp => f.write_str("tcp"),
            Transport::Udp => f.write_str("udp"),
            Transport::Icmp => f.write_str("icmp"),
            Transport::Sctp => f.write_str("sctp"),
            Transport::Number(n) => write!(f, "{n}"),
        }
    }
}

/// One normalised event. Optional fields are `None` when the feed did not carry them.
///
/// Strings that repeat across millions of events (feed name, AS name, constituent) are `Arc<str>`,
/// so enrichment shares one allocation instead of copying.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Deterministic id derived from the de-duplication key (see [`crate::event::DedupKey`]).
    pub id: Uuid,
    pub time_source: Option<Timestamp>,
    pub time_observation: Timestamp,
    pub feed_name: Arc<str>,
    pub feed_provider: Option<Arc<str>>,
    pub feed_url: Option<Arc<str>>,
    pub source_ip: Option<IpAddr>,
    pub source_port: Option<u16>,
    pub source_asn: Option<u32>,
    pub source_as_name: Option<Arc<str>>,
    pub source_network: Option<IpNet>,
    pub source_cc: Option<CountryCode>,
    pub source_fqdn: Option<String>,
    pub source_url: Option<String>,
    pub destination_ip: Option<IpAddr>,
    pub destination_port: Option<u16>,
    pub destination_fqdn: Option<String>,
    pub protocol_transport: Option<Transport>,
    pub protocol_application: Option<String>,
    pub malware_name: Option<String>,
    pub classification_type: ClassificationType,
    pub classification_identifier: Option<String>,
    pub comment: Option<String>,
    pub tlp: Tlp,
    /// The `id` of the constituent (network owner) responsible for the indicator, if any.
    pub constituent: Option<Arc<str>>,
    /// `extra.*`: feed columns with no harmonised field.
    pub extra: BTreeMap<String, serde_json::Value>,
    /// The original record, byte for byte.
    pub raw: Option<Vec<u8>>,
}

impl Event {
    /// An empty event of a feed, observed at `observed`.
    pub fn new(feed_name: Arc<str>, observed: Timestamp, type_: ClassificationType) -> Self {
        Event {
            id: Uuid::nil(),
            time_source: None,
            time_observation: observed,
            feed_name,
            feed_provider: None,
            feed_url: None,
            source_ip: None,
            source_port: None,
            source_asn: None,
            source_as_name: None,
            source_network: None,
            source_cc: None,
            source_fqdn: None,
            source_url: None,
            destination_ip: None,
            destination_port: None,
            destination_fqdn: None,
            protocol_transport: None,
            protocol_application: None,
            malware_name: None,
            classification_type: type_,
            classification_identifier: None,
            comment: None,
            tlp: Tlp::default(),
            constituent: None,
            extra: BTreeMap::new(),
            raw: None,
        }
    }

    pub fn taxonomy(&self) -> Taxonomy {
        self.classification_type.taxonomy()
    }

    /// Sets a field from its textual form, validating it. Times need a format and are set by the parser.
    /// An empty value clears the field.
    pub fn set_text(&mut self, field: &Field, value: &str) -> Result<(), ValueError> {
        let value = value.trim();
        if value.is_empty() {
            self.clear(field);
            return Ok(());
        }
        match field {
            Field::TimeSource | Field::TimeObservation => {
                let ts = parse_rfc3339(value)?;
                if *field == Field::TimeSource {
                    self.time_source = Some(ts);
                } else {
                    self.time_observation = ts;
                }
            }
            Field::FeedName => self.feed_name = value.into(),
            Field::FeedProvider => self.feed_provider = Some(value.into()),
            Field::FeedUrl => self.feed_url = Some(value.into()),
            Field::SourceIp => self.source_ip = Some(parse_ip(value)?),
            Field::SourcePort => self.source_port = Some(parse_port(value)?),
            Field::SourceAsn => self.source_asn = Some(parse_asn(value)?),
            Field::SourceAsName => self.source_as_name = Some(value.into()),
            Field::SourceNetwork => self.source_network = Some(parse_network(value)?),
            Field::SourceCountry => self.source_cc = Some(value.parse()?),
            Field::SourceFqdn => self.source_fqdn = Some(parse_fqdn(value)?),
            Field::SourceUrl => self.source_url = Some(value.to_string()),
            Field::DestinationIp => self.destination_ip = Some(parse_ip(value)?),
            Field::DestinationPort => self.destination_port = Some(parse_port(value)?),
            Field::DestinationFqdn => self.destination_fqdn = Some(parse_fqdn(value)?),
            Field::ProtocolTransport => self.protocol_transport = Some(value.parse()?),
            Field::ProtocolApplication => {
                self.protocol_application = Some(value.to_ascii_lowercase())
            }
            Field::MalwareName => self.malware_name = Some(value.to_lowercase()),
            Field::ClassificationType => self.classification_type = value.parse()?,
            Field::ClassificationTaxonomy => {
                crate::taxonomy::check_taxonomy(value, self.classification_type)?
            }
            Field::ClassificationIdentifier => {
                self.classification_identifier = Some(value.to_lowercase())
            }
            Field::Comment => self.comment = Some(value.to_string()),
            Field::Raw => self.raw = Some(value.as_bytes().to_vec()),
            Field::Tlp => self.tlp = value.parse()?,
            Field::Constituent => self.constituent = Some(value.into()),
            Field::Extra(name) => {
                self.extra
                    .insert(name.clone(), serde_json::Value::String(value.to_string()));
            }
        }
        Ok(())
    }

    fn clear(&mut self, field: &Field) {
        match field {
            Field::TimeSource => self.time_source = None,
            Field::FeedProvider => self.feed_provider = None,
            Field::FeedUrl => self.feed_url = None,
            Field::SourceIp => self.source_ip = None,
            Field::SourcePort => self.source_port = None,
            Field::SourceAsn => self.source_asn = None,
            Field::SourceAsName => self.source_as_name = None,
            Field::SourceNetwork => self.source_network = None,
            Field::SourceCountry => self.source_cc = None,
            Field::SourceFqdn => self.source_fqdn = None,
            Field::SourceUrl => self.source_url = None,
            Field::DestinationIp => self.destination_ip = None,
            Field::DestinationPort => self.destination_port = None,
            Field::DestinationFqdn => self.destination_fqdn = None,
            Field::ProtocolTransport => self.protocol_transport = None,
            Field::ProtocolApplication => self.protocol_application = None,
            Field::MalwareName => self.malware_name = None,
            Field::ClassificationIdentifier => self.classification_identifier = None,
            Field::Comment => self.comment = None,
            Field::Raw => self.raw = None,
            Field::Constituent => self.constituent = None,
            Field::Extra(name) => {
                self.extra.remove(name);
            }
            // Mandatory fields keep their value: an empty cell cannot unset them.
            Field::TimeObservation
            | Field::FeedName
            | Field::ClassificationType
            | Field::ClassificationTaxonomy
            | Field::Tlp => {}
        }
    }

    /// Whether a field has a value (used by "first present of" de-duplication keys and `required`).
    pub fn has(&self, field: &Field) -> bool {
        match field {
            Field::TimeSource => self.time_source.is_some(),
            Field::TimeObservation
            | Field::FeedName
            | Field::ClassificationType
            | Field::ClassificationTaxonomy
            | Field::Tlp => true,
            Field::FeedProvider => self.feed_provider.is_some(),
            Field::FeedUrl => self.feed_url.is_some(),
            Field::SourceIp => self.source_ip.is_some(),
            Field::SourcePort => self.source_port.is_some(),
            Field::SourceAsn => self.source_asn.is_some(),
            Field::SourceAsName => self.source_as_name.is_some(),
            Field::SourceNetwork => self.source_network.is_some(),
            Field::SourceCountry => self.source_cc.is_some(),
            Field::SourceFqdn => self.source_fqdn.is_some(),
            Field::SourceUrl => self.source_url.is_some(),
            Field::DestinationIp => self.destination_ip.is_some(),
            Field::DestinationPort => self.destination_port.is_some(),
            Field::DestinationFqdn => self.destination_fqdn.is_some(),
            Field::ProtocolTransport => self.protocol_transport.is_some(),
            Field::ProtocolApplication => self.protocol_application.is_some(),
            Field::MalwareName => self.malware_name.is_some(),
            Field::ClassificationIdentifier => self.classification_identifier.is_some(),
            Field::Comment => self.comment.is_some(),
            Field::Raw => self.raw.is_some(),
            Field::Constituent => self.constituent.is_some(),
            Field::Extra(name) => self.extra.contains_key(name),
        }
    }

    /// A field's value as text (times in RFC 3339 UTC), or `None` when absent.
    pub fn get_text(&self, field: &Field) -> Option<Cow<'_, str>> {
        fn s<T: ToString>(v: &Option<T>) -> Option<Cow<'static, str>> {
            v.as_ref().map(|x| Cow::Owned(x.to_string()))
        }
        fn r(v: &Option<impl AsRef<str>>) -> Option<Cow<'_, str>> {
            v.as_ref().map(|x| Cow::Borrowed(x.as_ref()))
        }
        match field {
            Field::TimeSource => self.time_source.map(|t| format_time(t).into()),
            Field::TimeObservation => Some(format_time(self.time_observation).into()),
            Field::FeedName => Some(Cow::Borrowed(&self.feed_name)),
            Field::FeedProvider => r(&self.feed_provider),
            Field::FeedUrl => r(&self.feed_url),
            Field::SourceIp => s(&self.source_ip),
            Field::SourcePort => s(&self.source_port),
            Field::SourceAsn => s(&self.source_asn),
            Field::SourceAsName => r(&self.source_as_name),
            Field::SourceNetwork => s(&self.source_network),
            Field::SourceCountry => self.source_cc.as_ref().map(|c| Cow::Borrowed(c.as_str())),
            Field::SourceFqdn => r(&self.source_fqdn),
            Field::SourceUrl => r(&self.source_url),
            Field::DestinationIp => s(&self.destination_ip),
            Field::DestinationPort => s(&self.destination_port),
            Field::DestinationFqdn => r(&self.destination_fqdn),
            Field::ProtocolTransport => s(&self.protocol_transport),
            Field::ProtocolApplication => r(&self.protocol_application),
            Field::MalwareName => r(&self.malware_name),
            Field::ClassificationTaxonomy => Some(Cow::Borrowed(self.taxonomy().as_str())),
            Field::ClassificationType => Some(Cow::Borrowed(self.classification_type.as_str())),
            Field::ClassificationIdentifier => r(&self.classification_identifier),
            Field::Comment => r(&self.comment),
            Field::Raw => self.raw.as_ref().map(|b| String::from_utf8_lossy(b)),
            Field::Tlp => Some(Cow::Borrowed(self.tlp.label())),
            Field::Constituent => r(&self.constituent),
            Field::Extra(name) => self.extra.get(name).map(|v| match v {
                serde_json::Value::String(s) => Cow::Borrowed(s.as_str()),
                other => Cow::Owned(other.to_string()),
            }),
        }
    }

    /// The time used for de-duplication windows and time filters: when it happened, else when seen.
    pub fn effective_time(&self) -> Timestamp {
        self.time_source.unwrap_or(self.time_observation)
    }
}

/// RFC 3339 / ISO 8601 with an offset (`Z` or `+hh:mm`), converted to UTC.
pub fn parse_rfc3339(value: &str) -> Result<Timestamp, ValueError> {
    value
        .parse::<Timestamp>()
        .map_err(|_| ValueError::InvalidTime {
            value: value.to_string(),
            format: "RFC 3339 (e.g. 2026-11-23T10:00:00Z)".into(),
        })
}

/// Times are written as IntelMQ writes them: UTC with a `+00:00` offset.
pub fn format_time(ts: Timestamp) -> String {
    let s = ts.to_string();
    match s.strip_suffix('Z') {
        Some(stem) => format!("{stem}+00:00"),
        None => s,
    }
}

pub fn parse_ip(value: &str) -> Result<IpAddr, ValueError> {
    value
        .parse::<IpAddr>()
        .map_err(|_| ValueError::InvalidIp(value.to_string()))
}

pub fn parse_network(value: &str) -> Result<IpNet, ValueError> {
    // A bare address is a host network (/32 or /128); a network with host bits set is refused
    // rather than silently truncated, because it usually means a typo in the feed.
    if let Ok(ip) = value.parse::<IpAddr>() {
        return Ok(IpNet::from(ip));
    }
    let net: IpNet = value
        .parse()
        .map_err(|_| ValueError::InvalidNetwork(value.to_string()))?;
    if net.trunc() != net {
        return Err(ValueError::InvalidNetwork(value.to_string()));
    }
    Ok(net)
}

pub fn parse_port(value: &str) -> Result<u16, ValueError> {
    value
        .parse::<u16>()
        .map_err(|_| ValueError::InvalidPort(value.to_string()))
}

pub fn parse_asn(value: &str) -> Result<u32, ValueError> {
    let digits = value
        .strip_prefix("AS")
        .or_else(|| value.strip_prefix("as"))
        .unwrap_or(value);
    digits
        .parse::<u32>()
        .map_err(|_| ValueError::InvalidAsn(value.to_string()))
}

/// A host name as IntelMQ's FQDN type accepts it: lower-cased, no trailing dot, labels of
/// letters, digits, hyphens and underscores, at most 253 bytes.
pub fn parse_fqdn(value: &str) -> Result<String, ValueError> {
    let name = value
        .strip_suffix('.')
        .unwrap_or(value)
        .to_ascii_lowercase();
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if valid {
        Ok(name)
    } else {
        Err(ValueError::InvalidFqdn(value.to_string()))
    }
}

/// Which fields make two events "the same", and over which time window.
///
/// Each part of the key is a list of alternatives: the first field that is present is used.
/// The default is the rule, (`source.ip`, `malware.name` or `classification.type`,
/// `feed.name`) on the same UTC day, with `source.network`, `source.fqdn` and `source.url` as
/// fall-backs for feeds whose indicator is not an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DedupKey {
    pub parts: Vec<Vec<Field>>,
    /// Length of the window in seconds, aligned to the Unix epoch (so 86400 is the UTC day).
    /// `None` means no window: the same key is the same event forever.
    pub window_secs: Option<u64>,
}

impl Default for DedupKey {
    fn default() -> Self {
        DedupKey {
            parts: vec![
                vec![
                    Field::SourceIp,
                    Field::SourceNetwork,
                    Field::SourceFqdn,
                    Field::SourceUrl,
                    // Records keyed by an ASN alone (Spamhaus ASN-DROP). Last, so that the key of
                    // every event with an address, network, host or URL is what it always was.
                    Field::SourceAsn,
                ],
                vec![Field::MalwareName, Field::ClassificationType],
                vec![Field::FeedName],
            ],
            window_secs: Some(86_400),
        }
    }
}

/// The namespace of Focal's deterministic event ids (UUIDv5, RFC 9562 §5.5).
pub const EVENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x8c1e_0a5f_3b7d_4c59_a0e2_6f1d_9b84_2e37);

impl DedupKey {
    /// The window an event falls in, as `(window length, window number)`; `(0, 0)` without a
    /// window. Two events can only be the same event if they share it, so a store need only
    /// compare an event with the ids of its own window.
    pub fn bucket(&self, event: &Event) -> (i64, i64) {
        match self.window_secs.filter(|w| *w > 0) {
            Some(window) => (
                window as i64,
                event.effective_time().as_second().div_euclid(window as i64),
            ),
            None => (0, 0),
        }
    }

    /// The event's id: UUIDv5 over the key's canonical bytes. Equal keys give equal ids on every
    /// machine and in every process, which is what makes re-ingestion and redelivery idempotent.
    /// `buf` is scratch space, reused across calls to avoid an allocation per event.
    pub fn event_id(&self, event: &Event, buf: &mut Vec<u8>) -> Uuid {
        buf.clear();
        for part in &self.parts {
            match part.iter().find(|f| event.has(f)) {
                Some(field) => {
                    buf.push(b'1');
                    write_key_value(event, field, buf);
                }
                None => buf.push(b'0'),
            }
            buf.push(0x1f);
        }
        if let Some(window) = self.window_secs.filter(|w| *w > 0) {
            let secs = event.effective_time().as_second();
            buf.extend_from_slice(&secs.div_euclid(window as i64).to_be_bytes());
        }
        Uuid::new_v5(&EVENT_ID_NAMESPACE, buf)
    }
}

fn write_key_value(event: &Event, field: &Field, buf: &mut Vec<u8>) {
    let ip = |buf: &mut Vec<u8>, ip: &IpAddr| match ip {
        IpAddr::V4(v4) => buf.extend_from_slice(&v4.octets()),
        IpAddr::V6(v6) => buf.extend_from_slice(&v6.octets()),
    };
    match field {
        Field::SourceIp => ip(
            buf,
            event.source_ip.as_ref().unwrap_or(&IpAddr::from([0u8; 4])),
        ),
        Field::DestinationIp => ip(
            buf,
            event
                .destination_ip
                .as_ref()
                .unwrap_or(&IpAddr::from([0u8; 4])),
        ),
        Field::MalwareName => {
            buf.extend_from_slice(event.malware_name.as_deref().unwrap_or("").as_bytes())
        }
        Field::FeedName => buf.extend_from_slice(event.feed_name.as_bytes()),
        Field::ClassificationType => {
            buf.extend_from_slice(event.classification_type.as_str().as_bytes())
        }
        other => {
            if let Some(text) = event.get_text(other) {
                buf.extend_from_slice(text.as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Event {
        let mut e = Event::new(
            "drones".into(),
            Timestamp::UNIX_EPOCH,
            ClassificationType::InfectedSystem,
        );
        e.set_text(&Field::SourceIp, "198.51.100.7").unwrap();
        e.set_text(&Field::MalwareName, "Mirai").unwrap();
        e.time_source = Some("2026-11-23T10:00:00Z".parse().unwrap());
        e
    }

    #[test]
    fn validation_refuses_what_intelmq_refuses() {
        let mut e = event();
        assert!(matches!(
            e.set_text(&Field::SourceIp, "999.12.1.300"),
            Err(ValueError::InvalidIp(_))
        ));
        assert!(matches!(
            e.set_text(&Field::SourcePort, "70000"),
            Err(ValueError::InvalidPort(_))
        ));
        assert!(matches!(
            e.set_text(&Field::SourceNetwork, "10.0.0.1/8"),
            Err(ValueError::InvalidNetwork(_))
        ));
        assert!(matches!(
            e.set_text(&Field::SourceFqdn, "bad host.example"),
            Err(ValueError::InvalidFqdn(_))
        ));
        assert!(matches!(
            e.set_text(&Field::ClassificationType, "botnet"),
            Err(ValueError::UnknownType(_))
        ));
        assert!(matches!(
            e.set_text(&Field::TimeSource, "23/11/2026 10:00"),
            Err(ValueError::InvalidTime { .. })
        ));
        e.set_text(&Field::SourceAsn, "AS64500").unwrap();
        assert_eq!(e.source_asn, Some(64500));
        assert_eq!(e.malware_name.as_deref(), Some("mirai"));
        e.set_text(&Field::SourcePort, "").unwrap();
        assert_eq!(e.source_port, None);
    }

    #[test]
    fn ids_follow_the_dedup_key_and_window() {
        let key = DedupKey::default();
        let mut buf = Vec::new();
        let a = event();
        let mut same_day = a.clone();
        same_day.time_source = Some("2026-11-23T23:59:59Z".parse().unwrap());
        same_day.source_port = Some(4444);
        let mut next_day = a.clone();
        next_day.time_source = Some("2026-11-24T00:00:00Z".parse().unwrap());
        let mut other_malware = a.clone();
        other_malware.malware_name = Some("qakbot".into());
        let id = key.event_id(&a, &mut buf);
        assert_eq!(id, key.event_id(&same_day, &mut buf));
        assert_ne!(id, key.event_id(&next_day, &mut buf));
        assert_ne!(id, key.event_id(&other_malware, &mut buf));
        // Without a malware name the type stands in, so it must differ from a named one.
        let mut unnamed = a.clone();
        unnamed.malware_name = None;
        assert_ne!(id, key.event_id(&unnamed, &mut buf));
        assert_eq!(id.get_version_num(), 5);
    }

    #[test]
    fn times_are_written_with_an_explicit_utc_offset() {
        let ts: Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
        assert_eq!(format_time(ts), "2026-11-23T10:00:00+00:00");
        assert_eq!(parse_rfc3339("2026-11-23T12:00:00+02:00").unwrap(), ts);
    }
}
