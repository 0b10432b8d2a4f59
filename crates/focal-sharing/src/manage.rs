//! Changes to whom this node shares with, and how: peers (add, change, pause, resume) and
//! sharing policies, each checked here and audited before it is made (so nothing changes
//! unaudited). The command line (`focal peers`, `focal share policy`) and the web UI
//! (`/sharing`) both call these functions, so their rules and audit records are one.
//!
//! Audit actions: `peer.add`, `peer.update` (the peer before and after, never its secret),
//! `peer.pause`, `peer.resume`, and `sharing.policy` (subject `policy:<principal>`).

use crate::policy::{Policy, Redaction};
use crate::settings::SettingsError;
use focal_model::Tlp;
use focal_store::incidents::AuditLog;
use focal_store::sharing::{Peer, SharingStore};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    #[error(transparent)]
    Store(#[from] focal_store::StoreError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A value that cannot be saved: which field (as the command line names it) and why.
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("there is no peer named {0:?}")]
    NoPeer(String),
}

fn invalid(field: &str, reason: impl Into<String>) -> ManageError {
    ManageError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// How this node signs in to a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerCredential {
    /// As the peer has it now (a form whose secret field was left empty); none for a new peer.
    Keep,
    None,
    /// HTTP Basic with the draft's user and this password.
    Basic(String),
    Bearer(String),
}

/// A peer as a person gives it (flags or a form), before it is checked.
#[derive(Debug, Clone)]
pub struct PeerDraft {
    pub name: String,
    /// The remote TAXII API root URL.
    pub url: String,
    /// The remote collection id.
    pub collection: String,
    pub user: Option<String>,
    pub credential: PeerCredential,
    pub pull: bool,
    pub push: bool,
    /// The local collection (id or alias); `None`: the shared collection.
    pub local_collection: Option<String>,
}

/// Checks a draft against the peer it changes (if any) and makes the peer to store: cursors,
/// counts and the last sync are kept from the old one.
pub fn peer_from_draft(store: &dyn SharingStore, d: &PeerDraft) -> Result<Peer, ManageError> {
    let name = d.name.trim();
    if name.is_empty() || name.len() > 128 || name.chars().any(|c| c.is_control() || c == '/') {
        return Err(invalid(
            "name",
            "1 to 128 characters, without '/' or control characters",
        ));
    }
    let url = d.url.trim();
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 2048 {
        return Err(invalid(
            "url",
            format!("{url:?}: expected an http:// or https:// URL"),
        ));
    }
    let collection = d.collection.trim();
    if collection.is_empty() {
        return Err(invalid("collection", "the remote collection id is needed"));
    }
    if !d.pull && !d.push {
        return Err(invalid("pull/push", "say --pull, --push or both"));
    }
    let local = d
        .local_collection
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .unwrap_or(crate::import::DEFAULT_COLLECTION);
    let local = store
        .collection(local)?
        .ok_or_else(|| invalid("local-collection", format!("no local collection {local:?}")))?;
    let old = store.peer(name)?;
    let user = d
        .user
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_string);
    let (auth, secret) = match &d.credential {
        PeerCredential::Bearer(t) if !t.is_empty() => ("bearer".to_string(), Some(t.clone())),
        PeerCredential::Basic(p) if !p.is_empty() => ("basic".to_string(), Some(p.clone())),
        PeerCredential::Keep => match &old {
            Some(o) => (o.auth.clone(), o.secret.clone()),
            None => ("none".to_string(), None),
        },
        _ => ("none".to_string(), None),
    };
    if user.is_some() && auth == "none" {
        return Err(invalid(
            "password",
            "--user needs --password (or FOCAL_PEER_PASSWORD)",
        ));
    }
    if user.is_none() && auth == "basic" {
        return Err(invalid(
            "user",
            "a password needs the user name it belongs to",
        ));
    }
    Ok(Peer {
        name: name.to_string(),
        api_root: url.to_string(),
        collection: collection.to_string(),
        local_collection: local.id,
        username: user,
        secret,
        auth,
        pull: d.pull,
        push: d.push,
        pull_cursor: old.as_ref().and_then(|o| o.pull_cursor.clone()),
        push_cursor: old.as_ref().map(|o| o.push_cursor).unwrap_or(0),
        last_sync_at: old.as_ref().and_then(|o| o.last_sync_at.clone()),
        last_error: old.as_ref().and_then(|o| o.last_error.clone()),
        pulled: old.as_ref().map(|o| o.pulled).unwrap_or(0),
        pushed: old.as_ref().map(|o| o.pushed).unwrap_or(0),
    })
}

/// Adds or changes a peer: `peer.add` or `peer.update`, audited before the change (the peer's
/// secret is never serialised). Returns the peer and whether it is new.
pub fn save_peer<S: SharingStore + AuditLog>(
    store: &S,
    actor: &str,
    draft: &PeerDraft,
) -> Result<(Peer, bool), ManageError> {
    let peer = peer_from_draft(store, draft)?;
    let old = store.peer(&peer.name)?;
    store.audit_append(
        actor,
        if old.is_some() {
            "peer.update"
        } else {
            "peer.add"
        },
        &format!("peer:{}", peer.name),
        old.as_ref().map(serde_json::to_value).transpose()?.as_ref(),
        Some(&serde_json::to_value(&peer)?),
    )?;
    store.put_peer(&peer)?;
    Ok((peer, old.is_none()))
}

/// The setting that holds whether a peer is paused (the store's key/value settings: a pause is
/// a node setting about the peer, and needs no column of its own).
fn pause_key(peer: &str) -> String {
    format!("peer_paused:{peer}")
}

/// A paused peer is not synced (by `focal peers sync` without a name, nor by `focal serve`'s
/// sync worker) until it is resumed. Its cursors stay, so a resumed peer carries on where it
/// stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    pub paused: bool,
    /// When it was paused or resumed (RFC 3339) and by whom.
    pub at: String,
    pub by: String,
}

/// Whether the peer is paused, with when and by whom.
pub fn pause_of(store: &dyn SharingStore, peer: &str) -> Result<Option<Pause>, ManageError> {
    Ok(match store.setting(&pause_key(peer))? {
        Some(json) => serde_json::from_str::<Pause>(&json)
            .map_err(|e| invalid(&pause_key(peer), e.to_string()))?
            .paused
            .then(|| serde_json::from_str(&json))
            .transpose()?,
        None => None,
    })
}

/// Pauses or resumes a peer, audited (`peer.pause` / `peer.resume`) before the change. Returns
/// whether anything changed (pausing a paused peer changes nothing and is not audited).
pub fn set_paused<S: SharingStore + AuditLog>(
    store: &S,
    actor: &str,
    peer: &str,
    paused: bool,
) -> Result<bool, ManageError> {
    if store.peer(peer)?.is_none() {
        return Err(ManageError::NoPeer(peer.to_string()));
    }
    let now = pause_of(store, peer)?.is_some();
    if now == paused {
        return Ok(false);
    }
    let record = Pause {
        paused,
        at: jiff::Timestamp::now().to_string(),
        by: actor.to_string(),
    };
    store.audit_append(
        actor,
        if paused { "peer.pause" } else { "peer.resume" },
        &format!("peer:{peer}"),
        Some(&serde_json::json!({ "paused": now })),
        Some(&serde_json::json!({ "paused": paused })),
    )?;
    store.set_setting(&pause_key(peer), &serde_json::to_string(&record)?)?;
    Ok(true)
}

/// The peers a sync round works on: every peer that is not paused.
pub fn active_peers(store: &dyn SharingStore) -> Result<Vec<Peer>, ManageError> {
    let mut out = Vec::new();
    for p in store.peers()? {
        if pause_of(store, &p.name)?.is_none() {
            out.push(p);
        }
    }
    Ok(out)
}

/// A policy from its parts as a person gives them (flags or a form): the highest TLP, the
/// constituent, `FIELD=drop|pseudonymise` redactions, and RSIT types or taxonomies.
pub fn policy_from_parts(
    max_tlp: &str,
    constituent: Option<&str>,
    redact: &[String],
    types: &[String],
) -> Result<Policy, ManageError> {
    let mut p = Policy {
        max_tlp: max_tlp
            .trim()
            .parse::<Tlp>()
            .map_err(|e| invalid("max-tlp", e.to_string()))?,
        constituent: constituent
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string),
        ..Policy::default()
    };
    for r in redact.iter().map(|r| r.trim()).filter(|r| !r.is_empty()) {
        let (field, action) = r.split_once('=').ok_or_else(|| {
            invalid(
                "redact",
                format!("{r:?}: expected FIELD=drop or FIELD=pseudonymise"),
            )
        })?;
        let (field, action) = (field.trim(), action.trim());
        let action = match action {
            "drop" => Redaction::Drop,
            "pseudonymise" | "pseudonymize" | "hash" => Redaction::Pseudonymise,
            other => {
                return Err(invalid(
                    "redact",
                    format!("{r:?}: {other:?} is not drop or pseudonymise"),
                ));
            }
        };
        field
            .parse::<focal_model::Field>()
            .map_err(|e| invalid("redact", format!("{r:?}: {e}")))?;
        p.redact.insert(field.to_string(), action);
    }
    let types: Vec<&str> = types
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .collect();
    if !types.is_empty() {
        for t in &types {
            if t.parse::<focal_model::ClassificationType>().is_err()
                && t.parse::<focal_model::Taxonomy>().is_err()
            {
                return Err(invalid(
                    "types",
                    format!("{t:?} is neither an RSIT classification type nor a taxonomy"),
                ));
            }
        }
        p.types = Some(types.iter().map(|t| t.to_string()).collect());
    }
    Ok(p)
}

/// Sets a peer's or user's sharing policy, audited (`sharing.policy`, subject
/// `policy:<principal>`, the policy before and after) before it is changed. An unchanged
/// policy is not audited again.
pub fn save_policy<S: SharingStore + AuditLog>(
    store: &S,
    actor: &str,
    principal: &str,
    policy: &Policy,
) -> Result<(), ManageError> {
    let principal = principal.trim();
    if principal.is_empty() {
        return Err(invalid("principal", "a peer or user name is needed"));
    }
    let before = store
        .policy(principal)?
        .map(|text| serde_json::from_str::<serde_json::Value>(&text).unwrap_or(text.into()));
    let after = serde_json::to_value(policy)?;
    if before.as_ref() != Some(&after) {
        store.audit_append(
            actor,
            "sharing.policy",
            &format!("policy:{principal}"),
            before.as_ref(),
            Some(&after),
        )?;
    }
    store.set_policy(principal, &serde_json::to_string(policy)?)?;
    Ok(())
}
