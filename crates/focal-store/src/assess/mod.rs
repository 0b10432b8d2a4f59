//! The assessment domain's storage (`focal_assessment::store`), written once over a small
//! transaction interface ([`Tx`]) that both backends provide: the SQL is shared (written with
//! `?N` placeholders; the PostgreSQL adapter numbers them `$N`), and so are the rules of each
//! write, so the two backends cannot drift apart. Every write runs in one transaction together
//! with its audit entries.
//!
//! Structured values (an answer, an asset, a risk, a finding) are kept as JSON in a `body`
//! column; the columns beside it are only what is looked up or filtered on (keys, status, dates).

use focal_assessment::advisory::{Advisory, AffectedRecord};
use focal_assessment::assessment::{
    Answer, Assessment, AssessmentHeader, EvidenceFile, NewAssessment, Status, Subject, SubjectKind,
};
use focal_assessment::framework::Framework;
use focal_assessment::matching::{
    Finding, FindingChange, FindingDraft, FindingStatus, MatchScope, StoredRecord, SyncOutcome,
};
use focal_assessment::risk::{Asset, EntryKind, Installed, RegisterEntry, Risk, RiskDraft};
use focal_assessment::software::Software;
use focal_assessment::store::*;
use jiff::Timestamp;
use jiff::civil::Date;
use serde_json::Value;
use std::collections::HashMap;

/// One bound value or one column read back. Nulls carry their type, as PostgreSQL needs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    I(Option<i64>),
    F(Option<f64>),
    T(Option<String>),
    B(Option<Vec<u8>>),
}

fn t(s: impl Into<String>) -> Val {
    Val::T(Some(s.into()))
}
fn ot(s: Option<impl Into<String>>) -> Val {
    Val::T(s.map(Into::into))
}
fn i(n: i64) -> Val {
    Val::I(Some(n))
}

/// A row read back.
pub(crate) struct Row<'a>(pub &'a [Val]);

impl Row<'_> {
    fn i(&self, n: usize) -> Result<i64> {
        match self.0.get(n) {
            Some(Val::I(Some(v))) => Ok(*v),
            other => Err(StoreError::Backend(format!(
                "column {n}: expected an integer, found {other:?}"
            ))),
        }
    }
    fn oi(&self, n: usize) -> Result<Option<i64>> {
        match self.0.get(n) {
            Some(Val::I(v)) => Ok(*v),
            Some(Val::T(None) | Val::F(None) | Val::B(None)) => Ok(None),
            other => Err(StoreError::Backend(format!(
                "column {n}: expected an integer, found {other:?}"
            ))),
        }
    }
    fn ot(&self, n: usize) -> Result<Option<String>> {
        match self.0.get(n) {
            Some(Val::T(v)) => Ok(v.clone()),
            Some(Val::I(None) | Val::F(None) | Val::B(None)) => Ok(None),
            other => Err(StoreError::Backend(format!(
                "column {n}: expected text, found {other:?}"
            ))),
        }
    }
    fn t(&self, n: usize) -> Result<String> {
        self.ot(n)?
            .ok_or_else(|| StoreError::Backend(format!("column {n}: unexpected NULL")))
    }
    fn b(&self, n: usize) -> Result<Vec<u8>> {
        match self.0.get(n) {
            Some(Val::B(Some(v))) => Ok(v.clone()),
            other => Err(StoreError::Backend(format!(
                "column {n}: expected bytes, found {other:?}"
            ))),
        }
    }
}

/// What a backend's transaction offers.
pub(crate) trait Tx {
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64>;
    fn each(
        &mut self,
        sql: &str,
        params: &[Val],
        visit: &mut dyn FnMut(Row<'_>) -> Result<()>,
    ) -> Result<()>;
    fn audit(
        &mut self,
        actor: &str,
        action: &str,
        subject: &str,
        before: Option<&Value>,
        after: Option<&Value>,
    ) -> Result<()>;
}

/// A backend: runs a closure in a write transaction (committed when it returns `Ok`) or a read.
pub(crate) trait Db: Send + Sync {
    fn write<T>(&self, f: &mut dyn FnMut(&mut dyn Tx) -> Result<T>) -> Result<T>;
    fn read<T>(&self, f: &mut dyn FnMut(&mut dyn Tx) -> Result<T>) -> Result<T>;
}

fn rows<T>(
    tx: &mut dyn Tx,
    sql: &str,
    params: &[Val],
    mut map: impl FnMut(Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    tx.each(sql, params, &mut |r| {
        out.push(map(r)?);
        Ok(())
    })?;
    Ok(out)
}

fn one<T>(
    tx: &mut dyn Tx,
    sql: &str,
    params: &[Val],
    map: impl FnMut(Row<'_>) -> Result<T>,
) -> Result<Option<T>> {
    Ok(rows(tx, sql, params, map)?.into_iter().next())
}

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Invalid(format!("cannot encode: {e}")))
}
fn from_json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T> {
    serde_json::from_str(s)
        .map_err(|e| StoreError::Backend(format!("stored {what} cannot be read: {e}")))
}
fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}
fn now() -> Timestamp {
    Timestamp::now()
}
fn ts(s: &str) -> Result<Timestamp> {
    s.parse()
        .map_err(|e| StoreError::Backend(format!("stored time {s:?} cannot be read: {e}")))
}
fn date(s: &str) -> Result<Date> {
    s.parse()
        .map_err(|e| StoreError::Backend(format!("stored date {s:?} cannot be read: {e}")))
}

/// The domain's storage over a backend.
pub struct Assess<'a, D>(pub(crate) &'a D);

const HEADER_COLUMNS: &str = "id, framework_id, framework_version, subject_kind, subject_name, constituent, status, based_on, created_at, created_by, completed_at, completed_by, due";

fn header(r: Row<'_>) -> Result<AssessmentHeader> {
    Ok(AssessmentHeader {
        id: r.i(0)?,
        framework_id: r.t(1)?,
        framework_version: r.t(2)?,
        subject: Subject {
            kind: SubjectKind::parse(&r.t(3)?)
                .ok_or_else(|| StoreError::Backend("stored subject kind is unknown".into()))?,
            name: r.t(4)?,
            constituent: r.ot(5)?,
        },
        status: Status::parse(&r.t(6)?)
            .ok_or_else(|| StoreError::Backend("stored status is unknown".into()))?,
        based_on: r.oi(7)?,
        created_at: ts(&r.t(8)?)?,
        created_by: r.t(9)?,
        completed_at: r.ot(10)?.as_deref().map(ts).transpose()?,
        completed_by: r.ot(11)?,
        due: r.ot(12)?.as_deref().map(date).transpose()?,
    })
}

const REMINDER_COLUMNS: &str = "id, assessment_id, due, recipient, message_id, state, attempts, created_at, sent_at, last_error";

fn reminder(r: Row<'_>) -> Result<focal_assessment::assessment::Reminder> {
    Ok(focal_assessment::assessment::Reminder {
        id: r.i(0)?,
        assessment: r.i(1)?,
        due: date(&r.t(2)?)?,
        recipient: r.t(3)?,
        message_id: r.t(4)?,
        state: r.t(5)?,
        attempts: u32::try_from(r.i(6)?).unwrap_or(u32::MAX),
        created_at: ts(&r.t(7)?)?,
        sent_at: r.ot(8)?.as_deref().map(ts).transpose()?,
        last_error: r.ot(9)?,
    })
}

fn load_header(tx: &mut dyn Tx, id: i64) -> Result<AssessmentHeader> {
    one(
        tx,
        &format!("SELECT {HEADER_COLUMNS} FROM assessments WHERE id = ?1"),
        &[i(id)],
        header,
    )?
    .ok_or_else(|| not_found("assessment", id))
}

fn file_row(r: Row<'_>) -> Result<EvidenceFile> {
    Ok(EvidenceFile {
        id: r.i(0)?,
        item: r.t(1)?,
        name: r.t(2)?,
        sha256: r.t(3)?,
        size: r.i(4)? as u64,
        added_at: ts(&r.t(5)?)?,
        added_by: r.t(6)?,
    })
}

fn require_draft(tx: &mut dyn Tx, id: i64) -> Result<AssessmentHeader> {
    let h = load_header(tx, id)?;
    if h.status == Status::Completed {
        return Err(StoreError::Conflict(format!(
            "assessment {id} is completed and cannot change; start a new one from a copy (focal assess new --from {id})"
        )));
    }
    Ok(h)
}

impl<D: Db> AssessmentStore for Assess<'_, D> {
    fn add_framework(&self, framework: &Framework, source_text: &str, actor: &str) -> Result<bool> {
        let digest = framework.digest();
        let canonical = json(framework)?;
        self.0.write(&mut |tx| {
            let existing = one(
                tx,
                "SELECT digest FROM assessment_frameworks WHERE id = ?1 AND version = ?2",
                &[t(&framework.id), t(&framework.version)],
                |r| r.t(0),
            )?;
            match existing {
                Some(d) if d == digest => return Ok(false),
                Some(_) => {
                    return Err(StoreError::Conflict(format!(
                        "framework {} version {} is already stored with other content; give the new one another version",
                        framework.id, framework.version
                    )));
                }
                None => {}
            }
            tx.exec(
                "INSERT INTO assessment_frameworks (id, version, digest, canonical, source_text, added_at, added_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                &[
                    t(&framework.id),
                    t(&framework.version),
                    t(&digest),
                    t(&canonical),
                    t(source_text),
                    t(now().to_string()),
                    t(actor),
                ],
            )?;
            tx.audit(
                actor,
                "framework.add",
                &format!("framework:{}@{}", framework.id, framework.version),
                None,
                Some(&serde_json::json!({"title": framework.title, "digest": digest})),
            )?;
            Ok(true)
        })
    }

    fn stored_frameworks(&self) -> Result<Vec<StoredFramework>> {
        self.0.read(&mut |tx| {
            rows(
                tx,
                "SELECT canonical, digest, source_text, added_at, added_by FROM assessment_frameworks ORDER BY id, version",
                &[],
                |r| {
                    Ok(StoredFramework {
                        framework: from_json("framework", &r.t(0)?)?,
                        digest: r.t(1)?,
                        source_text: r.t(2)?,
                        added_at: ts(&r.t(3)?)?,
                        added_by: r.t(4)?,
                    })
                },
            )
        })
    }

    fn create_assessment(&self, new: &NewAssessment, actor: &str) -> Result<AssessmentHeader> {
        self.0.write(&mut |tx| {
            let at = now().to_string();
            let id = one(
                tx,
                "INSERT INTO assessments (framework_id, framework_version, subject_kind, subject_name, constituent, status, based_on, created_at, created_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'draft', ?6, ?7, ?8) RETURNING id",
                &[
                    t(&new.framework_id),
                    t(&new.framework_version),
                    t(new.subject.kind.as_str()),
                    t(&new.subject.name),
                    ot(new.subject.constituent.clone()),
                    Val::I(new.based_on),
                    t(&at),
                    t(actor),
                ],
                |r| r.i(0),
            )?
            .ok_or_else(|| StoreError::Backend("the new assessment got no id".into()))?;
            for a in &new.answers {
                tx.exec(
                    "INSERT INTO assessment_answers (assessment_id, item, body, updated_at, updated_by) VALUES (?1, ?2, ?3, ?4, ?5)",
                    &[i(id), t(&a.item), t(json(a)?), t(&at), t(actor)],
                )?;
            }
            let h = load_header(tx, id)?;
            tx.audit(
                actor,
                "assessment.create",
                &format!("assessment:{id}"),
                None,
                Some(&serde_json::json!({"header": to_value(&h), "answers_copied": new.answers.len()})),
            )?;
            Ok(h)
        })
    }

    fn assessment(&self, id: i64) -> Result<Assessment> {
        self.0.read(&mut |tx| {
            let header = load_header(tx, id)?;
            let answers = rows(
                tx,
                "SELECT body FROM assessment_answers WHERE assessment_id = ?1 ORDER BY item",
                &[i(id)],
                |r| from_json::<Answer>("answer", &r.t(0)?),
            )?;
            let files = rows(
                tx,
                "SELECT id, item, name, sha256, size, added_at, added_by FROM assessment_files WHERE assessment_id = ?1 ORDER BY id",
                &[i(id)],
                file_row,
            )?;
            Ok(Assessment {
                header,
                answers,
                files,
            })
        })
    }

    fn assessments(&self, filter: &AssessmentFilter) -> Result<Vec<AssessmentHeader>> {
        let mut sql = format!("SELECT {HEADER_COLUMNS} FROM assessments WHERE 1=1");
        let mut args = Vec::new();
        let mut add = |col: &str, v: Val, args: &mut Vec<Val>| {
            args.push(v);
            sql.push_str(&format!(" AND {col} = ?{}", args.len()));
        };
        if let Some(k) = filter.subject_kind {
            add("subject_kind", t(k.as_str()), &mut args);
        }
        if let Some(s) = &filter.subject {
            add("subject_name", t(s), &mut args);
        }
        if let Some(f) = &filter.framework {
            add("framework_id", t(f), &mut args);
        }
        if let Some(s) = filter.status {
            add("status", t(s.as_str()), &mut args);
        }
        if let Some(c) = &filter.constituent {
            add("constituent", t(c), &mut args);
        }
        sql.push_str(" ORDER BY id");
        if let Some(l) = filter.limit {
            args.push(i(l as i64));
            sql.push_str(&format!(" LIMIT ?{}", args.len()));
        }
        self.0.read(&mut |tx| rows(tx, &sql, &args, header))
    }

    fn save_answer(&self, id: i64, answer: &Answer, actor: &str) -> Result<()> {
        self.0.write(&mut |tx| {
            require_draft(tx, id)?;
            let before = one(
                tx,
                "SELECT body FROM assessment_answers WHERE assessment_id = ?1 AND item = ?2",
                &[i(id), t(&answer.item)],
                |r| r.t(0),
            )?;
            let body = json(answer)?;
            if before.as_deref() == Some(body.as_str()) {
                return Ok(());
            }
            if before.is_some() {
                tx.exec(
                    "UPDATE assessment_answers SET body = ?3, updated_at = ?4, updated_by = ?5 WHERE assessment_id = ?1 AND item = ?2",
                    &[i(id), t(&answer.item), t(&body), t(now().to_string()), t(actor)],
                )?;
            } else {
                tx.exec(
                    "INSERT INTO assessment_answers (assessment_id, item, body, updated_at, updated_by) VALUES (?1, ?2, ?3, ?4, ?5)",
                    &[i(id), t(&answer.item), t(&body), t(now().to_string()), t(actor)],
                )?;
            }
            let before: Option<Value> = before.map(|b| serde_json::from_str(&b).unwrap_or(Value::String(b)));
            tx.audit(
                actor,
                "assessment.answer",
                &format!("assessment:{id}"),
                before.as_ref(),
                Some(&to_value(answer)),
            )
        })
    }

    fn add_evidence_file(
        &self,
        id: i64,
        item: &str,
        name: &str,
        content: &[u8],
        actor: &str,
    ) -> Result<EvidenceFile> {
        if content.len() > focal_assessment::assessment::MAX_FILE_BYTES {
            return Err(StoreError::Invalid(format!(
                "{name}: {} bytes; an evidence file may have at most {}",
                content.len(),
                focal_assessment::assessment::MAX_FILE_BYTES
            )));
        }
        let sha = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(content))
        };
        self.0.write(&mut |tx| {
            require_draft(tx, id)?;
            let at = now();
            let fid = one(
                tx,
                "INSERT INTO assessment_files (assessment_id, item, name, sha256, size, content, added_at, added_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
                &[
                    i(id),
                    t(item),
                    t(name),
                    t(&sha),
                    i(content.len() as i64),
                    Val::B(Some(content.to_vec())),
                    t(at.to_string()),
                    t(actor),
                ],
                |r| r.i(0),
            )?
            .ok_or_else(|| StoreError::Backend("the file got no id".into()))?;
            let file = EvidenceFile {
                id: fid,
                item: item.to_string(),
                name: name.to_string(),
                sha256: sha.clone(),
                size: content.len() as u64,
                added_at: at,
                added_by: actor.to_string(),
            };
            tx.audit(
                actor,
                "assessment.evidence_file",
                &format!("assessment:{id}"),
                None,
                Some(&to_value(&file)),
            )?;
            Ok(file)
        })
    }

    fn evidence_file(&self, file_id: i64) -> Result<(EvidenceFile, Vec<u8>)> {
        self.0.read(&mut |tx| {
            one(
                tx,
                "SELECT id, item, name, sha256, size, added_at, added_by, content FROM assessment_files WHERE id = ?1",
                &[i(file_id)],
                |r| Ok((file_row(Row(&r.0[..7]))?, r.b(7)?)),
            )?
            .ok_or_else(|| not_found("evidence file", file_id))
        })
    }

    fn queue_reminder(
        &self,
        assessment: i64,
        due: Date,
        recipient: &str,
        message_id: &str,
        actor: &str,
    ) -> Result<bool> {
        self.0.write(&mut |tx| {
            load_header(tx, assessment)?;
            // The UNIQUE (assessment_id, due) decides, inside the transaction: a second queueing
            // of the same due date inserts nothing, however many workers ask at once.
            let added = tx.exec(
                "INSERT INTO assessment_reminders (assessment_id, due, recipient, message_id, state, attempts, created_at)
                 VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5) ON CONFLICT (assessment_id, due) DO NOTHING",
                &[
                    i(assessment),
                    t(due.to_string()),
                    t(recipient),
                    t(message_id),
                    t(now().to_string()),
                ],
            )?;
            if added == 1 {
                tx.audit(
                    actor,
                    "assessment.reminder_queued",
                    &format!("assessment:{assessment}"),
                    None,
                    Some(&serde_json::json!({"due": due, "recipient": recipient, "message_id": message_id})),
                )?;
            }
            Ok(added == 1)
        })
    }

    fn reminders(
        &self,
        state: Option<&str>,
    ) -> Result<Vec<focal_assessment::assessment::Reminder>> {
        let (sql, args) = match state {
            Some(st) => (
                format!(
                    "SELECT {REMINDER_COLUMNS} FROM assessment_reminders WHERE state = ?1 ORDER BY id"
                ),
                vec![t(st)],
            ),
            None => (
                format!("SELECT {REMINDER_COLUMNS} FROM assessment_reminders ORDER BY id"),
                vec![],
            ),
        };
        self.0.read(&mut |tx| rows(tx, &sql, &args, reminder))
    }

    fn mark_reminder(
        &self,
        id: i64,
        outcome: std::result::Result<&str, (&str, bool)>,
        actor: &str,
    ) -> Result<()> {
        self.0.write(&mut |tx| {
            let r = one(
                tx,
                &format!("SELECT {REMINDER_COLUMNS} FROM assessment_reminders WHERE id = ?1"),
                &[i(id)],
                reminder,
            )?
            .ok_or_else(|| not_found("reminder", id))?;
            let (state, error, sent_at) = match outcome {
                Ok(_) => ("sent", None, Some(now().to_string())),
                Err((e, true)) => ("failed", Some(e.to_string()), None),
                Err((e, false)) => ("pending", Some(e.to_string()), None),
            };
            tx.exec(
                "UPDATE assessment_reminders SET state = ?2, attempts = attempts + 1, last_error = ?3, sent_at = ?4 WHERE id = ?1",
                &[i(id), t(state), ot(error.clone()), ot(sent_at)],
            )?;
            if state != "pending" {
                tx.audit(
                    actor,
                    &format!("assessment.reminder_{state}"),
                    &format!("assessment:{}", r.assessment),
                    None,
                    Some(&serde_json::json!({"reminder": id, "due": r.due, "recipient": r.recipient,
                        "answer": outcome.ok(), "error": error})),
                )?;
            }
            Ok(())
        })
    }

    fn complete_assessment(
        &self,
        id: i64,
        due: Date,
        scores: &Value,
        actor: &str,
    ) -> Result<AssessmentHeader> {
        self.0.write(&mut |tx| {
            let before = require_draft(tx, id)?;
            let changed = tx.exec(
                "UPDATE assessments SET status = 'completed', completed_at = ?2, completed_by = ?3, due = ?4, scores = ?5
                 WHERE id = ?1 AND status = 'draft'",
                &[
                    i(id),
                    t(now().to_string()),
                    t(actor),
                    t(due.to_string()),
                    t(scores.to_string()),
                ],
            )?;
            if changed != 1 {
                return Err(StoreError::Conflict(format!(
                    "assessment {id} was completed meanwhile"
                )));
            }
            let after = load_header(tx, id)?;
            tx.audit(
                actor,
                "assessment.complete",
                &format!("assessment:{id}"),
                Some(&to_value(&before)),
                Some(&serde_json::json!({"header": to_value(&after), "scores": scores})),
            )?;
            Ok(after)
        })
    }
}

fn asset_row(r: Row<'_>) -> Result<Asset> {
    from_json("asset", &r.t(0)?)
}

fn write_software(tx: &mut dyn Tx, asset: &Asset) -> Result<()> {
    tx.exec(
        "DELETE FROM asset_software WHERE asset_id = ?1",
        &[t(&asset.id)],
    )?;
    for s in &asset.software {
        tx.exec(
            "INSERT INTO asset_software (asset_id, key, spec, body) VALUES (?1, ?2, ?3, ?4)",
            &[t(&asset.id), t(&s.key), t(&s.spec), t(json(s)?)],
        )?;
    }
    Ok(())
}

const INSTALLED_SQL: &str = "SELECT s.asset_id, a.organisation, a.constituent, s.body FROM asset_software s JOIN assets a ON a.id = s.asset_id";

fn installed_row(r: Row<'_>) -> Result<Installed> {
    Ok(Installed {
        asset: r.t(0)?,
        organisation: r.t(1)?,
        constituent: r.ot(2)?,
        software: from_json::<Software>("software", &r.t(3)?)?,
    })
}

/// Keys per lookup query: bounded so no statement grows past the parameter limits.
const KEYS_PER_QUERY: usize = 500;

fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|k| format!("?{k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn entry_row(r: Row<'_>) -> Result<RegisterEntry> {
    let mut e: RegisterEntry = from_json("register entry", &r.t(1)?)?;
    e.id = r.i(0)?;
    Ok(e)
}

fn risk_row(r: Row<'_>) -> Result<Risk> {
    Ok(Risk {
        id: r.i(0)?,
        draft: from_json("risk", &r.t(1)?)?,
        created_at: ts(&r.t(2)?)?,
        updated_at: ts(&r.t(3)?)?,
    })
}

fn load_risk(tx: &mut dyn Tx, id: i64) -> Result<Risk> {
    one(
        tx,
        "SELECT id, body, created_at, updated_at FROM risks WHERE id = ?1",
        &[i(id)],
        risk_row,
    )?
    .ok_or_else(|| not_found("risk", id))
}

fn check_risk(draft: &RiskDraft) -> Result<()> {
    let p = draft.problems();
    if p.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Invalid(p.join("; ")))
    }
}

impl<D: Db> RiskStore for Assess<'_, D> {
    fn save_assets(&self, assets: &[Asset], actor: &str) -> Result<SaveCounts> {
        self.0.write(&mut |tx| {
            let mut counts = SaveCounts::default();
            for a in assets {
                let body = json(a)?;
                let before = one(tx, "SELECT body FROM assets WHERE id = ?1", &[t(&a.id)], |r| {
                    r.t(0)
                })?;
                match &before {
                    Some(b) if *b == body => {
                        counts.unchanged += 1;
                        continue;
                    }
                    Some(_) => {
                        tx.exec(
                            "UPDATE assets SET organisation = ?2, constituent = ?3, body = ?4, updated_at = ?5 WHERE id = ?1",
                            &[t(&a.id), t(&a.organisation), ot(a.constituent.clone()), t(&body), t(now().to_string())],
                        )?;
                        counts.updated += 1;
                    }
                    None => {
                        tx.exec(
                            "INSERT INTO assets (id, organisation, constituent, body, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                            &[t(&a.id), t(&a.organisation), ot(a.constituent.clone()), t(&body), t(now().to_string())],
                        )?;
                        counts.added += 1;
                    }
                }
                write_software(tx, a)?;
                let before: Option<Value> = before.and_then(|b| serde_json::from_str(&b).ok());
                tx.audit(
                    actor,
                    "asset.save",
                    &format!("asset:{}", a.id),
                    before.as_ref(),
                    Some(&to_value(a)),
                )?;
            }
            Ok(counts)
        })
    }

    fn asset(&self, id: &str) -> Result<Asset> {
        self.0.read(&mut |tx| {
            one(
                tx,
                "SELECT body FROM assets WHERE id = ?1",
                &[t(id)],
                asset_row,
            )?
            .ok_or_else(|| not_found("asset", id))
        })
    }

    fn assets(&self, filter: &AssetFilter) -> Result<Vec<Asset>> {
        let mut sql = "SELECT body FROM assets WHERE 1=1".to_string();
        let mut args = Vec::new();
        if let Some(o) = &filter.organisation {
            args.push(t(o));
            sql.push_str(&format!(" AND organisation = ?{}", args.len()));
        }
        if let Some(c) = &filter.constituent {
            args.push(t(c));
            sql.push_str(&format!(" AND constituent = ?{}", args.len()));
        }
        sql.push_str(" ORDER BY id");
        if let Some(l) = filter.limit {
            args.push(i(l as i64));
            sql.push_str(&format!(" LIMIT ?{}", args.len()));
        }
        self.0.read(&mut |tx| rows(tx, &sql, &args, asset_row))
    }

    fn remove_asset(&self, id: &str, actor: &str) -> Result<()> {
        self.0.write(&mut |tx| {
            let before = one(tx, "SELECT body FROM assets WHERE id = ?1", &[t(id)], |r| r.t(0))?
                .ok_or_else(|| not_found("asset", id))?;
            tx.exec("DELETE FROM asset_software WHERE asset_id = ?1", &[t(id)])?;
            tx.exec("DELETE FROM assets WHERE id = ?1", &[t(id)])?;
            // Its open findings can no longer be worked on: they are resolved, saying why.
            let open = rows(
                tx,
                "SELECT id, status, body FROM findings WHERE asset_id = ?1 AND status IN ('open', 'in_progress')",
                &[t(id)],
                |r| Ok((r.i(0)?, r.t(1)?, r.t(2)?)),
            )?;
            for (fid, _, body) in open {
                let mut f: Finding = from_json("finding", &body)?;
                close(&mut f, "the asset was removed from the inventory");
                save_finding(tx, &f)?;
                tx.audit(actor, "finding.resolve", &format!("finding:{fid}"), None, Some(&to_value(&f)))?;
            }
            let before: Option<Value> = serde_json::from_str(&before).ok();
            tx.audit(actor, "asset.remove", &format!("asset:{id}"), before.as_ref(), None)
        })
    }

    fn installed_for_keys(&self, keys: &[String]) -> Result<Vec<Installed>> {
        self.0.read(&mut |tx| {
            let mut out = Vec::new();
            for chunk in keys.chunks(KEYS_PER_QUERY) {
                let sql = format!(
                    "{INSTALLED_SQL} WHERE s.key IN ({})",
                    placeholders(chunk.len())
                );
                let args: Vec<Val> = chunk.iter().map(t).collect();
                out.extend(rows(tx, &sql, &args, installed_row)?);
            }
            Ok(out)
        })
    }

    fn all_installed(&self, visit: &mut dyn FnMut(Installed) -> Result<()>) -> Result<()> {
        self.0
            .read(&mut |tx| tx.each(INSTALLED_SQL, &[], &mut |r| visit(installed_row(r)?)))
    }

    fn add_entry(&self, entry: &RegisterEntry, actor: &str) -> Result<RegisterEntry> {
        if entry.name.trim().is_empty() || entry.name.len() > 512 {
            return Err(StoreError::Invalid("name: must be 1 to 512 bytes".into()));
        }
        self.0.write(&mut |tx| {
            let id = one(
                tx,
                "INSERT INTO risk_entries (kind, body) VALUES (?1, ?2) RETURNING id",
                &[t(entry.kind.as_str()), t(json(entry)?)],
                |r| r.i(0),
            )?
            .ok_or_else(|| StoreError::Backend("the entry got no id".into()))?;
            let stored = RegisterEntry {
                id,
                ..entry.clone()
            };
            tx.exec(
                "UPDATE risk_entries SET body = ?2 WHERE id = ?1",
                &[i(id), t(json(&stored)?)],
            )?;
            tx.audit(
                actor,
                &format!("{}.add", entry.kind.as_str()),
                &format!("{}:{id}", entry.kind.as_str()),
                None,
                Some(&to_value(&stored)),
            )?;
            Ok(stored)
        })
    }

    fn entries(&self, kind: Option<EntryKind>) -> Result<Vec<RegisterEntry>> {
        self.0.read(&mut |tx| match kind {
            Some(k) => rows(
                tx,
                "SELECT id, body FROM risk_entries WHERE kind = ?1 ORDER BY id",
                &[t(k.as_str())],
                entry_row,
            ),
            None => rows(
                tx,
                "SELECT id, body FROM risk_entries ORDER BY id",
                &[],
                entry_row,
            ),
        })
    }

    fn create_risk(&self, draft: &RiskDraft, actor: &str) -> Result<Risk> {
        check_risk(draft)?;
        self.0.write(&mut |tx| {
            let at = now().to_string();
            let id = one(
                tx,
                "INSERT INTO risks (asset, review_due, body, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4) RETURNING id",
                &[
                    ot(draft.asset.clone()),
                    ot(draft.review_due.map(|d| d.to_string())),
                    t(json(draft)?),
                    t(&at),
                ],
                |r| r.i(0),
            )?
            .ok_or_else(|| StoreError::Backend("the risk got no id".into()))?;
            let risk = load_risk(tx, id)?;
            tx.audit(actor, "risk.create", &format!("risk:{id}"), None, Some(&to_value(&risk)))?;
            Ok(risk)
        })
    }

    fn update_risk(&self, id: i64, draft: &RiskDraft, actor: &str) -> Result<Risk> {
        check_risk(draft)?;
        self.0.write(&mut |tx| {
            let before = load_risk(tx, id)?;
            tx.exec(
                "UPDATE risks SET asset = ?2, review_due = ?3, body = ?4, updated_at = ?5 WHERE id = ?1",
                &[
                    i(id),
                    ot(draft.asset.clone()),
                    ot(draft.review_due.map(|d| d.to_string())),
                    t(json(draft)?),
                    t(now().to_string()),
                ],
            )?;
            let after = load_risk(tx, id)?;
            tx.audit(
                actor,
                "risk.update",
                &format!("risk:{id}"),
                Some(&to_value(&before)),
                Some(&to_value(&after)),
            )?;
            Ok(after)
        })
    }

    fn risk(&self, id: i64) -> Result<Risk> {
        self.0.read(&mut |tx| load_risk(tx, id))
    }

    fn risks(&self, filter: &RiskFilter) -> Result<Vec<Risk>> {
        let mut sql = "SELECT id, body, created_at, updated_at FROM risks WHERE 1=1".to_string();
        let mut args = Vec::new();
        if let Some(a) = &filter.asset {
            args.push(t(a));
            sql.push_str(&format!(" AND asset = ?{}", args.len()));
        }
        if let Some(d) = filter.review_due_by {
            // ISO dates compare as text.
            args.push(t(d.to_string()));
            sql.push_str(&format!(" AND review_due <= ?{}", args.len()));
        }
        sql.push_str(" ORDER BY id");
        if let Some(l) = filter.limit {
            args.push(i(l as i64));
            sql.push_str(&format!(" LIMIT ?{}", args.len()));
        }
        self.0.read(&mut |tx| rows(tx, &sql, &args, risk_row))
    }
}

fn rating_rank(r: focal_assessment::advisory::Rating) -> i64 {
    r as i64
}

const FINDING_COLUMNS: &str = "id, body";

fn finding_row(r: Row<'_>) -> Result<Finding> {
    let mut f: Finding = from_json("finding", &r.t(1)?)?;
    f.id = r.i(0)?;
    Ok(f)
}

fn save_finding(tx: &mut dyn Tx, f: &Finding) -> Result<()> {
    tx.exec(
        "UPDATE findings SET status = ?2, rating = ?3, rating_rank = ?4, body = ?5, updated_at = ?6, closed_at = ?7 WHERE id = ?1",
        &[
            i(f.id),
            t(f.status.as_str()),
            t(f.draft.severity.rating.as_str()),
            i(rating_rank(f.draft.severity.rating)),
            t(json(f)?),
            t(f.updated_at.to_string()),
            ot(f.closed_at.map(|c| c.to_string())),
        ],
    )?;
    Ok(())
}

fn close(f: &mut Finding, why: &str) {
    let at = now();
    f.status = FindingStatus::Resolved;
    f.resolution = Some(why.to_string());
    f.closed_at = Some(at);
    f.updated_at = at;
}

fn load_finding(tx: &mut dyn Tx, id: i64) -> Result<Finding> {
    one(
        tx,
        &format!("SELECT {FINDING_COLUMNS} FROM findings WHERE id = ?1"),
        &[i(id)],
        finding_row,
    )?
    .ok_or_else(|| not_found("finding", id))
}

fn advisory_summary(r: Row<'_>) -> Result<AdvisorySummary> {
    let a: Advisory = from_json("advisory", &r.t(1)?)?;
    Ok(AdvisorySummary {
        id: r.i(0)?,
        format: a.format,
        advisory_ref: a.id,
        revision: a.revision,
        title: a.title,
        severity: a.severity,
        records: r.i(2)? as u64,
        unmatchable: a.unmatchable.len() as u64,
        imported_at: ts(&r.t(3)?)?,
    })
}

fn record_row(r: Row<'_>) -> Result<StoredRecord> {
    Ok(StoredRecord {
        advisory: r.i(0)?,
        advisory_ref: r.t(1)?,
        record: from_json::<AffectedRecord>("affected record", &r.t(2)?)?,
    })
}

const RECORD_SQL: &str = "SELECT r.advisory_id, a.ref, r.body FROM vuln_advisory_records r JOIN vuln_advisories a ON a.id = r.advisory_id";

impl<D: Db> VulnStore for Assess<'_, D> {
    fn import_advisory(&self, advisory: &Advisory, actor: &str) -> Result<(i64, ImportOutcome)> {
        let mut head = advisory.clone();
        head.records.clear();
        let body = json(&head)?;
        self.0.write(&mut |tx| {
            let existing = one(
                tx,
                "SELECT id, sha256, revision FROM vuln_advisories WHERE format = ?1 AND ref = ?2",
                &[t(advisory.format.as_str()), t(&advisory.id)],
                |r| Ok((r.i(0)?, r.t(1)?, r.t(2)?)),
            )?;
            let at = now().to_string();
            let (id, outcome, before) = match existing {
                Some((id, sha, _)) if sha == advisory.sha256 => {
                    return Ok((id, ImportOutcome::Unchanged));
                }
                Some((id, _, revision)) => {
                    tx.exec("DELETE FROM vuln_advisory_records WHERE advisory_id = ?1", &[i(id)])?;
                    tx.exec(
                        "UPDATE vuln_advisories SET revision = ?2, sha256 = ?3, title = ?4, rating = ?5, body = ?6, records = ?7, imported_at = ?8, imported_by = ?9 WHERE id = ?1",
                        &[
                            i(id),
                            t(&advisory.revision),
                            t(&advisory.sha256),
                            t(&advisory.title),
                            t(advisory.severity.rating.as_str()),
                            t(&body),
                            i(advisory.records.len() as i64),
                            t(&at),
                            t(actor),
                        ],
                    )?;
                    (id, ImportOutcome::Replaced, Some(serde_json::json!({"revision": revision})))
                }
                None => {
                    let id = one(
                        tx,
                        "INSERT INTO vuln_advisories (format, ref, revision, sha256, title, rating, body, records, imported_at, imported_by)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id",
                        &[
                            t(advisory.format.as_str()),
                            t(&advisory.id),
                            t(&advisory.revision),
                            t(&advisory.sha256),
                            t(&advisory.title),
                            t(advisory.severity.rating.as_str()),
                            t(&body),
                            i(advisory.records.len() as i64),
                            t(&at),
                            t(actor),
                        ],
                        |r| r.i(0),
                    )?
                    .ok_or_else(|| StoreError::Backend("the advisory got no id".into()))?;
                    (id, ImportOutcome::Added, None)
                }
            };
            for (n, record) in advisory.records.iter().enumerate() {
                tx.exec(
                    "INSERT INTO vuln_advisory_records (advisory_id, n, key, body) VALUES (?1, ?2, ?3, ?4)",
                    &[i(id), i(n as i64), t(&record.key), t(json(record)?)],
                )?;
            }
            tx.audit(
                actor,
                "advisory.import",
                &format!("advisory:{id}"),
                before.as_ref(),
                Some(&serde_json::json!({
                    "format": advisory.format.as_str(), "ref": advisory.id, "revision": advisory.revision,
                    "sha256": advisory.sha256, "records": advisory.records.len(),
                    "unmatchable": advisory.unmatchable.len(),
                })),
            )?;
            Ok((id, outcome))
        })
    }

    fn advisories(&self, limit: usize) -> Result<Vec<AdvisorySummary>> {
        self.0.read(&mut |tx| {
            rows(
                tx,
                "SELECT id, body, records, imported_at FROM vuln_advisories ORDER BY id DESC LIMIT ?1",
                &[i(limit as i64)],
                advisory_summary,
            )
        })
    }

    fn advisory(&self, id: i64) -> Result<Advisory> {
        self.0.read(&mut |tx| {
            let mut a: Advisory = one(
                tx,
                "SELECT body FROM vuln_advisories WHERE id = ?1",
                &[i(id)],
                |r| from_json("advisory", &r.t(0)?),
            )?
            .ok_or_else(|| not_found("advisory", id))?;
            a.records = rows(
                tx,
                "SELECT body FROM vuln_advisory_records WHERE advisory_id = ?1 ORDER BY n",
                &[i(id)],
                |r| from_json("affected record", &r.t(0)?),
            )?;
            Ok(a)
        })
    }

    fn records_for_keys(&self, keys: &[String]) -> Result<Vec<StoredRecord>> {
        self.0.read(&mut |tx| {
            let mut out = Vec::new();
            for chunk in keys.chunks(KEYS_PER_QUERY) {
                let sql = format!(
                    "{RECORD_SQL} WHERE r.key IN ({})",
                    placeholders(chunk.len())
                );
                let args: Vec<Val> = chunk.iter().map(t).collect();
                out.extend(rows(tx, &sql, &args, record_row)?);
            }
            Ok(out)
        })
    }

    fn all_records(&self, visit: &mut dyn FnMut(StoredRecord) -> Result<()>) -> Result<()> {
        self.0
            .read(&mut |tx| tx.each(RECORD_SQL, &[], &mut |r| visit(record_row(r)?)))
    }

    fn sync_findings(
        &self,
        scope: &MatchScope,
        found: &[FindingDraft],
        actor: &str,
    ) -> Result<SyncOutcome> {
        let (filter, args) = match scope {
            MatchScope::Advisory(id) => ("WHERE advisory_id = ?1", vec![i(*id)]),
            MatchScope::Asset(a) => ("WHERE asset_id = ?1", vec![t(a)]),
            MatchScope::All => ("", vec![]),
        };
        let in_scope = |d: &FindingDraft| match scope {
            MatchScope::Advisory(id) => d.advisory == *id,
            MatchScope::Asset(a) => d.asset == *a,
            MatchScope::All => true,
        };
        if let Some(d) = found.iter().find(|d| !in_scope(d)) {
            return Err(StoreError::Invalid(format!(
                "a finding for asset {} and advisory {} is outside the run's scope",
                d.asset, d.advisory
            )));
        }
        self.0.write(&mut |tx| {
            let mut existing: HashMap<(i64, String, String, String), Finding> = HashMap::new();
            tx.each(
                &format!("SELECT {FINDING_COLUMNS} FROM findings {filter}"),
                &args,
                &mut |r| {
                    let f = finding_row(r)?;
                    let d = &f.draft;
                    existing.insert(
                        (d.advisory, d.vuln_id.clone(), d.asset.clone(), d.package_key.clone()),
                        f,
                    );
                    Ok(())
                },
            )?;
            let mut out = SyncOutcome::default();
            let at = now();
            for d in found {
                let key = (d.advisory, d.vuln_id.clone(), d.asset.clone(), d.package_key.clone());
                match existing.remove(&key) {
                    Some(mut f) => match f.status {
                        FindingStatus::Resolved => {
                            f.status = FindingStatus::Open;
                            f.resolution = None;
                            f.closed_at = None;
                            f.updated_at = at;
                            f.draft = d.clone();
                            save_finding(tx, &f)?;
                            tx.audit(actor, "finding.reopen", &format!("finding:{}", f.id), None, Some(&to_value(&f)))?;
                            out.reopened += 1;
                            out.new_ids.push(f.id);
                        }
                        FindingStatus::Open | FindingStatus::InProgress => {
                            if f.draft != *d {
                                f.draft = d.clone();
                                f.updated_at = at;
                                save_finding(tx, &f)?;
                            }
                            out.still_open += 1;
                        }
                        FindingStatus::Accepted | FindingStatus::FalsePositive => {}
                    },
                    None => {
                        let f = Finding {
                            id: 0,
                            draft: d.clone(),
                            status: FindingStatus::Open,
                            resolution: None,
                            due: None,
                            opened_at: at,
                            updated_at: at,
                            closed_at: None,
                            risks: vec![],
                            incidents: vec![],
                        };
                        let id = one(
                            tx,
                            "INSERT INTO findings (advisory_id, vuln_id, asset_id, package_key, organisation, rating, rating_rank, status, body, opened_at, updated_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'open', ?8, ?9, ?9) RETURNING id",
                            &[
                                i(d.advisory),
                                t(&d.vuln_id),
                                t(&d.asset),
                                t(&d.package_key),
                                t(&d.organisation),
                                t(d.severity.rating.as_str()),
                                i(rating_rank(d.severity.rating)),
                                t(json(&f)?),
                                t(at.to_string()),
                            ],
                            |r| r.i(0),
                        )?
                        .ok_or_else(|| StoreError::Backend("the finding got no id".into()))?;
                        let f = Finding { id, ..f };
                        tx.audit(actor, "finding.open", &format!("finding:{id}"), None, Some(&to_value(&f)))?;
                        out.opened += 1;
                        out.new_ids.push(id);
                    }
                }
            }
            // What the run no longer finds is no longer affected.
            for (_, mut f) in existing {
                if f.status.is_open() {
                    let before = to_value(&f);
                    close(
                        &mut f,
                        "no longer matches: the asset's software or the advisory changed",
                    );
                    save_finding(tx, &f)?;
                    tx.audit(actor, "finding.resolve", &format!("finding:{}", f.id), Some(&before), Some(&to_value(&f)))?;
                    out.resolved += 1;
                }
            }
            Ok(out)
        })
    }

    fn findings(&self, filter: &FindingFilter) -> Result<Vec<Finding>> {
        let mut sql = format!("SELECT {FINDING_COLUMNS} FROM findings WHERE 1=1");
        let mut args = Vec::new();
        if !filter.status.is_empty() {
            let start = args.len();
            for s in &filter.status {
                args.push(t(s.as_str()));
            }
            let list: Vec<String> = (start + 1..=args.len()).map(|k| format!("?{k}")).collect();
            sql.push_str(&format!(" AND status IN ({})", list.join(", ")));
        }
        if let Some(a) = &filter.asset {
            args.push(t(a));
            sql.push_str(&format!(" AND asset_id = ?{}", args.len()));
        }
        if let Some(o) = &filter.organisation {
            args.push(t(o));
            sql.push_str(&format!(" AND organisation = ?{}", args.len()));
        }
        if let Some(a) = filter.advisory {
            args.push(i(a));
            sql.push_str(&format!(" AND advisory_id = ?{}", args.len()));
        }
        if let Some(r) = filter.min_rating {
            args.push(i(rating_rank(r)));
            sql.push_str(&format!(" AND rating_rank >= ?{}", args.len()));
        }
        sql.push_str(" ORDER BY rating_rank DESC, id");
        if filter.limit.is_some() || filter.offset > 0 {
            let limit = filter
                .limit
                .map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX));
            args.push(i(limit));
            sql.push_str(&format!(" LIMIT ?{}", args.len()));
            args.push(i(i64::try_from(filter.offset).unwrap_or(i64::MAX)));
            sql.push_str(&format!(" OFFSET ?{}", args.len()));
        }
        self.0.read(&mut |tx| rows(tx, &sql, &args, finding_row))
    }

    fn finding(&self, id: i64) -> Result<Finding> {
        self.0.read(&mut |tx| load_finding(tx, id))
    }

    fn update_finding(&self, id: i64, change: &FindingChange, actor: &str) -> Result<Finding> {
        self.0.write(&mut |tx| {
            let mut f = load_finding(tx, id)?;
            let before = to_value(&f);
            let at = now();
            if let Some(to) = change.status
                && to != f.status
            {
                if !f.status.next().contains(&to) {
                    return Err(StoreError::Conflict(format!(
                        "finding {id} is {}; it can move to {}",
                        f.status.as_str(),
                        f.status
                            .next()
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                f.status = to;
                f.closed_at = (!to.is_open()).then_some(at);
                if to.is_open() {
                    f.resolution = None;
                }
            }
            if let Some(r) = &change.resolution {
                f.resolution = Some(r.clone());
            }
            if let Some(d) = change.due {
                f.due = d;
            }
            if let Some(r) = change.add_risk {
                load_risk(tx, r)?;
                if !f.risks.contains(&r) {
                    f.risks.push(r);
                }
            }
            if let Some(n) = change.add_incident
                && !f.incidents.contains(&n)
            {
                f.incidents.push(n);
            }
            f.updated_at = at;
            save_finding(tx, &f)?;
            tx.audit(
                actor,
                "finding.update",
                &format!("finding:{id}"),
                Some(&before),
                Some(&to_value(&f)),
            )?;
            Ok(f)
        })
    }
}
