//! Changing constituents, for the web UI and the REST API alike: one constituent from a form or
//! a JSON body, or a CSV import. Values are checked by `focal_model::ConstituentDraft` and CSV
//! rows by `focal_enrich::parse_constituents_all`, the same rules as `focal constituents
//! import`; the store writes the records and their audit entries (the signed-in user as actor,
//! before and after) in one transaction. A CSV with any bad row imports nothing.
//!
//! Events get their constituent when they are ingested (the enricher loads the constituency when
//! an ingest starts), so a change applies to ingests started after it; events already stored
//! keep the constituent they were given. Notifications take the abuse address when they are
//! queued (claimed), so messages already in the outbox keep theirs; the `also_notify` copies go
//! to the addresses stored when a message is sent.

use crate::AppState;
use crate::access::{MAX_IMPORT_BYTES, Principal};
use crate::api::{ApiError, blocking};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use focal_model::{Constituent, ConstituentDraft};
use focal_store::web::{ConstituentRow, Scope, WebStore};
use focal_store::{ConstituentSave, SaveMode, Store, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A constituent as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ConstituentOut {
    pub id: String,
    pub name: String,
    /// Where notifications go; empty when none.
    pub abuse_email: String,
    pub asns: Vec<u32>,
    /// CIDR networks, e.g. `192.0.2.0/24`.
    pub netblocks: Vec<String>,
    /// Domain suffixes (`example.org` covers `www.example.org`).
    pub domains: Vec<String>,
    /// The notification language (BCP 47, e.g. `de`); absent for the default.
    pub language: Option<String>,
    /// Further recipients of notifications (Cc), each one address; empty when none.
    pub also_notify: Vec<String>,
}

impl From<ConstituentRow> for ConstituentOut {
    fn from(c: ConstituentRow) -> Self {
        ConstituentOut {
            id: c.id,
            name: c.name,
            abuse_email: c.abuse_email,
            asns: c.asns,
            netblocks: c.netblocks,
            domains: c.domains,
            language: c.language,
            also_notify: c.also_notify,
        }
    }
}

impl From<Constituent> for ConstituentOut {
    fn from(c: Constituent) -> Self {
        ConstituentOut {
            id: c.id,
            name: c.name,
            abuse_email: c.abuse_email,
            asns: c.asns,
            netblocks: c.netblocks.iter().map(|n| n.to_string()).collect(),
            domains: c.domains,
            language: c.language,
            also_notify: c.also_notify,
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ImportResult {
    /// Rows read from the CSV (after its header).
    pub rows: u64,
    pub added: u64,
    pub updated: u64,
    pub unchanged: u64,
}

/// One value that was refused: where (the CSV line), which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Problem {
    /// The CSV line (1 is the header); absent for a form or a JSON body.
    pub line: Option<u64>,
    /// `id`, `name`, `abuse_email`, `asns`, `netblocks`, `domains`, `language` or
    /// `also_notify`; absent when
    /// the problem is the whole row or body.
    pub field: Option<String>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.line, &self.field) {
            (Some(l), Some(field)) => write!(f, "line {l}, field {field}: {}", self.message),
            (Some(l), None) => write!(f, "line {l}: {}", self.message),
            (None, Some(field)) => write!(f, "field {field}: {}", self.message),
            (None, None) => write!(f, "{}", self.message),
        }
    }
}

/// A refused change (HTTP 422): nothing was written.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Refusal {
    /// The first problem, and how many more there are.
    pub error: String,
    /// Every problem found (up to 1000).
    pub problems: Vec<Problem>,
}

/// Why a change was not made.
#[derive(Debug)]
pub enum ChangeError {
    /// The input was read but some values are wrong; nothing was written.
    Refused(Vec<Problem>),
    Api(ApiError),
}

impl From<ApiError> for ChangeError {
    fn from(e: ApiError) -> Self {
        ChangeError::Api(e)
    }
}

impl ChangeError {
    pub fn refusal(problems: Vec<Problem>) -> Refusal {
        let mut error = format!(
            "nothing was saved: {}",
            problems
                .first()
                .map(|p| p.to_string())
                .unwrap_or_else(|| "the input was refused".into())
        );
        match problems.len() {
            0 | 1 => {}
            2 => error.push_str(" (and 1 more problem)"),
            n => error.push_str(&format!(" (and {} more problems)", n - 1)),
        }
        Refusal { error, problems }
    }

    pub fn one(field: Option<&str>, message: impl Into<String>) -> ChangeError {
        ChangeError::Refused(vec![Problem {
            line: None,
            field: field.map(str::to_string),
            message: message.into(),
        }])
    }
}

impl IntoResponse for ChangeError {
    fn into_response(self) -> Response {
        match self {
            ChangeError::Refused(problems) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(ChangeError::refusal(problems)),
            )
                .into_response(),
            ChangeError::Api(e) => e.into_response(),
        }
    }
}

/// One constituent as text, the way the form holds it (lists one per line or separated by
/// spaces or commas).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Fields {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub abuse_email: String,
    #[serde(default)]
    pub asns: String,
    #[serde(default)]
    pub netblocks: String,
    #[serde(default)]
    pub domains: String,
    #[serde(default)]
    pub language: String,
    /// Addresses one per line or separated by `;`. `None` (only from an API body without
    /// the field) keeps what is stored.
    #[serde(default)]
    pub also_notify: Option<String>,
}

impl Fields {
    /// A stored constituent's values, one list entry per line.
    pub fn of(c: &ConstituentRow) -> Fields {
        Fields {
            id: c.id.clone(),
            name: c.name.clone(),
            abuse_email: c.abuse_email.clone(),
            asns: c
                .asns
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
            netblocks: c.netblocks.join("\n"),
            domains: c.domains.join("\n"),
            language: c.language.clone().unwrap_or_default(),
            also_notify: Some(c.also_notify.join("\n")),
        }
    }

    fn draft(&self) -> ConstituentDraft<'_> {
        ConstituentDraft {
            id: &self.id,
            name: &self.name,
            abuse_email: &self.abuse_email,
            asns: &self.asns,
            netblocks: &self.netblocks,
            domains: &self.domains,
            language: &self.language,
            also_notify: self.also_notify.as_deref().unwrap_or(""),
        }
    }
}

fn field_problems(errors: Vec<focal_model::FieldError>) -> Vec<Problem> {
    errors
        .into_iter()
        .map(|e| Problem {
            line: None,
            field: Some(e.field.to_string()),
            message: e.message,
        })
        .collect()
}

/// A store refusal of an id (`SaveMode::Create` on an existing one, `Update` on a missing one)
/// becomes a problem with the field `id`; anything else stays a store error.
fn refused_id(e: StoreError) -> ChangeError {
    match e {
        StoreError::Invalid(m) if m.starts_with("id: ") => {
            ChangeError::one(Some("id"), m.trim_start_matches("id: "))
        }
        e => ChangeError::Api(e.into()),
    }
}

/// Saves one constituent as the principal. Returns it as stored and whether it was added.
pub async fn save(
    state: &AppState,
    p: &Principal,
    fields: Fields,
    mode: SaveMode,
) -> Result<(ConstituentOut, bool), ChangeError> {
    let mut fields = fields;
    if fields.also_notify.is_none() && mode != SaveMode::Create {
        // An API client written before `also_notify` existed must not erase it.
        let (st, id) = (state.clone(), fields.id.trim().to_string());
        let stored = blocking(move || Ok(st.store.constituent_in(&id, &Scope::All)?)).await?;
        fields.also_notify = stored.map(|c| c.also_notify.join("\n"));
    }
    let c = fields
        .draft()
        .validate()
        .map_err(|e| ChangeError::Refused(field_problems(e)))?;
    let (st, actor) = (state.clone(), p.actor());
    let out = blocking(move || {
        if mode == SaveMode::Update && st.store.constituent_in(&c.id, &Scope::All)?.is_none() {
            return Err(ApiError::not_found("such constituent"));
        }
        let how = ConstituentSave {
            actor: &actor,
            mode,
            source: None,
        };
        Ok(st
            .store
            .save_constituents(std::slice::from_ref(&c), &how)
            .map(|summary| (c, summary.added == 1)))
    })
    .await?;
    let (c, added) = out.map_err(refused_id)?;
    Ok((c.into(), added))
}

/// Imports a CSV as the principal: every row, or (when any row is wrong) none.
pub async fn import(
    state: &AppState,
    p: &Principal,
    csv: bytes::Bytes,
    source: String,
) -> Result<ImportResult, ChangeError> {
    if csv.len() > MAX_IMPORT_BYTES {
        return Err(ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the CSV is too large: a constituent CSV may be at most 10 MiB".into(),
        )
        .into());
    }
    let (st, actor) = (state.clone(), p.actor());
    blocking(move || {
        let list = match focal_enrich::parse_constituents_all(&csv[..], &source) {
            Ok(list) => list,
            Err(errors) => {
                let problems = errors
                    .into_iter()
                    .map(|e| match e {
                        focal_enrich::ImportError::Row { line, message, .. } => Problem {
                            line: Some(line),
                            field: None,
                            message,
                        },
                        focal_enrich::ImportError::Field {
                            line,
                            field,
                            message,
                            ..
                        } => Problem {
                            line: Some(line),
                            field: Some(field.to_string()),
                            message,
                        },
                    })
                    .collect();
                return Ok(Err(ChangeError::Refused(problems)));
            }
        };
        let how = ConstituentSave {
            actor: &actor,
            mode: SaveMode::Import,
            source: Some(&source),
        };
        let s = st.store.save_constituents(&list, &how)?;
        Ok(Ok(ImportResult {
            rows: list.len() as u64,
            added: s.added,
            updated: s.updated,
            unchanged: s.unchanged,
        }))
    })
    .await?
}
