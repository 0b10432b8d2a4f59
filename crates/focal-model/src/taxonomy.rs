//! The Reference Security Incident Taxonomy (RSIT) as a closed set.
//!
//! Values and the type → taxonomy mapping follow the RSIT machine-readable taxonomy as shipped by
//! IntelMQ 3.5 (`ClassificationType`, `ClassificationTaxonomy` and the taxonomy expert), including
//! IntelMQ's additions under `other` (blacklist, dga-domain, malware, proxy, tor). Because every
//! type belongs to exactly one taxonomy, only the type is stored; the taxonomy is derived.

use crate::ValueError;
use std::fmt;
use std::str::FromStr;

macro_rules! closed_set {
    ($(#[$meta:meta])* $name:ident, $error:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in taxonomy order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The canonical lower-case RSIT spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

closed_set!(
    /// `classification.taxonomy`: the RSIT top-level class.
    Taxonomy, UnknownTaxonomy {
        AbusiveContent => "abusive-content",
        MaliciousCode => "malicious-code",
        InformationGathering => "information-gathering",
        IntrusionAttempts => "intrusion-attempts",
        Intrusions => "intrusions",
        Availability => "availability",
        InformationContentSecurity => "information-content-security",
        Fraud => "fraud",
        Vulnerable => "vulnerable",
        Other => "other",
        Test => "test",
    }
);

closed_set!(
    /// `classification.type`: the RSIT incident type.
    ClassificationType, UnknownType {
        Spam => "spam",
        HarmfulSpeech => "harmful-speech",
        Violence => "violence",
        InfectedSystem => "infected-system",
        C2Server => "c2-server",
        MalwareDistribution => "malware-distribution",
        MalwareConfiguration => "malware-configuration",
        Scanner => "scanner",
        Sniffing => "sniffing",
        SocialEngineering => "social-engineering",
        IdsAlert => "ids-alert",
        BruteForce => "brute-force",
        Exploit => "exploit",
        PrivilegedAccountCompromise => "privileged-account-compromise",
        UnprivilegedAccountCompromise => "unprivileged-account-compromise",
        ApplicationCompromise => "application-compromise",
        SystemCompromise => "system-compromise",
        Burglary => "burglary",
        Dos => "dos",
        Ddos => "ddos",
        Misconfiguration => "misconfiguration",
        Sabotage => "sabotage",
        Outage => "outage",
        UnauthorisedInformationAccess => "unauthorised-information-access",
        UnauthorisedInformationModification => "unauthorised-information-modification",
        DataLoss => "data-loss",
        DataLeak => "data-leak",
        UnauthorizedUseOfResources => "unauthorized-use-of-resources",
        Copyright => "copyright",
        Masquerade => "masquerade",
        Phishing => "phishing",
        WeakCrypto => "weak-crypto",
        DdosAmplifier => "ddos-amplifier",
        PotentiallyUnwantedAccessible => "potentially-unwanted-accessible",
        InformationDisclosure => "information-disclosure",
        VulnerableSystem => "vulnerable-system",
        Other => "other",
        Undetermined => "undetermined",
        DgaDomain => "dga-domain",
        Blacklist => "blacklist",
        Malware => "malware",
        Proxy => "proxy",
        Tor => "tor",
        Test => "test",
    }
);

impl ClassificationType {
    /// The taxonomy this type belongs to. The mapping is total: RSIT puts each type in exactly one class.
    pub fn taxonomy(self) -> Taxonomy {
        use ClassificationType::*;
        match self {
            Spam | HarmfulSpeech | Violence => Taxonomy::AbusiveContent,
            InfectedSystem | C2Server | MalwareDistribution | MalwareConfiguration => {
                Taxonomy::MaliciousCode
            }
            Scanner | Sniffing | SocialEngineering => Taxonomy::InformationGathering,
            IdsAlert | BruteForce | Exploit => Taxonomy::IntrusionAttempts,
            PrivilegedAccountCompromise
            | UnprivilegedAccountCompromise
            | ApplicationCompromise
            | SystemCompromise
            | Burglary => Taxonomy::Intrusions,
            Dos | Ddos | Misconfiguration | Sabotage | Outage => Taxonomy::Availability,
            UnauthorisedInformationAccess
            | UnauthorisedInformationModification
            | DataLoss
            | DataLeak => Taxonomy::InformationContentSecurity,
            UnauthorizedUseOfResources | Copyright | Masquerade | Phishing => Taxonomy::Fraud,
            WeakCrypto
            | DdosAmplifier
            | PotentiallyUnwantedAccessible
            | InformationDisclosure
            | VulnerableSystem => Taxonomy::Vulnerable,
            Other | Undetermined | DgaDomain | Blacklist | Malware | Proxy | Tor => Taxonomy::Other,
            Test => Taxonomy::Test,
        }
    }
}

/// Legacy spellings that feeds still use, rewritten the way IntelMQ's sanitiser does.
fn type_synonym(text: &str) -> Option<ClassificationType> {
    use ClassificationType::*;
    Some(match text {
        "botnet drone" | "botnet-drone" | "infected system" | "ransomware" => InfectedSystem,
        "c&c" | "c2server" | "c2 server" => C2Server,
        "leak" => DataLeak,
        "vulnerable service" | "vulnerable client" | "vulnerable-service" | "vulnerable-client" => {
            VulnerableSystem
        }
        "unknown" => Undetermined,
        "malware distribution" => MalwareDistribution,
        "brute force" | "bruteforce" => BruteForce,
        "dga domain" => DgaDomain,
        _ => return None,
    })
}

impl FromStr for ClassificationType {
    type Err = ValueError;
    fn from_str(text: &str) -> Result<Self, ValueError> {
        let trimmed = text.trim();
        if let Some(found) = Self::ALL.iter().find(|t| t.as_str() == trimmed) {
            return Ok(*found);
        }
        let lower = trimmed.to_ascii_lowercase();
        Self::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == lower)
            .or_else(|| type_synonym(&lower))
            .ok_or_else(|| ValueError::UnknownType(text.to_string()))
    }
}

impl FromStr for Taxonomy {
    type Err = ValueError;
    fn from_str(text: &str) -> Result<Self, ValueError> {
        let lower = text.trim().to_ascii_lowercase().replace(' ', "-");
        Self::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == lower)
            .ok_or_else(|| ValueError::UnknownTaxonomy(text.to_string()))
    }
}

/// Checks that a taxonomy given by a feed agrees with the type; RSIT allows only one parent.
pub fn check_taxonomy(taxonomy: &str, type_: ClassificationType) -> Result<(), ValueError> {
    let parsed: Taxonomy = taxonomy.parse()?;
    if parsed == type_.taxonomy() {
        Ok(())
    } else {
        Err(ValueError::TaxonomyMismatch {
            taxonomy: taxonomy.to_string(),
            type_: type_.as_str().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_through_its_spelling() {
        for t in ClassificationType::ALL {
            assert_eq!(t.as_str().parse::<ClassificationType>().unwrap(), *t);
        }
        for t in Taxonomy::ALL {
            assert_eq!(t.as_str().parse::<Taxonomy>().unwrap(), *t);
        }
    }

    #[test]
    fn legacy_spellings_are_normalised_and_unknown_values_refused() {
        assert_eq!(
            "Botnet Drone".parse::<ClassificationType>().unwrap(),
            ClassificationType::InfectedSystem
        );
        assert_eq!(
            "c&c".parse::<ClassificationType>().unwrap(),
            ClassificationType::C2Server
        );
        assert!(matches!(
            "botnet".parse::<ClassificationType>(),
            Err(ValueError::UnknownType(_))
        ));
        assert!("malicious code".parse::<Taxonomy>().is_ok());
        assert!("evil".parse::<Taxonomy>().is_err());
    }

    #[test]
    fn taxonomy_mapping_follows_rsit() {
        assert_eq!(
            ClassificationType::InfectedSystem.taxonomy(),
            Taxonomy::MaliciousCode
        );
        assert_eq!(
            ClassificationType::DdosAmplifier.taxonomy(),
            Taxonomy::Vulnerable
        );
        assert_eq!(ClassificationType::Blacklist.taxonomy(), Taxonomy::Other);
        assert!(check_taxonomy("malicious-code", ClassificationType::C2Server).is_ok());
        assert!(matches!(
            check_taxonomy("fraud", ClassificationType::C2Server),
            Err(ValueError::TaxonomyMismatch { .. })
        ));
        // Every taxonomy except none is used by some type.
        for tax in Taxonomy::ALL {
            assert!(
                ClassificationType::ALL.iter().any(|t| t.taxonomy() == *tax),
                "{tax}"
            );
        }
    }
}
