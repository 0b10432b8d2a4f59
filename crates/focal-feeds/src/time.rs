//! Timestamp formats a feed may use.

use focal_model::ValueError;
use jiff::Timestamp;
use jiff::tz::Offset;

/// How a feed writes `time.source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeFormat {
    /// RFC 3339 with an offset or `Z`; also accepts a space instead of `T`.
    Rfc3339,
    /// Seconds since the Unix epoch (fractions allowed).
    Unix,
    /// Milliseconds since the Unix epoch.
    UnixMillis,
    /// A `strftime`-style pattern (jiff's `strtime`); without `%z` in it, `offset` applies.
    Pattern { pattern: String, offset: Offset },
}

impl TimeFormat {
    /// Parses the `[time] format` and `offset` settings of a feed definition.
    pub fn from_settings(format: &str, offset: Option<&str>) -> Result<Self, String> {
        let offset = match offset.map(str::trim) {
            None | Some("UTC") | Some("Z") | Some("+00:00") => Offset::UTC,
            Some(text) => parse_offset(text)
                .ok_or_else(|| format!("time offset {text:?} must be UTC or ±hh:mm"))?,
        };
        Ok(match format.trim() {
            "rfc3339" | "iso8601" => TimeFormat::Rfc3339,
            "unix" | "epoch" => TimeFormat::Unix,
            "unix_ms" | "epoch_ms" => TimeFormat::UnixMillis,
            pattern if pattern.contains('%') => {
                // Validate once with a formatting round trip so that a typo fails at load time.
                jiff::fmt::strtime::format(
                    pattern,
                    &Timestamp::UNIX_EPOCH.to_zoned_datetime(jiff::tz::TimeZone::UTC),
                )
                .map_err(|e| {
                    format!("time format {pattern:?} is not a valid strftime pattern: {e}")
                })?;
                TimeFormat::Pattern {
                    pattern: pattern.to_string(),
                    offset,
                }
            }
            other => {
                return Err(format!(
                    "time format {other:?} is not one of rfc3339, unix, unix_ms or a strftime pattern like \"%Y-%m-%d %H:%M:%S\""
                ));
            }
        })
    }

    pub fn describe(&self) -> String {
        match self {
            TimeFormat::Rfc3339 => "RFC 3339 (e.g. 2026-11-23T10:00:00Z)".into(),
            TimeFormat::Unix => "Unix seconds".into(),
            TimeFormat::UnixMillis => "Unix milliseconds".into(),
            TimeFormat::Pattern { pattern, .. } => format!("the pattern {pattern:?}"),
        }
    }

    pub fn parse(&self, value: &str) -> Result<Timestamp, ValueError> {
        let bad = || ValueError::InvalidTime {
            value: value.to_string(),
            format: self.describe(),
        };
        let value = value.trim();
        match self {
            TimeFormat::Rfc3339 => {
                if let Ok(ts) = value.parse::<Timestamp>() {
                    return Ok(ts);
                }
                // "2026-11-23 10:00:00+00:00" is common in feeds; it is RFC 3339 with a space.
                if value.len() > 10 && value.as_bytes()[10] == b' ' {
                    let fixed = format!("{}T{}", &value[..10], &value[11..]);
                    return fixed.parse::<Timestamp>().map_err(|_| bad());
                }
                Err(bad())
            }
            TimeFormat::Unix => {
                let secs: f64 = value.parse().map_err(|_| bad())?;
                if !secs.is_finite() {
                    return Err(bad());
                }
                let nanos = (secs * 1e9).round();
                Timestamp::from_nanosecond(nanos as i128).map_err(|_| bad())
            }
            TimeFormat::UnixMillis => {
                let ms: i64 = value.parse().map_err(|_| bad())?;
                Timestamp::from_millisecond(ms).map_err(|_| bad())
            }
            TimeFormat::Pattern { pattern, offset } => {
                let parsed = jiff::fmt::strtime::parse(pattern, value).map_err(|_| bad())?;
                if let Ok(ts) = parsed.to_timestamp() {
                    return Ok(ts);
                }
                let civil = parsed.to_datetime().map_err(|_| bad())?;
                offset.to_timestamp(civil).map_err(|_| bad())
            }
        }
    }
}

fn parse_offset(text: &str) -> Option<Offset> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    // `hh:mm` or `hh`, within the ±25:59 range that jiff (and every real zone) allows; bounded
    // before multiplying so that no input can overflow.
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if !(0..=25).contains(&h) || !(0..=59).contains(&m) {
        return None;
    }
    Offset::from_seconds(sign * (h * 3600 + m * 60)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let want: Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
        let rfc = TimeFormat::from_settings("rfc3339", None).unwrap();
        assert_eq!(rfc.parse("2026-11-23T10:00:00Z").unwrap(), want);
        assert_eq!(rfc.parse("2026-11-23 11:00:00+01:00").unwrap(), want);
        assert!(rfc.parse("23/11/2026 10:00").is_err());
        assert!(
            rfc.parse("2026-11-23T10:00:00").is_err(),
            "no offset means unknown zone"
        );
        let unix = TimeFormat::from_settings("unix", None).unwrap();
        assert_eq!(unix.parse(&want.as_second().to_string()).unwrap(), want);
        let pat = TimeFormat::from_settings("%Y-%m-%d %H:%M:%S", Some("+01:00")).unwrap();
        assert_eq!(pat.parse("2026-11-23 11:00:00").unwrap(), want);
        assert!(pat.parse("2026-11-23").is_err());
        assert!(TimeFormat::from_settings("dd/mm/yyyy", None).is_err());
        assert!(TimeFormat::from_settings("rfc3339", Some("Europe/Vienna")).is_err());
        // Found by reading the code while writing the fuzz targets: an hour part this large
        // overflowed i32 (a panic in debug builds, a wrong offset in release).
        for huge in ["+596524", "+1193047", "-99999999999", "+01:99"] {
            assert!(
                TimeFormat::from_settings("%H", Some(huge)).is_err(),
                "{huge}"
            );
        }
    }
}
