//! One rule for showing a URL that may carry a secret: a feed's pull URL (a user and password,
//! or an API key in the query), a PostgreSQL connection string (`postgres://u:pw@host/db` or
//! `?password=`), a NATS server list. Every message, log line, page and audit entry that quotes
//! such a URL goes through [`url`], so there is one rule to check.

/// What a secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// `url` without what may be a secret: the user and password (`https://[redacted]@host/`), and
/// the query and fragment (`https://host/path?[redacted]`). Works on any text, valid URL or not
/// (error messages quote URLs that do not validate), and errs towards hiding too much: anything
/// before the last `@` of the authority or of the part before the query is hidden.
pub fn url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i)
            if i > 0
                && url[..i]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) =>
        {
            url.split_at(i + 3)
        }
        _ => ("", url),
    };
    // A password may hold '?', '#' or '/' (invalid, but written anyway): take the later of the
    // last '@' before the first '/' and the last '@' before the query.
    let before = |stops: &[char]| rest.find(stops).unwrap_or(rest.len());
    let at = [before(&['/']), before(&['?', '#'])]
        .into_iter()
        .filter_map(|end| rest[..end].rfind('@'))
        .max();
    let mut out = String::with_capacity(url.len());
    out.push_str(scheme);
    let rest = match at {
        Some(at) => {
            out.push_str(REDACTED);
            &rest[at..]
        }
        None => rest,
    };
    match rest.find(['?', '#']) {
        Some(q) => {
            out.push_str(&rest[..q]);
            out.push_str(&rest[q..=q]);
            out.push_str(REDACTED);
        }
        None => out.push_str(rest),
    }
    out
}

/// Several URLs separated by commas (a NATS cluster, `nats://a:4222,nats://u:pw@b:4222`), each
/// redacted by [`url`].
pub fn url_list(urls: &str) -> String {
    urls.split(',').map(url).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_user_password_query_and_fragment() {
        for (given, shown) in [
            ("https://x.org/a/b.csv", "https://x.org/a/b.csv"),
            ("file:///srv/feed.txt", "file:///srv/feed.txt"),
            (
                "https://x.org/a.csv?key=SECRET&b=1",
                "https://x.org/a.csv?[redacted]",
            ),
            (
                "https://x.org/a.csv#SECRET",
                "https://x.org/a.csv#[redacted]",
            ),
            (
                "https://user:SECRET@x.org:8443/a?k=SECRET",
                "https://[redacted]@x.org:8443/a?[redacted]",
            ),
            ("https://SECRET@x.org/", "https://[redacted]@x.org/"),
            // Not valid URLs, but hidden all the same.
            ("https://u:SE?CRET@x.org/a", "https://[redacted]@x.org/a"),
            ("https://u:SE/CRET@x.org/a", "https://[redacted]@x.org/a"),
            ("https://u:SE#CRET@x.org/a", "https://[redacted]@x.org/a"),
            ("ftp://u:SECRET@x.org/x", "ftp://[redacted]@x.org/x"),
            ("u:SECRET@x.org/x?SECRET", "[redacted]@x.org/x?[redacted]"),
            // A '@' in the query is the query's.
            ("https://x.org/a?to=a@SECRET", "https://x.org/a?[redacted]"),
            ("", ""),
        ] {
            assert_eq!(url(given), shown, "{given}");
        }
    }

    #[test]
    fn connection_strings_lose_passwords_wherever_they_are_written() {
        for (given, shown) in [
            (
                "postgres://focal:SECRET@db.example:5432/focal",
                "postgres://[redacted]@db.example:5432/focal",
            ),
            (
                "postgresql://db.example/focal?user=focal&password=SECRET",
                "postgresql://db.example/focal?[redacted]",
            ),
            (
                "postgres://127.0.0.1:5432/test",
                "postgres://127.0.0.1:5432/test",
            ),
        ] {
            assert_eq!(url(given), shown, "{given}");
        }
        assert_eq!(
            url_list("nats://a:4222,nats://u:SECRET@b:4222"),
            "nats://a:4222,nats://[redacted]@b:4222"
        );
    }
}
