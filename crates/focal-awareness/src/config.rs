//! `[awareness]` in focal.toml: who publishes the advisories, where they are published, and the
//! smallest figure the public statistics show.

/// The smallest k accepted: with k = 1 nothing would be suppressed.
pub const MIN_K: u64 = 2;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwarenessConfig {
    /// The publisher named in CSAF documents, pages and the feed, e.g. `CERT-Example`.
    pub publisher: String,
    /// CSAF `publisher.namespace`: a URL of the publishing organisation.
    pub namespace: String,
    /// Where the public pages will live: links in the feed and in CSAF point under it.
    pub base_url: String,
    /// Advisory ids are `<prefix>-<year>-<number>`.
    pub id_prefix: String,
    /// Public statistics show no figure below this (k-anonymity).
    pub public_k: u64,
}

impl Default for AwarenessConfig {
    fn default() -> Self {
        AwarenessConfig {
            publisher: "Focal CSIRT".into(),
            namespace: "https://csirt.example".into(),
            base_url: "https://csirt.example/public".into(),
            id_prefix: "FOCAL".into(),
            public_k: 10,
        }
    }
}

impl AwarenessConfig {
    /// Checks the settings; the message names the setting.
    pub fn check(&self) -> Result<(), crate::FieldProblem> {
        let problem = |path: &str, message: String| Err(crate::FieldProblem::new(path, message));
        if self.publisher.trim().is_empty() {
            return problem("awareness.publisher", "must not be empty".into());
        }
        for (path, url) in [
            ("awareness.namespace", &self.namespace),
            ("awareness.base_url", &self.base_url),
        ] {
            if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() < 10 {
                return problem(path, format!("{url:?} is not an http(s) URL"));
            }
        }
        if self.id_prefix.is_empty()
            || self.id_prefix.len() > 20
            || !self
                .id_prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return problem(
                "awareness.id_prefix",
                format!(
                    "{:?} must be 1 to 20 letters, digits or dashes",
                    self.id_prefix
                ),
            );
        }
        if self.public_k < MIN_K {
            return problem(
                "awareness.public_k",
                format!(
                    "{} is below {MIN_K}: nothing would be suppressed",
                    self.public_k
                ),
            );
        }
        Ok(())
    }
}
