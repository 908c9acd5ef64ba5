//! The engine: one loaded GGUF and one worker thread that owns its llama.cpp context and decodes
//! every request's sequence in shared batches.

use crate::template::{ChatTemplate, TemplateError};
use crate::toolcall::partial_suffix;
use crate::LocalError;
use agentos_core::{ChatRequest, Sampling};
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use llama_cpp_2::token::LlamaToken;
use std::collections::VecDeque;
use std::io::Read;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

/// Tokens a request may use (prompt and completion) when [`EngineOptions::context_len`] is unset
/// and the model was trained on at least this many.
pub const DEFAULT_CONTEXT_LEN: u32 = 4096;
/// Sequences decoded together when [`EngineOptions::parallel`] is left at its default.
pub const DEFAULT_PARALLEL: usize = 4;
/// Tokens per llama.cpp decode call when [`EngineOptions::batch_size`] is left at its default.
pub const DEFAULT_BATCH_SIZE: u32 = 512;
/// Temperature when a request sets none (llama.cpp's default).
pub const DEFAULT_TEMPERATURE: f32 = 0.8;
/// Nucleus mass when a request sets none (llama.cpp's default).
pub const DEFAULT_TOP_P: f32 = 0.95;
/// Set this environment variable (to anything) to let llama.cpp log to standard error.
pub const LOG_ENV: &str = "AGENTOS_LLAMA_LOG";

/// How to run a model. Engines are shared per (file, options): loading the same file with the
/// same options again returns the same engine.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EngineOptions {
    /// CPU threads for llama.cpp; `None` uses every core present.
    pub threads: Option<usize>,
    /// Tokens one request may use, prompt and completion together; `None` takes
    /// [`DEFAULT_CONTEXT_LEN`], or the model's training context if that is smaller. Larger values
    /// are capped at the training context.
    pub context_len: Option<u32>,
    /// Requests decoded together, each a sequence of one shared context (at least 1). The KV
    /// cache holds `context_len * parallel` tokens; more requests wait in line.
    pub parallel: usize,
    /// Tokens per decode call: prompts are fed in chunks of at most this size (at least
    /// `parallel`).
    pub batch_size: u32,
    /// Reuse the KV state of prompt prefixes that requests share instead of computing it again
    /// (see [`Engine`]). Off only to measure what it saves.
    pub prefix_cache: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions { threads: None, context_len: None, parallel: DEFAULT_PARALLEL, batch_size: DEFAULT_BATCH_SIZE, prefix_cache: true }
    }
}

/// Why generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    /// The model ended its turn (an end-of-generation token) or a stop sequence appeared.
    Stop,
    /// `max_tokens` (or the context) ran out.
    Length,
    /// The caller cancelled or dropped the [`Stream`].
    Cancelled,
}

/// The outcome of one request.
#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    /// Everything the model wrote, tool-call blocks included; without the end-of-turn token and
    /// without the stop sequence that ended it.
    pub text: String,
    /// Tokens in the rendered prompt.
    pub prompt_tokens: usize,
    /// Of those, the tokens whose KV state came from the prefix cache instead of being computed.
    pub cached_tokens: usize,
    /// Tokens generated (the end-of-turn token not counted).
    pub completion_tokens: usize,
    /// Why it ended.
    pub finish: Finish,
    /// From admission to the first generated token: the prompt's evaluation (shared with other
    /// requests' decoding when several run at once).
    pub prompt_time: Duration,
    /// From the first generated token to the last.
    pub decode_time: Duration,
}

struct Model {
    llama: LlamaModel,
    template: ChatTemplate,
    n_ctx_train: u32,
    add_bos: bool,
    bos_text: String,
}

/// A loaded model, ready to answer chat requests from any number of threads.
///
/// One worker thread owns the llama.cpp context. Requests are rendered with the model's chat
/// template and tokenized on the caller's thread, then queued; the worker admits up to
/// [`EngineOptions::parallel`] of them at once, each as a sequence of the shared context, and every
/// decode call carries the next token of each generating sequence plus a chunk of the prompts
/// still being read (continuous batching). A request is admitted only when its prompt and
/// `max_tokens` fit in what the KV cache has left, so decoding never runs out of room.
///
/// The prefix cache, after Parrot (Lin et al., 2024): calls of one agent repeat its system prompt,
/// tool specs and history, and calls of many agents share their system prompt. A finished
/// request's sequence keeps its KV state (prompt and generated tokens) while it is idle; a new
/// request takes the idle sequence whose tokens share the longest prefix with its prompt and
/// computes only the rest. When a request being answered shares a longer prefix, the new one
/// waits until that prefix is computed and then shares its KV cells (llama.cpp's unified cache
/// copies only metadata), so concurrent calls with one system prompt compute it once.
pub struct Engine {
    path: PathBuf,
    model: Arc<Model>,
    options: EngineOptions,
    context_len: u32,
    threads: usize,
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("path", &self.path)
            .field("options", &self.options)
            .field("context_len", &self.context_len)
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

type Shared<T> = Mutex<Vec<(PathBuf, T)>>;
static MODELS: Shared<Weak<Model>> = Mutex::new(Vec::new());
static ENGINES: Shared<(EngineOptions, Weak<Engine>)> = Mutex::new(Vec::new());
/// llama.cpp mutates the model while creating a context: never create two at once.
static CONTEXT_CREATION: Mutex<()> = Mutex::new(());

fn backend() -> Result<&'static LlamaBackend, String> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            if std::env::var_os(LOG_ENV).is_none() {
                // Into `tracing`, which agentos does not subscribe to: silence by default.
                llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            }
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Checks that `path` is a readable GGUF file and returns its canonical form.
fn check_file(path: &Path) -> Result<PathBuf, LocalError> {
    if !path.exists() {
        return Err(LocalError::Missing { path: path.to_path_buf() });
    }
    let unreadable = |e: std::io::Error| LocalError::Unreadable { path: path.to_path_buf(), reason: e.to_string() };
    let canonical = std::fs::canonicalize(path).map_err(unreadable)?;
    let mut magic = [0u8; 4];
    let read = std::fs::File::open(&canonical).and_then(|mut f| f.read(&mut magic)).map_err(unreadable)?;
    if read < 4 || &magic != b"GGUF" {
        return Err(LocalError::NotGguf { path: path.to_path_buf() });
    }
    Ok(canonical)
}

fn load_model(canonical: &Path, path: &Path) -> Result<Arc<Model>, LocalError> {
    let mut models = lock(&MODELS);
    models.retain(|(_, m)| m.strong_count() > 0);
    if let Some(model) = models.iter().find(|(p, _)| p == canonical).and_then(|(_, m)| m.upgrade()) {
        return Ok(model);
    }
    let load = |reason: String| LocalError::Load { path: path.to_path_buf(), reason };
    let backend = backend().map_err(load)?;
    let llama = LlamaModel::load_from_file(backend, canonical, &LlamaModelParams::default()).map_err(|e| load(e.to_string()))?;
    let source = llama
        .chat_template(None)
        .ok()
        .and_then(|t| t.to_string().ok())
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| LocalError::NoChatTemplate { path: path.to_path_buf() })?;
    let vocab = llama.vocab();
    let text = |token: LlamaToken| {
        if token.0 < 0 {
            String::new()
        } else {
            String::from_utf8_lossy(&vocab.token_to_piece(token, true, None)).into_owned()
        }
    };
    let (bos_text, eos_text) = (text(vocab.bos()), text(vocab.eos()));
    let add_bos = vocab.should_add_bos();
    let template = ChatTemplate::new(&source, &bos_text, &eos_text)
        .map_err(|e| LocalError::Template { path: path.to_path_buf(), reason: format!("it does not compile: {e}") })?;
    let n_ctx_train = llama.n_ctx_train();
    let model = Arc::new(Model { llama, template, n_ctx_train, add_bos, bos_text });
    models.push((canonical.to_path_buf(), Arc::downgrade(&model)));
    Ok(model)
}

impl Engine {
    /// Loads the GGUF at `path` (once per process: a second load of the same file shares the
    /// weights, and with the same options the whole engine) and starts its worker thread.
    ///
    /// Errors name the file: [`LocalError::Missing`], [`LocalError::NotGguf`],
    /// [`LocalError::Load`], [`LocalError::NoChatTemplate`], [`LocalError::Template`].
    pub fn load(path: impl AsRef<Path>, options: EngineOptions) -> Result<Arc<Engine>, LocalError> {
        let path = path.as_ref();
        let canonical = check_file(path)?;
        let mut engines = lock(&ENGINES);
        engines.retain(|(_, (_, e))| e.strong_count() > 0);
        if let Some(engine) = engines.iter().find(|(p, (o, _))| p == &canonical && o == &options).and_then(|(_, (_, e))| e.upgrade()) {
            return Ok(engine);
        }
        let model = load_model(&canonical, path)?;
        let engine = Arc::new(Engine::start_worker(path, model, options.clone())?);
        engines.push((canonical, (options, Arc::downgrade(&engine))));
        Ok(engine)
    }

    fn start_worker(path: &Path, model: Arc<Model>, options: EngineOptions) -> Result<Engine, LocalError> {
        let load = |reason: String| LocalError::Load { path: path.to_path_buf(), reason };
        let threads = options.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
        let train = if model.n_ctx_train == 0 { DEFAULT_CONTEXT_LEN } else { model.n_ctx_train };
        let context_len = options.context_len.unwrap_or(DEFAULT_CONTEXT_LEN).min(train).max(16);
        let parallel = options.parallel.max(1);
        let batch_size = options.batch_size.max(parallel as u32).max(16);
        let config = WorkerConfig {
            path: path.to_path_buf(),
            threads,
            parallel,
            batch_size,
            kv_tokens: context_len as usize * parallel,
            prefix_cache: options.prefix_cache,
        };
        let (jobs, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let worker_model = model.clone();
        std::thread::Builder::new()
            .name("agentos-local".into())
            .spawn(move || worker(&worker_model, config, rx, ready_tx))
            .map_err(|e| load(format!("cannot start the worker thread: {e}")))?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(reason)) => return Err(load(reason)),
            Err(_) => return Err(load("the worker thread died while creating the context".into())),
        }
        Ok(Engine { path: path.to_path_buf(), model, options, context_len, threads, jobs })
    }

    /// The model file, as first given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Tokens one request may use, prompt and completion together.
    pub fn context_len(&self) -> usize {
        self.context_len as usize
    }

    /// CPU threads llama.cpp uses.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The options the engine was loaded with.
    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// The model's chat template.
    pub fn template(&self) -> &ChatTemplate {
        &self.model.template
    }

    /// The prompt the model continues for `request`: its messages and tools rendered with the
    /// chat template (a leading BOS text is left out when the tokenizer adds BOS itself).
    pub fn render_prompt(&self, request: &ChatRequest) -> Result<String, LocalError> {
        let mut prompt = self
            .model
            .template
            .render(&request.messages, &request.tools)
            .map_err(|TemplateError(reason)| LocalError::Template { path: self.path.clone(), reason })?;
        if self.model.add_bos && !self.model.bos_text.is_empty() && prompt.starts_with(&self.model.bos_text) {
            prompt.drain(..self.model.bos_text.len());
        }
        Ok(prompt)
    }

    /// Tokenizes `text` as a prompt (special tokens such as `<|im_start|>` written in it are
    /// read as such; BOS is added when the model wants it).
    pub fn tokenize(&self, text: &str) -> Vec<LlamaToken> {
        self.model.llama.vocab().tokenize(text.as_bytes(), self.model.add_bos, true)
    }

    /// Starts answering `request` and returns at once; the [`Stream`] yields the text as it is
    /// generated. Rendering, tokenizing, the context check and the schema conversion happen
    /// here, so their errors come back before anything is queued.
    ///
    /// `request.sampling`: temperature 0 decodes greedily (deterministic); unset temperature and
    /// top_p take [`DEFAULT_TEMPERATURE`] and [`DEFAULT_TOP_P`] (with llama.cpp's top-k 40 and
    /// min-p 0.05); `seed` makes sampling repeatable; `max_tokens` unset allows what the context
    /// has left. `request.stop` ends generation at the first stop sequence (left out of the
    /// text). `request.response_schema` constrains the output to JSON valid under the schema
    /// (see [`crate::schema_to_grammar`]); tool calls are then impossible.
    pub fn start(&self, request: &ChatRequest) -> Result<Stream, LocalError> {
        let sampler =
            SamplerSpec::new(&request.sampling).map_err(|reason| LocalError::InvalidRequest { path: self.path.clone(), reason })?;
        let prompt = self.render_prompt(request)?;
        let tokens = self.tokenize(&prompt);
        let context_len = self.context_len();
        let overflow = |max_tokens: usize| LocalError::ContextOverflow {
            path: self.path.clone(),
            prompt_tokens: tokens.len(),
            max_tokens,
            context_len,
        };
        let max_tokens = match request.sampling.max_tokens {
            Some(max) => max as usize,
            None if tokens.len() < context_len => context_len - tokens.len(),
            None => return Err(overflow(1)),
        };
        if tokens.len() + max_tokens > context_len {
            return Err(overflow(max_tokens));
        }
        let grammar = request.response_schema.as_ref().map(crate::schema_to_grammar).transpose()?;
        let stop = request.stop.iter().filter(|s| !s.is_empty()).cloned().collect();
        let (events, rx) = mpsc::channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let job = Job { tokens, max_tokens, sampler, grammar, stop, events, cancel: cancel.clone() };
        self.jobs.send(job).map_err(|_| LocalError::Stopped { path: self.path.clone() })?;
        Ok(Stream { events: rx, cancel, done: None, path: self.path.clone() })
    }

    /// Answers `request`, calling `on_text` with each piece of text as it is generated (on this
    /// thread), and returns the whole generation. Blocks until done: from async code, run it on
    /// a blocking thread. See [`Engine::start`] for the request's fields.
    pub fn generate(&self, request: &ChatRequest, mut on_text: impl FnMut(&str)) -> Result<Generation, LocalError> {
        let mut stream = self.start(request)?;
        while let Some(text) = stream.next_text() {
            on_text(&text);
        }
        stream.finish()
    }
}

/// A request being answered: yields text while it is generated. Dropping it cancels the request.
#[derive(Debug)]
pub struct Stream {
    events: mpsc::Receiver<Event>,
    cancel: Arc<AtomicBool>,
    done: Option<Result<Generation, LocalError>>,
    path: PathBuf,
}

impl Stream {
    /// Blocks for the next piece of text; `None` once generation has ended (then call
    /// [`finish`](Self::finish)).
    pub fn next_text(&mut self) -> Option<String> {
        if self.done.is_some() {
            return None;
        }
        match self.events.recv() {
            Ok(Event::Text(text)) => Some(text),
            Ok(Event::Done(result)) => {
                self.done = Some(*result);
                None
            }
            Err(_) => {
                self.done = Some(Err(LocalError::Stopped { path: self.path.clone() }));
                None
            }
        }
    }

    /// Asks the worker to stop this request at its next token; it then ends with
    /// [`Finish::Cancelled`].
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// Waits for the end (discarding text not yet read) and returns the whole generation.
    pub fn finish(mut self) -> Result<Generation, LocalError> {
        while self.next_text().is_some() {}
        self.done.take().unwrap_or_else(|| Err(LocalError::Stopped { path: self.path.clone() }))
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.cancel();
    }
}

#[derive(Debug)]
enum Event {
    Text(String),
    Done(Box<Result<Generation, LocalError>>),
}

#[derive(Clone, Copy, Debug)]
struct SamplerSpec {
    greedy: bool,
    temperature: f32,
    top_p: f32,
    seed: u32,
}

impl SamplerSpec {
    fn new(s: &Sampling) -> Result<Self, String> {
        let temperature = s.temperature.unwrap_or(DEFAULT_TEMPERATURE);
        if !temperature.is_finite() || temperature < 0.0 {
            return Err(format!("temperature must be 0 or more, not {temperature}"));
        }
        let top_p = s.top_p.unwrap_or(DEFAULT_TOP_P);
        if !(top_p > 0.0 && top_p <= 1.0) {
            return Err(format!("top_p must be in (0, 1], not {top_p}"));
        }
        if s.max_tokens == Some(0) {
            return Err("max_tokens must be at least 1".into());
        }
        // llama.cpp draws a random seed for u32::MAX.
        let seed = s.seed.map_or(u32::MAX, |seed| ((seed >> 32) as u32 ^ seed as u32) & 0x7fff_ffff);
        Ok(SamplerSpec { greedy: temperature == 0.0, temperature, top_p, seed })
    }

    /// The sampler chain, and the grammar sampler kept apart from it (see [`Slot::sample`]).
    fn build(&self, model: &LlamaModel, grammar: Option<&str>) -> Result<(LlamaSampler, Option<LlamaSampler>), String> {
        let grammar = grammar
            .map(|g| LlamaSampler::grammar(model, g, "root").map_err(|e| format!("llama.cpp rejected the grammar: {e}")))
            .transpose()?;
        let chain = if self.greedy {
            LlamaSampler::greedy()
        } else {
            LlamaSampler::chain_simple([
                LlamaSampler::top_k(40),
                LlamaSampler::top_p(self.top_p, 1),
                LlamaSampler::min_p(0.05, 1),
                LlamaSampler::temp(self.temperature),
                LlamaSampler::dist(self.seed),
            ])
        };
        Ok((chain, grammar))
    }
}

struct Job {
    tokens: Vec<LlamaToken>,
    max_tokens: usize,
    sampler: SamplerSpec,
    grammar: Option<String>,
    stop: Vec<String>,
    events: mpsc::Sender<Event>,
    cancel: Arc<AtomicBool>,
}

impl Job {
    fn reserve(&self) -> usize {
        self.tokens.len() + self.max_tokens
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    fn done(&self, result: Result<Generation, LocalError>) {
        let _ = self.events.send(Event::Done(Box::new(result)));
    }
}

struct WorkerConfig {
    path: PathBuf,
    threads: usize,
    parallel: usize,
    batch_size: u32,
    kv_tokens: usize,
    prefix_cache: bool,
}

/// An idle sequence and the tokens whose KV state it still holds.
struct Cached {
    seq: i32,
    tokens: Vec<LlamaToken>,
    /// When it went idle (a worker tick), to evict the least recently used first.
    idle_since: u64,
}

/// The length of the common prefix of `a` and `b`.
fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// One admitted request: a sequence of the shared context.
struct Slot {
    job: Job,
    /// Admission number, unique for the worker's life (sequence ids are reused).
    id: u64,
    seq: i32,
    /// Prompt tokens taken from the prefix cache.
    cached: usize,
    /// A prefix to share with another active request (its id, the prefix length) once that one
    /// has computed it; this one feeds no prompt until then.
    share: Option<(u64, usize)>,
    /// Generated tokens fed back into the KV cache (all but the last sampled one).
    output: Vec<LlamaToken>,
    sampler: LlamaSampler,
    grammar: Option<LlamaSampler>,
    /// Prompt tokens already in the batch queue (fed or being fed).
    fed: usize,
    /// The position the next token fed takes.
    pos: i32,
    /// The index of this sequence's logits in the current batch, when it has one.
    logits_at: Option<i32>,
    /// The last sampled token, to feed next.
    next: Option<LlamaToken>,
    generated: usize,
    bytes: Vec<u8>,
    text: String,
    streamed: usize,
    finish: Option<Finish>,
    admitted: Instant,
    first_token: Option<Instant>,
}

impl Slot {
    /// Samples the next token from the logits at batch index `at`. Under a grammar, the token is
    /// first sampled freely and kept when the grammar allows it; only otherwise is the grammar
    /// applied to the whole vocabulary (slow: ~150k candidates) and the token sampled again. Both
    /// give the distribution of sampling under the grammar (llama.cpp's common sampler does the
    /// same).
    fn sample(&mut self, ctx: &LlamaContext<'_>, at: i32) -> LlamaToken {
        let token = self.sampler.sample(ctx, at);
        let Some(grammar) = &mut self.grammar else { return token };
        let mut single = LlamaTokenDataArray::new(vec![LlamaTokenData::new(token, 1.0, 0.0)], false);
        single.apply_sampler(grammar);
        let token = if single.data[0].logit().is_finite() {
            token
        } else {
            let mut all = ctx.token_data_array_ith(at);
            all.apply_sampler(grammar);
            all.apply_sampler(&mut self.sampler);
            let token = all.selected_token().unwrap_or(token);
            self.sampler.accept(token);
            token
        };
        grammar.accept(token);
        token
    }

    /// Takes a sampled token: ends the turn, or appends its text, checks stop sequences and the
    /// token limit, and streams what can be shown.
    fn accept(&mut self, model: &LlamaModel, token: LlamaToken) {
        if self.first_token.is_none() {
            self.first_token = Some(Instant::now());
        }
        let vocab = model.vocab();
        if vocab.is_eog(token) {
            self.finish = Some(Finish::Stop);
        } else {
            self.generated += 1;
            self.next = Some(token);
            // Special tokens are written out: Qwen's `<tool_call>` is one.
            vocab.token_to_piece_into(token, &mut self.bytes, true, None);
            let before = self.text.len();
            self.take_utf8(false);
            self.check_stop(before);
            if self.finish.is_none() && self.generated >= self.job.max_tokens {
                self.finish = Some(Finish::Length);
            }
        }
        if self.finish.is_some() {
            self.take_utf8(true);
        }
        self.stream();
    }

    /// Moves the complete UTF-8 characters of `bytes` into `text` (all of it, lossily, at the end).
    fn take_utf8(&mut self, all: bool) {
        loop {
            match std::str::from_utf8(&self.bytes) {
                Ok(s) => {
                    self.text.push_str(s);
                    self.bytes.clear();
                    return;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    self.text.push_str(std::str::from_utf8(&self.bytes[..valid]).unwrap_or_default());
                    match e.error_len() {
                        Some(bad) => {
                            self.text.push(char::REPLACEMENT_CHARACTER);
                            self.bytes.drain(..valid + bad);
                        }
                        None if all => {
                            self.text.push(char::REPLACEMENT_CHARACTER);
                            self.bytes.clear();
                            return;
                        }
                        None => {
                            self.bytes.drain(..valid);
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Ends at the first stop sequence that the text added from `before` on completes.
    fn check_stop(&mut self, before: usize) {
        let longest = self.job.stop.iter().map(String::len).max().unwrap_or(0);
        if longest == 0 {
            return;
        }
        let mut from = before.saturating_sub(longest - 1);
        while !self.text.is_char_boundary(from) {
            from -= 1;
        }
        let hit = self.job.stop.iter().filter_map(|s| self.text[from..].find(s.as_str())).min();
        if let Some(at) = hit {
            self.text.truncate(from + at);
            self.bytes.clear(); // Whatever follows the stop sequence goes too.
            self.finish = Some(Finish::Stop);
        }
    }

    /// Sends the text not yet sent, holding back what may be the start of a stop sequence.
    fn stream(&mut self) {
        let mut end = self.text.len();
        if self.finish.is_none() {
            let held = self.job.stop.iter().map(|s| partial_suffix(&self.text, s)).max().unwrap_or(0);
            end -= held;
        }
        if end > self.streamed {
            let piece = self.text[self.streamed..end].to_string();
            self.streamed = end;
            if self.job.events.send(Event::Text(piece)).is_err() {
                self.job.cancel.store(true, Ordering::Relaxed);
            }
        }
    }

    fn generation(&mut self, finish: Finish) -> Generation {
        let now = Instant::now();
        let first = self.first_token.unwrap_or(now);
        Generation {
            text: std::mem::take(&mut self.text),
            prompt_tokens: self.job.tokens.len(),
            cached_tokens: self.cached,
            completion_tokens: self.generated,
            finish,
            prompt_time: first - self.admitted,
            decode_time: now - first,
        }
    }
}

fn worker(model: &Model, config: WorkerConfig, jobs: mpsc::Receiver<Job>, ready: mpsc::Sender<Result<(), String>>) {
    let context = {
        let _guard = lock(&CONTEXT_CREATION);
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(config.kv_tokens as u32))
            .with_n_batch(config.batch_size)
            .with_n_ubatch(config.batch_size)
            .with_n_seq_max(config.parallel as u32)
            .with_kv_unified(true)
            .with_n_threads(config.threads as i32)
            .with_n_threads_batch(config.threads as i32);
        match backend() {
            Ok(backend) => {
                model.llama.new_context(backend, params).map_err(|e| format!("cannot create a context of {} tokens: {e}", config.kv_tokens))
            }
            Err(e) => Err(e),
        }
    };
    let mut ctx = match context {
        Ok(ctx) => {
            let _ = ready.send(Ok(()));
            ctx
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    drop(ready);
    Worker { model, config, ctx: &mut ctx, queue: VecDeque::new(), slots: Vec::new(), idle: Vec::new(), reserved: 0, tick: 0 }.run(&jobs);
}

struct Worker<'a, 'm> {
    model: &'m Model,
    config: WorkerConfig,
    ctx: &'a mut LlamaContext<'m>,
    queue: VecDeque<Job>,
    slots: Vec<Slot>,
    /// Sequences no request uses that keep their KV state for the prefix cache.
    idle: Vec<Cached>,
    reserved: usize,
    /// Admissions so far: ids for slots and the clock of the cache's eviction order.
    tick: u64,
}

impl Worker<'_, '_> {
    fn run(&mut self, jobs: &mpsc::Receiver<Job>) {
        let mut batch = LlamaBatch::new(self.config.batch_size as usize, 1);
        loop {
            if self.slots.is_empty() && self.queue.is_empty() {
                match jobs.recv() {
                    Ok(job) => self.queue.push_back(job),
                    Err(_) => return,
                }
            }
            while let Ok(job) = jobs.try_recv() {
                self.queue.push_back(job);
            }
            self.admit();
            if self.slots.is_empty() {
                continue;
            }
            if let Err(reason) = self.step(&mut batch) {
                self.fail_all(reason);
            }
            self.retire();
        }
    }

    /// Admits queued requests while a sequence is free and the KV cache has room for them.
    fn admit(&mut self) {
        self.queue.retain(|job| {
            if job.cancelled() {
                job.done(Ok(Generation {
                    text: String::new(),
                    prompt_tokens: job.tokens.len(),
                    cached_tokens: 0,
                    completion_tokens: 0,
                    finish: Finish::Cancelled,
                    prompt_time: Duration::ZERO,
                    decode_time: Duration::ZERO,
                }));
            }
            !job.cancelled()
        });
        while let Some(job) = self.queue.front() {
            let fits = self.reserved + job.reserve() <= self.config.kv_tokens;
            if self.slots.len() >= self.config.parallel || !(fits || self.slots.is_empty()) {
                return;
            }
            let job = self.queue.pop_front().expect("front exists");
            match job.sampler.build(&self.model.llama, job.grammar.as_deref()) {
                Ok((sampler, grammar)) => {
                    let (seq, cached) = self.sequence_for(&job.tokens);
                    let share = self.share_for(&job.tokens, cached);
                    self.tick += 1;
                    self.reserved += job.reserve();
                    self.slots.push(Slot {
                        job,
                        id: self.tick,
                        seq,
                        cached,
                        share,
                        output: Vec::new(),
                        sampler,
                        grammar,
                        fed: cached,
                        pos: cached as i32,
                        logits_at: None,
                        next: None,
                        generated: 0,
                        bytes: Vec::new(),
                        text: String::new(),
                        streamed: 0,
                        finish: None,
                        admitted: Instant::now(),
                        first_token: None,
                    });
                }
                Err(reason) => job.done(Err(LocalError::Schema { reason })),
            }
        }
    }

    /// A free sequence for a prompt, and how many of the prompt's first tokens it already holds:
    /// the idle sequence sharing the longest prefix with it (cut back to that prefix), else one
    /// never used, else the least recently idle one (emptied).
    fn sequence_for(&mut self, tokens: &[LlamaToken]) -> (i32, usize) {
        // The last prompt token is always computed: its logits give the first generated token.
        let usable = &tokens[..tokens.len().saturating_sub(1)];
        let best = self.idle.iter().enumerate().map(|(i, c)| (common_prefix(&c.tokens, usable), c.idle_since, i)).max();
        if let Some((shared, _, i)) = best.filter(|(shared, ..)| *shared > 0) {
            let cached = self.idle.swap_remove(i);
            if let Ok(true) = self.ctx.clear_kv_cache_seq(Some(cached.seq as u32), Some(shared as u32), None) {
                return (cached.seq, shared);
            }
            let _ = self.ctx.clear_kv_cache_seq(Some(cached.seq as u32), None, None);
            return (cached.seq, 0);
        }
        let taken = |s: i32| self.slots.iter().any(|slot| slot.seq == s) || self.idle.iter().any(|c| c.seq == s);
        if let Some(seq) = (0..self.config.parallel as i32).find(|s| !taken(*s)) {
            return (seq, 0);
        }
        let oldest = self.idle.iter().enumerate().min_by_key(|(_, c)| c.idle_since).map(|(i, _)| i).expect("an idle sequence");
        let evicted = self.idle.swap_remove(oldest);
        let _ = self.ctx.clear_kv_cache_seq(Some(evicted.seq as u32), None, None);
        (evicted.seq, 0)
    }

    /// The active request whose prompt shares a longer prefix with `tokens` than the `cached`
    /// tokens the new request already has, and that prefix's length.
    fn share_for(&self, tokens: &[LlamaToken], cached: usize) -> Option<(u64, usize)> {
        if !self.config.prefix_cache {
            return None;
        }
        let usable = &tokens[..tokens.len().saturating_sub(1)];
        let shares = self.slots.iter().map(|s| (common_prefix(&s.job.tokens, usable), s.id));
        shares.filter(|(len, _)| *len > cached).max_by_key(|(len, _)| *len).map(|(len, id)| (id, len))
    }

    /// Shares the KV cells of the prefixes whose source has computed them (a metadata copy in
    /// llama.cpp's unified cache); forgets the shares whose source has ended.
    fn resolve_shares(&mut self) {
        for i in 0..self.slots.len() {
            let Some((source, len)) = self.slots[i].share else { continue };
            match self.slots.iter().find(|s| s.id == source).map(|s| (s.seq, s.fed >= len)) {
                Some((_, false)) => continue,
                Some((from, true)) => {
                    let slot = &mut self.slots[i];
                    if self.ctx.copy_kv_cache_seq(from, slot.seq, Some(slot.pos as u32), Some(len as u32)).is_ok() {
                        (slot.cached, slot.fed, slot.pos) = (len, len, len as i32);
                    }
                }
                None => {}
            }
            self.slots[i].share = None;
        }
    }

    /// One decode call: the next token of every generating sequence, then prompt chunks; then
    /// one token sampled for every sequence whose logits it computed.
    fn step(&mut self, batch: &mut LlamaBatch) -> Result<(), String> {
        self.resolve_shares();
        batch.clear();
        let add_error = |e: llama_cpp_2::llama_batch::BatchAddError| format!("cannot fill the batch: {e}");
        for slot in &mut self.slots {
            slot.logits_at = None;
            if let Some(token) = slot.next.take() {
                batch.add(token, slot.pos, &[slot.seq], true).map_err(add_error)?;
                slot.output.push(token);
                slot.pos += 1;
                slot.logits_at = Some(batch.n_tokens() - 1);
            }
        }
        let mut room = self.config.batch_size as usize - batch.n_tokens() as usize;
        for slot in &mut self.slots {
            let left = slot.job.tokens.len() - slot.fed;
            if room == 0 {
                break;
            }
            if left == 0 || slot.share.is_some() {
                continue;
            }
            let take = left.min(room);
            for i in slot.fed..slot.fed + take {
                let last = i + 1 == slot.job.tokens.len();
                batch.add(slot.job.tokens[i], slot.pos, &[slot.seq], last).map_err(add_error)?;
                slot.pos += 1;
                if last {
                    slot.logits_at = Some(batch.n_tokens() - 1);
                }
            }
            slot.fed += take;
            room -= take;
        }
        if batch.n_tokens() == 0 {
            return Ok(());
        }
        self.ctx.decode(batch).map_err(|e| format!("decode failed: {e}"))?;
        for slot in &mut self.slots {
            if let Some(at) = slot.logits_at {
                let token = slot.sample(self.ctx, at);
                slot.accept(&self.model.llama, token);
            }
        }
        Ok(())
    }

    /// Ends finished and cancelled requests and frees their sequences.
    fn retire(&mut self) {
        let mut i = 0;
        while i < self.slots.len() {
            let slot = &mut self.slots[i];
            if slot.finish.is_none() && slot.job.cancelled() {
                slot.finish = Some(Finish::Cancelled);
            }
            let Some(finish) = slot.finish else {
                i += 1;
                continue;
            };
            let mut slot = self.slots.swap_remove(i);
            self.reserved -= slot.job.reserve();
            let generation = slot.generation(finish);
            slot.job.done(Ok(generation));
            self.release(slot);
        }
    }

    /// Keeps an ended request's sequence, with the tokens whose KV state it holds, for the
    /// prefix cache; or empties it when the cache is off.
    fn release(&mut self, slot: Slot) {
        if !self.config.prefix_cache {
            let _ = self.ctx.clear_kv_cache_seq(Some(slot.seq as u32), None, None);
            return;
        }
        let whole_prompt = slot.fed == slot.job.tokens.len();
        let mut tokens = slot.job.tokens;
        tokens.truncate(slot.fed);
        if whole_prompt {
            tokens.extend(slot.output);
        }
        self.idle.push(Cached { seq: slot.seq, tokens, idle_since: self.tick });
    }

    /// A decode failure ends every active request with the error and empties the cache.
    fn fail_all(&mut self, reason: String) {
        for slot in self.slots.drain(..) {
            slot.job.done(Err(LocalError::Decode { path: self.config.path.clone(), reason: reason.clone() }));
        }
        self.ctx.clear_kv_cache();
        self.idle.clear();
        self.reserved = 0;
    }
}
