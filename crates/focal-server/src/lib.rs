//! Focal's HTTP server: the web UI (server-rendered, [`ui`]), the REST API under `/api/v1`
//! ([`api`], with its generated OpenAPI document), the TAXII 2.1 API under `/taxii2/`
//! ([`taxii`]), `/healthz` and Prometheus `/metrics` ([`telemetry`]).
//!
//! The store is synchronous, so every handler does its database work in `spawn_blocking`.
//! Every request passes the one access layer, [`access::guard`]: the client's address
//! ([`client`]), the credential checked by the one authenticator (`focal_identity`: session
//! cookie, bearer token, TAXII HTTP Basic), the role matrix, CSRF. TAXII then authorises per
//! collection ([`auth::rights`]), and every object that leaves it goes through
//! `focal_sharing::release` with the requesting user's policy. Accounts (users, passwords,
//! sessions) are managed in [`accounts`]. Every response carries the security headers of
//! [`telemetry::headers`]. Before all of it, [`limits`] bounds the requests and body bytes taken
//! at once (beyond them: 503 with `Retry-After`).

pub mod access;
pub mod accounts;
pub mod api;
pub mod assessment_pages;
pub mod assessments;
pub mod auth;
pub mod awareness_pages;
pub mod client;
pub mod constituents;
pub mod errors;
pub mod extract;
pub mod limits;
pub mod multipart;
pub mod public;
pub mod schema;
pub mod session;
pub mod sharing;
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
    /// The one authenticator of every credential (see `focal_identity`).
    pub auth: Arc<focal_identity::Authenticator<SqliteStore>>,
    pub web: Arc<WebConfig>,
    /// The feed registry and the scheduler; `None` when the server has no data folder.
    pub feeds: Option<Arc<Feeds>>,
    /// `[awareness]`: the publisher, the public base URL and k of the public pages.
    pub awareness: Arc<focal_awareness::AwarenessConfig>,
    /// `[incidents]`: the severities and SLA hours a severity change follows.
    pub incidents: Arc<focal_incidents::IncidentsConfig>,
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
    /// Proxies whose `Forwarded` / `X-Forwarded-For` headers name the client (see [`client`]).
    pub trusted_proxies: client::TrustedProxies,
    /// Requests and body bytes taken at once, and how long a body may take (see [`limits`]).
    pub limits: limits::Limits,
    /// How long a client may take to send a request's head before its connection is closed.
    pub header_read_timeout: std::time::Duration,
}

impl AppState {
    pub fn new(store: Arc<SqliteStore>, settings: NodeSettings) -> AppState {
        AppState {
            auth: Arc::new(focal_identity::Authenticator::new(store.clone())),
            store,
            settings: Arc::new(settings),
            web: Arc::new(WebConfig {
                secure_cookies: true,
                metrics: None,
                trusted_proxies: client::TrustedProxies::default(),
                limits: limits::Limits::default(),
                header_read_timeout: limits::DEFAULT_HEADER_READ_TIMEOUT,
            }),
            feeds: None,
            awareness: Arc::new(focal_awareness::AwarenessConfig::default()),
            incidents: Arc::new(focal_incidents::IncidentsConfig::default()),
        }
    }

    /// The `[incidents]` rules: a severity changed in the web UI gets the SLA due time the CLI's
    /// `focal incidents severity` gives.
    pub fn with_incidents(mut self, config: focal_incidents::IncidentsConfig) -> AppState {
        self.incidents = Arc::new(config);
        self
    }

    /// The `[awareness]` settings of the public pages.
    pub fn with_awareness(mut self, config: focal_awareness::AwarenessConfig) -> AppState {
        self.awareness = Arc::new(config);
        self
    }

    /// Shows the data folder's feed registry, and lets staff hand feeds to the scheduler.
    pub fn with_feeds(mut self, feeds: Feeds) -> AppState {
        self.feeds = Some(Arc::new(feeds));
        self
    }

    /// Believes the forwarding headers of these proxies (`[web] trusted_proxies`).
    pub fn with_trusted_proxies(mut self, proxies: client::TrustedProxies) -> AppState {
        let mut web = (*self.web).clone();
        web.trusted_proxies = proxies;
        self.web = Arc::new(web);
        self
    }

    /// At most `max_requests` requests and `max_body_bytes` of their bodies at once.
    pub fn with_limits(mut self, max_requests: usize, max_body_bytes: usize) -> AppState {
        let mut web = (*self.web).clone();
        web.limits = limits::Limits::new(max_requests, max_body_bytes)
            .with_body_read_timeout(web.limits.body_read_timeout());
        self.web = Arc::new(web);
        self
    }

    /// How long a client may take to send a request's head, and then its body (`[web]
    /// header_read_timeout_secs`, `body_read_timeout_secs`).
    pub fn with_timeouts(
        mut self,
        header_read: std::time::Duration,
        body_read: std::time::Duration,
    ) -> AppState {
        let mut web = (*self.web).clone();
        web.header_read_timeout = header_read;
        web.limits = web.limits.with_body_read_timeout(body_read);
        self.web = Arc::new(web);
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
        .merge(assessments::routes())
        .merge(assessment_pages::routes())
        .merge(accounts::routes())
        .merge(session::routes())
        .merge(ui::routes())
        .merge(sharing::routes())
        .merge(awareness_pages::routes())
        .merge(public::routes())
        .merge(telemetry::routes())
        .fallback(errors::fallback)
        // Inside the access layer, so an error page still knows who is signed in.
        .layer(axum::middleware::from_fn(errors::uniform))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::guard,
        ))
        // Outside the access layer: a flood is refused before any credential is checked.
        .layer(axum::middleware::from_fn_with_state(
            state.web.limits.clone(),
            limits::limit,
        ))
        .layer(axum::middleware::from_fn(telemetry::observe))
        .layer(axum::middleware::from_fn(telemetry::headers))
        .with_state(state)
}

/// Serves until the process is stopped (SIGINT or SIGTERM), after calling `ready` with the
/// bound address. Connections are served with hyper's HTTP/1 server directly rather than
/// `axum::serve`, which cannot set a header read timeout: a client that does not finish its
/// request head within `header_read_timeout` has its connection closed (slowloris), and the
/// body read timeout of [`limits`] ends one that sends its body too slowly. On a stop signal no
/// new connection is taken and those in progress finish their requests.
pub async fn serve(
    listen: SocketAddr,
    state: AppState,
    ready: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let header_read_timeout = state.web.header_read_timeout;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    ready(listener.local_addr()?);
    let app = router(state);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut stop = std::pin::pin!(shutdown_signal());
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // A connection that went away before it was taken costs nothing; anything
                    // else (out of file descriptors) is waited out rather than spun on.
                    if !matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionRefused
                            | std::io::ErrorKind::ConnectionAborted
                            | std::io::ErrorKind::ConnectionReset
                    ) {
                        tracing::warn!("accepting a connection: {e}");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let app = app.clone();
        // What `into_make_service_with_connect_info` did: handlers and the access layer read
        // the TCP peer as `ConnectInfo<SocketAddr>`.
        let service = hyper::service::service_fn(
            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(remote));
                let mut app = app.clone();
                tower_service::Service::call(&mut app, req.map(axum::body::Body::new))
            },
        );
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(header_read_timeout)
            .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("connection from {remote}: {e}");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
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
}
