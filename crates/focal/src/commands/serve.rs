//! `focal serve`: the HTTP server (TAXII 2.1 under /taxii2/).

use super::open;
use anyhow::{Context, Result};
use clap::Args;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
}

pub fn run(data: &Path, args: &ServeArgs, json: bool) -> Result<()> {
    let (_, store) = open(data)?;
    let settings = focal_sharing::settings::load(&store)?;
    let state = focal_server::AppState::new(Arc::new(store), settings);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(focal_server::serve(args.listen, state, |addr| {
        // One line on stdout, flushed, so scripts and tests learn the bound address.
        let mut out = std::io::stdout().lock();
        let _ = if json {
            writeln!(out, "{}", serde_json::json!({"listening": addr.to_string(), "taxii": format!("http://{addr}/taxii2/")}))
        } else {
            writeln!(out, "Listening on http://{addr}/taxii2/")
        };
        let _ = out.flush();
    }))
    .with_context(|| format!("serving on {}", args.listen))
}
