//! Rendering a digest: subject and plain-text body from a template, and the attachments.
//!
//! Templates are plain text with `{placeholder}`s, hand-substituted: a template engine would
//! add a dependency and a language for the ten fixed values a digest has. A template's first
//! line is `Subject: ...`, then a blank line, then the body.

use focal_model::{Constituent, Event, Field, Tlp};
use std::collections::BTreeMap;
use std::path::Path;

const EN: &str = include_str!("templates/digest.en.txt");
const DE: &str = include_str!("templates/digest.de.txt");

/// The built-in template languages.
pub const BUILT_IN: [&str; 2] = ["en", "de"];

/// Templates by language tag (lower case).
#[derive(Debug, Clone)]
pub struct Templates {
    by_language: BTreeMap<String, Template>,
}

#[derive(Debug, Clone)]
struct Template {
    subject: String,
    body: String,
}

fn parse_template(text: &str, origin: &str) -> crate::Result<Template> {
    let text = text.replace("\r\n", "\n");
    let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let subject = first.strip_prefix("Subject:").ok_or_else(|| {
        crate::Error::Invalid(format!(
            "{origin}, line 1: a template starts with \"Subject: ...\""
        ))
    })?;
    Ok(Template {
        subject: subject.trim().to_string(),
        body: rest.trim_start_matches('\n').to_string(),
    })
}

impl Templates {
    /// The built-in templates, then every `digest.<language>.txt` in `dir` (which win).
    pub fn load(dir: Option<&Path>) -> crate::Result<Templates> {
        let mut by_language = BTreeMap::new();
        by_language.insert("en".to_string(), parse_template(EN, "built-in en")?);
        by_language.insert("de".to_string(), parse_template(DE, "built-in de")?);
        if let Some(dir) = dir {
            let entries = std::fs::read_dir(dir).map_err(|e| {
                crate::Error::Invalid(format!("reading templates from {}: {e}", dir.display()))
            })?;
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let Some(lang) = name
                    .strip_prefix("digest.")
                    .and_then(|n| n.strip_suffix(".txt"))
                else {
                    continue;
                };
                let path = entry.path();
                // Bounded: a template is a page of text, not a data file.
                let meta = std::fs::metadata(&path)
                    .map_err(|e| crate::Error::Invalid(format!("{}: {e}", path.display())))?;
                if meta.len() > 64 * 1024 {
                    return Err(crate::Error::Invalid(format!(
                        "{}: a template may be at most 64 KiB",
                        path.display()
                    )));
                }
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| crate::Error::Invalid(format!("{}: {e}", path.display())))?;
                by_language.insert(
                    lang.to_ascii_lowercase(),
                    parse_template(&text, &path.display().to_string())?,
                );
            }
        }
        Ok(Templates { by_language })
    }

    /// The template for a language: the exact tag, then its primary subtag, then English.
    fn pick(&self, language: Option<&str>) -> (&str, &Template) {
        let lang = language.unwrap_or("en").to_ascii_lowercase();
        let primary = lang.split('-').next().unwrap_or("en").to_string();
        for candidate in [lang, primary, "en".to_string()] {
            if let Some((k, t)) = self.by_language.get_key_value(&candidate) {
                return (k, t);
            }
        }
        unreachable!("the English template is built in")
    }
}

/// What a TLP label asks of the recipient, from the FIRST TLP 2.0 definitions.
pub fn tlp_guidance(tlp: Tlp, language: &str) -> &'static str {
    match (language.split('-').next().unwrap_or("en"), tlp) {
        ("de", Tlp::Clear) => {
            "TLP:CLEAR: Die Informationen dürfen ohne Einschränkung weitergegeben werden."
        }
        ("de", Tlp::Green) => {
            "TLP:GREEN: Sie dürfen die Informationen innerhalb Ihrer Community (Partner und Peers) teilen, aber nicht öffentlich."
        }
        ("de", Tlp::Amber) => {
            "TLP:AMBER: Sie dürfen die Informationen nur nach dem Need-to-know-Prinzip innerhalb Ihrer Organisation und an deren Kunden weitergeben, die sie zum Schutz oder zur Schadensbegrenzung brauchen."
        }
        ("de", Tlp::AmberStrict) => {
            "TLP:AMBER+STRICT: Sie dürfen die Informationen nur nach dem Need-to-know-Prinzip innerhalb Ihrer eigenen Organisation weitergeben."
        }
        ("de", Tlp::Red) => {
            "TLP:RED: Nur für die persönlich adressierten Empfänger; keine Weitergabe."
        }
        (_, Tlp::Clear) => "TLP:CLEAR: you may share this information without restriction.",
        (_, Tlp::Green) => {
            "TLP:GREEN: you may share this information with peers and partner organisations in your community, but not publicly."
        }
        (_, Tlp::Amber) => {
            "TLP:AMBER: you may share this information only on a need-to-know basis within your organisation and with its clients who need it to protect themselves or prevent further harm."
        }
        (_, Tlp::AmberStrict) => {
            "TLP:AMBER+STRICT: you may share this information only on a need-to-know basis within your own organisation."
        }
        (_, Tlp::Red) => "TLP:RED: for the named recipients only; do not share it further.",
    }
}

fn withheld_note(n: usize, max: Tlp, language: &str) -> String {
    if n == 0 {
        return String::new();
    }
    if language.starts_with("de") {
        format!(
            "{n} weitere Ereignisse sind strenger als {} eingestuft und werden nicht per E-Mail verschickt; bitte kontaktieren Sie uns dafür.\n",
            max.label()
        )
    } else {
        format!(
            "{n} further events are marked more restrictively than {} and are not sent by e-mail; please contact us for them.\n",
            max.label()
        )
    }
}

/// A rendered notification.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Digest {
    pub subject: String,
    pub body: String,
    /// `events.csv`.
    pub csv: String,
    /// `events-intelmq.jsonl`: one IntelMQ JSON event per line.
    pub intelmq: String,
    /// Events included.
    pub events: usize,
    /// Events held back because of their TLP.
    pub withheld: usize,
    /// The most restrictive TLP of the included events (the message's marking).
    pub tlp: Tlp,
    pub language: String,
}

/// The CSV attachment's columns (IntelMQ names), with the Focal event id first.
pub const CSV_FIELDS: &[Field] = &[
    Field::TimeSource,
    Field::TimeObservation,
    Field::ClassificationTaxonomy,
    Field::ClassificationType,
    Field::SourceIp,
    Field::SourcePort,
    Field::SourceNetwork,
    Field::SourceAsn,
    Field::SourceFqdn,
    Field::SourceUrl,
    Field::DestinationIp,
    Field::DestinationPort,
    Field::ProtocolTransport,
    Field::MalwareName,
    Field::FeedName,
    Field::Tlp,
];

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Renders the digest of `events` (the message's whole range) for `constituent`. Events above
/// `max_tlp` are left out and counted.
pub fn render(
    templates: &Templates,
    organisation: &str,
    max_tlp: Tlp,
    constituent: &Constituent,
    reference: &str,
    events: &[Event],
) -> crate::Result<Digest> {
    let (language, template) = templates.pick(constituent.language.as_deref());
    let included: Vec<&Event> = events.iter().filter(|e| e.tlp <= max_tlp).collect();
    let withheld = events.len() - included.len();
    let tlp = included.iter().map(|e| e.tlp).max().unwrap_or(Tlp::Clear);

    let mut csv = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| crate::Error::Invalid(format!("writing the CSV attachment: {e}"));
    let mut header = vec!["focal.event_id".to_string()];
    header.extend(CSV_FIELDS.iter().map(|f| f.name().into_owned()));
    csv.write_record(&header).map_err(csv_err)?;
    let mut intelmq = String::new();
    let mut types: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &included {
        let mut row = vec![e.id.to_string()];
        row.extend(
            CSV_FIELDS
                .iter()
                .map(|f| e.get_text(f).map(|v| v.into_owned()).unwrap_or_default()),
        );
        csv.write_record(&row).map_err(csv_err)?;
        intelmq.push_str(&serde_json::Value::Object(focal_model::intelmq::to_json(e)).to_string());
        intelmq.push('\n');
        *types.entry(e.classification_type.as_str()).or_default() += 1;
    }
    let csv = String::from_utf8(csv.into_inner().map_err(|e| {
        crate::Error::Invalid(format!("writing the CSV attachment: {}", e.error()))
    })?)
    .map_err(|e| crate::Error::Invalid(format!("the CSV attachment is not UTF-8: {e}")))?;
    let first = included.iter().map(|e| e.effective_time()).min();
    let last = included.iter().map(|e| e.effective_time()).max();
    let time = |t: Option<jiff::Timestamp>| t.map(|t| t.to_string()).unwrap_or_default();
    let types = types
        .iter()
        .map(|(t, n)| format!("{t} ({n})"))
        .collect::<Vec<_>>()
        .join(", ");
    let fill = |text: &str| {
        text.replace("{name}", &constituent.name)
            .replace("{id}", &constituent.id)
            .replace("{count}", &included.len().to_string())
            .replace("{tlp}", tlp.label())
            .replace("{tlp_guidance}", tlp_guidance(tlp, language))
            .replace("{types}", &types)
            .replace("{first}", &time(first))
            .replace("{last}", &time(last))
            .replace("{withheld}", &withheld_note(withheld, max_tlp, language))
            .replace("{organisation}", organisation)
            .replace("{reference}", reference)
    };
    Ok(Digest {
        subject: one_line(&fill(&template.subject)),
        body: fill(&template.body),
        csv,
        intelmq,
        events: included.len(),
        withheld,
        tlp,
        language: language.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use focal_model::ClassificationType;
    use std::sync::Arc;

    fn event(ip: &str, tlp: Tlp) -> Event {
        let mut e = Event::new(
            Arc::from("feed"),
            "2026-11-24T10:00:00Z".parse().unwrap(),
            ClassificationType::InfectedSystem,
        );
        e.source_ip = Some(ip.parse().unwrap());
        e.tlp = tlp;
        e
    }

    fn org(language: Option<&str>) -> Constituent {
        Constituent {
            id: "org-1".into(),
            name: "Alpha".into(),
            abuse_email: "abuse@alpha.example".into(),
            asns: vec![],
            netblocks: vec![],
            domains: vec![],
            language: language.map(Into::into),
            also_notify: Vec::new(),
        }
    }

    #[test]
    fn digest_lists_events_and_holds_back_red() {
        let t = Templates::load(None).unwrap();
        let events = [
            event("192.0.2.1", Tlp::Green),
            event("192.0.2.2", Tlp::Amber),
            event("192.0.2.3", Tlp::Red),
        ];
        let d = render(&t, "CERT-X", Tlp::AmberStrict, &org(None), "<r@x>", &events).unwrap();
        assert_eq!((d.events, d.withheld, d.tlp), (2, 1, Tlp::Amber));
        assert!(d.subject.contains("TLP:AMBER"), "{}", d.subject);
        assert!(d.body.contains("need-to-know"), "{}", d.body);
        assert!(d.body.contains("1 further events"), "{}", d.body);
        assert!(d.body.contains("infected-system (2)"), "{}", d.body);
        assert_eq!(d.csv.lines().count(), 3);
        assert!(d.csv.contains("192.0.2.2") && !d.csv.contains("192.0.2.3"));
        assert_eq!(d.intelmq.lines().count(), 2);
        for line in d.intelmq.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["__type"], "Event");
        }
    }

    #[test]
    fn language_falls_back_from_region_to_primary_to_english() {
        let t = Templates::load(None).unwrap();
        let events = [event("192.0.2.1", Tlp::Amber)];
        let de = render(&t, "CERT-X", Tlp::Red, &org(Some("de-AT")), "r", &events).unwrap();
        assert_eq!(de.language, "de");
        assert!(de.body.contains("Need-to-know"), "{}", de.body);
        let xx = render(&t, "CERT-X", Tlp::Red, &org(Some("pt-BR")), "r", &events).unwrap();
        assert_eq!(xx.language, "en");
    }

    #[test]
    fn custom_templates_override_and_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("digest.fr.txt"),
            "Subject: [{tlp}] {count} événements\n\nBonjour {name}\n",
        )
        .unwrap();
        let t = Templates::load(Some(dir.path())).unwrap();
        let d = render(
            &t,
            "C",
            Tlp::Red,
            &org(Some("fr")),
            "r",
            &[event("192.0.2.1", Tlp::Amber)],
        )
        .unwrap();
        assert_eq!(d.subject, "[TLP:AMBER] 1 événements");
        assert_eq!(d.body, "Bonjour Alpha\n");
        std::fs::write(dir.path().join("digest.it.txt"), "Ciao\n").unwrap();
        let e = Templates::load(Some(dir.path())).unwrap_err().to_string();
        assert!(e.contains("digest.it.txt, line 1"), "{e}");
    }
}
