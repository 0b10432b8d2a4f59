//! axum's `Query`, `Path` and `Json` extractors, with their refusals answered the API's way.
//!
//! axum answers a malformed query string, path parameter or body with a plain-text message
//! and, for bodies, 422. The API promises (and documents) a JSON `{"error": ...}` with 400 for
//! any bad input, naming what was wrong, so these wrappers turn each rejection into an
//! [`ApiError`]. A body sent without `Content-Type: application/json` stays 415.

use crate::api::ApiError;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Query-string parameters; a bad one is a 400 naming it.
pub struct Query<T>(pub T);

/// Path parameters; a bad one is a 400 naming it.
pub struct Path<T>(pub T);

/// A JSON body; malformed or missing fields are a 400 naming them. Also the JSON answer type.
pub struct Json<T>(pub T);

fn refused(status: StatusCode, what: &str, text: String) -> ApiError {
    let status = if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
        status
    } else {
        StatusCode::BAD_REQUEST
    };
    ApiError(status, format!("{what}: {text}"))
}

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e| refused(e.status(), "query parameters", e.body_text()))
    }
}

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|e| refused(e.status(), "path", e.body_text()))
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        axum::Json::<T>::from_request(request, state)
            .await
            .map(|j| Json(j.0))
            .map_err(|e| refused(e.status(), "body", e.body_text()))
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Path parameters of a page: one that does not parse (`/incidents/abc`) names nothing there,
/// so the answer is the 404 page, with the navigation of whoever is signed in.
pub struct PagePath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PagePath<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(p) => Ok(PagePath(p.0)),
            Err(_) => {
                let p = parts.extensions.get::<crate::access::Principal>().cloned();
                Err(crate::errors::page(
                    StatusCode::NOT_FOUND,
                    p.as_ref(),
                    &format!("there is nothing at {}", parts.uri.path()),
                ))
            }
        }
    }
}
