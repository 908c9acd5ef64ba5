//! Where `agentos run` takes its task from: the argument, standard input (`agentos run -`) or a
//! file (`--task-file F`), so a long task need not fit on a command line.

use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::Path;

/// The task text: `argument` itself, standard input when it is `-`, or the file `task_file`
/// (clap lets only one of `argument` and `task_file` through). A task that is empty once read is
/// refused, naming where it came from.
pub fn read(argument: Option<String>, task_file: Option<&Path>) -> Result<String> {
    let (task, from) = match (argument, task_file) {
        (_, Some(file)) => {
            let text = std::fs::read_to_string(file).with_context(|| format!("--task-file {}: cannot read the task", file.display()))?;
            (text, format!("the task file {} (--task-file)", file.display()))
        }
        (Some(dash), None) if dash == "-" => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).context("`agentos run -`: cannot read the task from standard input")?;
            (text, "standard input (`agentos run -`)".to_string())
        }
        (Some(task), None) => return Ok(task),
        (None, None) => bail!("no task: give it as an argument, `-` to read it from standard input, or --task-file FILE"),
    };
    if task.trim().is_empty() {
        bail!("the task read from {from} is empty; write the task there");
    }
    Ok(task.trim_end_matches(['\n', '\r']).to_string())
}
