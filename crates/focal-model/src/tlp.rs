//! Traffic Light Protocol 2.0 labels (FIRST, August 2022).

use crate::ValueError;
use std::fmt;
use std::str::FromStr;

/// A TLP 2.0 label. The order is the order of restriction: `Clear < Green < Amber < AmberStrict < Red`,
/// so "may this leave at clearance X" is `label <= X`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Tlp {
    Clear,
    Green,
    /// The default for feed data: shared with the recipient's organisation and its clients.
    #[default]
    Amber,
    AmberStrict,
    Red,
}

impl Tlp {
    pub const ALL: [Tlp; 5] = [
        Tlp::Clear,
        Tlp::Green,
        Tlp::Amber,
        Tlp::AmberStrict,
        Tlp::Red,
    ];

    /// The label as FIRST writes it, e.g. `TLP:AMBER+STRICT`.
    pub fn label(self) -> &'static str {
        match self {
            Tlp::Clear => "TLP:CLEAR",
            Tlp::Green => "TLP:GREEN",
            Tlp::Amber => "TLP:AMBER",
            Tlp::AmberStrict => "TLP:AMBER+STRICT",
            Tlp::Red => "TLP:RED",
        }
    }

    /// The colour without the `TLP:` prefix, as stored.
    pub fn as_str(self) -> &'static str {
        &self.label()[4..]
    }

    /// IntelMQ's `tlp` field knows only the TLP 1.0 colours. CLEAR becomes WHITE; AMBER+STRICT has no
    /// 1.0 equivalent and becomes RED, because a downgrade to AMBER would widen who may see it.
    pub fn intelmq_label(self) -> &'static str {
        match self {
            Tlp::Clear => "WHITE",
            Tlp::Green => "GREEN",
            Tlp::Amber => "AMBER",
            Tlp::AmberStrict | Tlp::Red => "RED",
        }
    }
}

impl fmt::Display for Tlp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl FromStr for Tlp {
    type Err = ValueError;
    /// Accepts `TLP:AMBER+STRICT`, `amber+strict`, and the 1.0 spellings (`WHITE` → CLEAR, `YELLOW` → AMBER, as IntelMQ does).
    fn from_str(text: &str) -> Result<Self, ValueError> {
        let upper = text.trim().to_ascii_uppercase();
        let colour = upper.strip_prefix("TLP:").unwrap_or(&upper).trim();
        Ok(match colour {
            "CLEAR" | "WHITE" => Tlp::Clear,
            "GREEN" => Tlp::Green,
            "AMBER" | "YELLOW" => Tlp::Amber,
            "AMBER+STRICT" | "AMBER_STRICT" | "AMBER-STRICT" => Tlp::AmberStrict,
            "RED" => Tlp::Red,
            _ => return Err(ValueError::UnknownTlp(text.to_string())),
        })
    }
}

impl serde::Serialize for Tlp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Tlp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_generations_and_orders_by_restriction() {
        assert_eq!("TLP:AMBER+STRICT".parse::<Tlp>().unwrap(), Tlp::AmberStrict);
        assert_eq!("white".parse::<Tlp>().unwrap(), Tlp::Clear);
        assert_eq!("tlp:red".parse::<Tlp>().unwrap(), Tlp::Red);
        assert!("purple".parse::<Tlp>().is_err());
        assert!(
            Tlp::Clear < Tlp::Green && Tlp::Amber < Tlp::AmberStrict && Tlp::AmberStrict < Tlp::Red
        );
        for t in Tlp::ALL {
            assert_eq!(t.label().parse::<Tlp>().unwrap(), t);
        }
    }

    #[test]
    fn intelmq_mapping_never_widens() {
        for t in Tlp::ALL {
            let back: Tlp = t.intelmq_label().parse().unwrap();
            assert!(back >= t, "{t} became {back}");
        }
    }
}
