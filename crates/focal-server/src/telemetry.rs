//! Security headers on every response, request metrics, `/healthz` and Prometheus `/metrics`.
//!
//! Totals that live in the store (ingest runs, notifications, feed pulls) are read from it at
//! each scrape. The background workers of `focal serve` count their own rounds in-process:
//! `focal_worker_runs_total` and `focal_worker_failures_total` (label `worker`: feeds, notify,
//! sync), `focal_worker_notifications_total` (label `outcome`: sent, retry, failed) and
//! `focal_feed_pulls_deferred_total` (label `feed`: a due pull put off while another ingest ran).

use crate::AppState;
use crate::access::route;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Router, routing};
use focal_store::web::WebStore;
use std::time::Instant;

/// No inline script or style anywhere (the UI has none), nothing framed, nothing sniffed.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                       frame-ancestors 'none'; base-uri 'none'";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", routing::get(healthz))
        .route("/metrics", routing::get(metrics))
}

pub async fn headers(request: Request, next: Next) -> Response {
    let is_static = request.uri().path().starts_with("/static/");
    let mut resp = next.run(request).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !is_static {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// Installs the process-wide Prometheus recorder (once; later calls reuse nothing and return
/// `None`, which only happens when a process builds two servers).
pub fn install() -> Option<metrics_exporter_prometheus::PrometheusHandle> {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&[
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ])
        .ok()?
        .install_recorder()
        .ok()
}

/// Counts requests and records their latency by method, route template and status.
pub async fn observe(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let (_, template) = route(&method, request.uri().path());
    let started = Instant::now();
    let resp = next.run(request).await;
    let labels = [
        ("method", method.as_str().to_string()),
        ("route", template.to_string()),
        ("status", resp.status().as_u16().to_string()),
    ];
    metrics::counter!("focal_http_requests_total", &labels).increment(1);
    metrics::histogram!("focal_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    resp
}

async fn healthz(State(state): State<AppState>) -> Response {
    let st = state.clone();
    let ok = tokio::task::spawn_blocking(move || st.store.counters().is_ok()).await;
    if matches!(ok, Ok(true)) {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let Some(handle) = state.web.metrics.clone() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "metrics are not enabled\n").into_response();
    };
    let st = state.clone();
    let counters = tokio::task::spawn_blocking(move || {
        Ok::<_, focal_store::StoreError>((
            st.store.counters()?,
            focal_store::Store::pull_counts(st.store.as_ref())?,
            focal_store::sharing::SharingStore::count_uninterpreted_markings(st.store.as_ref())?,
        ))
    })
    .await;
    let Ok(Ok((c, pulls, uninterpreted))) = counters else {
        return (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response();
    };
    // Pulls by whoever made them (this server's scheduler, `focal feeds pull`, the UI).
    for (feed, result, n) in pulls {
        metrics::counter!("focal_feed_pulls_total", "feed" => feed, "result" => result.as_str())
            .absolute(n);
    }
    // Totals kept in the store, so they survive restarts and count work done by other
    // processes (`focal ingest`, `focal notify`).
    metrics::counter!("focal_ingest_runs_total").absolute(c.runs);
    metrics::counter!("focal_ingest_rows_read_total").absolute(c.rows_read);
    metrics::counter!("focal_ingest_events_stored_total").absolute(c.events_stored);
    metrics::counter!("focal_ingest_duplicates_total").absolute(c.duplicates);
    metrics::counter!("focal_ingest_quarantined_total").absolute(c.quarantined);
    metrics::gauge!("focal_notify_outbox_pending").set(c.outbox_pending as f64);
    metrics::counter!("focal_notify_deliveries_total", "outcome" => "sent")
        .absolute(c.deliveries_sent);
    metrics::counter!("focal_notify_deliveries_total", "outcome" => "retry")
        .absolute(c.deliveries_retry);
    metrics::counter!("focal_notify_deliveries_total", "outcome" => "failed")
        .absolute(c.deliveries_failed);
    // Received objects whose markings Focal could not interpret: held as TLP:RED, never relayed.
    metrics::gauge!("focal_sharing_objects_uninterpreted_markings").set(uninterpreted as f64);
    // Queue depths: what the stages after the store still have to do.
    let q = c.queues;
    metrics::gauge!("focal_ingest_runs_unfinished").set(q.runs_running as f64);
    metrics::gauge!("focal_incidents_ungrouped_events").set(q.events_ungrouped as f64);
    metrics::gauge!("focal_dashboard_rollup_lag_events").set(q.events_not_in_rollup as f64);
    metrics::gauge!("focal_search_index_lag_events").set(q.events_not_indexed as f64);
    metrics::gauge!("focal_incidents_open").set(q.incidents_open as f64);
    metrics::gauge!("focal_incidents_sla_breached").set(q.incidents_breached as f64);
    let mut resp = handle.render().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    resp
}
