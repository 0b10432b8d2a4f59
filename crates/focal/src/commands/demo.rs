//! `focal demo`: the main job on bundled example data, from nothing to a summary.

use super::{open, print_json, print_stats};
use crate::cli::{DemoArgs, InitArgs};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// Where `cargo run` finds the bundled data: the source tree's `data/` and `feeds/`.
fn default_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn run(data: &Path, args: &DemoArgs, json: bool) -> Result<()> {
    let root = args.from.clone().unwrap_or_else(default_source);
    let root = root.canonicalize().unwrap_or(root);
    let demo = root.join("data/demo");
    if !demo.join("feed.csv").exists() {
        bail!(
            "{}: no bundled example data here; pass --from with the Focal source folder",
            demo.display()
        );
    }
    if data.exists() {
        if !data.join(crate::config::CONFIG_FILE).exists() {
            bail!(
                "{} exists and is not a Focal data folder; choose another with --data",
                data.display()
            );
        }
        // The demo always starts from a fresh folder, but only ever removes a Focal data folder.
        std::fs::remove_dir_all(data)
            .with_context(|| format!("removing the old demo folder {}", data.display()))?;
    }
    let mut config = crate::config::Config::default();
    config.workers.notify_every = 0;
    super::init_with(
        data,
        &InitArgs {
            postgres: None,
            asn: vec![demo.join("asn-ipv4.csv"), demo.join("asn-ipv6.csv")],
            country: Some(root.join("data/ipdb/geo-whois-asn-country.mmdb")),
            admin_name: DEMO_ACCOUNTS[0].0.into(),
            admin_password: Some(DEMO_ACCOUNTS[0].2.into()),
        },
        json,
        true,
        config,
        &[(
            "[workers]",
            "# `focal demo` turned the notification worker off (notify_every = 0): a demo has no SMTP\n\
             # relay, so every digest would only pile up as a failed delivery. To try it, point\n\
             # [notify] smtp at a relay (or a local test server) and set notify_every again.",
        )],
    )?;
    let (dir, store) = open(data)?;
    let file = demo.join("constituents.csv");
    let list =
        focal_enrich::parse_constituents(std::fs::File::open(&file)?, &file.display().to_string())?;
    focal_store::Store::import_constituents(&*store, &list)?;

    // The reference drone feed, then one sample of each shipped public feed format.
    let mut feeds: Vec<(PathBuf, PathBuf)> = vec![(
        root.join("bench/reference-feed.toml"),
        demo.join("feed.csv"),
    )];
    for (def, sample) in [
        ("spamhaus-drop.toml", "spamhaus-drop.txt"),
        ("spamhaus-drop-json.toml", "spamhaus-drop-v4.json"),
        ("abusech-feodo-ipblocklist.toml", "feodo-ipblocklist.csv"),
        ("blocklist-de.toml", "blocklist-de-all.txt"),
    ] {
        let (def, sample) = (
            root.join("feeds").join(def),
            root.join("feeds/samples").join(sample),
        );
        if def.exists() && sample.exists() {
            feeds.push((def, sample));
        }
    }
    // Each feed is registered and pulled like a real one, from its bundled sample through a
    // file:// URL, so the demo shows scheduled pulls without touching the network.
    let registry = focal_feeds::Registry::new(data);
    let mut entries = Vec::new();
    for (def, sample) in &feeds {
        let text =
            std::fs::read_to_string(def).with_context(|| format!("reading {}", def.display()))?;
        let url = focal_fetch::file_url(sample)
            .with_context(|| format!("{}: no file URL for this path", sample.display()))?;
        let toml = format!(
            "{}\n\n# Added by `focal demo`: pulled from the bundled sample, so the demo never touches the network.\n[pull]\nurl = {}\nevery = \"1h\"\n",
            text.trim_end(),
            toml::Value::String(url)
        );
        entries.push(super::feeds::register(&registry, &*store, toml, def, false)?.entry);
    }
    let ctx = crate::pull::Context {
        dir: std::sync::Arc::new(dir),
        store: std::sync::Arc::from(store),
        quiet: json,
        stop: None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut summaries = Vec::new();
    for entry in &entries {
        match rt.block_on(crate::pull::pull(&ctx, entry, "demo"))? {
            crate::pull::Attempt::Done(done) => match done.summary {
                Some(s) if done.record.error.is_none() => summaries.push(s),
                _ => bail!(
                    "the demo could not pull its sample of {}: {}",
                    entry.name(),
                    done.record.error.unwrap_or_default()
                ),
            },
            crate::pull::Attempt::Deferred(reason) => {
                bail!("the demo could not pull {}: {reason}", entry.name())
            }
        }
    }
    drop(rt);
    let stats = focal_store::Store::stats(&*ctx.store)?;
    drop(ctx);
    let (_, sqlite) = super::open_sqlite(data, "the demo")?;
    let (by_state, accounts) = web_dataset(&sqlite)?;
    drop(sqlite);
    if json {
        print_json(&serde_json::json!({
            "data": data, "files": summaries, "stats": stats, "incidents_by_state": by_state,
            "accounts": accounts.iter().map(|(n, r, p, o)| serde_json::json!({"name": n, "role": r, "password": p, "organisation": o})).collect::<Vec<_>>(),
        }))?;
        return serve(data, args, json);
    }
    println!("Focal demo: a fresh data folder at {}", data.display());
    println!("Imported {} constituents.", list.len());
    for s in &summaries {
        super::ingest::print_summary(s);
    }
    println!();
    print_stats(&stats)?;
    println!();
    println!("Try next:");
    println!("  focal --data {} events --limit 5", data.display());
    println!(
        "  focal --data {} events --country NL --format csv",
        data.display()
    );
    println!("  focal --data {} quarantine --limit 5", data.display());
    println!("  focal --data {} stats --json", data.display());
    println!("  focal --data {} incidents --limit 5", data.display());
    println!("  focal --data {} notify --dry-run", data.display());
    println!();
    println!("Incidents by state: {by_state:?}");
    println!(
        "Demo accounts (for the web UI at http://{}/login):",
        args.listen
    );
    for (name, role, password, org) in &accounts {
        println!(
            "  {name:<12} password {password:<24} {role}{}",
            org.as_deref()
                .map(|o| format!(" of {o}"))
                .unwrap_or_default()
        );
    }
    serve(data, args, json)
}

/// The demo's accounts: (name, role, password, organisation). Fixed passwords on purpose:
/// this is a throwaway local dataset served on loopback.
const DEMO_ACCOUNTS: [(&str, &str, &str); 3] = [
    ("admin", "admin", "focal-demo-admin"),
    ("analyst", "analyst", "focal-demo-analyst"),
    ("constituent", "constituent", "focal-demo-constituent"),
];

type Account = (String, String, String, Option<String>);

/// Puts incidents in every state (by legal transitions, audited as the demo) and adds the
/// analyst and a constituent user of the organisation with the most incidents.
fn web_dataset(
    store: &focal_store::SqliteStore,
) -> Result<(std::collections::BTreeMap<String, u64>, Vec<Account>)> {
    use focal_incidents::State::*;
    use focal_store::incidents::{IncidentFilter, IncidentStore};
    use focal_store::sharing::{NewUser, SharingStore};
    let paths: [&[focal_incidents::State]; 7] = [
        &[],
        &[Acknowledged],
        &[Notified],
        &[Notified, InProgress],
        &[Notified, Resolved],
        &[FalsePositive],
        &[Notified, Resolved, Closed],
    ];
    let incidents = store.incidents(&IncidentFilter {
        states: vec!["new".into()],
        limit: Some(1000),
        ..IncidentFilter::default()
    })?;
    if incidents.len() < paths.len() {
        bail!("the demo data made only {} incidents", incidents.len());
    }
    // Spread the states over the incidents, so every constituent sees several.
    for (n, incident) in incidents.iter().enumerate() {
        for to in paths[n % paths.len()] {
            focal_incidents::transition(store, incident.id, *to, "demo")?;
        }
    }
    let mut by_state = std::collections::BTreeMap::new();
    for i in store.incidents(&IncidentFilter::default())? {
        *by_state.entry(i.state).or_insert(0u64) += 1;
    }
    let mut per_org = std::collections::BTreeMap::<String, u64>::new();
    for i in &incidents {
        *per_org.entry(i.constituent.clone()).or_default() += 1;
    }
    let org = per_org
        .iter()
        .max_by_key(|(o, n)| (**n, std::cmp::Reverse((*o).clone())))
        .map(|(o, _)| o.clone());
    let mut accounts = vec![(
        DEMO_ACCOUNTS[0].0.to_string(),
        DEMO_ACCOUNTS[0].1.to_string(),
        DEMO_ACCOUNTS[0].2.to_string(),
        None,
    )];
    for (name, role, password) in &DEMO_ACCOUNTS[1..] {
        let organisation = (*role == "constituent").then(|| org.clone()).flatten();
        store.add_user(&NewUser {
            name: name.to_string(),
            role: role.to_string(),
            organisation: organisation.clone(),
            password_hash: Some(focal_sharing::users::hash_password(password)?),
        })?;
        accounts.push((
            name.to_string(),
            role.to_string(),
            password.to_string(),
            organisation,
        ));
    }
    Ok((by_state, accounts))
}

fn serve(data: &Path, args: &DemoArgs, json: bool) -> Result<()> {
    if args.no_serve {
        return Ok(());
    }
    super::serve::run(
        data,
        &super::serve::ServeArgs {
            listen: args.listen,
            feeds_every: None,
            notify_every: None,
            sync_every: None,
            no_workers: false,
        },
        json,
    )
}
