//! What of a feed definition may be shown: to people (the web UI, the API, `focal feeds show`)
//! and to the audit log, which can never be redacted later. A definition can carry secrets in two
//! places: `[pull.headers]` values (an API key sent as written) and the pull URL (a user and
//! password, or a key in the query). Both are replaced by [`REDACTED`]; everything else, comments
//! included, is shown as written.
//!
//! Every place that shows a definition or its pull URL goes through this module, so there is one
//! rule to check.

pub use focal_model::redact::{REDACTED, url};

/// The definition file `toml` as it may be shown: as written, with every `[pull.headers]` value
/// and the secret parts of `pull.url` (see [`url`]) replaced by [`REDACTED`]. A file that is not
/// TOML at all is not shown.
pub fn definition(toml: &str) -> String {
    let Ok(mut doc) = toml.parse::<toml_edit::DocumentMut>() else {
        return format!("{REDACTED} (not shown: the file is not valid TOML)\n");
    };
    if let Some(pull) = doc.get_mut("pull") {
        match pull.as_table_like_mut() {
            Some(pull) => {
                if let Some(u) = pull.get_mut("url") {
                    match u.as_str() {
                        // Untouched when there is nothing to hide: as written, quotes and all.
                        Some(written) if url(written) == written => {}
                        Some(written) => replace(u, url(written)),
                        None => replace(u, REDACTED.into()),
                    }
                }
                if let Some(headers) = pull.get_mut("headers") {
                    match headers.as_table_like_mut() {
                        Some(t) => {
                            for (_, v) in t.iter_mut() {
                                replace(v, REDACTED.into());
                            }
                        }
                        None => replace(headers, REDACTED.into()),
                    }
                }
            }
            // Not a table: the file does not validate, and whatever is there is hidden.
            None => replace(pull, REDACTED.into()),
        }
    }
    doc.to_string()
}

/// Replaces a value by `text`, keeping the comment and spacing around it.
fn replace(item: &mut toml_edit::Item, text: String) {
    match item.as_value_mut() {
        Some(v) => {
            let decor = v.decor().clone();
            *v = toml_edit::Value::from(text);
            *v.decor_mut() = decor;
        }
        None => *item = toml_edit::value(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_lose_header_values_and_url_secrets_and_keep_the_rest() {
        let written = "# the feed\nname = 'x' # its name\nformat = 'list'\n\n[pull]\n\
            url = \"https://u:SECRET1@x.org/f.txt?key=SECRET2\" # where\nevery = '1h'\n\
            [pull.headers]\nAuthorization = 'Bearer SECRET3'\nAccept = 'text/plain'\n\
            [pull.headers_from_env]\nX-Api-Key = 'FEED_KEY'\n";
        let shown = definition(written);
        for secret in ["SECRET", "text/plain"] {
            assert!(!shown.contains(secret), "{secret} in\n{shown}");
        }
        for kept in [
            "# the feed\n",
            "name = 'x' # its name\n",
            "url = \"https://[redacted]@x.org/f.txt?[redacted]\" # where\n",
            "Authorization = \"[redacted]\"\n",
            "X-Api-Key = 'FEED_KEY'\n",
        ] {
            assert!(shown.contains(kept), "{kept} in\n{shown}");
        }
        // The same, written as inline and dotted tables.
        for written in [
            "name='x'\nformat='list'\npull = { url = 'https://x.org/?SECRET', headers = { A = 'SECRET' } }\n",
            "name='x'\nformat='list'\npull.url = 'https://x.org/?SECRET'\npull.headers.A = 'SECRET'\n",
            "name='x'\nformat='list'\n[pull]\nurl = 'https://x.org/'\nheaders = 'SECRET'\n",
            "name='x'\nformat='list'\npull = 'SECRET'\n",
            "name='x'\npull.url = 'SECRET' = broken\n",
        ] {
            let shown = definition(written);
            assert!(!shown.contains("SECRET"), "{shown}");
        }
        // Nothing to hide: as written.
        let plain = "# c\nname = 'x'\nformat = 'list'\n[pull]\nurl = 'https://x.org/f' # w\n";
        assert_eq!(definition(plain), plain);
    }
}
