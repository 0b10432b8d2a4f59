//! The STIX 2.1 vocabulary Focal stores, validates and relays: every SDO, SRO, SCO and meta
//! object type of the specification, each with its required properties and the references it
//! may hold (and what they may point at).
//!
//! One table ([`TYPES`]) is the fact; [`crate::validate`] checks inbound objects against it, the
//! reference checks of [`crate::import`] read the required references from it, and
//! [`references`] finds every reference an object holds (at any depth: `granular_markings`,
//! `extensions`, `body_multipart`), for whoever must follow them. A test holds the table to the
//! JSON schemas that ship with the OASIS stix2-validator.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// STIX Domain Object.
    Sdo,
    /// STIX Relationship Object.
    Sro,
    /// STIX Cyber-observable Object.
    Sco,
    /// marking-definition, language-content, extension-definition.
    Meta,
}

/// What a required property must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A non-empty string.
    Text,
    /// A timestamp (checked as every timestamp is).
    Timestamp,
    Bool,
    /// An integer within the range.
    Integer(i64, i64),
    /// A non-empty list.
    List,
    /// A reference (checked as every reference is).
    Ref,
    /// A non-empty list of references.
    Refs,
    /// A JSON object.
    Object,
}

/// The STIX 2.1 rules of one object type.
#[derive(Debug, Clone, Copy)]
pub struct TypeRule {
    pub name: &'static str,
    pub category: Category,
    /// Properties that must be present (beyond the common ones: `type`, `id`, `spec_version`,
    /// `created`, `modified`), and what they hold.
    pub required: &'static [(&'static str, Kind)],
    /// At least one of these groups must be present whole (e.g. a location's `region`, or
    /// `country`, or `latitude` and `longitude`).
    pub one_of: &'static [&'static [&'static str]],
    /// Reference properties of this type and the types they may point at (empty: any type).
    pub refs: &'static [(&'static str, &'static [&'static str])],
}

const SOFTWARE: &[&str] = &["software"];
const FILE_OR_ARTIFACT: &[&str] = &["file", "artifact"];
const EMAIL_ADDR: &[&str] = &["email-addr"];
const ADDRESSES: &[&str] = &["ipv4-addr", "ipv6-addr", "mac-addr", "domain-name"];

const fn sdo(name: &'static str, required: &'static [(&'static str, Kind)]) -> TypeRule {
    TypeRule {
        name,
        category: Category::Sdo,
        required,
        one_of: &[],
        refs: &[],
    }
}

const fn sco(
    name: &'static str,
    required: &'static [(&'static str, Kind)],
    refs: &'static [(&'static str, &'static [&'static str])],
) -> TypeRule {
    TypeRule {
        name,
        category: Category::Sco,
        required,
        one_of: &[],
        refs,
    }
}

const NAME: &[(&str, Kind)] = &[("name", Kind::Text)];

/// Every type of STIX 2.1 (sections 4 to 7 of the specification).
pub const TYPES: &[TypeRule] = &[
    sdo("attack-pattern", NAME),
    sdo("campaign", NAME),
    sdo("course-of-action", NAME),
    sdo(
        "grouping",
        &[("context", Kind::Text), ("object_refs", Kind::Refs)],
    ),
    sdo("identity", NAME),
    sdo("incident", NAME),
    sdo(
        "indicator",
        &[
            ("pattern", Kind::Text),
            ("pattern_type", Kind::Text),
            ("valid_from", Kind::Timestamp),
        ],
    ),
    sdo("infrastructure", NAME),
    sdo("intrusion-set", NAME),
    TypeRule {
        one_of: &[&["region"], &["country"], &["latitude", "longitude"]],
        ..sdo("location", &[])
    },
    TypeRule {
        refs: &[
            ("operating_system_refs", SOFTWARE),
            ("sample_refs", FILE_OR_ARTIFACT),
        ],
        // `name` too when `is_family` is true: see `validate`.
        ..sdo("malware", &[("is_family", Kind::Bool)])
    },
    TypeRule {
        one_of: &[&["result"], &["analysis_sco_refs"]],
        refs: &[
            ("host_vm_ref", SOFTWARE),
            ("operating_system_ref", SOFTWARE),
            ("installed_software_refs", SOFTWARE),
            ("sample_ref", &["file", "artifact", "network-traffic"]),
        ],
        ..sdo("malware-analysis", &[("product", Kind::Text)])
    },
    sdo(
        "note",
        &[("content", Kind::Text), ("object_refs", Kind::Refs)],
    ),
    TypeRule {
        one_of: &[&["object_refs"], &["objects"]],
        ..sdo(
            "observed-data",
            &[
                ("first_observed", Kind::Timestamp),
                ("last_observed", Kind::Timestamp),
                ("number_observed", Kind::Integer(1, 999_999_999)),
            ],
        )
    },
    sdo(
        "opinion",
        &[("opinion", Kind::Text), ("object_refs", Kind::Refs)],
    ),
    sdo(
        "report",
        &[
            ("name", Kind::Text),
            ("published", Kind::Timestamp),
            ("object_refs", Kind::Refs),
        ],
    ),
    sdo("threat-actor", NAME),
    sdo("tool", NAME),
    sdo("vulnerability", NAME),
    TypeRule {
        name: "relationship",
        category: Category::Sro,
        required: &[
            ("relationship_type", Kind::Text),
            ("source_ref", Kind::Ref),
            ("target_ref", Kind::Ref),
        ],
        one_of: &[],
        refs: &[],
    },
    TypeRule {
        name: "sighting",
        category: Category::Sro,
        required: &[("sighting_of_ref", Kind::Ref)],
        one_of: &[],
        refs: &[
            ("observed_data_refs", &["observed-data"]),
            ("where_sighted_refs", &["identity", "location"]),
        ],
    },
    TypeRule {
        one_of: &[&["payload_bin"], &["url"]],
        ..sco("artifact", &[], &[])
    },
    sco(
        "autonomous-system",
        &[("number", Kind::Integer(0, u32::MAX as i64))],
        &[],
    ),
    sco(
        "directory",
        &[("path", Kind::Text)],
        &[("contains_refs", &["file", "directory"])],
    ),
    sco(
        "domain-name",
        &[("value", Kind::Text)],
        &[(
            "resolves_to_refs",
            &["ipv4-addr", "ipv6-addr", "domain-name"],
        )],
    ),
    sco(
        "email-addr",
        &[("value", Kind::Text)],
        &[("belongs_to_ref", &["user-account"])],
    ),
    sco(
        "email-message",
        &[("is_multipart", Kind::Bool)],
        &[
            ("from_ref", EMAIL_ADDR),
            ("sender_ref", EMAIL_ADDR),
            ("to_refs", EMAIL_ADDR),
            ("cc_refs", EMAIL_ADDR),
            ("bcc_refs", EMAIL_ADDR),
            ("raw_email_ref", &["artifact"]),
            ("body_raw_ref", FILE_OR_ARTIFACT),
        ],
    ),
    TypeRule {
        one_of: &[&["hashes"], &["name"]],
        ..sco(
            "file",
            &[],
            &[
                ("parent_directory_ref", &["directory"]),
                ("content_ref", &["artifact"]),
            ],
        )
    },
    sco(
        "ipv4-addr",
        &[("value", Kind::Text)],
        &[
            ("resolves_to_refs", &["mac-addr"]),
            ("belongs_to_refs", &["autonomous-system"]),
        ],
    ),
    sco(
        "ipv6-addr",
        &[("value", Kind::Text)],
        &[
            ("resolves_to_refs", &["mac-addr"]),
            ("belongs_to_refs", &["autonomous-system"]),
        ],
    ),
    sco("mac-addr", &[("value", Kind::Text)], &[]),
    sco("mutex", &[("name", Kind::Text)], &[]),
    TypeRule {
        one_of: &[&["src_ref"], &["dst_ref"]],
        ..sco(
            "network-traffic",
            &[("protocols", Kind::List)],
            &[
                ("src_ref", ADDRESSES),
                ("dst_ref", ADDRESSES),
                ("src_payload_ref", &["artifact"]),
                ("dst_payload_ref", &["artifact"]),
                ("encapsulates_refs", &["network-traffic"]),
                ("encapsulated_by_ref", &["network-traffic"]),
            ],
        )
    },
    sco(
        "process",
        &[],
        &[
            ("opened_connection_refs", &["network-traffic"]),
            ("creator_user_ref", &["user-account"]),
            ("image_ref", &["file"]),
            ("parent_ref", &["process"]),
            ("child_refs", &["process"]),
        ],
    ),
    sco("software", &[("name", Kind::Text)], &[]),
    sco("url", &[("value", Kind::Text)], &[]),
    sco("user-account", &[], &[]),
    sco(
        "windows-registry-key",
        &[],
        &[("creator_user_ref", &["user-account"])],
    ),
    sco("x509-certificate", &[], &[]),
    TypeRule {
        name: "marking-definition",
        category: Category::Meta,
        required: &[],
        one_of: &[],
        refs: &[],
    },
    TypeRule {
        name: "language-content",
        category: Category::Meta,
        required: &[("object_ref", Kind::Ref), ("contents", Kind::Object)],
        one_of: &[],
        refs: &[],
    },
    TypeRule {
        name: "extension-definition",
        category: Category::Meta,
        required: &[
            ("name", Kind::Text),
            ("schema", Kind::Text),
            ("version", Kind::Text),
            ("extension_types", Kind::List),
        ],
        one_of: &[],
        refs: &[],
    },
];

/// References every object may hold, with what they point at.
pub const COMMON_REFS: &[(&str, &[&str])] = &[
    ("created_by_ref", &["identity"]),
    ("object_marking_refs", &["marking-definition"]),
    ("marking_ref", &["marking-definition"]),
];

/// The rule of a STIX 2.1 type, if it is one.
pub fn rule(type_: &str) -> Option<&'static TypeRule> {
    TYPES.iter().find(|t| t.name == type_)
}

/// The types a reference property of an object of `type_` may point at (`None`: any type).
pub fn ref_targets(type_: &str, property: &str) -> Option<&'static [&'static str]> {
    COMMON_REFS
        .iter()
        .chain(rule(type_).map_or(NONE_REFS, |r| r.refs))
        .find(|(p, _)| *p == property)
        .map(|(_, t)| *t)
        .filter(|t| !t.is_empty())
}

const NONE_REFS: &[(&str, &[&str])] = &[];

/// The reference properties an object of `type_` cannot do without (a relationship's ends, a
/// sighting's subject, ...): they must resolve to an object the receiver holds.
pub fn required_refs(type_: &str) -> impl Iterator<Item = &'static str> {
    rule(type_)
        .into_iter()
        .flat_map(|r| r.required.iter())
        .filter(|(_, k)| *k == Kind::Ref)
        .map(|(p, _)| *p)
}

/// One reference held by an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference<'a> {
    /// Where: `created_by_ref`, `object_refs[3]`, `granular_markings[0].marking_ref`, ...
    pub path: String,
    /// The property name that holds it (`object_refs`, `marking_ref`).
    pub property: String,
    pub id: &'a str,
}

/// Every reference an object holds, at any depth, in key order: properties named
/// `*_ref` (a string) or `*_refs` (a list of strings), as STIX 2.1 names them (§3.1). Values of
/// the wrong shape are skipped here; [`crate::validate`] refuses them.
pub fn references(object: &Value) -> Vec<Reference<'_>> {
    fn walk<'a>(v: &'a Value, path: &str, out: &mut Vec<Reference<'a>>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    let here = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    if k.ends_with("_ref")
                        && let Some(id) = v.as_str()
                    {
                        out.push(Reference {
                            path: here,
                            property: k.clone(),
                            id,
                        });
                    } else if k.ends_with("_refs")
                        && let Some(list) = v.as_array()
                    {
                        for (i, id) in list.iter().enumerate() {
                            if let Some(id) = id.as_str() {
                                out.push(Reference {
                                    path: format!("{here}[{i}]"),
                                    property: k.clone(),
                                    id,
                                });
                            }
                        }
                    } else {
                        walk(v, &here, out);
                    }
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, &format!("{path}[{i}]"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(object, "", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_stix_2_1_type_is_in_the_table_once() {
        let count = |c: Category| TYPES.iter().filter(|t| t.category == c).count();
        assert_eq!(count(Category::Sdo), 19);
        assert_eq!(count(Category::Sro), 2);
        assert_eq!(count(Category::Sco), 18);
        assert_eq!(count(Category::Meta), 3);
        let mut names: Vec<_> = TYPES.iter().map(|t| t.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), TYPES.len());
    }

    #[test]
    fn references_are_found_at_any_depth() {
        let o = json!({
            "type": "email-message", "id": "email-message--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",
            "from_ref": "email-addr--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0062",
            "to_refs": ["email-addr--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0063"],
            "body_multipart": [{"body_raw_ref": "artifact--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0064"}],
            "granular_markings": [{"marking_ref": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da", "selectors": ["subject"]}],
        });
        let paths: Vec<String> = references(&o).into_iter().map(|r| r.path).collect();
        assert_eq!(
            paths,
            [
                "body_multipart[0].body_raw_ref",
                "from_ref",
                "granular_markings[0].marking_ref",
                "to_refs[0]"
            ]
        );
        assert_eq!(
            ref_targets("sighting", "where_sighted_refs"),
            Some(&["identity", "location"][..])
        );
        assert_eq!(ref_targets("relationship", "source_ref"), None);
        assert_eq!(
            required_refs("relationship").collect::<Vec<_>>(),
            ["source_ref", "target_ref"]
        );
    }
}
