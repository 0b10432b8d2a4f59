//! `multipart/form-data`, the encoding a browser uses for a form with a file input (the
//! constituent CSV import). Parsed with `multer` from a body that was already read within its
//! size limit, both by the CSRF check in [`crate::access::guard`] and by the handler.

use axum::body::Body;
use axum::http::{HeaderMap, header};
use bytes::Bytes;

/// One form field: its name, the file name the browser sent for a file input, and its bytes.
#[derive(Debug)]
pub struct Part {
    pub name: String,
    pub file_name: Option<String>,
    pub data: Bytes,
}

/// Most fields one form may carry: the import form has three.
const MAX_PARTS: usize = 8;

pub fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
}

/// The fields of a multipart body, or what is wrong with it.
pub async fn parts(headers: &HeaderMap, body: Bytes) -> Result<Vec<Part>, String> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .ok_or("the form has no Content-Type")?;
    let boundary = multer::parse_boundary(content_type)
        .map_err(|e| format!("the form's Content-Type: {e}"))?;
    let limit = body.len() as u64;
    let constraints =
        multer::Constraints::new().size_limit(multer::SizeLimit::new().whole_stream(limit.max(1)));
    let mut form = multer::Multipart::with_constraints(
        Body::from(body).into_data_stream(),
        boundary,
        constraints,
    );
    let mut out = Vec::new();
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| format!("the form could not be read: {e}"))?
    {
        if out.len() == MAX_PARTS {
            return Err(format!("the form has more than {MAX_PARTS} fields"));
        }
        let name = field.name().unwrap_or_default().to_string();
        let file_name = field.file_name().map(str::to_string);
        let data = field
            .bytes()
            .await
            .map_err(|e| format!("the form's field {name:?} could not be read: {e}"))?;
        out.push(Part {
            name,
            file_name,
            data,
        });
    }
    Ok(out)
}

/// The text of the first field called `name`, if it is UTF-8.
pub fn text<'a>(parts: &'a [Part], name: &str) -> Option<&'a str> {
    parts
        .iter()
        .find(|p| p.name == name)
        .and_then(|p| std::str::from_utf8(&p.data).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(boundary: &str, body: &str) -> (HeaderMap, Bytes) {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}")
                .parse()
                .unwrap(),
        );
        (h, Bytes::from(body.replace('\n', "\r\n")))
    }

    #[tokio::test]
    async fn fields_and_file_names_are_read() {
        let (h, b) = form(
            "XyZ",
            "--XyZ\nContent-Disposition: form-data; name=\"csrf\"\n\ntok\n\
             --XyZ\nContent-Disposition: form-data; name=\"file\"; filename=\"orgs.csv\"\n\
             Content-Type: text/csv\n\nid,name\na,b\n--XyZ--\n",
        );
        assert!(is_multipart(&h));
        let p = parts(&h, b).await.unwrap();
        assert_eq!(text(&p, "csrf"), Some("tok"));
        assert_eq!(p[1].file_name.as_deref(), Some("orgs.csv"));
        assert_eq!(text(&p, "file"), Some("id,name\r\na,b"));
    }

    #[tokio::test]
    async fn broken_forms_are_errors_not_panics() {
        for body in [
            "",
            "--XyZ\nContent-Disposition: form-data; name=\"csrf\"\n\ntok",
            "garbage",
            "--XyZ\n\n\n--XyZ--\n",
        ] {
            let (h, b) = form("XyZ", body);
            assert!(parts(&h, b).await.is_err(), "{body:?}");
        }
        let many: String = (0..9)
            .map(|i| format!("--B\nContent-Disposition: form-data; name=\"f{i}\"\n\nx\n"))
            .collect::<String>()
            + "--B--\n";
        let (h, b) = form("B", &many);
        assert!(parts(&h, b).await.unwrap_err().contains("more than"));
    }
}
