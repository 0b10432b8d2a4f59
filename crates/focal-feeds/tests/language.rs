//! The definition language (docs/FEEDS.md): empty tokens, multi-character delimiters and quoted
//! fields, value maps with a default, a default URL scheme, splitting and joining, records keyed
//! by an ASN. Each transform has an example test and, where it has a law, a property test.

use focal_feeds::read::RecordReader;
use focal_feeds::{Feed, Format, Rejection};
use focal_model::Event;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Reads the whole input with the feed (header first for CSV).
fn run(feed: &Feed, input: &str) -> (Vec<Event>, Vec<Rejection>) {
    let mut scratch = feed.scratch();
    let mut reader = RecordReader::new(input.as_bytes(), feed.skip_rules(), 0, 1);
    let layout = if feed.format() == Format::Csv && feed.definition.csv.header {
        let (_, header) = reader.read_first_record().unwrap().unwrap();
        let names = feed.split_header(&header, &mut scratch).unwrap();
        Some(feed.csv_layout(Some(&names)).unwrap())
    } else if feed.format() == Format::Csv {
        Some(feed.csv_layout(None).unwrap())
    } else {
        None
    };
    let (mut events, mut rejections) = (Vec::new(), Vec::new());
    while let Some(batch) = reader.next_batch(100).unwrap() {
        feed.parse_batch(
            layout.as_ref(),
            &batch,
            jiff::Timestamp::UNIX_EPOCH,
            &mut scratch,
            &mut events,
            &mut rejections,
        );
    }
    (events, rejections)
}

fn feed(toml: &str) -> Feed {
    Feed::from_toml(toml, "t.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn extra<'a>(e: &'a Event, key: &str) -> Option<&'a str> {
    e.extra.get(key).and_then(|v| v.as_str())
}

#[test]
fn empty_tokens_are_empty_cells() {
    let f = feed(
        "name='t'\nformat='csv'\nempty=['NA', '-', '?']\n[fields]\nip='source.ip'\nport='source.port'\nasn='source.asn'\nnote='extra.note'\n",
    );
    let (events, rejections) = run(
        &f,
        "ip,port,asn,note\n192.0.2.1,NA,-,?\n192.0.2.2,80,64500,n/a\n",
    );
    assert!(rejections.is_empty(), "{rejections:?}");
    assert_eq!(
        (
            events[0].source_port,
            events[0].source_asn,
            extra(&events[0], "note")
        ),
        (None, None, None)
    );
    assert_eq!(
        extra(&events[1], "note"),
        Some("n/a"),
        "only the listed tokens"
    );
    // Without the setting, the tokens are values (and "NA" is not a port).
    let f = feed("name='t'\nformat='csv'\n[fields]\nip='source.ip'\nport='source.port'\n");
    let (_, rejections) = run(&f, "ip,port\n192.0.2.1,NA\n");
    assert_eq!(rejections.len(), 1);
}

/// dataplane.org's layout: `  |  ` between columns, and values that contain `|`.
const DATAPLANE: &str = r##"
name = "dataplane-sshpwauth"
format = "csv"
[csv]
header = false
delimiter = "  |  "
comment = "#"
columns = ["source.asn", "source.as_name", "source.ip", "time.source", "extra.category"]
[time]
format = "%Y-%m-%d %H:%M:%S"
[constants]
"classification.type" = "brute-force"
"##;

#[test]
fn a_multi_character_delimiter_and_quoted_fields_that_contain_it() {
    let f = feed(DATAPLANE);
    let input = "# comment\n\
        174         |  COGENT-174|BACKBONE   |  192.0.2.7        |  2026-11-20 10:00:00  |  sshpwauth\n\
        64500       |  \"ODD  |  NAME\"       |  198.51.100.9     |  2026-11-20 11:00:00  |  sshpwauth\n\
        64501       |  NA                     |  203.0.113.1\n";
    let (events, rejections) = run(&f, input);
    assert_eq!(events.len(), 2, "{rejections:?}");
    assert_eq!(events[0].source_asn, Some(174));
    assert_eq!(
        events[0].source_as_name.as_deref(),
        Some("COGENT-174|BACKBONE")
    );
    assert_eq!(events[0].source_ip, Some("192.0.2.7".parse().unwrap()));
    assert_eq!(events[1].source_as_name.as_deref(), Some("ODD  |  NAME"));
    assert_eq!(rejections.len(), 1);
    assert_eq!(rejections[0].line, 4);
    assert!(
        rejections[0].reason.contains("expected 5 columns, found 3"),
        "{:?}",
        rejections[0]
    );
    // An unclosed quote is a rejection, not a panic or a swallowed line.
    let (events, rejections) = run(
        &f,
        "1  |  \"open  |  192.0.2.1  |  2026-11-20 10:00:00  |  x\n",
    );
    assert_eq!((events.len(), rejections.len()), (0, 1));
}

const CYMRU: &str = r##"
name = "cymru-cap"
format = "csv"
[fields]
ip = "source.ip"
[[map]]
from = "category"
to = "classification.type"
values = { bots = "infected-system", scanners = "scanner", "bruteforce" = "brute-force" }
default = "undetermined"
[[map]]
from = "category"
to = "classification.identifier"
values = { bots = "botnet-drone" }
"##;

#[test]
fn a_value_map_with_a_default() {
    let f = feed(CYMRU);
    let (events, rejections) = run(
        &f,
        "ip,category\n192.0.2.1,bots\n192.0.2.2,scanners\n192.0.2.3,darknet\n192.0.2.4,\n",
    );
    assert!(rejections.is_empty(), "{rejections:?}");
    let types: Vec<&str> = events
        .iter()
        .map(|e| e.classification_type.as_str())
        .collect();
    assert_eq!(
        types,
        ["infected-system", "scanner", "undetermined", "undetermined"]
    );
    let ids: Vec<Option<&str>> = events
        .iter()
        .map(|e| e.classification_identifier.as_deref())
        .collect();
    // Without a default, an unlisted value is used as it is.
    assert_eq!(
        ids,
        [
            Some("botnet-drone"),
            Some("scanners"),
            Some("darknet"),
            None
        ]
    );
    // A map that could give a value outside RSIT is refused when the definition is read.
    let e = Feed::from_toml(
        "name='t'\nformat='csv'\n[fields]\nip='source.ip'\n[[map]]\nfrom='c'\nto='classification.type'\nvalues={a='botnet'}\n",
        "t.toml",
    )
    .unwrap_err();
    assert!(e.to_string().contains("map[0].values.\"a\""), "{e}");
}

#[test]
fn a_default_url_scheme() {
    let f = feed(
        "name='t'\nformat='csv'\ndefault_url_scheme='http'\n[fields]\nurl='source.url'\n[constants]\n'classification.type'='phishing'\n",
    );
    let (events, _) = run(
        &f,
        "url\nwww.example.com/x\nhttps://example.org/a\nftp://example.net/f\n",
    );
    let urls: Vec<&str> = events
        .iter()
        .filter_map(|e| e.source_url.as_deref())
        .collect();
    assert_eq!(
        urls,
        [
            "http://www.example.com/x",
            "https://example.org/a",
            "ftp://example.net/f"
        ]
    );
    assert!(Feed::from_toml("name='t'\nformat='list'\ndefault_url_scheme='ht tp'\n", "t").is_err());
}

const COMPOSE: &str = r##"
name = "t-compose"
format = "csv"
[[split]]
from = "endpoint"
into = ["source.ip", "source.port"]
separator = ":"
[[join]]
from = ["start", "prefix"]
into = "source.network"
separator = "/"
"##;

#[test]
fn split_host_and_port_and_join_address_and_prefix() {
    let f = feed(COMPOSE);
    let (events, rejections) = run(
        &f,
        "endpoint,start,prefix\n192.0.2.1:8080,192.0.2.0,24\n[2001:db8::1]:443,,\n2001:db8::2,2001:db8::,32\n198.51.100.1,,\n",
    );
    assert!(rejections.is_empty(), "{rejections:?}");
    let got: Vec<(String, Option<u16>, Option<String>)> = events
        .iter()
        .map(|e| {
            (
                e.source_ip.unwrap().to_string(),
                e.source_port,
                e.source_network.map(|n| n.to_string()),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("192.0.2.1".into(), Some(8080), Some("192.0.2.0/24".into())),
            ("2001:db8::1".into(), Some(443), None),
            ("2001:db8::2".into(), None, Some("2001:db8::/32".into())),
            ("198.51.100.1".into(), None, None),
        ]
    );
    // A bad port is quarantined naming the field.
    let (_, rejections) = run(&f, "endpoint,start,prefix\n192.0.2.1:99999,,\n");
    assert_eq!(rejections[0].field.as_deref(), Some("source.port"));
}

/// Spamhaus ASN-DROP: records with an ASN and nothing else.
#[test]
fn records_keyed_by_an_asn_alone() {
    let f = feed(
        r##"
name = "spamhaus-asndrop"
format = "jsonl"
[jsonl]
skip_where = { type = "metadata" }
[fields]
asn = "source.asn"
asname = "source.as_name"
cc = "source.geolocation.cc"
[constants]
"classification.type" = "blacklist"
"##,
    );
    let input = "{\"asn\":64500,\"rir\":\"ripencc\",\"domain\":\"example.net\",\"cc\":\"NL\",\"asname\":\"EXAMPLE-AS\"}\n\
        {\"asn\":64501,\"cc\":\"US\",\"asname\":\"OTHER\"}\n\
        {\"rir\":\"arin\"}\n\
        {\"type\":\"metadata\",\"records\":2}\n";
    let (events, rejections) = run(&f, input);
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].source_asn, Some(64500));
    assert_eq!(
        rejections.len(),
        1,
        "a record without any indicator still is quarantined"
    );
    // Each ASN is its own event under the default key.
    let mut buf = Vec::new();
    assert_ne!(
        f.dedup.event_id(&events[0], &mut buf),
        f.dedup.event_id(&events[1], &mut buf)
    );
    // The text list keyed by ASN.
    let f = feed(
        "name='t'\nformat='list'\n[list]\nfield='source.asn'\nseparator=';'\nrest_field='extra.info'\n[constants]\n'classification.type'='blacklist'\n",
    );
    let (events, rejections) = run(
        &f,
        "; header\nAS64500 ; NL | EXAMPLE-AS\nAS64501 ; US | OTHER\n",
    );
    assert!(rejections.is_empty(), "{rejections:?}");
    assert_eq!(events[1].source_asn, Some(64501));
    assert_eq!(extra(&events[1], "info"), Some("US | OTHER"));
}

const PAIRS: &str = r##"
name = "t-pairs"
format = "csv"
[fields]
ip = "source.ip"
[[pairs]]
from = "info"
separator = ";"
assign = "="
fields = { port = "source.port", proto = "protocol.transport" }
[[capture]]
from = "comment"
pattern = '^(?P<family>[A-Za-z]+) C2 on port (?P<port>[0-9]+)$'
fields = { family = "malware.name", port = "destination.port" }
"##;

#[test]
fn key_value_pairs_and_regular_expression_captures() {
    let f = feed(PAIRS);
    let (events, rejections) = run(
        &f,
        "ip,info,comment
         192.0.2.1,port=23; proto=tcp; Banner Text=BusyBox v1.19,Mirai C2 on port 4444
         192.0.2.2,,something else
         192.0.2.3,port=23; garbage,x
         192.0.2.4,port=99999,x
",
    );
    assert_eq!(events.len(), 2, "{rejections:?}");
    let e = &events[0];
    assert_eq!(e.source_port, Some(23));
    assert_eq!(
        e.protocol_transport.map(|t| t.to_string()).as_deref(),
        Some("tcp")
    );
    assert_eq!(
        extra(e, "banner_text"),
        Some("BusyBox v1.19"),
        "other keys go to extra"
    );
    assert_eq!(e.malware_name.as_deref(), Some("mirai"));
    assert_eq!(e.destination_port, Some(4444));
    assert_eq!(
        (events[1].source_port, events[1].malware_name.as_deref()),
        (None, None)
    );
    assert_eq!(
        rejections
            .iter()
            .map(|r| (r.line, r.field.clone()))
            .collect::<Vec<_>>(),
        [
            (4, Some("info".to_string())),
            (5, Some("source.port".to_string()))
        ]
    );
    // A bad pattern, or a field naming no group, is refused with its setting.
    for (bad, setting) in [
        (
            "pattern = '(unclosed'\nfields = { a = 'source.ip' }",
            "capture[0].pattern",
        ),
        (
            "pattern = '(?P<a>x)'\nfields = { b = 'source.ip' }",
            "capture[0].fields.\"b\"",
        ),
    ] {
        let e = Feed::from_toml(
            &format!("name='t'\nformat='csv'\n[[capture]]\nfrom='c'\n{bad}\n"),
            "t.toml",
        )
        .unwrap_err();
        assert!(e.to_string().contains(setting), "{e}");
    }
}

/// Conditional rules: Shadowserver-style reports where a column, when filled, says more.
#[test]
fn conditional_rules_set_fields_when_a_column_has_a_value() {
    let f = feed(
        r##"
name = "t-when"
format = "csv"
[fields]
ip = "source.ip"
[constants]
"classification.type" = "vulnerable-system"
[[when]]
from = "infection"
set = { "classification.type" = "infected-system", "classification.identifier" = "botnet-drone" }
[[when]]
from = "tag"
is = ["mirai", "gafgyt"]
set = { "malware.name" = "iot-botnet", "comment" = "IoT" }
"##,
    );
    let (events, rejections) = run(
        &f,
        "ip,infection,tag
192.0.2.1,andromeda,mirai
192.0.2.2,,gafgyt
192.0.2.3,,other
",
    );
    assert!(rejections.is_empty(), "{rejections:?}");
    let got: Vec<(&str, Option<&str>, Option<&str>)> = events
        .iter()
        .map(|e| {
            (
                e.classification_type.as_str(),
                e.classification_identifier.as_deref(),
                e.malware_name.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("infected-system", Some("botnet-drone"), Some("iot-botnet")),
            ("vulnerable-system", None, Some("iot-botnet")),
            ("vulnerable-system", None, None),
        ]
    );
    let e = Feed::from_toml(
        "name='t'\nformat='csv'\n[[when]]\nfrom='x'\nset={'classification.type'='botnet'}\n",
        "t.toml",
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("when[0].set.\"classification.type\""),
        "{e}"
    );
}

fn any_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        any::<u128>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Values with no blank next to a `|` survive a `  |  ` delimiter unchanged, `|` included.
    #[test]
    fn a_long_delimiter_splits_exactly(values in prop::collection::vec("[a-z0-9|.-]{0,12}", 3)) {
        let f = feed("name='t'\nformat='csv'\n[csv]\ndelimiter='  |  '\n[fields]\nip='source.ip'\na='extra.a'\nb='extra.b'\nc='extra.c'\n");
        let line = format!("192.0.2.1  |  {}", values.join("  |  "));
        let (events, rejections) = run(&f, &format!("ip  |  a  |  b  |  c\n{line}\n"));
        prop_assert!(rejections.is_empty(), "{:?}", rejections);
        for (key, want) in ["a", "b", "c"].iter().zip(&values) {
            let want = (!want.is_empty()).then_some(want.as_str());
            prop_assert_eq!(extra(&events[0], key), want);
        }
    }

    /// Any value, quoted (quotes doubled), comes back whole, even holding the delimiter.
    #[test]
    fn quoted_values_hold_the_delimiter(value in "[a-z |\"]{0,16}") {
        let f = feed("name='t'\nformat='csv'\n[csv]\ndelimiter='  |  '\n[fields]\nip='source.ip'\nv='extra.v'\n");
        let quoted = format!("\"{}\"", value.replace('"', "\"\""));
        let (events, rejections) = run(&f, &format!("ip  |  v\n192.0.2.1  |  {quoted}\n"));
        prop_assert!(rejections.is_empty(), "{:?}", rejections);
        let want = value.trim();
        prop_assert_eq!(extra(&events[0], "v"), (!want.is_empty()).then_some(want));
    }

    /// host:port splits back into the address and port it was made of (IPv6 in brackets).
    #[test]
    fn host_port_round_trips(ip in any_ip(), port in any::<u16>()) {
        let f = feed(COMPOSE);
        let endpoint = match ip {
            IpAddr::V4(a) => format!("{a}:{port}"),
            IpAddr::V6(a) => format!("[{a}]:{port}"),
        };
        let (events, rejections) = run(&f, &format!("endpoint,start,prefix\n{endpoint},,\n"));
        prop_assert!(rejections.is_empty(), "{:?}", rejections);
        prop_assert_eq!(events[0].source_ip, Some(ip));
        prop_assert_eq!(events[0].source_port, Some(port));
    }

    /// Address + prefix length joins into that network; host bits set are quarantined.
    #[test]
    fn address_and_prefix_join_into_the_network(a in any::<u32>(), len in 0u8..=32) {
        let f = feed(COMPOSE);
        let net = ipnet::Ipv4Net::new(Ipv4Addr::from(a), len).unwrap();
        let (events, rejections) =
            run(&f, &format!("endpoint,start,prefix\n192.0.2.1,{},{len}\n", net.addr()));
        if net.addr() == net.network() {
            prop_assert!(rejections.is_empty(), "{:?}", rejections);
            prop_assert_eq!(events[0].source_network, Some(ipnet::IpNet::V4(net)));
        } else {
            prop_assert_eq!(rejections.len(), 1);
            prop_assert_eq!(rejections[0].field.as_deref(), Some("source.network"));
        }
    }

    /// Pairs written out come back: each known key in its field, each other key in extra.
    #[test]
    fn pairs_round_trip(port in any::<u16>(), others in prop::collection::btree_map("[a-z]{1,8}", "[a-zA-Z0-9 .]{1,12}", 0..4)) {
        let f = feed(PAIRS);
        let mut info = vec![format!("port={port}")];
        for (k, v) in &others {
            if k != "port" && k != "proto" {
                info.push(format!("{k}={v}"));
            }
        }
        let (events, rejections) = run(&f, &format!("ip,info,comment\n192.0.2.1,{},\n", info.join("; ")));
        prop_assert!(rejections.is_empty(), "{:?}", rejections);
        prop_assert_eq!(events[0].source_port, Some(port));
        for (k, v) in &others {
            if k != "port" && k != "proto" {
                let v = v.trim();
                prop_assert_eq!(extra(&events[0], k), (!v.is_empty()).then_some(v));
            }
        }
    }

    /// A mapped value gives its target, any other the default.
    #[test]
    fn a_map_gives_the_listed_value_or_the_default(value in "[a-z]{1,10}") {
        let f = feed(CYMRU);
        let (events, _) = run(&f, &format!("ip,category\n192.0.2.1,{value}\n"));
        let want = match value.as_str() {
            "bots" => "infected-system",
            "scanners" => "scanner",
            "bruteforce" => "brute-force",
            _ => "undetermined",
        };
        prop_assert_eq!(events[0].classification_type.as_str(), want);
    }
}
