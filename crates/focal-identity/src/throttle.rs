//! How password guessing is slowed without locking owners out.
//!
//! Every password check that fails (the web's sign-in form and TAXII's HTTP Basic alike) counts
//! under two keys: the account *from that client* and the client itself. Once a key has used
//! its free failures, each further attempt must wait, twice as long after every failure, up to
//! a cap; while a key waits, its attempts are answered "too many attempts" (HTTP 429 with
//! `Retry-After`) without looking at the password at all. There is deliberately no key for the
//! account alone: an attacker failing against an account from one address must not stop its
//! owner signing in from another. A success clears the (account, client) key only; the client
//! key is cleared by time, so signing in to one's own account cannot reset a count run up by
//! guessing at others'.

use std::net::IpAddr;

/// The limits. [`ThrottlePolicy::default`] is what Focal uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures allowed for one account from one client before waiting starts.
    pub free_per_account_and_client: u32,
    /// Failures allowed from one client (across accounts) before waiting starts: several
    /// people can share one address, and one client guessing across many names is slowed too.
    pub free_per_client: u32,
    pub first_wait_seconds: i64,
    pub max_wait_seconds: i64,
    /// A count whose last failure is older than this starts again from zero.
    pub forget_after_seconds: i64,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            free_per_account_and_client: 3,
            free_per_client: 20,
            first_wait_seconds: 30,
            max_wait_seconds: 15 * 60,
            forget_after_seconds: 24 * 3600,
        }
    }
}

/// Failed password checks recorded under one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Failures {
    pub failures: u32,
    /// Unix microseconds of the last failure.
    pub last_at: i64,
}

/// The keys one password check counts under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// `pair:<client>|<account>`
    pub account_and_client: String,
    /// `client:<client>`
    pub client: String,
}

impl Keys {
    pub fn new(account: &str, client: IpAddr) -> Keys {
        let client = client_key(client);
        Keys {
            account_and_client: format!("pair:{client}|{account}"),
            client: format!("client:{client}"),
        }
    }
}

/// The client as throttling sees it: an IPv4 address, or the /64 network of an IPv6 address
/// (one subscriber usually has a whole /64, so single IPv6 addresses would be free to rotate).
pub fn client_key(client: IpAddr) -> String {
    match client.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0).to_string() + "/64"
        }
    }
}

const SECOND: i64 = 1_000_000;

impl ThrottlePolicy {
    /// Seconds to wait before another attempt under a key with `failures` failures of which
    /// `free` cost nothing.
    pub fn wait_seconds(&self, failures: u32, free: u32) -> i64 {
        if failures < free {
            return 0;
        }
        let doublings = (failures - free).min(20);
        (self.first_wait_seconds << doublings).min(self.max_wait_seconds)
    }

    /// The count to use now: forgotten when the last failure is old.
    pub fn current(&self, f: Failures, now_us: i64) -> u32 {
        if now_us - f.last_at > self.forget_after_seconds * SECOND {
            0
        } else {
            f.failures
        }
    }

    /// Failures at or before this instant are forgotten (the store restarts such a count).
    pub fn forgotten_before(&self, now_us: i64) -> i64 {
        now_us - self.forget_after_seconds * SECOND
    }

    /// Whole seconds left to wait under one key (0: go ahead).
    pub fn remaining(&self, f: Failures, free: u32, now_us: i64) -> i64 {
        let wait = self.wait_seconds(self.current(f, now_us), free);
        if wait == 0 {
            return 0;
        }
        let until = f.last_at + wait * SECOND;
        if until > now_us {
            (until - now_us + SECOND - 1) / SECOND
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_after_the_free_failures_and_is_capped() {
        let p = ThrottlePolicy::default();
        assert_eq!(p.wait_seconds(2, 3), 0);
        assert_eq!(p.wait_seconds(3, 3), 30);
        assert_eq!(p.wait_seconds(4, 3), 60);
        assert_eq!(p.wait_seconds(5, 3), 120);
        assert_eq!(p.wait_seconds(60, 3), 15 * 60);
        assert_eq!(p.wait_seconds(19, 20), 0);
    }

    #[test]
    fn the_remaining_wait_runs_out_and_old_counts_are_forgotten() {
        let p = ThrottlePolicy::default();
        let f = Failures {
            failures: 4,
            last_at: 1_000 * SECOND,
        };
        assert_eq!(p.remaining(f, 3, 1_000 * SECOND), 60);
        assert_eq!(p.remaining(f, 3, 1_030 * SECOND + 1), 30);
        assert_eq!(p.remaining(f, 3, 1_060 * SECOND), 0);
        let day_later = 1_000 * SECOND + p.forget_after_seconds * SECOND + 1;
        assert_eq!(p.current(f, day_later), 0);
    }

    #[test]
    fn clients_are_keyed_by_address_or_ipv6_network() {
        let k = Keys::new("alice", "192.0.2.7".parse().unwrap());
        assert_eq!(k.account_and_client, "pair:192.0.2.7|alice");
        assert_eq!(k.client, "client:192.0.2.7");
        assert_eq!(
            client_key("2001:db8:1:2:3:4:5:6".parse().unwrap()),
            client_key("2001:db8:1:2:ffff::1".parse().unwrap())
        );
        assert_eq!(client_key("::ffff:192.0.2.7".parse().unwrap()), "192.0.2.7");
    }
}
