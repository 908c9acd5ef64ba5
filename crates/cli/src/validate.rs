//! Every input checked before work starts: where each setting came from ([`Origin`]: a flag, an
//! environment variable, a config.toml key or the default), so that an error names what to fix,
//! and the checks of `run`, `bench gym` and the commands that only read the database. Nothing here
//! downloads or loads a model, and nothing writes but the probe of a results folder.

use crate::config::{self, Config};
use crate::RunArgs;
use agentos_agents::{check_actions, check_memory, check_role, strategy, RunGrant, Strategy, TeamFile};
use agentos_kernel::{ActionMode, MEMORY_TOOLS};
use anyhow::{anyhow, bail, Result};
use clap::parser::ValueSource;
use clap::ArgMatches;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Where a setting's value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A flag on the command line, as `--strategy`.
    Flag(String),
    /// An environment variable a flag reads, as `AGENTOS_STRATEGY`.
    Env(String),
    /// A key of config.toml.
    Config(&'static str),
    /// Nobody set it.
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(flag) => write!(f, "{flag}"),
            Origin::Env(variable) => write!(f, "{variable}"),
            Origin::Config(key) => write!(f, "{} key `{key}`", config::home().join("config.toml").display()),
            Origin::Default => write!(f, "the default"),
        }
    }
}

impl Origin {
    /// An error about a value from here: `reason` (which names the value), after this origin.
    pub fn error(&self, reason: impl fmt::Display) -> anyhow::Error {
        match self {
            Origin::Default => anyhow!("{reason}"),
            origin => anyhow!("{origin}: {reason}"),
        }
    }
}

/// A value and where it came from.
#[derive(Clone, Debug)]
pub struct Setting<T> {
    /// The value.
    pub value: T,
    /// Where it came from.
    pub origin: Origin,
}

impl<T> Setting<T> {
    /// A value nobody set.
    pub fn default(value: T) -> Self {
        Setting { value, origin: Origin::Default }
    }

    /// An error about this value: `reason` (which names the value), after where it came from.
    pub fn error(&self, reason: impl fmt::Display) -> anyhow::Error {
        self.origin.error(reason)
    }
}

/// Where each argument of the command line came from: its flag or its environment variable.
#[derive(Debug, Default)]
pub struct Origins(HashMap<String, Origin>);

impl Origins {
    /// Reads the origins of `matches`, parsed by `command`, down through its subcommands.
    pub fn new(command: &clap::Command, matches: &ArgMatches) -> Origins {
        let mut origins = HashMap::new();
        let (mut command, mut matches) = (command, matches);
        loop {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                let origin = match matches.try_contains_id(id).ok().and_then(|_| matches.value_source(id)) {
                    Some(ValueSource::EnvVariable) => arg.get_env().map(|v| Origin::Env(v.to_string_lossy().into_owned())),
                    Some(ValueSource::CommandLine) => arg.get_long().map(|long| Origin::Flag(format!("--{long}"))),
                    _ => None,
                };
                if let Some(origin) = origin {
                    origins.insert(id.to_string(), origin);
                }
            }
            let Some((name, sub_matches)) = matches.subcommand() else { break };
            let Some(sub_command) = command.find_subcommand(name) else { break };
            (command, matches) = (sub_command, sub_matches);
        }
        Origins(origins)
    }

    /// The setting `key`: the command line's value (`given`, from the flag or its environment
    /// variable) if there is one, else config.toml's, else none. The argument's id and the key
    /// have the same name.
    pub fn pick<T>(&self, key: &'static str, given: Option<T>, configured: Option<T>) -> Option<Setting<T>> {
        match given {
            Some(value) => {
                let origin = self.0.get(key).cloned().unwrap_or_else(|| Origin::Flag(format!("--{}", key.replace('_', "-"))));
                Some(Setting { value, origin })
            }
            None => configured.map(|value| Setting { value, origin: Origin::Config(key) }),
        }
    }
}

/// A clap value parser for counts that must be at least 1 (`--max-steps`, `--limit`, ...).
pub fn at_least_one<T: FromStr + PartialOrd + From<u8>>(text: &str) -> Result<T, String> {
    let n: T = text.trim().parse().map_err(|_| format!("`{text}` is not a whole number; give one of at least 1"))?;
    if n < T::from(1) {
        return Err("must be at least 1".into());
    }
    Ok(n)
}

/// A clap value parser for counts from 1 to `most` (`simulate --agents`, `--steps`, ...).
pub fn one_to<T: FromStr + PartialOrd + From<u8> + fmt::Display>(text: &str, most: T) -> Result<T, String> {
    match text.trim().parse::<T>() {
        Ok(n) if n >= T::from(1) && n <= most => Ok(n),
        Ok(_) => Err(format!("out of range; give a whole number from 1 to {most}")),
        Err(_) => Err(format!("`{text}` is not a whole number; give one from 1 to {most}")),
    }
}

/// The highest sampling temperature providers accept.
const MAX_TEMPERATURE: f32 = 2.0;

/// A clap value parser for `--temperature`: a number from 0 to 2.
pub fn temperature(text: &str) -> Result<f32, String> {
    let t: f32 = text.trim().parse().map_err(|_| format!("`{text}` is not a number; give one from 0 to {MAX_TEMPERATURE}"))?;
    if !(0.0..=MAX_TEMPERATURE).contains(&t) {
        return Err(format!("must be from 0 to {MAX_TEMPERATURE} (0 decides greedily, higher varies more)"));
    }
    Ok(t)
}

/// The checked settings of `agentos run`.
pub struct RunPlan {
    /// The model URI, checked (see [`model`]) but not downloaded or loaded.
    pub model: String,
    /// The strategy's name.
    pub strategy: String,
    /// The tools granted.
    pub tools: Vec<String>,
    /// The folder the file tools may use, absolute.
    pub workdir: PathBuf,
    /// The step limit.
    pub max_steps: u32,
    /// How the agent acts: `--actions`, else the strategy's first action mode.
    pub actions: ActionMode,
    /// The long-term memory scopes granted (`--memory-scope`).
    pub memory_scopes: Vec<String>,
    /// The text of the team file (`--team`), checked.
    pub team_file: Option<String>,
    /// The models the team file's actors name, checked but not downloaded or loaded.
    pub team_models: Vec<String>,
}

/// The tools `agentos run` grants when neither `--tools` nor config.toml names any.
const DEFAULT_TOOLS: &[&str] = &["calculator", "current_time", "list_files", "read_file"];

/// Checks every argument of `agentos run`, before any model is downloaded or loaded.
/// `task` is the task as read ([`crate::task::read`]).
pub fn run(config: &Config, origins: &Origins, args: &RunArgs, task: &str) -> Result<RunPlan> {
    self::task(task)?;
    let team = args.team.as_deref().map(read_team).transpose()?;
    let (name, chosen) = match &team {
        Some(_) => {
            // A flag conflict clap catches; the environment variable is said here.
            if let Some(strategy) = origins.pick("strategy", args.strategy.clone(), None) {
                return Err(strategy.error("a team file's run has no other strategy; drop it, or drop --team"));
            }
            (Setting { value: "team".to_string(), origin: Origin::Flag("--team".into()) }, vec![strategy("team")?])
        }
        None => {
            let name = origins
                .pick("strategy", args.strategy.clone(), config.strategy.clone())
                .unwrap_or_else(|| Setting::default("react".into()));
            let chosen = strategies(std::slice::from_ref(&name.value), &name.origin)?;
            (name, chosen)
        }
    };
    // Without --actions, a strategy acts in the first mode it can (codeact and pal in code).
    let actions = args.actions.unwrap_or(chosen[0].action_modes()[0]);
    check_actions(chosen[0].as_ref(), actions)?;
    check_memory(chosen[0].as_ref(), args.memory)?;
    if args.unsafe_sandbox && actions != ActionMode::Code {
        bail!("--unsafe-sandbox applies to code actions only; add --actions code, or drop --unsafe-sandbox");
    }
    if args.no_library && actions != ActionMode::Code {
        bail!("--no-library applies to code actions only; add --actions code, or drop --no-library");
    }
    if actions == ActionMode::Code {
        crate::bench_sandbox::check(args.unsafe_sandbox)?;
    }
    roles(&chosen, &args.roles)?;
    // A team run's model is the one set, else the first actor's when every actor names one
    // (nothing else to load), else the default local model.
    let given = given_model(config, origins, args.model.clone())?.map(|m| m.value);
    let tools = origins
        .pick("tools", args.tools.clone(), config.tools.clone())
        .unwrap_or_else(|| Setting::default(DEFAULT_TOOLS.iter().map(|t| t.to_string()).collect()));
    let mut known: Vec<String> = agentos_tools::builtin().iter().map(|t| t.spec().name).collect();
    known.extend(MEMORY_TOOLS.map(String::from));
    let mut granted: Vec<String> = tools.value.iter().map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect();
    if let Some(unknown) = granted.iter().find(|t| !known.contains(t)) {
        return Err(tools.error(format!("unknown tool `{unknown}`; the tools are: {}", known.join(", "))));
    }
    // A run given long-term memory can use it.
    if !args.memory_scopes.is_empty() {
        granted.extend(MEMORY_TOOLS.iter().filter(|t| !granted.iter().any(|g| g == *t)).map(|t| t.to_string()).collect::<Vec<_>>());
    }
    let (model, team_file, team_models) = match team {
        Some((file, text)) => {
            let fallback = given.clone().unwrap_or_else(default_model);
            let grant = RunGrant { tools: &granted, model: Some(&fallback), check_model: Some(&actor_model) };
            let parsed = TeamFile::parse(&text, &file, &grant)?;
            let named = parsed.actors.iter().all(|a| a.model.is_some());
            let lead = given.or_else(|| parsed.lead_model().filter(|_| named).map(String::from)).unwrap_or(fallback);
            (lead, Some(text), parsed.actors.into_iter().filter_map(|a| a.model).collect())
        }
        None => (model(config, origins, given)?.value, None, Vec::new()),
    };
    let max_steps = args.limits.max_steps.or(config.max_steps).unwrap_or(DEFAULT_MAX_STEPS);
    Ok(RunPlan {
        model,
        strategy: name.value,
        tools: granted,
        workdir: workdir(args.workdir.as_deref())?,
        max_steps,
        actions,
        memory_scopes: args.memory_scopes.clone(),
        team_file,
        team_models,
    })
}

/// Reads the team file of `--team PATH`: its name as given (for errors) and its text.
fn read_team(path: &Path) -> Result<(String, String)> {
    let fix = "give the path of a team file (README.md, Declarative teams; examples/teams/review.toml)";
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((path.display().to_string(), text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!("--team {}: no such file; {fix}", path.display()),
        Err(e) => bail!("--team {}: {e}; {fix}", path.display()),
    }
}

/// Checks the model URI a team file's actor names: one agentos can build ([`check_uri`]), and
/// a file it names given by its absolute path, since the team file is read again on resume,
/// from whatever folder.
fn actor_model(uri: &str) -> Result<(), String> {
    let absolute = agentos_llm::absolute_uri(uri);
    if absolute != uri {
        return Err(format!(
            "a model file is named by a relative path, and the team file is read again on resume from any folder: write `{absolute}`"
        ));
    }
    check_uri(uri).map_err(|e| e.to_string())
}

/// The profile `--profile NAME` names, read from the database `db`; refused, saying how to set
/// one, when the person has none.
pub fn profile(db: &Path, name: &str) -> Result<String> {
    agentos_memory::Scope::parse(&format!("person:{name}")).map_err(|e| anyhow!("--profile {name}: {e}"))?;
    match agentos_kernel::Storage::open(db)?.profile(name)? {
        Some(profile) => Ok(profile.text),
        None => {
            bail!("--profile {name}: {name} has no profile; set one with `agentos memory profile {name} --set \"<their preferences>\"`")
        }
    }
}

/// Reads `--memory-scope`: `person:<name>` or `agent:<name>` (a run's own working memory and its
/// team's shared memory need no grant).
pub fn memory_scope(text: &str) -> Result<String, String> {
    match agentos_memory::Scope::parse(text).map_err(|e| e.to_string())? {
        agentos_memory::Scope::Run(_) => Err(format!("`{text}`: a run's working memory is its own; grant person:<name> or agent:<name>")),
        agentos_memory::Scope::Team(_) => {
            Err(format!("`{text}`: a team's shared memory comes with the team, for its members; grant person:<name> or agent:<name>"))
        }
        scope => Ok(scope.to_string()),
    }
}

/// The step limit when neither `--max-steps` nor config.toml sets one.
pub const DEFAULT_MAX_STEPS: u32 = 10;

/// A task must say something.
pub fn task(task: &str) -> Result<()> {
    if task.trim().is_empty() {
        bail!("the task is empty; say what the agent should do, as in `agentos run \"What is 17% of 2,340?\"`");
    }
    Ok(())
}

/// The strategies `names` name, each checked; an error names the value and where it came from.
/// `team` is refused: it plays a team file, which only `run --team` gives.
pub fn strategies(names: &[String], origin: &Origin) -> Result<Vec<Box<dyn Strategy>>> {
    names
        .iter()
        .map(|name| match name.as_str() {
            "team" => Err(origin.error("`team` plays a team file; run one with `agentos run --team FILE`")),
            name => strategy(name).map_err(|e| origin.error(e)),
        })
        .collect()
}

/// Checks each `--role ROLE=URI`: some strategy of `chosen` uses the role, and the URI is one
/// agentos can build.
pub fn roles(chosen: &[Box<dyn Strategy>], roles: &[(String, String)]) -> Result<()> {
    let chosen: Vec<&dyn Strategy> = chosen.iter().map(|s| s.as_ref()).collect();
    for (role, uri) in roles {
        let flag = Origin::Flag(format!("--role {role}={uri}"));
        check_role(&chosen, role).map_err(|e| flag.error(e))?;
        check_uri(uri).map_err(|e| flag.error(e))?;
    }
    Ok(())
}

/// The model URI to use, checked but not downloaded or loaded: the flag (or `AGENTOS_MODEL`),
/// else config.toml's `model`, else the built-in local model. A file it names is made absolute:
/// the URI is stored with the run, and a resume from another folder must find the same file.
pub fn model(config: &Config, origins: &Origins, given: Option<String>) -> Result<Setting<String>> {
    Ok(given_model(config, origins, given)?.unwrap_or_else(|| Setting::default(default_model())))
}

/// The model URI somebody set, checked as [`model`] checks it: the flag (or `AGENTOS_MODEL`),
/// else config.toml's `model`, else none.
pub fn given_model(config: &Config, origins: &Origins, given: Option<String>) -> Result<Option<Setting<String>>> {
    let Some(mut uri) = origins.pick("model", given, config.model.clone()) else { return Ok(None) };
    uri.value = agentos_llm::absolute_uri(&uri.value);
    check_uri(&uri.value).map_err(|e| uri.error(e))?;
    Ok(Some(uri))
}

/// A model URI given with `flag` (as `--player cot@URI`), checked like `--model` and made
/// absolute, without downloading or loading it.
pub fn flag_model(flag: &str, uri: &str) -> Result<String> {
    let uri = agentos_llm::absolute_uri(uri);
    check_uri(&uri).map_err(|e| anyhow!("{flag} {uri}: {e}"))?;
    Ok(uri)
}

/// The model URI used when nobody sets one: the catalogue's default local model.
pub fn default_model() -> String {
    format!("local:{}", agentos_models::DEFAULT_MODEL)
}

/// Whether agentos can build the model `uri` names, without downloading or loading it: a local
/// model of the catalogue (pulled on first use) or an existing GGUF file, or any other URI
/// [`agentos_llm::from_uri`] accepts (which loads nothing for them; a script is read and checked).
fn check_uri(uri: &str) -> Result<()> {
    match uri.strip_prefix("local:") {
        Some(name) if agentos_models::known(name).is_ok() => Ok(()),
        Some(spec) => {
            let path = agentos_llm::Local::resolve(spec)?;
            if !path.is_file() {
                bail!("no model file {}; give the path of a GGUF file, or a model `agentos models` lists", path.display());
            }
            Ok(())
        }
        None => agentos_llm::from_uri(uri).map(drop).map_err(Into::into),
    }
}

/// The folder the file tools may use, absolute: `--workdir`, which must be a folder, else the
/// current folder.
fn workdir(given: Option<&Path>) -> Result<PathBuf> {
    let Some(dir) = given else { return std::env::current_dir().map_err(|e| anyhow!("cannot read the current folder: {e}")) };
    let fix = "give the folder the file tools may use (default: the current folder)";
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => dir.canonicalize().map_err(|e| anyhow!("--workdir {}: {e}; {fix}", dir.display())),
        Ok(_) => bail!("--workdir {} is a file, not a folder; {fix}", dir.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!("--workdir {}: no such folder; {fix}", dir.display()),
        Err(e) => bail!("--workdir {}: {e}; {fix}", dir.display()),
    }
}

/// Makes sure result files can be written into the folder `dir`, creating it if needed, by
/// writing and removing a probe file: before a benchmark runs, not after.
pub fn writable_folder(dir: &Setting<PathBuf>) -> Result<()> {
    let path = &dir.value;
    let fix = "pick a folder you can write to with --out";
    std::fs::create_dir_all(path).map_err(|e| dir.error(format!("cannot create the results folder {}: {e}; {fix}", path.display())))?;
    tempfile::NamedTempFile::new_in(path)
        .map(drop)
        .map_err(|e| dir.error(format!("cannot write into the results folder {}: {e}; {fix}", path.display())))
}

/// The database of a command that only reads it: it must exist, so that reading never creates
/// one (nor its folder).
pub fn existing_db(db: &Setting<PathBuf>) -> Result<()> {
    let path = &db.value;
    if path.is_file() {
        return Ok(());
    }
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    Err(match (&db.origin, folder.is_dir()) {
        (Origin::Default, _) => db.error(format!(
            "nothing is recorded yet: there is no database at {}; the first `agentos run` or `agentos bench gym` creates it (or point --db at another)",
            path.display()
        )),
        (_, false) => db.error(format!(
            "no database at {}: the folder {} does not exist; give the path of an existing database file",
            path.display(),
            folder.display()
        )),
        (_, true) => db.error(format!("no database at {}; give the path of an existing database file", path.display())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_temperatures_are_bounded() {
        assert_eq!(at_least_one::<u32>("3"), Ok(3));
        assert_eq!(at_least_one::<usize>("0"), Err("must be at least 1".to_string()));
        assert!(at_least_one::<u64>("x").unwrap_err().contains("`x` is not a whole number"));
        assert_eq!(one_to::<usize>("8", 8), Ok(8));
        assert_eq!(one_to::<u32>("0", 8), Err("out of range; give a whole number from 1 to 8".to_string()));
        assert_eq!(one_to::<u32>("9", 8), Err("out of range; give a whole number from 1 to 8".to_string()));
        assert!(one_to::<usize>("-1", 8).unwrap_err().contains("`-1` is not a whole number; give one from 1 to 8"));
        assert_eq!(temperature("0.7"), Ok(0.7));
        assert_eq!(temperature("2"), Ok(2.0));
        for bad in ["-0.1", "2.5", "NaN", "inf"] {
            assert!(temperature(bad).unwrap_err().contains("from 0 to 2"), "{bad}");
        }
    }

    #[test]
    fn errors_name_where_the_value_came_from() {
        let origins = Origins(HashMap::from([("strategy".to_string(), Origin::Env("AGENTOS_STRATEGY".into()))]));
        let from_env = origins.pick("strategy", Some("x".to_string()), Some("y".to_string())).unwrap();
        assert_eq!((from_env.value.as_str(), from_env.error("bad").to_string()), ("x", "AGENTOS_STRATEGY: bad".to_string()));
        let from_config = origins.pick("max_steps", None, Some(3)).unwrap();
        assert!(from_config.error("bad").to_string().ends_with("config.toml key `max_steps`: bad"));
        let from_flag = origins.pick("max_steps", Some(3), None).unwrap();
        assert_eq!(from_flag.error("bad").to_string(), "--max-steps: bad");
        assert_eq!(Setting::default(1).error("bad").to_string(), "bad");
    }
}
