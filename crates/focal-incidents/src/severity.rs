//! Severity from the RSIT taxonomy.

use focal_model::{ClassificationType, Taxonomy};
use std::fmt;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(text: &str) -> crate::Result<Severity> {
        match text.trim().to_ascii_lowercase().as_str() {
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            _ => Err(crate::Error::UnknownSeverity(text.to_string())),
        }
    }

    /// The default for an RSIT type: compromises and data leaks are critical, active malicious
    /// code and intrusions high, attempts, availability, fraud and vulnerabilities medium,
    /// reconnaissance, abusive content and the rest low. Types are overridable in `focal.toml`.
    pub fn for_type(t: ClassificationType) -> Severity {
        use ClassificationType::*;
        match t {
            SystemCompromise | PrivilegedAccountCompromise | DataLeak => Severity::Critical,
            C2Server | MalwareDistribution | Phishing | Ddos => Severity::High,
            _ => match t.taxonomy() {
                Taxonomy::Intrusions | Taxonomy::MaliciousCode => Severity::High,
                Taxonomy::InformationContentSecurity => Severity::High,
                Taxonomy::IntrusionAttempts
                | Taxonomy::Availability
                | Taxonomy::Fraud
                | Taxonomy::Vulnerable => Severity::Medium,
                _ => Severity::Low,
            },
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
