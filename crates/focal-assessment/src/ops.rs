//! The domain's operations over its storage traits: what the command line (and later the web
//! application) calls, so that the rules live here once.

use crate::assessment::{Assessment, AssessmentHeader, Due, Status, due_reassessments};
use crate::framework::{Framework, builtin};
use crate::matching::{
    FindingDraft, MatchScope, SoftwareIndex, SyncOutcome, match_all, match_record,
};
use crate::risk::Installed;
use crate::software::Software;
use crate::store::{AssessmentFilter, AssessmentStore, Result, RiskStore, Storage, StoreError};
use crate::version::Vers;
use serde::Serialize;
use std::collections::BTreeMap;

/// Where a framework comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Shipped,
    Added,
}

/// Every framework: the shipped ones, then those users added.
pub fn frameworks(store: &dyn AssessmentStore) -> Result<Vec<(Framework, Origin)>> {
    let mut out: Vec<(Framework, Origin)> = builtin()
        .map_err(|e| StoreError::Invalid(e.to_string()))?
        .into_iter()
        .map(|f| (f, Origin::Shipped))
        .collect();
    for s in store.stored_frameworks()? {
        out.push((s.framework, Origin::Added));
    }
    Ok(out)
}

/// A framework by id, at a version (the latest added, by default: shipped first, then added).
pub fn framework(
    store: &dyn AssessmentStore,
    id: &str,
    version: Option<&str>,
) -> Result<Framework> {
    frameworks(store)?
        .into_iter()
        .map(|(f, _)| f)
        .rev()
        .find(|f| f.id == id && version.is_none_or(|v| f.version == v))
        .ok_or_else(|| {
            crate::store::not_found(
                "framework",
                match version {
                    Some(v) => format!("{id} version {v}"),
                    None => id.to_string(),
                },
            )
        })
}

/// The framework an assessment was made against.
pub fn framework_of(store: &dyn AssessmentStore, a: &AssessmentHeader) -> Result<Framework> {
    framework(store, &a.framework_id, Some(&a.framework_version))
}

/// The latest completed assessment of the same subject and framework before this one.
pub fn previous(
    store: &dyn AssessmentStore,
    a: &AssessmentHeader,
) -> Result<Option<AssessmentHeader>> {
    let list = store.assessments(&AssessmentFilter {
        subject_kind: Some(a.subject.kind),
        subject: Some(a.subject.name.clone()),
        framework: Some(a.framework_id.clone()),
        status: Some(Status::Completed),
        ..AssessmentFilter::default()
    })?;
    Ok(list
        .into_iter()
        .filter(|h| h.id != a.id && (a.completed_at.is_none() || h.completed_at < a.completed_at))
        .filter(|h| a.status == Status::Draft || h.id < a.id)
        .max_by_key(|h| (h.completed_at, h.id)))
}

/// Every completed assessment of the subject and framework, oldest first, with its overall
/// score: the trend.
pub fn trend(
    store: &dyn AssessmentStore,
    a: &AssessmentHeader,
) -> Result<Vec<(AssessmentHeader, Option<f64>)>> {
    let list = store.assessments(&AssessmentFilter {
        subject_kind: Some(a.subject.kind),
        subject: Some(a.subject.name.clone()),
        framework: Some(a.framework_id.clone()),
        ..AssessmentFilter::default()
    })?;
    let mut out = Vec::new();
    for h in list {
        if h.status != Status::Completed && h.id != a.id {
            continue;
        }
        let full: Assessment = store.assessment(h.id)?;
        let fw = framework_of(store, &h)?;
        let overall = crate::score::score(&fw, &full).overall;
        out.push((h, overall));
    }
    out.sort_by_key(|(h, _)| (h.completed_at.is_none(), h.completed_at, h.id));
    Ok(out)
}

/// The formats an assessment report is exported in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    Html,
    Json,
}

impl ReportFormat {
    /// Parses `html` or `json` (the CLI's `--format` and the web's `?format=`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "html" => Some(Self::Html),
            "json" => Some(Self::Json),
            _ => None,
        }
    }

    /// The file extension and the media type of a report in this format.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Html => "html",
            Self::Json => "json",
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            Self::Html => "text/html; charset=utf-8",
            Self::Json => "application/json",
        }
    }
}

/// The standalone assessment report (score, gaps, comparison with the previous assessment of
/// the subject, trend) as one document: what `focal assess export` writes and the web page's
/// download links serve, so both are the same bytes.
pub fn export_report(store: &dyn AssessmentStore, id: i64, format: ReportFormat) -> Result<String> {
    let a = store.assessment(id)?;
    let f = framework_of(store, &a.header)?;
    let card = crate::score::score(&f, &a);
    let comparison = match previous(store, &a.header)? {
        Some(p) => {
            let pa = store.assessment(p.id)?;
            Some(crate::score::compare(
                &framework_of(store, &p)?,
                &pa,
                &f,
                &a,
            ))
        }
        None => None,
    };
    let trend = trend(store, &a.header)?;
    Ok(match format {
        ReportFormat::Html => {
            crate::report::assessment_html(&f, &a, &card, comparison.as_ref(), &trend)
        }
        ReportFormat::Json => {
            serde_json::to_string_pretty(&serde_json::json!({
                "label": "self-assessment (not an ITU GCI score or a GCSCC CMM review)",
                "assessment": a,
                "framework": {"id": f.id, "version": f.version, "title": f.title, "source": f.source},
                "score": card,
                "comparison_with_previous": comparison,
                "trend": trend.iter().map(|(h, o)| serde_json::json!({"id": h.id, "completed_at": h.completed_at, "overall": o})).collect::<Vec<_>>(),
            }))
            .map_err(|e| StoreError::Invalid(format!("serialising the report of assessment {id}: {e}")))?
                + "\n"
        }
    })
}

/// Reassessments due by `horizon` (overdue ones first).
pub fn due(
    store: &dyn AssessmentStore,
    today: jiff::civil::Date,
    horizon: jiff::civil::Date,
) -> Result<Vec<Due>> {
    let all = store.assessments(&AssessmentFilter {
        status: Some(Status::Completed),
        ..AssessmentFilter::default()
    })?;
    Ok(due_reassessments(&all, today, horizon))
}

/// Checks what a risk links to: its asset exists, its threat and vulnerability are register
/// entries of that kind, and each control names an item (or an item with sub-items) of a known
/// framework. The command line and the web application both call this before saving.
pub fn check_risk(store: &dyn Storage, d: &crate::risk::RiskDraft) -> Result<()> {
    let problems = d.problems();
    if !problems.is_empty() {
        return Err(StoreError::Invalid(problems.join("; ")));
    }
    if let Some(a) = &d.asset {
        store.asset(a)?;
    }
    let entries = store.entries(None)?;
    for (id, kind) in [
        (d.threat, crate::risk::EntryKind::Threat),
        (d.vulnerability, crate::risk::EntryKind::Vulnerability),
    ] {
        if let Some(id) = id
            && !entries.iter().any(|e| e.id == id && e.kind == kind)
        {
            return Err(StoreError::Invalid(format!(
                "{} {id} is not in the register",
                kind.as_str()
            )));
        }
    }
    for c in &d.controls {
        let f = framework(store, &c.framework, None)?;
        let known = f.leaf(&c.item).is_some()
            || f.sections
                .iter()
                .flat_map(|x| &x.items)
                .any(|i| i.id == c.item);
        if !known {
            return Err(StoreError::Invalid(format!(
                "control {}:{}: {} has no item {:?}",
                c.framework, c.item, c.framework, c.item
            )));
        }
    }
    Ok(())
}

fn index_of(installed: Vec<Installed>) -> SoftwareIndex {
    let mut index = SoftwareIndex::new();
    for i in installed {
        index.insert(i);
    }
    index
}

/// Matches one advisory against the assets running its packages (an index lookup by key).
pub fn match_advisory(store: &dyn Storage, advisory: i64, actor: &str) -> Result<SyncOutcome> {
    let a = store.advisory(advisory)?;
    let mut keys: Vec<String> = a.records.iter().map(|r| r.key.clone()).collect();
    keys.sort();
    keys.dedup();
    let index = index_of(store.installed_for_keys(&keys)?);
    let records = store.records_for_keys(&keys)?;
    let found: Vec<FindingDraft> =
        match_all(&index, records.iter().filter(|r| r.advisory == advisory));
    store.sync_findings(&MatchScope::Advisory(advisory), &found, actor)
}

/// Matches one asset against the advisories naming its packages.
pub fn match_asset(store: &dyn Storage, asset: &str, actor: &str) -> Result<SyncOutcome> {
    let found = match store.asset(asset) {
        Ok(a) => {
            let keys: Vec<String> = a.software.iter().map(|s| s.key.clone()).collect();
            let index = index_of(
                store
                    .installed_for_keys(&keys)?
                    .into_iter()
                    .filter(|i| i.asset == asset)
                    .collect(),
            );
            let records = store.records_for_keys(&keys)?;
            match_all(&index, &records)
        }
        Err(StoreError::NotFound { .. }) => Vec::new(),
        Err(e) => return Err(e),
    };
    store.sync_findings(&MatchScope::Asset(asset.to_string()), &found, actor)
}

/// Matches everything: the installed software is indexed in memory by key, and every affected
/// record is streamed past the index.
pub fn match_everything(store: &dyn Storage, actor: &str) -> Result<SyncOutcome> {
    let mut index = SoftwareIndex::new();
    store.all_installed(&mut |i| {
        index.insert(i);
        Ok(())
    })?;
    let mut found = Vec::new();
    store.all_records(&mut |r| {
        match_record(&index, &r, &mut found);
        Ok(())
    })?;
    let found = crate::matching::dedup(found);
    store.sync_findings(&MatchScope::All, &found, actor)
}

/// An organisation and its constituent id.
type OrgKey = (String, Option<String>);

/// An organisation running a product, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exposure {
    pub organisation: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constituent: Option<String>,
    /// (asset id, software identifier) pairs.
    pub assets: Vec<(String, String)>,
}

/// The organisations (and constituents) whose assets run a product, given as a CPE or purl. A
/// version in the identifier narrows it to that version; `versions` (a `vers:` range) narrows
/// it to a range. An installation without a version is included (it may run an affected one).
/// This is an index lookup by package key: the query advisories use to reach only the
/// constituents concerned.
pub fn organisations_running(
    store: &dyn RiskStore,
    product: &str,
    versions: Option<&str>,
) -> Result<Vec<Exposure>> {
    let wanted = Software::parse(product).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let range = versions
        .map(Vers::parse)
        .transpose()
        .map_err(StoreError::Invalid)?;
    let mut by_org: BTreeMap<OrgKey, Vec<(String, String)>> = BTreeMap::new();
    for i in store.installed_for_keys(std::slice::from_ref(&wanted.key))? {
        if !wanted.same_package(&i.software) {
            continue;
        }
        let version_ok = match (&i.software.version, &wanted.version, &range) {
            (None, _, _) => true,
            (Some(v), Some(w), _) => wanted.scheme.equal(v, w),
            (Some(v), None, Some(r)) => r.contains(v),
            (Some(_), None, None) => true,
        };
        if version_ok {
            by_org
                .entry((i.organisation.clone(), i.constituent.clone()))
                .or_default()
                .push((i.asset.clone(), i.software.spec.clone()));
        }
    }
    Ok(by_org
        .into_iter()
        .map(|((organisation, constituent), mut assets)| {
            assets.sort();
            Exposure {
                organisation,
                constituent,
                assets,
            }
        })
        .collect())
}
