//! The roles of Focal's accounts, declared once. Everything else (the route matrix, the store's
//! checks, the CLI's help) is derived from this type.

use serde::{Deserialize, Serialize};

/// What an account is for. A peer is another node's account on this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including accounts.
    Admin,
    /// Everything but accounts.
    Analyst,
    /// Reads everything, including the audit log; changes nothing.
    Auditor,
    /// A network owner: reads and acts on its own organisation's events and incidents.
    Constituent,
    /// Another focal point's machine account: TAXII only.
    Peer,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?} (expected one of {names})", names = Role::names())]
pub struct UnknownRole(pub String);

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Analyst,
        Role::Auditor,
        Role::Constituent,
        Role::Peer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Analyst => "analyst",
            Role::Auditor => "auditor",
            Role::Constituent => "constituent",
            Role::Peer => "peer",
        }
    }

    /// "admin, analyst, auditor, constituent, peer", for messages and help.
    pub fn names() -> String {
        Role::ALL.map(Role::as_str).join(", ")
    }

    /// The node's own people: they see every organisation's data.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Admin | Role::Analyst | Role::Auditor)
    }

    /// Whether the role signs in to the web application (peers use TAXII only).
    pub fn uses_web(self) -> bool {
        self != Role::Peer
    }
}

impl std::str::FromStr for Role {
    type Err = UnknownRole;
    fn from_str(text: &str) -> Result<Role, UnknownRole> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == text)
            .ok_or_else(|| UnknownRole(text.to_string()))
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_read_back_as_written() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        let e = "root".parse::<Role>().unwrap_err();
        assert!(e.to_string().contains("admin, analyst"), "{e}");
        assert!(!Role::Peer.uses_web() && Role::Constituent.uses_web());
        assert!(!Role::Constituent.is_staff() && Role::Auditor.is_staff());
    }
}
