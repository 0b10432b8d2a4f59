//! The JetStream side: connecting, the work-queue stream, and the workers' shared consumer.

use crate::{DistributedError, Result};
use async_nats::jetstream::{self, consumer::pull, stream};
use std::time::Duration;

/// Where chunks are queued.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// `nats://host:4222` (several comma-separated URLs for a cluster).
    pub url: String,
    /// The JetStream stream name; separate names keep separate Focal deployments (or tests)
    /// apart on one NATS server.
    pub stream: String,
    /// How long a worker may hold a chunk without acknowledging it before NATS redelivers it to
    /// another worker. Workers extend it while they work, so it only matters when one dies.
    pub ack_wait: Duration,
}

impl QueueConfig {
    pub fn new(url: &str, stream: &str) -> Result<QueueConfig> {
        if stream.is_empty()
            || stream.len() > 64
            || !stream
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(DistributedError::Invalid(format!(
                "stream name {stream:?} is not allowed: use 1 to 64 letters, digits, '-' and '_'"
            )));
        }
        Ok(QueueConfig {
            url: url.to_string(),
            stream: stream.to_string(),
            ack_wait: Duration::from_secs(30),
        })
    }

    /// Subjects of this stream: `focal.<stream>.chunks.<job id>`.
    pub fn subject(&self, job_id: i64) -> String {
        format!("{}.{job_id}", self.subject_prefix())
    }

    fn subject_prefix(&self) -> String {
        format!("focal.{}.chunks", self.stream.to_ascii_lowercase())
    }

    pub(crate) fn error(&self, doing: &str, e: impl std::fmt::Display) -> DistributedError {
        DistributedError::Nats {
            url: focal_model::redact::url_list(&self.url),
            message: format!("{doing}: {e}"),
        }
    }

    /// Connects (retrying until the server answers, so workers can start before NATS does) and
    /// makes sure the stream exists.
    pub async fn connect(&self) -> Result<(async_nats::Client, jetstream::Context)> {
        let client = async_nats::ConnectOptions::new()
            .name("focal")
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(5))
            .connect(self.url.as_str())
            .await
            .map_err(|e| self.error("connecting", e))?;
        let js = jetstream::new(client.clone());
        js.get_or_create_stream(stream::Config {
            name: self.stream.clone(),
            subjects: vec![format!("{}.>", self.subject_prefix())],
            // Work queue: a message is removed once a worker acknowledges it.
            retention: stream::RetentionPolicy::WorkQueue,
            // On disk, so chunks survive a NATS restart.
            storage: stream::StorageType::File,
            // Re-publications of a chunk (a resumed submit) within this window are dropped by
            // message id; later ones are harmless anyway, as a done chunk is not written twice.
            duplicate_window: Duration::from_secs(600),
            ..Default::default()
        })
        .await
        .map_err(|e| self.error("creating the work-queue stream", e))?;
        Ok((client, js))
    }

    /// The durable consumer every worker pulls from.
    pub async fn consumer(
        &self,
        js: &jetstream::Context,
    ) -> Result<jetstream::consumer::Consumer<pull::Config>> {
        let stream = js
            .get_stream(&self.stream)
            .await
            .map_err(|e| self.error("opening the stream", e))?;
        stream
            .get_or_create_consumer(
                "workers",
                pull::Config {
                    durable_name: Some("workers".into()),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait: self.ack_wait,
                    // Redeliver forever: a chunk fails for good only by being marked failed.
                    max_deliver: -1,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| self.error("creating the workers' consumer", e))
    }
}

/// Message headers naming the chunk.
pub const JOB_HEADER: &str = "Focal-Job";
pub const CHUNK_HEADER: &str = "Focal-Chunk";

#[cfg(test)]
mod tests {
    use super::QueueConfig;

    #[test]
    fn errors_name_the_server_without_its_credentials() {
        let q =
            QueueConfig::new("nats://a:4222,nats://focal:SECRET@b:4222?token=SECRET", "s").unwrap();
        let shown = q.error("connecting", "refused").to_string();
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(
            shown.contains("nats://a:4222") && shown.contains("b:4222"),
            "{shown}"
        );
    }
}
