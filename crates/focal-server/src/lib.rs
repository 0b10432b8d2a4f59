//! Focal's HTTP server. Today it serves the TAXII 2.1 API under `/taxii2/`; [`router`] is where a
//! later `/api/v1` and the web UI mount beside it, sharing [`AppState`] and [`auth`].
//!
//! The store is synchronous, so every handler does its database work in `spawn_blocking`.
//! Every request is authenticated (HTTP Basic or a bearer token, checked against the user
//! store) and authorised per collection; every object that leaves goes through
//! `focal_sharing::release` with the requesting user's policy.

pub mod auth;
pub mod taxii;

use axum::Router;
use focal_sharing::settings::NodeSettings;
use focal_store::SqliteStore;
use std::net::SocketAddr;
use std::sync::Arc;

/// What every handler needs.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<SqliteStore>,
    pub settings: Arc<NodeSettings>,
    pub auth: Arc<auth::Authenticator>,
}

impl AppState {
    pub fn new(store: Arc<SqliteStore>, settings: NodeSettings) -> AppState {
        AppState {
            auth: Arc::new(auth::Authenticator::new(store.clone())),
            store,
            settings: Arc::new(settings),
        }
    }
}

/// The whole application: TAXII under `/taxii2/`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(taxii::routes(state.clone()))
        .with_state(state)
}

/// Serves until the process is stopped (SIGINT or SIGTERM), after calling `ready` with the
/// address actually bound (so `--listen 127.0.0.1:0` can be used by tests).
pub async fn serve(
    listen: SocketAddr,
    state: AppState,
    ready: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    ready(listener.local_addr()?);
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async {
            let ctrl_c = tokio::signal::ctrl_c();
            #[cfg(unix)]
            {
                let mut term =
                    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    {
                        Ok(t) => t,
                        Err(_) => {
                            let _ = ctrl_c.await;
                            return;
                        }
                    };
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            #[cfg(not(unix))]
            {
                let _ = ctrl_c.await;
            }
        })
        .await
}
