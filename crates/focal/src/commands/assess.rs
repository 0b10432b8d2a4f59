//! `focal frameworks` and `focal assess`: frameworks as data, and self-assessments against them
//! (answers, evidence, scores, gaps, comparison, completion, reports). The rules are in
//! `focal-assessment`; this is the command line over them.

use super::audit::actor;
use super::table::{Table, col, num};
use super::{open, print_json};
use anyhow::{Context, Result, bail};
use clap::Subcommand;
use focal_assessment::assessment::*;
use focal_assessment::framework::Framework;
use focal_assessment::ops;
use focal_assessment::score::{compare, score};
use focal_assessment::store::{AssessmentFilter, Storage};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub enum FrameworksCommand {
    /// The frameworks: the shipped ones and those added to this data folder.
    List,
    /// One framework: sections, items (marked verbatim or summary), scale, source.
    Show {
        id: String,
        #[arg(long)]
        version: Option<String>,
    },
    /// Check a framework file (TOML or JSON); every problem is named with its path.
    Validate { file: PathBuf },
    /// Check a framework file and add it to this data folder.
    Add { file: PathBuf },
}

#[derive(Subcommand, Debug)]
pub enum AssessCommand {
    /// Start an assessment. It starts from a copy of the subject's latest completed assessment
    /// against the same framework, unless --blank (or --from names another).
    New {
        #[arg(long)]
        framework: String,
        #[arg(long)]
        version: Option<String>,
        /// The organisation or country assessed.
        #[arg(long)]
        subject: String,
        /// `organisation` or `country` [default: the framework's subject].
        #[arg(long)]
        kind: Option<String>,
        /// The constituent id, when the subject is one.
        #[arg(long)]
        constituent: Option<String>,
        /// Copy the answers of this completed assessment.
        #[arg(long, conflicts_with = "blank")]
        from: Option<i64>,
        /// Start with no answers.
        #[arg(long)]
        blank: bool,
    },
    /// Answer an item, and record its evidence, owner and target.
    Answer {
        id: i64,
        item: String,
        /// A level of the framework's scale, or `n/a`.
        level: Option<String>,
        /// The evidence narrative (replaces the previous one).
        #[arg(long)]
        evidence: Option<String>,
        /// An evidence link (http or https); repeat for several.
        #[arg(long)]
        link: Vec<String>,
        /// Remove the links recorded so far.
        #[arg(long)]
        clear_links: bool,
        /// An evidence file to attach (at most 10 MiB); repeat for several.
        #[arg(long)]
        file: Vec<PathBuf>,
        #[arg(long)]
        owner: Option<String>,
        /// The level aimed for, instead of the framework's default target.
        #[arg(long)]
        target: Option<String>,
        /// When the target should be reached (YYYY-MM-DD).
        #[arg(long)]
        target_date: Option<jiff::civil::Date>,
        /// Clear the answer (evidence stays).
        #[arg(long, conflicts_with = "level")]
        clear: bool,
    },
    /// List assessments.
    List {
        #[arg(long)]
        subject: Option<String>,
        #[arg(long)]
        framework: Option<String>,
        /// `draft` or `completed`.
        #[arg(long)]
        status: Option<String>,
    },
    /// One assessment with its answers.
    Show { id: i64 },
    /// Scores per section and overall, the method, and the ranked gaps.
    Score { id: i64 },
    /// What changed between two assessments of one subject and framework (default: the one
    /// before it).
    Compare { id: i64, other: Option<i64> },
    /// Complete a draft: it can no longer change, and its reassessment falls due.
    Complete {
        id: i64,
        /// The reassessment date [default: the framework's interval after today].
        #[arg(long)]
        due: Option<jiff::civil::Date>,
    },
    /// Reassessments due: overdue ones, and those due within --within days.
    Due {
        #[arg(long, default_value_t = 30)]
        within: i64,
    },
    /// A standalone report: HTML (charts inline) or JSON.
    Export {
        id: i64,
        #[arg(long, default_value = "html")]
        format: String,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

fn read_framework(file: &Path) -> Result<(Framework, String)> {
    let text = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    if text.len() > focal_assessment::framework::MAX_FILE_BYTES {
        bail!(
            "{}: {} bytes; a framework file may have at most {}",
            file.display(),
            text.len(),
            focal_assessment::framework::MAX_FILE_BYTES
        );
    }
    let text =
        String::from_utf8(text).with_context(|| format!("{} is not UTF-8", file.display()))?;
    let f = Framework::parse(&file.display().to_string(), &text)?;
    Ok((f, text))
}

pub fn frameworks(data: &Path, cmd: FrameworksCommand, json: bool) -> Result<()> {
    if let FrameworksCommand::Validate { file } = &cmd {
        let (f, _) = read_framework(file)?;
        if json {
            return print_json(
                &serde_json::json!({"file": file, "valid": true, "id": f.id, "version": f.version, "items": f.leaves().len()}),
            );
        }
        println!(
            "{}: valid ({} {}, {} sections, {} items).",
            file.display(),
            f.id,
            f.version,
            f.sections.len(),
            f.leaves().len()
        );
        return Ok(());
    }
    let (_, store) = open(data)?;
    let s = store.assessment();
    match cmd {
        FrameworksCommand::List => {
            let list = ops::frameworks(&*s)?;
            if json {
                let rows: Vec<_> = list.iter().map(|(f, o)| serde_json::json!({
                    "id": f.id, "version": f.version, "title": f.title, "subject": f.subject,
                    "text_kind": f.source.text_kind, "sections": f.sections.len(), "items": f.leaves().len(), "origin": o,
                })).collect();
                return print_json(&rows);
            }
            let mut out = std::io::stdout().lock();
            let mut t = Table::new(&[
                col("framework"),
                col("version"),
                col("origin"),
                col("item texts"),
                num("items"),
                col("title"),
            ]);
            for (f, o) in &list {
                t.row(
                    &mut out,
                    vec![
                        f.id.to_string(),
                        f.version.to_string(),
                        format!("{:?}", o).to_lowercase(),
                        f.source.text_kind.as_str().into(),
                        f.leaves().len().to_string(),
                        f.short_title.as_deref().unwrap_or(&f.title).into(),
                    ],
                )?;
            }
            t.finish(&mut out, "No frameworks.")?;
            Ok(())
        }
        FrameworksCommand::Show { id, version } => {
            let f = ops::framework(&*s, &id, version.as_deref())?;
            if json {
                return print_json(&f);
            }
            println!(
                "{} ({} {}), for a {:?}; reassess every {} months",
                f.title, f.id, f.version, f.subject, f.reassess_months
            );
            println!("Source: {}", f.source.citation);
            println!("Item texts: {}", f.source.text_kind.as_str());
            let levels: Vec<String> = f
                .scale
                .levels
                .iter()
                .map(|l| format!("{} ({})", l.id, l.points))
                .collect();
            println!("Scale: {}: {}", f.scale.name, levels.join(", "));
            for section in &f.sections {
                println!(
                    "\n{} {} (weight {})",
                    section.id, section.title, section.weight
                );
                for item in &section.items {
                    let kind = f.text_kind_of(item);
                    println!(
                        "  {:<8} [{}] {}{}",
                        item.id,
                        kind.as_str(),
                        item.title
                            .as_deref()
                            .map(|t| format!("{t}: "))
                            .unwrap_or_default(),
                        item.text
                    );
                    for sub in &item.subitems {
                        println!(
                            "    {:<6} [{}] {}",
                            sub.id,
                            f.text_kind_of(sub).as_str(),
                            sub.text
                        );
                    }
                }
            }
            Ok(())
        }
        FrameworksCommand::Add { file } => {
            let (f, text) = read_framework(&file)?;
            if ops::frameworks(&*s)?
                .iter()
                .any(|(g, o)| *o == ops::Origin::Shipped && g.id == f.id && g.version == f.version)
            {
                bail!(
                    "{}: {} version {} is a shipped framework; give yours another id or version",
                    file.display(),
                    f.id,
                    f.version
                );
            }
            let added = s.add_framework(&f, &text, actor())?;
            if json {
                return print_json(
                    &serde_json::json!({"id": f.id, "version": f.version, "added": added}),
                );
            }
            if added {
                println!(
                    "Added {} version {} ({} items).",
                    f.id,
                    f.version,
                    f.leaves().len()
                );
            } else {
                println!(
                    "{} version {} is already there with the same content.",
                    f.id, f.version
                );
            }
            Ok(())
        }
        FrameworksCommand::Validate { .. } => unreachable!("handled above"),
    }
}

fn print_card(f: &Framework, card: &focal_assessment::Scorecard) {
    println!(
        "Overall: {}{}",
        card.overall
            .map(|o| format!("{o:.1} / 100"))
            .unwrap_or_else(|| "n/a".into()),
        card.band
            .as_deref()
            .map(|b| format!(" (band: {b})"))
            .unwrap_or_default()
    );
    println!(
        "{} answered, {} n/a, {} unanswered of {} items.",
        card.answered, card.not_applicable, card.unanswered, card.items_total
    );
    for s in &card.sections {
        println!(
            "  {:<16} {:>6}  {}",
            s.section,
            s.score
                .map(|x| format!("{x:.1}"))
                .unwrap_or_else(|| "n/a".into()),
            s.title
        );
    }
    if !card.gaps.is_empty() {
        println!("Gaps, largest first (overall points to gain):");
        for g in card.gaps.iter().take(20) {
            let label = |l: Option<&str>| {
                l.map(|l| l.to_string())
                    .unwrap_or_else(|| "unanswered".into())
            };
            println!(
                "  {:>2}. {:<8} {:>5.1}  {} → {}  {}",
                g.rank,
                g.item,
                g.points,
                label(g.answer.as_deref()),
                g.target,
                g.title.chars().take(60).collect::<String>()
            );
        }
    }
    println!("Method: {}", card.method);
    let _ = f;
}

pub fn run(data: &Path, cmd: AssessCommand, json: bool) -> Result<()> {
    let (_, store) = open(data)?;
    let s = store.assessment();
    let s: &dyn Storage = &*s;
    match cmd {
        AssessCommand::New {
            framework,
            version,
            subject,
            kind,
            constituent,
            from,
            blank,
        } => {
            let f = ops::framework(s, &framework, version.as_deref())?;
            let kind = match kind.as_deref() {
                Some(k) => SubjectKind::parse(k)
                    .with_context(|| format!("--kind {k:?}: use organisation or country"))?,
                None => match f.subject {
                    focal_assessment::framework::SubjectRule::Country => SubjectKind::Country,
                    _ => SubjectKind::Organisation,
                },
            };
            if subject.trim().is_empty() || subject.len() > 256 {
                bail!("--subject: must be 1 to 256 bytes");
            }
            let subject = Subject {
                kind,
                name: subject.trim().to_string(),
                constituent,
            };
            let base = match (from, blank) {
                (_, true) => None,
                (Some(id), _) => Some(s.assessment(id)?),
                (None, false) => {
                    let latest = s
                        .assessments(&AssessmentFilter {
                            subject_kind: Some(kind),
                            subject: Some(subject.name.clone()),
                            framework: Some(f.id.clone()),
                            status: Some(Status::Completed),
                            ..AssessmentFilter::default()
                        })?
                        .into_iter()
                        .max_by_key(|h| (h.completed_at, h.id));
                    latest.map(|h| s.assessment(h.id)).transpose()?
                }
            };
            if let Some(b) = &base
                && b.header.status != Status::Completed
            {
                bail!(
                    "--from {}: only a completed assessment can be copied",
                    b.header.id
                );
            }
            let (answers, dropped) = base.as_ref().map(|b| carry_over(&f, b)).unwrap_or_default();
            let h = s.create_assessment(
                &NewAssessment {
                    framework_id: f.id.clone(),
                    framework_version: f.version.clone(),
                    subject,
                    based_on: base.as_ref().map(|b| b.header.id),
                    answers,
                },
                actor(),
            )?;
            if json {
                return print_json(
                    &serde_json::json!({"assessment": h, "dropped_answers": dropped}),
                );
            }
            println!(
                "Started assessment {} of {} against {} {}{}.",
                h.id,
                h.subject.name,
                f.id,
                f.version,
                h.based_on
                    .map(|b| format!(", from a copy of assessment {b}"))
                    .unwrap_or_default()
            );
            if !dropped.is_empty() {
                println!(
                    "Not carried over (no longer in the framework or its scale): {}",
                    dropped.join(", ")
                );
            }
            Ok(())
        }
        AssessCommand::Answer {
            id,
            item,
            level,
            evidence,
            link,
            clear_links,
            file,
            owner,
            target,
            target_date,
            clear,
        } => {
            let a = s.assessment(id)?;
            if a.header.status == Status::Completed {
                bail!(
                    "assessment {id} is completed and cannot change; start a new one (focal assess new --from {id})"
                );
            }
            let f = ops::framework_of(s, &a.header)?;
            let change = AnswerChange {
                level: if clear { Some(None) } else { level.map(Some) },
                evidence,
                add_links: link,
                clear_links,
                owner: owner.map(Some),
                target: target.map(Some),
                target_date: target_date.map(Some),
            };
            let answer = apply_change(&f, &item, a.answer(&item), &change)?;
            // Read the files first: a missing one changes nothing.
            let mut contents = Vec::new();
            for path in &file {
                let meta = std::fs::metadata(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                if meta.len() > MAX_FILE_BYTES as u64 {
                    bail!(
                        "{}: {} bytes; an evidence file may have at most {MAX_FILE_BYTES}",
                        path.display(),
                        meta.len()
                    );
                }
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "file".into());
                contents.push((
                    name,
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
                ));
            }
            s.save_answer(id, &answer, actor())?;
            let mut files = Vec::new();
            for (name, content) in contents {
                files.push(s.add_evidence_file(id, &answer.item, &name, &content, actor())?);
            }
            if json {
                return print_json(
                    &serde_json::json!({"assessment": id, "answer": answer, "files": files}),
                );
            }
            println!(
                "Assessment {id}, item {}: {}{}.",
                answer.item,
                answer.level.as_deref().unwrap_or("unanswered"),
                if files.is_empty() {
                    String::new()
                } else {
                    format!(", {} file(s) attached", files.len())
                }
            );
            Ok(())
        }
        AssessCommand::List {
            subject,
            framework,
            status,
        } => {
            let status = status
                .as_deref()
                .map(|x| {
                    Status::parse(x)
                        .with_context(|| format!("--status {x:?}: use draft or completed"))
                })
                .transpose()?;
            let list = s.assessments(&AssessmentFilter {
                subject,
                framework,
                status,
                ..AssessmentFilter::default()
            })?;
            if json {
                return print_json(&list);
            }
            let mut out = std::io::stdout().lock();
            let mut t = Table::new(&[
                num("#"),
                col("status"),
                col("framework"),
                col("subject kind"),
                col("subject"),
                col("due"),
            ]);
            for h in &list {
                t.row(
                    &mut out,
                    vec![
                        h.id.to_string(),
                        h.status.as_str().into(),
                        h.framework_id.to_string(),
                        h.subject.kind.as_str().into(),
                        h.subject.name.to_string(),
                        h.due.map(|d| d.to_string()).unwrap_or_else(|| "-".into()),
                    ],
                )?;
            }
            t.finish(
                &mut out,
                "No assessments match: start one with `focal assess new`.",
            )?;
            Ok(())
        }
        AssessCommand::Show { id } => {
            let a = s.assessment(id)?;
            let f = ops::framework_of(s, &a.header)?;
            if json {
                return print_json(&a);
            }
            let h = &a.header;
            println!(
                "Assessment {} of {} ({}) against {} {}: {}",
                h.id,
                h.subject.name,
                h.subject.kind.as_str(),
                f.id,
                f.version,
                h.status.as_str()
            );
            for leaf in f.leaves() {
                let ans = a.answer(&leaf.item.id);
                println!(
                    "  {:<8} {:<12} {}{}",
                    leaf.item.id,
                    ans.and_then(|a| a.level.as_deref()).unwrap_or("-"),
                    ans.map(|a| a.evidence.chars().take(70).collect::<String>())
                        .unwrap_or_default(),
                    ans.and_then(|a| a.owner.as_deref())
                        .map(|o| format!(" (owner {o})"))
                        .unwrap_or_default()
                );
            }
            Ok(())
        }
        AssessCommand::Score { id } => {
            let a = s.assessment(id)?;
            let f = ops::framework_of(s, &a.header)?;
            let card = score(&f, &a);
            if json {
                return print_json(&card);
            }
            print_card(&f, &card);
            Ok(())
        }
        AssessCommand::Compare { id, other } => {
            let b = s.assessment(id)?;
            let a = match other {
                Some(o) => s.assessment(o)?,
                None => {
                    let p = ops::previous(s, &b.header)?.with_context(|| format!("assessment {id} has no earlier completed assessment of the same subject and framework; name one"))?;
                    s.assessment(p.id)?
                }
            };
            if a.header.subject.name != b.header.subject.name
                || a.header.framework_id != b.header.framework_id
            {
                bail!(
                    "assessments {} and {} are not of the same subject and framework",
                    a.header.id,
                    b.header.id
                );
            }
            // Earlier first, whatever order they were named in.
            let (a, b) = if (a.header.completed_at.is_none(), a.header.id)
                <= (b.header.completed_at.is_none(), b.header.id)
            {
                (a, b)
            } else {
                (b, a)
            };
            let c = compare(
                &ops::framework_of(s, &a.header)?,
                &a,
                &ops::framework_of(s, &b.header)?,
                &b,
            );
            if json {
                return print_json(&c);
            }
            println!(
                "Assessment {} → {}: overall {} → {}",
                c.from,
                c.to,
                c.overall_before
                    .map(|x| format!("{x:.1}"))
                    .unwrap_or_else(|| "n/a".into()),
                c.overall_after
                    .map(|x| format!("{x:.1}"))
                    .unwrap_or_else(|| "n/a".into())
            );
            for (label, list) in [
                ("improved", &c.improved),
                ("regressed", &c.regressed),
                ("changed", &c.other_changes),
            ] {
                for ch in list {
                    println!(
                        "  {label:<9} {:<8} {} → {}",
                        ch.item,
                        ch.before.as_deref().unwrap_or("unanswered"),
                        ch.after.as_deref().unwrap_or("unanswered")
                    );
                }
            }
            Ok(())
        }
        AssessCommand::Complete { id, due } => {
            let a = s.assessment(id)?;
            let f = ops::framework_of(s, &a.header)?;
            let card = score(&f, &a);
            let due = due.unwrap_or_else(|| due_after(jiff::Timestamp::now(), f.reassess_months));
            let h = s.complete_assessment(id, due, &serde_json::to_value(&card)?, actor())?;
            if json {
                return print_json(&serde_json::json!({"assessment": h, "score": card}));
            }
            println!(
                "Completed assessment {id}: overall {}; reassessment due {due}.",
                card.overall
                    .map(|o| format!("{o:.1}"))
                    .unwrap_or_else(|| "n/a".into())
            );
            Ok(())
        }
        AssessCommand::Due { within } => {
            let today = jiff::Timestamp::now()
                .to_zoned_datetime(jiff::tz::TimeZone::UTC)
                .date();
            let horizon = today.checked_add(jiff::Span::new().days(within.clamp(0, 3660)))?;
            let list = ops::due(s, today, horizon)?;
            if json {
                return print_json(&list);
            }
            let mut out = std::io::stdout().lock();
            let mut t = Table::new(&[
                num("#"),
                col("subject"),
                col("framework"),
                col("due"),
                col("when"),
            ]);
            for d in &list {
                t.row(
                    &mut out,
                    vec![
                        d.assessment.id.to_string(),
                        d.assessment.subject.name.to_string(),
                        d.assessment.framework_id.to_string(),
                        d.due.to_string(),
                        if d.overdue {
                            format!("overdue by {} days", d.days_overdue)
                        } else {
                            format!("in {} days", -d.days_overdue)
                        },
                    ],
                )?;
            }
            t.finish(
                &mut out,
                &format!("No reassessment due within {within} days."),
            )?;
            Ok(())
        }
        AssessCommand::Export { id, format, output } => {
            let fmt = ops::ReportFormat::parse(&format)
                .with_context(|| format!("--format {format:?}: use html or json"))?;
            let body = ops::export_report(s, id, fmt)?;
            write_output(output.as_deref(), &body, json)
        }
    }
}

/// Writes a report to a file (atomically: whole or not at all) or standard output.
pub fn write_output(output: Option<&Path>, body: &str, json: bool) -> Result<()> {
    match output {
        Some(path) => {
            let tmp = path.with_extension("part");
            std::fs::write(&tmp, body).with_context(|| format!("writing {}", tmp.display()))?;
            std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
            if json {
                print_json(&serde_json::json!({"written": path, "bytes": body.len()}))
            } else {
                println!("Wrote {} ({} bytes).", path.display(), body.len());
                Ok(())
            }
        }
        None => {
            std::io::stdout().lock().write_all(body.as_bytes())?;
            Ok(())
        }
    }
}
