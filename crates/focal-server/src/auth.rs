//! What an authenticated account may do with a TAXII collection. (Who it is was decided by the
//! one authenticator, `focal_identity::Authenticator`, in `access::guard`.)

use focal_identity::Role;
use focal_store::sharing::{Rights, SharingStore, User};

/// A user's rights on a collection: staff by role, peers (and constituents) as granted.
pub fn rights(
    store: &dyn SharingStore,
    user: &User,
    collection: &str,
) -> focal_store::Result<Rights> {
    Ok(match user.role {
        Role::Admin | Role::Analyst => Rights {
            can_read: true,
            can_write: true,
        },
        Role::Auditor => Rights {
            can_read: true,
            can_write: false,
        },
        Role::Constituent | Role::Peer => store.rights(user.id, collection)?.unwrap_or(Rights {
            can_read: false,
            can_write: false,
        }),
    })
}
