//! The incident state machine.
//!
//! ```text
//! new ──▶ acknowledged ──▶ notified ──▶ in_progress ──▶ resolved ──▶ closed
//!  │            │             │   └──────────────────────▲   │
//!  └──────────────────────────▶ (new → notified: sending the report acknowledges it)
//! any open state ──▶ false_positive ──▶ closed;  resolved ──▶ in_progress (reopened)
//! ```
//!
//! `new`, `acknowledged`, `notified` and `in_progress` are open: new events with the incident's
//! key join it. `resolved`, `false_positive` and `closed` are not.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    New,
    Acknowledged,
    Notified,
    InProgress,
    Resolved,
    FalsePositive,
    Closed,
}

impl State {
    pub const ALL: [State; 7] = [
        State::New,
        State::Acknowledged,
        State::Notified,
        State::InProgress,
        State::Resolved,
        State::FalsePositive,
        State::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::New => "new",
            State::Acknowledged => "acknowledged",
            State::Notified => "notified",
            State::InProgress => "in_progress",
            State::Resolved => "resolved",
            State::FalsePositive => "false_positive",
            State::Closed => "closed",
        }
    }

    pub fn names() -> String {
        State::ALL.map(State::as_str).join(", ")
    }

    /// Accepts the stored names and, for typing convenience, `in-progress` / `false-positive`.
    pub fn parse(text: &str) -> crate::Result<State> {
        let t = text.trim().to_ascii_lowercase().replace('-', "_");
        State::ALL
            .into_iter()
            .find(|s| s.as_str() == t)
            .ok_or_else(|| crate::Error::UnknownState(text.to_string()))
    }

    /// The states this one may move to.
    pub fn next(self) -> &'static [State] {
        use State::*;
        match self {
            New => &[Acknowledged, Notified, FalsePositive],
            Acknowledged => &[Notified, FalsePositive],
            Notified => &[InProgress, Resolved, FalsePositive],
            InProgress => &[Resolved, FalsePositive],
            Resolved => &[Closed, InProgress],
            FalsePositive => &[Closed],
            Closed => &[],
        }
    }

    pub fn is_open(self) -> bool {
        matches!(
            self,
            State::New | State::Acknowledged | State::Notified | State::InProgress
        )
    }

    /// `Ok` if `self → to` is legal; otherwise the allowed targets, for the error message.
    pub fn check(self, to: State) -> Result<(), String> {
        if self.next().contains(&to) {
            return Ok(());
        }
        let allowed = self.next().iter().map(|s| s.as_str()).collect::<Vec<_>>();
        Err(if allowed.is_empty() {
            "none (it is final)".to_string()
        } else {
            allowed.join(", ")
        })
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_main_path_is_legal_and_shortcuts_are_not() {
        use State::*;
        let path = [New, Acknowledged, Notified, InProgress, Resolved, Closed];
        for w in path.windows(2) {
            assert!(w[0].check(w[1]).is_ok(), "{} -> {}", w[0], w[1]);
        }
        assert_eq!(
            New.check(Resolved).unwrap_err(),
            "acknowledged, notified, false_positive"
        );
        assert!(Closed.check(New).unwrap_err().contains("final"));
        assert!(InProgress.check(New).is_err());
        for s in State::ALL {
            assert!(s.check(s).is_err(), "{s} -> {s} must not be a transition");
            assert_eq!(
                s.is_open(),
                focal_store::incidents::OPEN_STATES.contains(&s.as_str())
            );
        }
    }

    #[test]
    fn parse_accepts_dashes_and_rejects_unknown() {
        assert_eq!(State::parse("in-progress").unwrap(), State::InProgress);
        let e = State::parse("done").unwrap_err().to_string();
        assert!(
            e.contains("\"done\"") && e.contains("false_positive"),
            "{e}"
        );
    }
}
