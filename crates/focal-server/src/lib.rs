//! Focal's HTTP server: the web UI (server-rendered, [`ui`]), the REST API under `/api/v1`
//! ([`api`], with its generated OpenAPI document), the TAXII 2.1 API under `/taxii2/`
//! ([`taxii`]), `/healthz` and Prometheus `/metrics` ([`telemetry`]).
//!
//! The store is synchronous, so every handler does its database work in `spawn_blocking`.
//! Every request outside TAXII passes the one authorisation layer, [`access::guard`] (session
//! cookie or bearer token, the role matrix, CSRF); TAXII authenticates with HTTP Basic or a
//! bearer token itself and authorises per collection, and every object that leaves it goes
//! through `focal_sharing::release` with the requesting user's policy. Every response carries
//! the security headers of [`telemetry::headers`].

pub mod access;
pub mod api;
pub mod auth;
pub mod constituents;
pub mod extract;
pub mod multipart;
pub mod schema;
pub mod session;
pub mod taxii;
pub mod telemetry;
pub mod ui;

use axum::Router;
use focal_sharing::settings::NodeSettings;
use focal_store::SqliteStore;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// What every handler needs.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<SqliteStore>,
    pub settings: Arc<NodeSettings>,
    pub auth: Arc<auth::Authenticator>,
    pub web: Arc<WebConfig>,
    /// The feed registry and the scheduler; `None` when the server has no data folder.
    pub feeds: Option<Arc<Feeds>>,
}

/// The data folder's feed registry (DATA/feeds/), and the way to the feed scheduler.
#[derive(Debug, Clone)]
pub struct Feeds {
    pub data: PathBuf,
    /// Hands a feed to the running scheduler to pull now; `None` when scheduled pulls are off.
    pub pull_now: Option<tokio::sync::mpsc::Sender<PullNow>>,
}

/// A request to pull a feed now, from the web UI.
#[derive(Debug, Clone)]
pub struct PullNow {
    pub feed: String,
    /// Recorded with the pull, e.g. `web:alice`.
    pub requested_by: String,
}

/// How the web application behaves.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Mark cookies `Secure` (see [`session`] for when it is off).
    pub secure_cookies: bool,
    /// Renders `/metrics`; `None` when a recorder could not be installed.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

impl AppState {
    pub fn new(store: Arc<SqliteStore>, settings: NodeSettings) -> AppState {
        AppState {
            auth: Arc::new(auth::Authenticator::new(store.clone())),
            store,
            settings: Arc::new(settings),
            web: Arc::new(WebConfig {
                secure_cookies: true,
                metrics: None,
            }),
            feeds: None,
        }
    }

    /// Shows the data folder's feed registry, and lets staff hand feeds to the scheduler.
    pub fn with_feeds(mut self, feeds: Feeds) -> AppState {
        self.feeds = Some(Arc::new(feeds));
        self
    }

    /// Cookies without `Secure` are only for plain HTTP on a loopback address.
    pub fn for_listen_address(mut self, listen: &SocketAddr) -> AppState {
        let mut web = (*self.web).clone();
        web.secure_cookies = !listen.ip().is_loopback();
        web.metrics = telemetry::install();
        self.web = Arc::new(web);
        self
    }
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(taxii::routes(state.clone()))
        .merge(api::routes())
        .merge(session::routes())
        .merge(ui::routes())
        .merge(telemetry::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::guard,
        ))
        .layer(axum::middleware::from_fn(telemetry::observe))
        .layer(axum::middleware::from_fn(telemetry::headers))
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
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
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
