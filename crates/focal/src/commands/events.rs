//! `focal events`: filtered listing and export.

use super::open;
use super::table::{Table, col, num};
use crate::cli::{EventFormat, EventsArgs};
use anyhow::{Context, Result};
use focal_model::{Event, Field};
use focal_store::EventFilter;
use std::io::Write;
use std::path::Path;

/// Columns of the CSV export: IntelMQ's fields in its order, then the TLP label and the constituent.
fn csv_fields() -> impl Iterator<Item = &'static Field> {
    focal_model::intelmq::FIELDS
        .iter()
        .chain([Field::Tlp, Field::Constituent].iter())
}

fn parse_time(flag: &str, text: &str) -> Result<jiff::Timestamp> {
    if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        return Ok(ts);
    }
    let date: jiff::civil::Date = text.parse().with_context(|| {
        format!(
            "--{flag} {text:?}: expected RFC 3339 (2026-11-23T10:00:00Z) or a date (2026-11-23)"
        )
    })?;
    Ok(date.to_zoned_datetime(jiff::tz::TimeZone::UTC)?.timestamp())
}

pub fn filter(args: &EventsArgs) -> Result<EventFilter> {
    let network = args
        .ip
        .as_deref()
        .map(|ip| {
            focal_model::event::parse_network(ip.trim()).map_err(|_| {
                anyhow::anyhow!("--ip {ip:?}: expected an IP address or a CIDR network")
            })
        })
        .transpose()?;
    let asn = args
        .asn
        .as_deref()
        .map(|a| focal_model::event::parse_asn(a.trim()).map_err(|e| anyhow::anyhow!("--asn: {e}")))
        .transpose()?;
    if let Some(t) = &args.type_ {
        t.parse::<focal_model::ClassificationType>()
            .map_err(|e| anyhow::anyhow!("--type: {e}"))?;
    }
    if let Some(cc) = &args.country {
        cc.parse::<focal_model::CountryCode>()
            .map_err(|e| anyhow::anyhow!("--country: {e}"))?;
    }
    Ok(EventFilter {
        constituent: args.constituent.clone(),
        unassigned: args.unassigned,
        network,
        asn,
        country: args.country.clone(),
        classification_type: args
            .type_
            .as_deref()
            .and_then(|t| t.parse::<focal_model::ClassificationType>().ok())
            .map(|t| t.as_str().to_string()),
        feed: args.feed.clone(),
        since: args
            .since
            .as_deref()
            .map(|t| parse_time("since", t))
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(|t| parse_time("until", t))
            .transpose()?,
        limit: (args.limit > 0).then_some(args.limit),
        after_seq: args.after,
        ..EventFilter::default()
    })
}

pub fn run(data: &Path, args: &EventsArgs, json: bool) -> Result<()> {
    let (_, store) = open(data)?;
    let filter = filter(args)?;
    let format = if json { EventFormat::Json } else { args.format };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match format {
        EventFormat::Table => {
            let mut table = Table::new(&[
                col("time.source"),
                col("source.ip"),
                num("asn"),
                col("cc"),
                col("constituent").max(24),
                col("type").max(24),
                col("malware").max(24),
                col("feed"),
            ]);
            store.events(&filter, &mut |e: Event| {
                let t = |f: &Field| {
                    e.get_text(f)
                        .map(|c| c.into_owned())
                        .unwrap_or_else(|| "-".into())
                };
                table
                    .row(
                        &mut out,
                        vec![
                            t(&Field::TimeSource),
                            e.source_ip
                                .map(|i| i.to_string())
                                .or(e.source_network.map(|n| n.to_string()))
                                .or(e.source_fqdn.clone())
                                .unwrap_or_else(|| "-".into()),
                            t(&Field::SourceAsn),
                            t(&Field::SourceCountry),
                            t(&Field::Constituent),
                            e.classification_type.as_str().to_string(),
                            t(&Field::MalwareName),
                            e.feed_name.to_string(),
                        ],
                    )
                    .map_err(io_err)
            })?;
            table.finish(&mut out, "No events match.")?;
        }
        EventFormat::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record(csv_fields().map(|f| f.name().into_owned()))?;
            store.events(&filter, &mut |e: Event| {
                w.write_record(
                    csv_fields().map(|f| e.get_text(f).map(|c| c.into_owned()).unwrap_or_default()),
                )
                .map_err(|e| io_err(e.into()))
            })?;
            w.flush()?;
            return Ok(());
        }
        EventFormat::Json => {
            // Streamed as one array, so memory stays flat for large exports.
            write!(out, "[")?;
            let mut first = true;
            store.events(&filter, &mut |e: Event| {
                let sep = if first { "\n" } else { ",\n" };
                first = false;
                write!(out, "{sep}").map_err(io_err)?;
                serde_json::to_writer(&mut out, &focal_model::intelmq::to_json(&e))
                    .map_err(|e| io_err(e.into()))
            })?;
            writeln!(out, "\n]")?;
        }
        EventFormat::Intelmq => {
            store.events(&filter, &mut |e: Event| {
                serde_json::to_writer(&mut out, &focal_model::intelmq::to_json(&e))
                    .map_err(|e| io_err(e.into()))?;
                writeln!(out).map_err(io_err)
            })?;
        }
    }
    out.flush()?;
    Ok(())
}

fn io_err(e: std::io::Error) -> focal_store::StoreError {
    focal_store::StoreError::Io {
        path: "<stdout>".into(),
        source: e,
    }
}
