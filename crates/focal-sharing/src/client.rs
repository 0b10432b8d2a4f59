//! The TAXII 2.1 client: pull a peer's collection from an `added_after` cursor, push local
//! objects to it, with retries and backoff.
//!
//! Loops and double imports are prevented by the store, not by luck: every object pulled is
//! stored with the peer as its origin and recorded in the provenance, a version already held is
//! never stored again, and a push skips every object that came from the peer it goes to. What
//! is pushed goes through [`crate::policy::release`] with the peer's policy, like every other
//! outbound path. Cursors are saved after each stored page, so a killed sync resumes where it
//! stopped and re-reading a page stores nothing twice.
//!
//! Store calls are synchronous; this runs them inline, which suits the command line's
//! single-task runtime. A server-side scheduler should wrap a sync in `spawn_blocking`.

use crate::import::store_objects;
use crate::policy::{Policy, Released, Shareable};
use crate::settings::{NodeSettings, policy_for};
use focal_store::sharing::{Peer, SharingStore};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

pub const TAXII_MEDIA: &str = "application/taxii+json;version=2.1";
/// Objects asked for per page when pulling, and sent per request when pushing.
pub const PAGE: usize = 500;
/// Attempts per request (the first try and the retries).
const ATTEMPTS: u32 = 4;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{url}: {source}")]
    Http { url: String, source: reqwest::Error },
    #[error("{url}: HTTP {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{url}: the peer sent objects this node refuses: {source}")]
    Refused {
        url: String,
        source: crate::validate::InboundError,
    },
    #[error("{url}: {reason}")]
    Protocol { url: String, reason: String },
    #[error(transparent)]
    Store(#[from] focal_store::StoreError),
    #[error(transparent)]
    Settings(#[from] crate::settings::SettingsError),
}

/// One peer's collection, over HTTP.
pub struct Remote {
    http: reqwest::Client,
    objects_url: String,
    peer: Peer,
}

/// What a sync did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncReport {
    pub peer: String,
    pub pulled: u64,
    pub already_present: u64,
    /// Objects the peer stored from this sync's pushes.
    pub pushed: u64,
    /// Objects pushed that the peer already held (a Focal peer says so per object; the push
    /// cursor cannot know what the peer received from others).
    pub push_already_present: u64,
    pub withheld: u64,
    /// Events made from the indicators pulled.
    pub events_stored: u64,
}

impl Remote {
    pub fn new(peer: &Peer) -> Result<Remote, ClientError> {
        let root = if peer.api_root.ends_with('/') {
            peer.api_root.clone()
        } else {
            format!("{}/", peer.api_root)
        };
        let objects_url = format!("{root}collections/{}/objects/", peer.collection);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|source| ClientError::Http {
                url: objects_url.clone(),
                source,
            })?;
        Ok(Remote {
            http,
            objects_url,
            peer: peer.clone(),
        })
    }

    fn authorise(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self.peer.auth.as_str() {
            "basic" => req.basic_auth(
                self.peer.username.clone().unwrap_or_default(),
                self.peer.secret.clone(),
            ),
            "bearer" => req.bearer_auth(self.peer.secret.clone().unwrap_or_default()),
            _ => req,
        }
    }

    /// Sends with retries: connection failures, 429 and 5xx are retried after 0.5 s, 1 s, 2 s.
    async fn send(
        &self,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        let mut delay = Duration::from_millis(500);
        let mut attempt = 1;
        loop {
            let result = self
                .authorise(make())
                .header("Accept", TAXII_MEDIA)
                .send()
                .await;
            let retry = match &result {
                Ok(r) => r.status().is_server_error() || r.status().as_u16() == 429,
                Err(e) => e.is_connect() || e.is_timeout(),
            };
            if !retry || attempt >= ATTEMPTS {
                let resp = result.map_err(|source| ClientError::Http {
                    url: self.objects_url.clone(),
                    source,
                })?;
                if !resp.status().is_success() {
                    let status = resp.status().as_u16();
                    let body: String = resp
                        .text()
                        .await
                        .unwrap_or_default()
                        .chars()
                        .take(500)
                        .collect();
                    return Err(ClientError::Status {
                        url: self.objects_url.clone(),
                        status,
                        body,
                    });
                }
                return Ok(resp);
            }
            tracing::warn!(peer = %self.peer.name, attempt, "TAXII request failed; retrying");
            tokio::time::sleep(delay).await;
            delay *= 2;
            attempt += 1;
        }
    }

    /// One page of objects: the envelope's bytes and the `X-TAXII-Date-Added-Last` header.
    pub async fn get_objects(
        &self,
        added_after: Option<&str>,
        next: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<u8>, Option<String>), ClientError> {
        let mut query: Vec<(&str, String)> = vec![("limit", limit.to_string())];
        if let Some(a) = added_after {
            query.push(("added_after", a.to_string()));
        }
        if let Some(n) = next {
            query.push(("next", n.to_string()));
        }
        let resp = self
            .send(|| self.http.get(&self.objects_url).query(&query))
            .await?;
        let last = resp
            .headers()
            .get("X-TAXII-Date-Added-Last")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp.bytes().await.map_err(|source| ClientError::Http {
            url: self.objects_url.clone(),
            source,
        })?;
        Ok((body.to_vec(), last))
    }

    /// Posts objects as a TAXII envelope; returns the status resource.
    pub async fn add_objects(&self, objects: &[Value]) -> Result<Value, ClientError> {
        let body = serde_json::json!({ "objects": objects }).to_string();
        let resp = self
            .send(|| {
                self.http
                    .post(&self.objects_url)
                    .header("Content-Type", TAXII_MEDIA)
                    .body(body.clone())
            })
            .await?;
        resp.json().await.map_err(|source| ClientError::Http {
            url: self.objects_url.clone(),
            source,
        })
    }
}

/// Pulls everything the peer added since the cursor into the peer's local collection.
pub async fn pull<S: SharingStore + focal_store::Store>(
    store: &S,
    settings: &NodeSettings,
    peer: &mut Peer,
    report: &mut SyncReport,
) -> Result<(), ClientError> {
    let remote = Remote::new(peer)?;
    let mut next: Option<String> = None;
    loop {
        let (body, last) = remote
            .get_objects(peer.pull_cursor.as_deref(), next.as_deref(), PAGE)
            .await?;
        // A peer may relay this node's objects back, never version them: the rule a TAXII POST
        // from a peer is held to (`import::refuse_forged_own`). A forged version refuses the
        // page, as any object this node refuses does; the cursor stays and the error is kept.
        let objects = crate::import::accept(store, &peer.local_collection, &body, &settings.limits)
            .and_then(|objects| {
                crate::import::refuse_forged_pulled(store, &settings.node.common.id, &objects)?;
                Ok(objects)
            })
            .map_err(|e| match e {
                crate::import::AcceptError::Inbound(source) => ClientError::Refused {
                    url: remote.objects_url.clone(),
                    source,
                },
                crate::import::AcceptError::Store(e) => ClientError::Store(e),
            })?;
        let envelope: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let items = crate::import::inbound_items_in(store, &peer.local_collection, objects, true)?;
        let (items, own) = crate::import::without_own_pseudonyms(
            store,
            &peer.local_collection,
            &settings.key,
            items,
        )?;
        report.already_present += own.len() as u64;
        let outcome = store_objects(store, &peer.local_collection, &items, Some(&peer.name))?;
        report.pulled += outcome.added.len() as u64;
        report.already_present += outcome.already_present.len() as u64;
        // Events before the cursor moves: a sync killed in between re-reads the page, and the
        // objects it already stored still become events (see `import::event_candidates`).
        report.events_stored += crate::import::derive_events(
            store,
            &items,
            &outcome,
            Some(&peer.name),
            &format!("taxii:{}", peer.name),
        )?;
        peer.pulled += outcome.added.len() as u64;
        if let Some(l) = last
            && !items.is_empty()
        {
            peer.pull_cursor = Some(l);
        }
        store.put_peer(peer)?;
        let more = envelope
            .get("more")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        match envelope.get("next").and_then(Value::as_str) {
            Some(n) if more => next = Some(n.to_string()),
            _ if more && items.is_empty() => {
                return Err(ClientError::Protocol {
                    url: remote.objects_url.clone(),
                    reason: "more=true without objects or next".into(),
                });
            }
            // A server that says more without a next token: continue from the new cursor.
            _ if more => next = None,
            _ => return Ok(()),
        }
    }
}

/// The policy a peer is pushed under: its own, narrowed by its local collection's limit.
pub fn push_policy(store: &dyn SharingStore, peer: &Peer) -> Result<Policy, ClientError> {
    let collection = store.collection(&peer.local_collection)?;
    Ok(policy_for(store, &peer.name)?.narrowed(
        collection
            .and_then(|c| c.max_tlp)
            .and_then(|t| t.parse().ok()),
    ))
}

/// One push round: the local objects added after `cursor` (at most [`PAGE`]), minus those that
/// came from the peer, through its policy, closed under references with what it holds already
/// (pushed before `cursor` and visible under its policy, or received from it). Returns what is
/// released, the last `date_added` read and how many versions were read; `None` when nothing was added after `cursor`.
///
/// [`push`] sends these rounds; [`preview`] counts them from the start without sending, so
/// what the web UI shows a peer would receive is this very selection.
pub fn push_round(
    store: &dyn SharingStore,
    settings: &NodeSettings,
    peer: &Peer,
    policy: &Policy,
    cursor: i64,
) -> Result<Option<(Released, i64, usize)>, ClientError> {
    let stored = store.objects_after(&peer.local_collection, cursor, PAGE)?;
    let Some(last) = stored.last().map(|s| s.date_added) else {
        return Ok(None);
    };
    let mut items = Vec::new();
    for s in &stored {
        if s.origin.as_deref() == Some(peer.name.as_str())
            || store.provenance(&s.id, s.version_us)?.contains(&peer.name)
        {
            continue;
        }
        let Ok(object) = serde_json::from_str::<Value>(&s.body) else {
            continue;
        };
        let meta =
            serde_json::from_str(&s.meta).unwrap_or_else(|_| crate::import::inbound_meta(&object));
        items.push(Shareable { object, meta });
    }
    // What the peer holds already: pushed in an earlier round (before the cursor, and
    // visible under its policy), or received from it.
    let mut refs: Vec<String> = items
        .iter()
        .flat_map(|i| crate::vocab::references(&i.object))
        .map(|r| r.id.to_string())
        .collect();
    refs.sort();
    refs.dedup();
    let mut holds: std::collections::HashMap<String, focal_model::Tlp> =
        std::collections::HashMap::new();
    for r in refs {
        let q = focal_store::sharing::ObjectQuery {
            ids: vec![r.clone()],
            versions: focal_store::sharing::VersionMatch::All,
            limit: 1000,
            ..Default::default()
        };
        for o in store.objects(&peer.local_collection, &q)?.objects {
            let Ok(m) = serde_json::from_str::<crate::policy::ShareMeta>(&o.meta) else {
                continue;
            };
            let sent = o.date_added <= cursor && crate::policy::gate(policy, &m).is_none();
            if sent || o.origin.as_deref() == Some(peer.name.as_str()) {
                holds.insert(r.clone(), m.tlp);
                break;
            }
        }
    }
    let released =
        crate::policy::release_closed(policy, &settings.key, items, &|r| holds.get(r).copied());
    Ok(Some((released, last, stored.len())))
}

/// Pushes local objects added since the push cursor, through the peer's policy, never sending
/// back what came from that peer (see [`push_round`]).
pub async fn push(
    store: &dyn SharingStore,
    settings: &NodeSettings,
    peer: &mut Peer,
    report: &mut SyncReport,
) -> Result<(), ClientError> {
    let remote = Remote::new(peer)?;
    let policy = push_policy(store, peer)?;
    loop {
        let Some((released, last, _)) =
            push_round(store, settings, peer, &policy, peer.push_cursor)?
        else {
            return Ok(());
        };
        report.withheld += released.withheld.len() as u64;
        if !released.objects.is_empty() {
            let status = remote.add_objects(&released.objects).await?;
            let failures = status
                .get("failure_count")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            let successes = status
                .get("success_count")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            // A Focal peer lists what it held already as a success with this message; counted
            // apart, so `pushed` is what moved (and a second sync that moves nothing says 0).
            let held = status
                .get("successes")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .filter(|s| {
                            s.get("message").and_then(Value::as_str) == Some("already present")
                        })
                        .count() as u64
                })
                .unwrap_or(0)
                .min(successes);
            if failures > 0 {
                tracing::warn!(peer = %peer.name, failures, "the peer refused some pushed objects (already present, usually)");
            }
            report.pushed += successes - held;
            report.push_already_present += held;
            peer.pushed += successes - held;
        }
        peer.push_cursor = last;
        store.put_peer(peer)?;
    }
}

/// What a peer would receive from this node under its present policy: every push round from
/// the start of its local collection (as for a peer added today), counted, without sending
/// anything or moving a cursor.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Preview {
    pub peer: String,
    /// The policy applied (the peer's, narrowed by the collection's limit).
    pub policy: Policy,
    /// Object versions that would be sent.
    pub released: u64,
    /// Object versions kept back, by reason.
    pub withheld: BTreeMap<String, u64>,
    /// Released versions by STIX type.
    pub by_type: BTreeMap<String, u64>,
    /// Released versions by TLP (`CLEAR`..; `no marking` for objects without a TLP marking, such as
    /// the marking definitions themselves).
    pub by_tlp: BTreeMap<String, u64>,
    /// The first released objects, as they would be sent.
    pub first: Vec<Value>,
    /// Stored versions read.
    pub scanned: u64,
    /// False when the preview stopped at its limit of versions read: the counts are then of
    /// the first `scanned` versions only.
    pub complete: bool,
}

/// Counts what [`push`] would send to `peer` from the start, reading at most `max_scan` stored
/// versions, and keeps the first `first_n` released objects.
pub fn preview(
    store: &dyn SharingStore,
    settings: &NodeSettings,
    peer: &Peer,
    first_n: usize,
    max_scan: u64,
) -> Result<Preview, ClientError> {
    let policy = push_policy(store, peer)?;
    let mut out = Preview {
        peer: peer.name.clone(),
        policy: policy.clone(),
        complete: true,
        ..Preview::default()
    };
    let mut cursor = 0;
    while let Some((released, last, read)) = push_round(store, settings, peer, &policy, cursor)? {
        out.scanned += read as u64;
        for o in released.objects {
            out.released += 1;
            let type_ = o["type"].as_str().unwrap_or("?").to_string();
            *out.by_type.entry(type_).or_default() += 1;
            let tlp = crate::stix::object_tlp(&o).map_or("no marking", |t| t.as_str());
            *out.by_tlp.entry(tlp.to_string()).or_default() += 1;
            if out.first.len() < first_n {
                out.first.push(o);
            }
        }
        for w in released.withheld {
            // A dangling-reference reason names the object; counted under one line.
            let reason = if w.reason.starts_with("refers (") {
                "refers to an object the recipient is not sent".to_string()
            } else {
                w.reason
            };
            *out.withheld.entry(reason).or_default() += 1;
        }
        cursor = last;
        if out.scanned >= max_scan {
            out.complete = store
                .objects_after(&peer.local_collection, cursor, 1)?
                .is_empty();
            break;
        }
    }
    Ok(out)
}

/// Pull (if enabled), then push (if enabled); the outcome is saved on the peer.
pub async fn sync<S: SharingStore + focal_store::Store>(
    store: &S,
    settings: &NodeSettings,
    peer: &mut Peer,
) -> Result<SyncReport, ClientError> {
    let mut report = SyncReport {
        peer: peer.name.clone(),
        ..SyncReport::default()
    };
    let mut result = Ok(());
    if peer.pull {
        result = pull(store, settings, peer, &mut report).await;
    }
    if result.is_ok() && peer.push {
        result = push(store, settings, peer, &mut report).await;
    }
    peer.last_sync_at = Some(jiff::Timestamp::now().to_string());
    peer.last_error = result.as_ref().err().map(|e| e.to_string());
    store.put_peer(peer)?;
    result.map(|_| report)
}
