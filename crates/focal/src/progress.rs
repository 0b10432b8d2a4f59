//! Progress for long ingests: a bar on a terminal, structured log lines otherwise.

use focal_pipeline::ProgressSink;
use focal_store::RunProgress;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub enum Progress {
    Bar(ProgressBar),
    Log {
        last: Mutex<Instant>,
        total: Mutex<u64>,
    },
}

impl Progress {
    pub fn new() -> Self {
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            Progress::Bar(bar)
        } else {
            Progress::log()
        }
    }

    /// Log lines only, whatever stderr is: for ingests a server runs in the background, whose
    /// terminal (if any) belongs to its log.
    pub fn log() -> Self {
        Progress::Log {
            last: Mutex::new(Instant::now()),
            total: Mutex::new(0),
        }
    }
}

impl ProgressSink for Progress {
    fn start(&self, file: &str, total: u64, resume_at: u64) {
        match self {
            Progress::Bar(bar) => {
                bar.reset();
                bar.set_length(total);
                bar.set_position(resume_at);
                bar.set_message(file.to_string());
            }
            Progress::Log { total: t, .. } => {
                *t.lock().unwrap_or_else(|p| p.into_inner()) = total;
                tracing::info!(file, total_bytes = total, resume_at, "Ingest started.");
            }
        }
    }

    fn advance(&self, offset: u64, p: &RunProgress) {
        match self {
            Progress::Bar(bar) => bar.set_position(offset),
            Progress::Log { last, total } => {
                let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
                if last.elapsed() >= Duration::from_secs(5) {
                    *last = Instant::now();
                    let total = *total.lock().unwrap_or_else(|p| p.into_inner());
                    tracing::info!(
                        offset,
                        total_bytes = total,
                        rows_read = p.rows_read,
                        events_stored = p.events_stored,
                        quarantined = p.quarantined,
                        "Ingest progress."
                    );
                }
            }
        }
    }

    fn finish(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}
