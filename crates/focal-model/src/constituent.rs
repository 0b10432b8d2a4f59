//! A constituent: a network owner the focal point is responsible for (an ISP, a university, a ministry).

use ipnet::IpNet;

/// One organisation of the constituency, as imported from `id,name,abuse_email,asns,netblocks,domains`
/// (plus an optional `language` column).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Constituent {
    /// The stable id the organisation was imported with (e.g. `org-00012`).
    pub id: String,
    pub name: String,
    pub abuse_email: String,
    pub asns: Vec<u32>,
    pub netblocks: Vec<IpNet>,
    /// Domain suffixes the organisation is responsible for (`example.org` covers `www.example.org`).
    pub domains: Vec<String>,
    /// The language notifications are written in (a BCP 47 tag such as `de` or `pt-BR`); `None` for
    /// the default. Optional, so data written before it existed still reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}
