//! The one authenticator (`focal_identity::Authenticator`) over the real SQLite store: what it
//! refuses, for every kind of credential, and the throttling of password checks.

use focal_identity::accounts;
use focal_identity::{
    Authenticator, Channel, Credential, IdentityStore, Presented, Refused, Role, TokenScope, Via,
};
use focal_store::SqliteStore;
use std::net::IpAddr;
use std::sync::Arc;

const PASSWORD: &str = "correct horse battery";

fn store() -> (tempfile::TempDir, Arc<SqliteStore>) {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("focal.db")).unwrap();
    accounts::add(&s, "ana", Role::Analyst, None, Some(PASSWORD), "test").unwrap();
    (dir, Arc::new(s))
}

fn ip(n: u8) -> IpAddr {
    IpAddr::from([192, 0, 2, n])
}

fn present(credential: Credential, channel: Channel, writes: bool) -> Presented {
    Presented {
        credential,
        client: ip(1),
        writes,
        channel,
    }
}

fn basic(name: &str, password: &str) -> Credential {
    Credential::Basic {
        name: name.into(),
        password: password.into(),
    }
}

fn refused<T: std::fmt::Debug>(r: Result<T, Refused<focal_store::StoreError>>) -> &'static str {
    match r {
        Ok(v) => panic!("accepted: {v:?}"),
        Err(Refused::Unauthenticated) => "unauthenticated",
        Err(Refused::ReadOnly) => "read-only",
        Err(Refused::Throttled { .. }) => "throttled",
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn tokens_are_refused_when_revoked_expired_or_disabled_and_read_tokens_never_write() {
    let (_d, s) = store();
    let auth = Authenticator::new(s.clone());
    let (read, info) =
        accounts::issue_token(s.as_ref(), "ana", TokenScope::Read, None, None, "test").unwrap();
    for channel in [Channel::Web, Channel::Taxii] {
        let p = auth
            .authenticate(&present(Credential::Bearer(read.clone()), channel, false))
            .unwrap();
        assert_eq!(
            p.via,
            Via::Token {
                id: info.id,
                scope: TokenScope::Read
            }
        );
        assert_eq!(
            refused(auth.authenticate(&present(Credential::Bearer(read.clone()), channel, true))),
            "read-only",
            "{channel:?}"
        );
    }
    let (write, _) =
        accounts::issue_token(s.as_ref(), "ana", TokenScope::Write, None, None, "test").unwrap();
    let writes = |token: &str| {
        auth.authenticate(&present(
            Credential::Bearer(token.into()),
            Channel::Taxii,
            true,
        ))
    };
    assert!(writes(&write).is_ok());
    // Expired.
    let past = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    let (old, _) = accounts::issue_token(
        s.as_ref(),
        "ana",
        TokenScope::Write,
        None,
        Some(past),
        "test",
    )
    .unwrap();
    assert_eq!(refused(writes(&old)), "unauthenticated");
    // The account disabled, then enabled again.
    accounts::set_disabled(s.as_ref(), "ana", true, "test").unwrap();
    assert_eq!(refused(writes(&write)), "unauthenticated");
    accounts::set_disabled(s.as_ref(), "ana", false, "test").unwrap();
    assert!(writes(&write).is_ok());
    // Revoked.
    let id = s.tokens(Some("ana")).unwrap()[1].id;
    assert!(accounts::revoke_token(s.as_ref(), id, "test").unwrap());
    assert_eq!(refused(writes(&write)), "unauthenticated");
    assert_eq!(refused(writes("focal_no_such_token")), "unauthenticated");
}

#[test]
fn sessions_end_with_their_account_and_are_not_accepted_by_taxii() {
    let (_d, s) = store();
    let auth = Authenticator::new(s.clone());
    let signed = auth.sign_in("ana", PASSWORD, ip(1)).unwrap();
    let cookie = || Credential::Session(signed.cookie.clone());
    assert!(
        auth.authenticate(&present(cookie(), Channel::Web, true))
            .is_ok()
    );
    assert_eq!(
        refused(auth.authenticate(&present(cookie(), Channel::Taxii, false))),
        "unauthenticated"
    );
    accounts::set_disabled(s.as_ref(), "ana", true, "test").unwrap();
    assert_eq!(
        refused(auth.authenticate(&present(cookie(), Channel::Web, false))),
        "unauthenticated"
    );
    accounts::set_disabled(s.as_ref(), "ana", false, "test").unwrap();
    assert_eq!(
        refused(auth.authenticate(&present(cookie(), Channel::Web, false))),
        "unauthenticated",
        "disabling ended the session: enabling does not bring it back"
    );
    // A peer's right password does not open a web session.
    accounts::add(
        s.as_ref(),
        "cert-b",
        Role::Peer,
        None,
        Some(PASSWORD),
        "test",
    )
    .unwrap();
    assert_eq!(
        refused(auth.sign_in("cert-b", PASSWORD, ip(2))),
        "unauthenticated"
    );
    assert!(
        auth.authenticate(&present(basic("cert-b", PASSWORD), Channel::Taxii, true))
            .is_ok()
    );
    // Nor does HTTP Basic open the web routes.
    assert_eq!(
        refused(auth.authenticate(&present(basic("ana", PASSWORD), Channel::Web, false))),
        "unauthenticated"
    );
}

#[test]
fn a_remembered_taxii_password_stops_working_when_it_is_changed_or_the_account_disabled() {
    let (_d, s) = store();
    let auth = Authenticator::new(s.clone());
    let taxii =
        |password: &str| auth.authenticate(&present(basic("ana", password), Channel::Taxii, false));
    assert!(taxii(PASSWORD).is_ok());
    assert!(taxii(PASSWORD).is_ok(), "remembered");
    accounts::set_disabled(s.as_ref(), "ana", true, "test").unwrap();
    assert_eq!(refused(taxii(PASSWORD)), "unauthenticated");
    accounts::set_disabled(s.as_ref(), "ana", false, "test").unwrap();
    assert!(taxii(PASSWORD).is_ok());
    accounts::reset_password(s.as_ref(), "ana", "another password", "test").unwrap();
    assert_eq!(refused(taxii(PASSWORD)), "unauthenticated");
    assert!(taxii("another password").is_ok());
}

#[test]
fn failures_count_per_account_and_client_and_per_client_and_are_audited() {
    use focal_store::incidents::{AuditFilter, AuditLog};
    let (_d, s) = store();
    let auth = Authenticator::new(s.clone());
    let try_from = |name: &str, password: &str, client: IpAddr| {
        auth.authenticate(&Presented {
            credential: basic(name, password),
            client,
            writes: false,
            channel: Channel::Taxii,
        })
    };
    for _ in 0..3 {
        assert_eq!(refused(try_from("ana", "wrong", ip(1))), "unauthenticated");
    }
    assert_eq!(refused(try_from("ana", PASSWORD, ip(1))), "throttled");
    assert!(
        try_from("ana", PASSWORD, ip(2)).is_ok(),
        "not locked out elsewhere"
    );
    // The web form and TAXII count alike: the client is waiting on both.
    assert_eq!(refused(auth.sign_in("ana", PASSWORD, ip(1))), "throttled");

    // A success clears the count of that account from that client only.
    assert_eq!(refused(try_from("ana", "wrong", ip(3))), "unauthenticated");
    assert!(try_from("ana", PASSWORD, ip(3)).is_ok());
    assert_eq!(s.failures("pair:192.0.2.3|ana").unwrap().failures, 0);
    assert_eq!(s.failures("client:192.0.2.3").unwrap().failures, 1);

    // One client across many names: 20 free, then it waits, whoever it names.
    for n in 0..20 {
        assert_eq!(
            refused(try_from(&format!("name{n}"), "wrong", ip(4))),
            "unauthenticated"
        );
    }
    assert_eq!(refused(try_from("ana", PASSWORD, ip(4))), "throttled");

    // Failed checks are audited with the address and the reason, never the password.
    let failed = s
        .audit_entries(&AuditFilter {
            action: Some("auth.sign_in_failed".into()),
            ..AuditFilter::default()
        })
        .unwrap();
    assert_eq!(failed.len(), 3 + 1 + 20);
    assert_eq!(failed[0].after.as_ref().unwrap()["client"], "192.0.2.1");
    assert_eq!(
        failed[0].after.as_ref().unwrap()["reason"],
        "wrong password"
    );
    assert_eq!(
        failed[4].after.as_ref().unwrap()["reason"],
        "no such account"
    );
    assert!(!serde_json::to_string(&failed).unwrap().contains("wrong\""));
    assert!(s.audit_verify().unwrap().ok);
}

#[test]
fn changing_ones_own_password_checks_the_current_one_and_ends_the_other_sessions() {
    let (_d, s) = store();
    let auth = Authenticator::new(s.clone());
    let here = auth.sign_in("ana", PASSWORD, ip(1)).unwrap();
    let there = auth.sign_in("ana", PASSWORD, ip(2)).unwrap();
    let p = here.principal.clone();
    assert!(matches!(
        auth.change_own_password(&p.user, &p.via, "wrong", "a new password", ip(1)),
        Err(accounts::AccountError::WrongPassword)
    ));
    auth.change_own_password(&p.user, &p.via, PASSWORD, "a new password", ip(1))
        .unwrap();
    let alive = |c: &str| {
        auth.authenticate(&present(Credential::Session(c.into()), Channel::Web, false))
            .is_ok()
    };
    assert!(alive(&here.cookie), "the session that changed it stays");
    assert!(!alive(&there.cookie), "the others end");
    assert!(auth.sign_in("ana", "a new password", ip(3)).is_ok());
}
