//! `focal demo`: the main job on bundled example data, from nothing to a summary.

use super::{open, print_json, print_stats};
use crate::cli::{DemoArgs, InitArgs};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// The file that marks a folder as made by `focal demo` (and so one it may replace).
pub const DEMO_MARKER: &str = ".focal-demo";

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
    // The demo starts from a fresh folder, and only ever replaces a folder it made itself
    // (its marker is there): a folder made by `init` holds real accounts and data, anything
    // else is not Focal's. Held exclusively until the dataset is built, so a folder that
    // another Focal process (a `focal serve`) uses is not replaced under it.
    let non_empty = data.exists()
        && std::fs::read_dir(data)
            .with_context(|| format!("reading {}", data.display()))?
            .flatten()
            .any(|e| e.file_name() != crate::folder_lock::LOCK_FILE);
    if non_empty && !data.join(DEMO_MARKER).is_file() {
        bail!(
            "{} exists and was not made by `focal demo` (it has no {DEMO_MARKER}); the demo never replaces it: choose another folder with --data",
            data.display()
        );
    }
    let lock = crate::folder_lock::exclusive(data, "replacing it with the demo")?;
    if non_empty {
        // Everything but the lock, which stays held (and in place) for the rebuild.
        for entry in std::fs::read_dir(data)
            .with_context(|| format!("reading {}", data.display()))?
            .flatten()
        {
            if entry.file_name() == crate::folder_lock::LOCK_FILE {
                continue;
            }
            let path = entry.path();
            let removed = if entry.file_type().is_ok_and(|t| t.is_dir()) {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed.with_context(|| format!("removing the old demo's {}", path.display()))?;
        }
    }
    std::fs::write(
        data.join(DEMO_MARKER),
        "This folder was made by `focal demo`, which may replace it; it holds published demo passwords.\n",
    )
    .with_context(|| format!("writing {}", data.join(DEMO_MARKER).display()))?;
    let mut config = crate::config::Config::default();
    config.workers.notify_every = 0;
    // The demo's feeds are pulled from its bundled samples (file:// URLs), so their folders are
    // the only ones it may pull files from.
    config.feeds.file_dirs = vec![demo.clone(), root.join("feeds/samples")];
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
    let list = focal_enrich::parse_constituents(
        std::fs::File::open(&file).with_context(|| format!("opening {}", file.display()))?,
        &file.display().to_string(),
    )?;
    focal_store::Store::import_constituents(&*store, &list)?;

    // The reference drone feed, then one sample of each shipped public feed format.
    let mut feeds: Vec<(PathBuf, PathBuf)> = vec![(
        root.join("bench/reference-feed.toml"),
        demo.join("feed.csv"),
    )];
    for (def, sample) in [
        ("spamhaus-drop.toml", "spamhaus-drop.txt"),
        ("spamhaus-drop-json.toml", "spamhaus-drop-json.json"),
        (
            "abusech-feodo-ipblocklist.toml",
            "abusech-feodo-ipblocklist.csv",
        ),
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
        entries.push(super::feeds::register(&dir, &registry, &*store, toml, def, false)?.entry);
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
    let awareness = awareness_dataset(&sqlite, &root)?;
    drop(sqlite);
    let (_, store) = open(data)?;
    let assessments = assessment_dataset(&*store, &root)?;
    drop(store);
    // Built: serving takes the folder shared, like any other command.
    drop(lock);
    if json {
        print_json(&serde_json::json!({
            "data": data, "files": summaries, "stats": stats, "incidents_by_state": by_state,
            "assessments": assessments,
            "library": awareness.0, "advisory": awareness.1,
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
    println!("  focal --data {} library search '57/239'", data.display());
    println!(
        "  focal --data {} advisories export {} --format csaf",
        data.display(),
        awareness.1
    );
    println!("  focal --data {} stats public --k 5", data.display());
    println!();
    println!("Incidents by state: {by_state:?}");
    println!();
    for line in assessments["summary"].as_array().into_iter().flatten() {
        println!("{}", line.as_str().unwrap_or_default());
    }
    println!("  focal --data {} assess list", data.display());
    println!(
        "  focal --data {} assess export 2 --format html -o report.html",
        data.display()
    );
    println!("  focal --data {} vulns findings", data.display());
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
/// Imports the shipped policy library and publishes one TLP:CLEAR advisory, written by the
/// analyst and published by the admin (the four-eyes rule), each step audited.
fn awareness_dataset(
    store: &focal_store::SqliteStore,
    root: &Path,
) -> Result<(focal_awareness::library::ImportSummary, String)> {
    use focal_awareness::advisory::{Advisory, AdvisoryContent, Product, Reference};
    use focal_awareness::store::{AdvisoryStore, AuditRecord, LibraryStore};
    let file = root.join("data/library/un-cyber-policy.json");
    let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let library = focal_awareness::library::parse(&bytes, &file.display().to_string())?;
    let imported = store.import_library(
        &library.entities,
        super::audit::actor(),
        &file.display().to_string(),
    )?;
    let now = jiff::Timestamp::now();
    let content = AdvisoryContent {
        title: "Botnet drones in the constituency: clean infected hosts".into(),
        summary: "Hosts in the constituency are reported as members of a botnet. Owners should find and clean the infected machines and block their command-and-control traffic.".into(),
        products: vec![Product::parse("Example Vendor/Example Router/1.0")
            .map_err(anyhow::Error::msg)?],
        cves: vec![],
        cvss: Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:L/A:L".into()),
        remediation: Some("Update the router firmware and change its administrator password.".into()),
        tlp: focal_model::Tlp::Clear,
        references: vec![Reference {
            url: "https://www.first.org/tlp/".into(),
            summary: "Traffic Light Protocol".into(),
        }],
    };
    let id = "FOCAL-DEMO-0001";
    let audit = |action: &str, a: &Advisory, actor: &str| AuditRecord {
        actor: actor.into(),
        action: action.into(),
        subject: format!("advisory:{}", a.id),
        before: None,
        after: Some(a.audit_view()),
    };
    // Written by the demo analyst and published by the demo admin (four eyes), named as the
    // web names them.
    let writer = super::audit::user_actor(DEMO_ACCOUNTS[1].0);
    let publisher = super::audit::user_actor(DEMO_ACCOUNTS[0].0);
    let mut a = Advisory::create(id, content, &writer, now)?;
    store.insert_advisory(&a, &audit("advisory.create", &a, &writer))?;
    a.submit(&writer, now)?;
    store.update_advisory(&a, 0, &audit("advisory.submit", &a, &writer))?;
    a.publish(&publisher, now)?;
    store.update_advisory(&a, 1, &audit("advisory.publish", &a, &publisher))?;
    Ok((imported, id.to_string()))
}

/// The demo's admin account, also whom the demo's own changes are recorded as when no one is
/// named (`--actor`, $USER).
pub const ADMIN: &str = "admin";

const DEMO_ACCOUNTS: [(&str, &str, &str); 3] = [
    (ADMIN, "admin", "focal-demo-admin"),
    ("analyst", "analyst", "focal-demo-analyst"),
    ("constituent", "constituent", "focal-demo-constituent"),
];

type Account = (String, String, String, Option<String>);

/// Puts incidents in every state (by legal transitions, audited as whoever runs the demo) and adds the
/// analyst and a constituent user of the organisation with the most incidents.
fn web_dataset(
    store: &focal_store::SqliteStore,
) -> Result<(std::collections::BTreeMap<String, u64>, Vec<Account>)> {
    use focal_incidents::State::*;
    use focal_store::incidents::{IncidentFilter, IncidentStore};
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
            focal_incidents::transition(store, incident.id, *to, super::audit::actor())?;
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
        focal_identity::accounts::add(
            store,
            name,
            role.parse::<focal_identity::Role>()?,
            organisation.as_deref(),
            Some(password),
            super::audit::actor(),
        )?;
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
            drop_every: None,
            no_workers: false,
        },
        json,
    )
}

/// Self-assessment, risk register and vulnerability data: a national assessment against the
/// 64/211 annex and an organisational one against the nine elements of 57/239, each completed,
/// reassessed from a copy and compared; the demo assets, the OSV and CSAF examples of the tests
/// imported and matched, and one risk.
fn assessment_dataset(store: &dyn focal_store::Store, root: &Path) -> Result<serde_json::Value> {
    use focal_assessment::assessment::*;
    use focal_assessment::{ops, score};
    let s = store.assessment();
    let s: &dyn focal_assessment::store::Storage = &*s;
    let actor = super::audit::actor();
    let mut summary = Vec::new();
    let mut ids = Vec::new();
    /// (framework, subject, kind, constituent, first answers, changes in the reassessment)
    type Plan<'a> = (
        &'a str,
        &'a str,
        SubjectKind,
        Option<&'a str>,
        &'a [(&'a str, &'a str)],
        &'a [(&'a str, &'a str)],
    );
    let plans: [Plan<'_>; 2] = [
        (
            "un-ares-64-211",
            "Demo Republic",
            SubjectKind::Country,
            None,
            &[
                ("1", "yes"),
                ("2", "partial"),
                ("3", "partial"),
                ("4", "no"),
                ("5a", "yes"),
                ("5b", "partial"),
                ("5c", "partial"),
                ("5d", "no"),
                ("6", "partial"),
                ("7", "no"),
                ("8", "partial"),
                ("9", "no"),
                ("10", "yes"),
                ("11", "yes"),
                ("12", "partial"),
                ("13", "partial"),
                ("14", "no"),
                ("15", "partial"),
                ("16", "yes"),
                ("17", "n/a"),
                ("18", "partial"),
            ],
            &[
                ("4", "partial"),
                ("5d", "partial"),
                ("7", "partial"),
                ("12", "yes"),
                ("16", "partial"),
            ],
        ),
        (
            "un-ares-57-239",
            "Network 49832",
            SubjectKind::Organisation,
            Some("org-00000"),
            &[
                ("a", "partial"),
                ("b", "yes"),
                ("c", "partial"),
                ("d", "yes"),
                ("e", "yes"),
                ("f", "no"),
                ("g", "partial"),
                ("h", "no"),
                ("i", "no"),
            ],
            &[
                ("f", "partial"),
                ("h", "partial"),
                ("i", "yes"),
                ("a", "no"),
            ],
        ),
    ];
    for (framework_id, subject, kind, constituent, first, changes) in plans {
        let f = ops::framework(s, framework_id, None)?;
        let mut previous: Option<Assessment> = None;
        for round in [first, changes] {
            let (answers, _) = previous
                .as_ref()
                .map(|p| carry_over(&f, p))
                .unwrap_or_default();
            let h = s.create_assessment(
                &NewAssessment {
                    framework_id: f.id.clone(),
                    framework_version: f.version.clone(),
                    subject: Subject {
                        kind,
                        name: subject.into(),
                        constituent: constituent.map(str::to_string),
                    },
                    based_on: previous.as_ref().map(|p| p.header.id),
                    answers,
                },
                actor,
            )?;
            for (item, level) in round {
                let current = s.assessment(h.id)?;
                let answer = apply_change(
                    &f,
                    item,
                    current.answer(item),
                    &AnswerChange {
                        level: Some(Some(level.to_string())),
                        evidence: Some(format!("Demo evidence for item {item}.")),
                        owner: Some(Some(
                            if kind == SubjectKind::Country {
                                "national CSIRT"
                            } else {
                                "CISO"
                            }
                            .into(),
                        )),
                        ..AnswerChange::default()
                    },
                )?;
                s.save_answer(h.id, &answer, actor)?;
            }
            let full = s.assessment(h.id)?;
            let card = score::score(&f, &full);
            let due = due_after(jiff::Timestamp::now(), f.reassess_months);
            s.complete_assessment(h.id, due, &serde_json::to_value(&card)?, actor)?;
            ids.push(h.id);
            let full = s.assessment(h.id)?;
            if let Some(p) = &previous {
                let c = score::compare(&f, p, &f, &full);
                summary.push(format!(
                    "Assessment {} ({} against {}): overall {:.1} → {:.1}; improved {}, regressed {} (focal assess compare {}).",
                    h.id, subject, f.id,
                    c.overall_before.unwrap_or(0.0), c.overall_after.unwrap_or(0.0),
                    c.improved.len(), c.regressed.len(), h.id
                ));
            }
            previous = Some(full);
        }
    }
    // The risk register and vulnerability management.
    let file = root.join("data/demo/assets.csv");
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let assets = focal_assessment::risk::parse_assets_csv(&file.display().to_string(), &text)
        .map_err(|p| anyhow::anyhow!(p.join("\n")))?;
    s.save_assets(&assets, actor)?;
    let examples = root.join("crates/focal-assessment/tests/data");
    let mut advisories = 0;
    for dir in ["osv", "csaf"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(examples.join(dir))
            .with_context(|| format!("reading {}", examples.join(dir).display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        for path in files {
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            for a in focal_assessment::advisory::parse(&path.display().to_string(), &bytes)? {
                s.import_advisory(&a, actor)?;
                advisories += 1;
            }
        }
    }
    let matched = ops::match_everything(s, actor)?;
    s.create_risk(
        &focal_assessment::risk::RiskDraft {
            title: "Key disclosure through the portal's crypto library".into(),
            description: "elliptic before 6.5.4 (CVE-2020-28498) on the citizen portal".into(),
            asset: Some("web-portal".into()),
            threat: None,
            vulnerability: None,
            likelihood: 3,
            impact: 4,
            acceptable: 6,
            treatment: focal_assessment::risk::Treatment::Mitigate,
            owner: Some("CISO".into()),
            review_due: Some(due_after(jiff::Timestamp::now(), 3)),
            controls: vec![focal_assessment::risk::Control {
                framework: "nist-csf-2.0".into(),
                item: "PR.PS".into(),
            }],
        },
        actor,
    )?;
    summary.push(format!(
        "Risk register: {} assets, {advisories} advisories imported, {} findings opened.",
        assets.len(),
        matched.opened
    ));
    Ok(serde_json::json!({"assessments": ids, "findings": matched, "summary": summary}))
}
