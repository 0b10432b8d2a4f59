//! The node's sharing settings, kept in the store: its name (its STIX identity), the secret key
//! for pseudonyms (made on first use, never shared), and the inbound limits.

use crate::policy::{Policy, PseudonymKey};
use crate::stix::Identity;
use crate::validate::Limits;
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
        .unwrap_or_else(|| "Focal node".to_string());
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
        node: Identity::node(&name),
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
