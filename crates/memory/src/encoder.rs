//! The sentence encoder: text in, unit vectors out, so that the dot product of two vectors is the
//! cosine similarity of their texts.
//!
//! [`SentenceEncoder`] runs sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0) on the CPU, in
//! process: a 6-layer, 384-wide BERT distilled as MiniLM (Wang et al. 2020, "MiniLM: Deep
//! Self-Attention Distillation for Task-Agnostic Compression of Pre-Trained Transformers") and
//! fine-tuned as a Sentence-BERT bi-encoder (Reimers & Gurevych 2019, "Sentence-BERT: Sentence
//! Embeddings using Siamese BERT-Networks"), whose sentence vector is the mean of its token
//! vectors. Weights, tokenizer and configuration are read straight from the model's zip.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::wordpiece::WordPiece;
use crate::MemoryError;

/// Turns texts into vectors for similarity search.
pub trait Embedder: Send + Sync {
    /// The model's name, as the model catalogue knows it.
    fn name(&self) -> &str;
    /// How many numbers each vector has.
    fn dimensions(&self) -> usize;
    /// One vector per text, in order, each of [`Embedder::dimensions`] numbers and of length 1,
    /// so that the dot product of two of them is their cosine similarity.
    fn embed(&self, texts: &[&str]) -> Vec<Vec<f32>>;
}

/// The cosine similarity of two vectors of the same length: 1 for the same direction, 0 for
/// orthogonal ones, and 0 if either is all zeros.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f32>();
    let norms = (dot(a, a) * dot(b, b)).sqrt();
    if norms == 0.0 {
        0.0
    } else {
        dot(a, b) / norms
    }
}

/// all-MiniLM-L6-v2 (384 dimensions), run on the CPU one text at a time.
///
/// Each text is tokenised (texts longer than the model's 256 tokens are cut), run through the
/// BERT encoder, mean-pooled over its tokens and scaled to length 1.
pub struct SentenceEncoder {
    tokenizer: WordPiece,
    hidden: usize,
    heads: usize,
    eps: f32,
    word_embeddings: Vec<f32>,
    position_embeddings: Vec<f32>,
    /// Token type 0's embedding; a single sentence has no other.
    token_type_embedding: Vec<f32>,
    embeddings_norm: LayerNorm,
    layers: Vec<Layer>,
}

/// `config.json`: the BERT architecture.
#[derive(Deserialize)]
struct Config {
    hidden_size: usize,
    num_attention_heads: usize,
    num_hidden_layers: usize,
    intermediate_size: usize,
    max_position_embeddings: usize,
    type_vocab_size: usize,
    vocab_size: usize,
    layer_norm_eps: f32,
    hidden_act: String,
}

/// A dense layer, `y = x·Wᵀ + b`, with `W` stored `[outputs, inputs]` as in the checkpoint.
struct Linear {
    weight: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
    outputs: usize,
}

struct LayerNorm {
    weight: Vec<f32>,
    bias: Vec<f32>,
}

/// One transformer layer. The query, key and value projections are stacked into one
/// `[3·hidden, hidden]` projection, so each row of its output is `q | k | v`.
struct Layer {
    qkv: Linear,
    attention_output: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

impl SentenceEncoder {
    /// The model's name in the catalogue.
    pub const NAME: &'static str = "all-minilm-l6-v2";

    /// Loads the model from its zip: `model.safetensors` (F32 weights), `tokenizer.json`,
    /// `config.json`, `sentence_bert_config.json` and `1_Pooling/config.json`.
    ///
    /// Fails with [`MemoryError::Encoder`], naming the zip and what is missing or wrong, if a
    /// member is missing or malformed, a weight is not F32, or a weight's shape does not match
    /// the configuration.
    pub fn load(zip_path: &Path) -> Result<Self, MemoryError> {
        Self::read(zip_path).map_err(|detail| MemoryError::Encoder { path: zip_path.to_path_buf(), detail })
    }

    /// The token ids the model is given for `text`: `[CLS]`, the WordPiece tokens (cut to fit
    /// 256 in all), `[SEP]`; the same as Hugging Face `tokenizers` gives with the model's
    /// `tokenizer.json` and its truncation set to 256.
    pub fn tokenize(&self, text: &str) -> Vec<u32> {
        self.tokenizer.encode(text)
    }

    fn read(zip_path: &Path) -> Result<Self, String> {
        let file = File::open(zip_path).map_err(|e| format!("cannot open it: {e}"))?;
        let mut zip = zip::ZipArchive::new(file).map_err(|e| format!("not a readable zip: {e}"))?;
        let mut member = |name: &str| -> Result<Vec<u8>, String> {
            let mut entry = zip.by_name(name).map_err(|e| format!("no member `{name}` in the zip ({e})"))?;
            let mut bytes = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
            entry.read_to_end(&mut bytes).map_err(|e| format!("cannot read member `{name}`: {e}"))?;
            Ok(bytes)
        };
        let json = |name: &str, bytes: &[u8]| -> Result<Value, String> {
            serde_json::from_slice(bytes).map_err(|e| format!("`{name}` is not valid JSON: {e}"))
        };

        let config: Config = serde_json::from_slice(&member("config.json")?).map_err(|e| format!("`config.json`: {e}"))?;
        let pooling = json("1_Pooling/config.json", &member("1_Pooling/config.json")?)?;
        if pooling["pooling_mode_mean_tokens"] != Value::Bool(true) {
            return Err("`1_Pooling/config.json` does not ask for mean pooling, the only pooling supported".into());
        }
        if config.hidden_act != "gelu" {
            return Err(format!("`config.json` asks for activation `{}`; only `gelu` is supported", config.hidden_act));
        }
        if config.hidden_size == 0 || config.hidden_size.checked_rem(config.num_attention_heads) != Some(0) {
            return Err(format!(
                "`config.json`: {} heads do not divide the hidden size {}",
                config.num_attention_heads, config.hidden_size
            ));
        }
        let sbert = json("sentence_bert_config.json", &member("sentence_bert_config.json")?)?;
        let max_tokens = sbert["max_seq_length"]
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or("`sentence_bert_config.json` has no `max_seq_length`")?
            .min(config.max_position_embeddings);
        let tokenizer = WordPiece::from_json(&member("tokenizer.json")?, max_tokens)?;
        if tokenizer.max_id() as usize >= config.vocab_size {
            return Err(format!(
                "`tokenizer.json` has token id {}, beyond the vocabulary of {} in `config.json`",
                tokenizer.max_id(),
                config.vocab_size
            ));
        }
        let weights = Safetensors::parse(member("model.safetensors")?)?;

        let (h, i) = (config.hidden_size, config.intermediate_size);
        let linear = |name: &str, outputs: usize, inputs: usize| -> Result<Linear, String> {
            Ok(Linear {
                weight: weights.tensor(&format!("{name}.weight"), &[outputs, inputs])?,
                bias: weights.tensor(&format!("{name}.bias"), &[outputs])?,
                inputs,
                outputs,
            })
        };
        let norm = |name: &str| -> Result<LayerNorm, String> {
            Ok(LayerNorm { weight: weights.tensor(&format!("{name}.weight"), &[h])?, bias: weights.tensor(&format!("{name}.bias"), &[h])? })
        };
        let layers = (0..config.num_hidden_layers)
            .map(|n| {
                let at = |part: &str| format!("encoder.layer.{n}.{part}");
                let [q, k, v] = ["query", "key", "value"].map(|p| linear(&at(&format!("attention.self.{p}")), h, h));
                let (q, k, v) = (q?, k?, v?);
                Ok(Layer {
                    qkv: Linear {
                        weight: [q.weight, k.weight, v.weight].concat(),
                        bias: [q.bias, k.bias, v.bias].concat(),
                        inputs: h,
                        outputs: 3 * h,
                    },
                    attention_output: linear(&at("attention.output.dense"), h, h)?,
                    attention_norm: norm(&at("attention.output.LayerNorm"))?,
                    intermediate: linear(&at("intermediate.dense"), i, h)?,
                    output: linear(&at("output.dense"), h, i)?,
                    output_norm: norm(&at("output.LayerNorm"))?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let mut token_type_embedding = weights.tensor("embeddings.token_type_embeddings.weight", &[config.type_vocab_size, h])?;
        if token_type_embedding.len() < h {
            return Err("`config.json`: `type_vocab_size` is 0; a sentence needs token type 0".into());
        }
        token_type_embedding.truncate(h);
        Ok(Self {
            word_embeddings: weights.tensor("embeddings.word_embeddings.weight", &[config.vocab_size, h])?,
            position_embeddings: weights.tensor("embeddings.position_embeddings.weight", &[config.max_position_embeddings, h])?,
            token_type_embedding,
            embeddings_norm: norm("embeddings.LayerNorm")?,
            layers,
            tokenizer,
            hidden: h,
            heads: config.num_attention_heads,
            eps: config.layer_norm_eps,
        })
    }

    /// The unit-length embedding of one text.
    fn embed_one(&self, text: &str) -> Vec<f32> {
        let ids = self.tokenizer.encode(text);
        let h = self.hidden;
        let n = ids.len();

        // Embeddings: word + position + token type, then LayerNorm. `load` checked that every id
        // the tokenizer can give has a row, and that it gives no more tokens than positions.
        let mut x = vec![0.0f32; n * h];
        for (pos, (row, &id)) in x.chunks_exact_mut(h).zip(&ids).enumerate() {
            let word = &self.word_embeddings[id as usize * h..(id as usize + 1) * h];
            let position = &self.position_embeddings[pos * h..(pos + 1) * h];
            for (j, value) in row.iter_mut().enumerate() {
                *value = word[j] + position[j] + self.token_type_embedding[j];
            }
        }
        self.embeddings_norm.apply(&mut x, self.eps);

        for layer in &self.layers {
            self.layer(layer, &mut x, n);
        }

        // Mean pooling over the tokens (all attended: one unpadded sequence), then unit length;
        // the sum stands for the mean, as the scaling to unit length removes the 1/n.
        let mut pooled = vec![0.0f32; h];
        for row in x.chunks_exact(h) {
            pooled.iter_mut().zip(row).for_each(|(p, v)| *p += v);
        }
        let norm = pooled.iter().map(|v| v * v).sum::<f32>().sqrt();
        pooled.iter_mut().for_each(|v| *v /= norm.max(1e-12));
        pooled
    }

    /// One transformer layer over the `n` token vectors in `x`, in place.
    fn layer(&self, layer: &Layer, x: &mut [f32], n: usize) {
        let h = self.hidden;
        let head = h / self.heads;
        let qkv = layer.qkv.forward(x, n);

        // Scaled dot-product attention, head by head: softmax(Q·Kᵀ / √d)·V.
        let mut context = vec![0.0f32; n * h];
        let mut scores = vec![0.0f32; n * n];
        let scale = 1.0 / (head as f32).sqrt();
        for hd in 0..self.heads {
            let (q, k, v) = (hd * head, h + hd * head, 2 * h + hd * head);
            // Kᵀ is K read with its strides swapped.
            gemm(n, head, n, scale, Mat::new(&qkv, q, 3 * h, 1), Mat::new(&qkv, k, 1, 3 * h), 0.0, &mut scores, 0, n);
            scores.chunks_exact_mut(n).for_each(softmax);
            gemm(n, n, head, 1.0, Mat::new(&scores, 0, n, 1), Mat::new(&qkv, v, 3 * h, 1), 0.0, &mut context, hd * head, h);
        }

        let attended = layer.attention_output.forward(&context, n);
        add_and_norm(x, &attended, &layer.attention_norm, self.eps);
        let mut intermediate = layer.intermediate.forward(x, n);
        intermediate.iter_mut().for_each(|v| *v = gelu(*v));
        let output = layer.output.forward(&intermediate, n);
        add_and_norm(x, &output, &layer.output_norm, self.eps);
    }
}

impl Embedder for SentenceEncoder {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn dimensions(&self) -> usize {
        self.hidden
    }

    fn embed(&self, texts: &[&str]) -> Vec<Vec<f32>> {
        texts.iter().map(|text| self.embed_one(text)).collect()
    }
}

impl Linear {
    /// `x·Wᵀ + b` for the `n` rows of `x`.
    fn forward(&self, x: &[f32], n: usize) -> Vec<f32> {
        let mut y = self.bias.repeat(n);
        // Wᵀ is W read with its strides swapped.
        let w = Mat::new(&self.weight, 0, 1, self.inputs);
        gemm(n, self.inputs, self.outputs, 1.0, Mat::new(x, 0, self.inputs, 1), w, 1.0, &mut y, 0, self.outputs);
        y
    }
}

impl LayerNorm {
    /// Normalises each row of `x` to mean 0 and variance 1, then scales and shifts it.
    fn apply(&self, x: &mut [f32], eps: f32) {
        let h = self.weight.len();
        for row in x.chunks_exact_mut(h) {
            let mean = row.iter().sum::<f32>() / h as f32;
            let variance = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / h as f32;
            let inv = 1.0 / (variance + eps).sqrt();
            for ((v, w), b) in row.iter_mut().zip(&self.weight).zip(&self.bias) {
                *v = (*v - mean) * inv * w + b;
            }
        }
    }
}

/// `x = LayerNorm(x + y)`: a residual connection and its normalisation.
fn add_and_norm(x: &mut [f32], y: &[f32], norm: &LayerNorm, eps: f32) {
    x.iter_mut().zip(y).for_each(|(a, b)| *a += b);
    norm.apply(x, eps);
}

/// Softmax of one row of attention scores, in place.
fn softmax(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    row.iter_mut().for_each(|v| *v /= sum);
}

/// BERT's GELU, the exact form `x·Φ(x) = x/2·(1 + erf(x/√2))`.
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x / std::f32::consts::SQRT_2))
}

/// The error function, to within 1.2e-7 everywhere (the Chebyshev fit of `erfc` in Press et al.,
/// Numerical Recipes, §6.2), computed in f64.
fn erf(x: f32) -> f32 {
    let z = f64::from(x).abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = [
        -1.265_512_23,
        1.000_023_68,
        0.374_091_96,
        0.096_784_18,
        -0.186_288_06,
        0.278_868_07,
        -1.135_203_98,
        1.488_515_87,
        -0.822_152_23,
        0.170_872_77,
    ]
    .iter()
    .rev()
    .fold(0.0, |acc, c| acc * t + c);
    let erfc = t * (-z * z + poly).exp();
    let erf = 1.0 - erfc;
    (if x < 0.0 { -erf } else { erf }) as f32
}

/// A strided matrix in a slice: element `(i, j)` is `data[offset + i·row_stride + j·col_stride]`.
#[derive(Clone, Copy)]
struct Mat<'a> {
    data: &'a [f32],
    offset: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Mat<'a> {
    fn new(data: &'a [f32], offset: usize, row_stride: usize, col_stride: usize) -> Self {
        Self { data, offset, row_stride, col_stride }
    }

    /// Whether a `rows × cols` matrix (both non-zero) lies inside the slice.
    fn fits(&self, rows: usize, cols: usize) -> bool {
        let last = self.offset + (rows - 1) * self.row_stride + (cols - 1) * self.col_stride;
        last < self.data.len()
    }
}

/// `C = alpha·A·B + beta·C` for `A` of `m × k` and `B` of `k × n`, where `C` is the `m × n` matrix
/// at `c[c_offset..]` with rows `c_row_stride` apart, through `matrixmultiply::sgemm`.
///
/// Panics if a matrix does not fit its slice: the shapes are the encoder's own, never the input's.
#[allow(clippy::too_many_arguments)]
fn gemm(m: usize, k: usize, n: usize, alpha: f32, a: Mat, b: Mat, beta: f32, c: &mut [f32], c_offset: usize, c_row_stride: usize) {
    if m == 0 || n == 0 || k == 0 {
        return; // never so in the encoder: a sequence has at least [CLS] and [SEP]
    }
    let c_fits = Mat::new(c, c_offset, c_row_stride, 1).fits(m, n) && c_row_stride >= n;
    assert!(a.fits(m, k) && b.fits(k, n) && c_fits, "gemm: a matrix does not fit its slice");
    let stride = |s: usize| isize::try_from(s).expect("gemm: stride overflows isize");
    // SAFETY: every element sgemm reads of A and B and writes of C lies inside its slice
    // (checked above: the last element of each is in bounds and strides are non-negative); C's
    // elements are distinct (column stride 1, row stride ≥ n); and C, borrowed mutably, cannot
    // overlap A or B.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            alpha,
            a.data[a.offset..].as_ptr(),
            stride(a.row_stride),
            stride(a.col_stride),
            b.data[b.offset..].as_ptr(),
            stride(b.row_stride),
            stride(b.col_stride),
            beta,
            c[c_offset..].as_mut_ptr(),
            stride(c_row_stride),
            1,
        );
    }
}

/// A safetensors file held in memory: an 8-byte little-endian header length, a JSON header
/// mapping tensor names to dtype, shape and data offsets, then the raw little-endian data.
struct Safetensors {
    header: HashMap<String, Value>,
    bytes: Vec<u8>,
    data_start: usize,
}

#[derive(Deserialize)]
struct TensorInfo {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [usize; 2],
}

impl Safetensors {
    fn parse(bytes: Vec<u8>) -> Result<Self, String> {
        let bad = |what: &str| format!("`model.safetensors` is malformed: {what}");
        let len_bytes: [u8; 8] = bytes.get(..8).and_then(|b| b.try_into().ok()).ok_or_else(|| bad("too short"))?;
        let header_len = usize::try_from(u64::from_le_bytes(len_bytes)).map_err(|_| bad("header too long"))?;
        let data_start = header_len.checked_add(8).filter(|&end| end <= bytes.len()).ok_or_else(|| bad("header too long"))?;
        let header = serde_json::from_slice(&bytes[8..data_start]).map_err(|e| bad(&format!("header: {e}")))?;
        Ok(Self { header, bytes, data_start })
    }

    /// The F32 tensor `name`, which must have `shape`.
    fn tensor(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, String> {
        let entry = self.header.get(name).ok_or_else(|| format!("`model.safetensors` has no tensor `{name}`"))?;
        let info = TensorInfo::deserialize(entry).map_err(|e| format!("`model.safetensors`: tensor `{name}`: {e}"))?;
        if info.dtype != "F32" {
            return Err(format!("`model.safetensors`: tensor `{name}` is {}, not F32", info.dtype));
        }
        if info.shape != shape {
            return Err(format!("`model.safetensors`: tensor `{name}` has shape {:?}, not {shape:?}", info.shape));
        }
        let [start, end] = info.data_offsets.map(|o| self.data_start.saturating_add(o));
        let data = self
            .bytes
            .get(start..end)
            .filter(|d| d.len() == 4 * shape.iter().product::<usize>())
            .ok_or_else(|| format!("`model.safetensors`: tensor `{name}` has bad data offsets"))?;
        Ok(data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A safetensors file with an F32 tensor `a` of shape [2] and an F16 tensor `b`.
    fn safetensors() -> Safetensors {
        let header = br#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F16","shape":[2],"data_offsets":[8,12]}}"#;
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header);
        bytes.extend([1.5f32, -2.0].iter().flat_map(|v| v.to_le_bytes()));
        bytes.extend([0u8; 4]);
        Safetensors::parse(bytes).expect("a well-formed file")
    }

    #[test]
    fn safetensors_gives_f32_tensors_of_the_right_shape_and_names_what_is_wrong() {
        let file = safetensors();
        assert_eq!(file.tensor("a", &[2]).expect("tensor a"), [1.5, -2.0]);
        let wrong = |name: &str, shape: &[usize]| file.tensor(name, shape).expect_err("an error");
        assert!(wrong("a", &[1, 2]).contains("has shape [2], not [1, 2]"));
        assert!(wrong("b", &[2]).contains("`b` is F16, not F32"));
        assert!(wrong("c", &[2]).contains("no tensor `c`"));
        assert!(Safetensors::parse(vec![0xff; 12]).is_err());
    }

    #[test]
    fn erf_is_accurate() {
        // Values of erf from Abramowitz & Stegun, table 7.1.
        for (x, want) in [(0.0, 0.0), (0.5, 0.520_499_9), (1.0, 0.842_700_8), (-2.0, -0.995_322_3), (4.0, 1.0)] {
            assert!((erf(x) - want).abs() < 2e-7, "erf({x}) = {}, not {want}", erf(x));
        }
    }
}
