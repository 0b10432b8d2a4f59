//! The node's sharing settings, kept in the store: its name (its STIX identity), the secret key
//! for pseudonyms (made on first use, never shared), and the inbound limits.

use crate::policy::{Policy, PseudonymKey};
use crate::stix::Identity;
use crate::validate::Limits;
use focal_model::Tlp;
use focal_store::sharing::SharingStore;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Store(#[from] focal_store::StoreError),
    #[error("setting {key}: {reason}")]
    Invalid { key: String, reason: String },
    #[error(transparent)]
    Credential(#[from] crate::users::CredentialError),
}

pub const NODE_NAME: &str = "node_name";
pub const PSEUDONYM_KEY: &str = "pseudonym_key";
pub const LIMITS: &str = "limits";
/// The node's STIX identity (id, times, contact) as JSON, made on first load (at `init`).
pub const NODE_IDENTITY: &str = "node_identity";

/// What is kept of the node's identity; its name is the `node_name` setting.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct StoredIdentity {
    id: String,
    created: jiff::Timestamp,
    modified: jiff::Timestamp,
    /// The name the identity had at `modified`: a rename makes a new version.
    name: String,
    #[serde(default)]
    contact: Option<String>,
    /// The TLP of the node's public catalogue objects: its identity and the malware families
    /// it names (`share settings --catalogue-tlp`); none stored means TLP:CLEAR.
    #[serde(default)]
    catalogue_tlp: Option<Tlp>,
}

/// The TLPs the catalogue may be marked with. Not AMBER+STRICT or RED: the node's identity is
/// what every object it shares refers to (`created_by_ref`), so it must be able to leave.
pub const CATALOGUE_TLPS: [Tlp; 3] = [Tlp::Clear, Tlp::Green, Tlp::Amber];

fn stored_identity(store: &dyn SharingStore, name: &str) -> Result<StoredIdentity, SettingsError> {
    match store.setting(NODE_IDENTITY)? {
        Some(json) => serde_json::from_str(&json).map_err(|e| SettingsError::Invalid {
            key: NODE_IDENTITY.into(),
            reason: e.to_string(),
        }),
        None => {
            // A random id: two nodes with the same name are still two organisations.
            let now = jiff::Timestamp::now();
            let made = StoredIdentity {
                id: format!("identity--{}", crate::stix::random_uuid()),
                created: now,
                modified: now,
                name: name.to_string(),
                contact: None,
                catalogue_tlp: None,
            };
            store.set_setting(
                NODE_IDENTITY,
                &serde_json::to_string(&made).unwrap_or_default(),
            )?;
            Ok(made)
        }
    }
}

/// Sets the node's name, contact and/or catalogue TLP; a change makes a new version of its
/// identity (`modified` now), so peers replace the old one, and of the malware families it
/// names (they are dated with it, see `export::event_objects`).
pub fn set_identity(
    store: &dyn SharingStore,
    name: Option<&str>,
    contact: Option<&str>,
    catalogue_tlp: Option<Tlp>,
) -> Result<(), SettingsError> {
    if let Some(t) = catalogue_tlp
        && !CATALOGUE_TLPS.contains(&t)
    {
        return Err(SettingsError::Invalid {
            key: "catalogue_tlp".into(),
            reason: format!(
                "{t} would keep the node's identity from ever leaving; use CLEAR, GREEN or AMBER"
            ),
        });
    }
    let current = store
        .setting(NODE_NAME)?
        .unwrap_or_else(|| DEFAULT_NODE_NAME.to_string());
    let mut id = stored_identity(store, &current)?;
    let name = name.unwrap_or(&current);
    let contact = contact.map(str::to_string).or(id.contact.clone());
    let tlp = catalogue_tlp.or(id.catalogue_tlp);
    if name != id.name
        || contact != id.contact
        || tlp.unwrap_or(Tlp::Clear) != id.catalogue_tlp.unwrap_or(Tlp::Clear)
    {
        id.name = name.to_string();
        id.contact = contact;
        id.catalogue_tlp = tlp;
        // Strictly later than the last version, to the millisecond STIX keeps.
        let now = jiff::Timestamp::now();
        let next = id.modified + jiff::SignedDuration::from_millis(1);
        id.modified = now.max(next);
        store.set_setting(
            NODE_IDENTITY,
            &serde_json::to_string(&id).unwrap_or_default(),
        )?;
    }
    store.set_setting(NODE_NAME, name)?;
    Ok(())
}

const DEFAULT_NODE_NAME: &str = "Focal node";

/// The id of this node's STIX identity, if it has one yet.
pub fn node_identity_id(store: &dyn SharingStore) -> Result<Option<String>, SettingsError> {
    Ok(store
        .setting(NODE_IDENTITY)?
        .and_then(|json| serde_json::from_str::<StoredIdentity>(&json).ok())
        .map(|i| i.id))
}

#[derive(Debug, Clone)]
pub struct NodeSettings {
    pub node: Identity,
    pub key: PseudonymKey,
    pub limits: Limits,
}

/// Loads the settings, creating the pseudonym key and the default collection on first use.
pub fn load(store: &dyn SharingStore) -> Result<NodeSettings, SettingsError> {
    crate::import::ensure_default_collection(store)?;
    let name = store
        .setting(NODE_NAME)?
        .unwrap_or_else(|| DEFAULT_NODE_NAME.to_string());
    let identity = stored_identity(store, &name)?;
    let key = match store.setting(PSEUDONYM_KEY)? {
        Some(hex_key) => hex::decode(&hex_key).map_err(|e| SettingsError::Invalid {
            key: PSEUDONYM_KEY.into(),
            reason: e.to_string(),
        })?,
        None => {
            let k = crate::users::new_secret_key()?;
            store.set_setting(PSEUDONYM_KEY, &hex::encode(&k))?;
            k
        }
    };
    let limits = match store.setting(LIMITS)? {
        Some(json) => serde_json::from_str(&json).map_err(|e| SettingsError::Invalid {
            key: LIMITS.into(),
            reason: e.to_string(),
        })?,
        None => Limits::default(),
    };
    Ok(NodeSettings {
        node: Identity::stored(
            identity.id,
            &name,
            identity.contact,
            identity.created,
            identity.modified,
            identity.catalogue_tlp.unwrap_or(Tlp::Clear),
        ),
        key: PseudonymKey::new(key),
        limits,
    })
}

/// The policy for a principal (a peer or user name), or the default (TLP:GREEN, no redaction).
pub fn policy_for(store: &dyn SharingStore, principal: &str) -> Result<Policy, SettingsError> {
    match store.policy(principal)? {
        Some(json) => serde_json::from_str(&json).map_err(|e| SettingsError::Invalid {
            key: format!("policy of {principal}"),
            reason: e.to_string(),
        }),
        None => Ok(Policy::default()),
    }
}
