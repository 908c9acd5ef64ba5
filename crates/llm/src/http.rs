//! Shared HTTP plumbing of the HTTP providers ([`crate::OpenAi`], [`crate::Anthropic`]).
//!
//! Implements: one pooled `reqwest::Client` per provider instance; retries with exponential
//! backoff on HTTP 429 and 5xx and on connection failures and timeouts, honouring `Retry-After`
//! (RFC 9110 §10.2.3: delay-seconds or an IMF-fixdate); a per-attempt timeout; a parser for
//! server-sent events (WHATWG HTML, "Server-sent events", §9.2.6 "Event stream interpretation");
//! and the assembly of streamed text and tool-call deltas into one [`ChatResponse`].
//!
//! A provider supplies only its wire format, as a [`Wire`]: how to read one streamed event and how
//! to read a complete JSON body. Everything else (sending, retrying, timing out, reading the
//! stream, turning failures into [`LlmError`]s) happens here, once. API keys live only in
//! sensitive header values and are redacted from every error text.

use crate::{EventSink, LlmError};
use agentos_core::{ChatResponse, FinishReason, Message, ModelEvent, Part, Role, ToolCall, Usage};
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long one attempt of a model call may take, from sending the request to the end of the
/// answer, unless the provider is configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// At most this many characters of a server's error body go into an error.
const BODY_SNIPPET_CHARS: usize = 2000;

/// When and how often a provider retries a failed call.
///
/// A call is retried after HTTP 429, any HTTP 5xx, a connection failure or a timeout, but only as
/// long as nothing of the answer has been streamed to the caller yet (a retry would repeat it).
/// The n-th retry waits `base_delay * 2^(n-1)`, at most `max_delay`; a `Retry-After` header
/// replaces that wait (still at most `max_delay`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How many times a failed call is retried (0: never).
    pub max_retries: u32,
    /// The wait before the first retry; it doubles with every further retry.
    pub base_delay: Duration,
    /// The longest wait before any retry, `Retry-After` included.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 4 retries, waiting 0.5 s, 1 s, 2 s, 4 s; never more than 20 s.
    fn default() -> Self {
        RetryPolicy { max_retries: 4, base_delay: Duration::from_millis(500), max_delay: Duration::from_secs(20) }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        RetryPolicy { max_retries: 0, ..Self::default() }
    }

    /// The wait before retry number `retry` (1 for the first retry) when the server gave no
    /// `Retry-After`.
    pub fn delay(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.saturating_sub(1)).unwrap_or(u32::MAX);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// The wait before retry number `retry`, given the server's `Retry-After` if it sent one.
    fn wait(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        retry_after.map_or_else(|| self.delay(retry), |d| d.min(self.max_delay))
    }
}

/// An environment variable's value, when it is set and not blank.
pub(crate) fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `base` (an http or https URL) with `path` appended, or why `base` cannot be used.
fn join_url(base: &str, path: &str) -> Result<String, String> {
    let parsed = reqwest::Url::parse(base).map_err(|e| format!("the base URL `{base}` is not a URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!("the base URL `{base}` is not an http:// or https:// URL with a host"));
    }
    Ok(format!("{}{path}", base.trim_end_matches('/')))
}

/// Where a provider's base URL came from.
#[derive(Clone, Debug)]
pub(crate) enum Base {
    /// Given in code or in the model URI.
    Given(String),
    /// Read from this environment variable.
    Env(&'static str, String),
}

impl Base {
    /// The base URL in the environment variable `var`, else `default`.
    pub(crate) fn from_env(var: &'static str, default: &str) -> Base {
        env_var(var).map_or_else(|| Base::Given(default.to_string()), |url| Base::Env(var, url))
    }

    /// The base URL itself.
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Base::Given(url) | Base::Env(_, url) => url,
        }
    }

    /// The endpoint URL (this base with `path` appended), or an error naming the model `uri`
    /// and, when the base came from the environment, the variable to fix.
    pub(crate) fn join(&self, uri: &str, path: &str) -> Result<String, LlmError> {
        join_url(self.as_str(), path).map_err(|reason| {
            let reason = match self {
                Base::Env(var, _) => format!("{reason}; it comes from the environment variable {var}: fix or unset it"),
                Base::Given(_) => format!("{reason}; give one such as http://127.0.0.1:8080/v1"),
            };
            LlmError::InvalidUri { uri: uri.to_string(), reason }
        })
    }
}

/// The API key, or the error that says which variable to set.
pub(crate) fn require_key(api_key: Option<String>, provider: &'static str, var: &'static str) -> Result<String, LlmError> {
    api_key.filter(|k| !k.trim().is_empty()).ok_or(LlmError::MissingApiKey { provider, var })
}

/// The error a server reported in an answer's body (`{"message": .., "type": ..}` or a bare
/// string); transient when its type is one of `transient_types`.
pub(crate) fn server_error(error: &Value, transient_types: &[&str]) -> WireError {
    let kind = error.get("type").and_then(Value::as_str).unwrap_or("");
    let message = error.get("message").and_then(Value::as_str).map_or_else(|| error.to_string(), str::to_string);
    let reason = if kind.is_empty() {
        format!("the server reported an error: {message}")
    } else {
        format!("the server reported an error: {kind}: {message}")
    };
    WireError::server(reason, transient_types.contains(&kind))
}

/// Checks that a model name is given; `uri` names the provider in the error.
pub(crate) fn check_model(uri: &str, model: &str) -> Result<(), LlmError> {
    if model.trim().is_empty() {
        return Err(LlmError::InvalidUri { uri: uri.to_string(), reason: "the model name is empty; name the model to call".into() });
    }
    Ok(())
}

/// A sampling value as JSON, printed the way it was written (`0.7`, not `0.699999988079071`).
pub(crate) fn float(v: f32) -> Value {
    v.to_string().parse::<f64>().map_or(Value::Null, Value::from)
}

/// Inserts `key: value` into a JSON object when `value` is set.
pub(crate) fn put(body: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(value) = value {
        body.insert(key.to_string(), value);
    }
}

/// Serde helper: reads `null` like a missing field, as the field type's default.
pub(crate) fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// Parses JSON text of the shape `T`, or says why it is not.
pub(crate) fn decode<T: DeserializeOwned>(text: &[u8]) -> Result<T, WireError> {
    serde_json::from_slice(text)
        .map_err(|e| WireError::invalid(format!("a message is not the expected JSON ({e}): {}", snippet(&String::from_utf8_lossy(text)))))
}

fn snippet(text: &str) -> String {
    match text.char_indices().nth(BODY_SNIPPET_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

/// Whether to read on after a streamed event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    /// More events follow.
    Continue,
    /// The answer is complete; stop reading.
    Done,
}

/// Why a wire format could not read what the server sent.
#[derive(Debug)]
pub(crate) struct WireError {
    reason: String,
    transient: bool,
}

impl WireError {
    /// The server sent something that is not the expected wire format.
    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        WireError { reason: reason.into(), transient: false }
    }

    /// The server reported an error in the body; `transient` when a retry may succeed.
    pub(crate) fn server(reason: impl Into<String>, transient: bool) -> Self {
        WireError { reason: reason.into(), transient }
    }
}

/// A provider's wire format: how to read its answers.
pub(crate) trait Wire: Sync {
    /// Reads one server-sent event into `out`.
    fn event(&self, event: &SseEvent, out: &mut Assembler<'_>) -> Result<Flow, WireError>;

    /// Reads a complete, non-streamed JSON answer into `out`.
    fn body(&self, body: &[u8], out: &mut Assembler<'_>) -> Result<(), WireError>;
}

/// One server-sent event: its `event:` name (empty when none) and its `data:` lines joined by
/// newlines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The event type (`event:` field).
    pub event: String,
    /// The payload (`data:` fields).
    pub data: String,
}

/// Splits a byte stream into server-sent events. Bytes may arrive cut anywhere, even inside a
/// UTF-8 character: a line is decoded only once it is complete. Lines end with `\n` or `\r\n`.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    buf: Vec<u8>,
    pending: SseEvent,
    has_data: bool,
}

impl SseParser {
    /// Feeds the next bytes; returns the events they complete.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.buf.extend_from_slice(chunk);
        let mut events = Vec::new();
        let mut start = 0;
        while let Some(pos) = self.buf[start..].iter().position(|&b| b == b'\n') {
            let line = &self.buf[start..start + pos];
            let line = String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(line));
            if let Some(event) = Self::line(&mut self.pending, &mut self.has_data, &line) {
                events.push(event);
            }
            start += pos + 1;
        }
        self.buf.drain(..start);
        events
    }

    /// Ends the stream: returns the last event when the server did not end it with a blank line.
    pub(crate) fn finish(&mut self) -> Option<SseEvent> {
        let rest = std::mem::take(&mut self.buf);
        let rest = String::from_utf8_lossy(&rest);
        let line = rest.strip_suffix('\r').unwrap_or(&rest);
        Self::line(&mut self.pending, &mut self.has_data, line).or_else(|| Self::line(&mut self.pending, &mut self.has_data, ""))
    }

    fn line(pending: &mut SseEvent, has_data: &mut bool, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            let event = std::mem::take(pending);
            return std::mem::take(has_data).then_some(event);
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = line.split_once(':').map_or((line, ""), |(f, v)| (f, v.strip_prefix(' ').unwrap_or(v)));
        match field {
            "data" => {
                if *has_data {
                    pending.data.push('\n');
                }
                pending.data.push_str(value);
                *has_data = true;
            }
            "event" => pending.event = value.to_string(),
            _ => {}
        }
        None
    }
}

/// A tool call being streamed.
#[derive(Debug)]
struct PartialCall {
    key: u64,
    id: String,
    name: String,
    arguments: String,
    announced: bool,
}

/// Collects one answer from its deltas, and tells the caller about them as they come.
pub(crate) struct Assembler<'a> {
    sink: EventSink<'a>,
    model: String,
    text: String,
    calls: Vec<PartialCall>,
    finish: Option<FinishReason>,
    usage: Usage,
    emitted: bool,
}

impl<'a> Assembler<'a> {
    /// An empty answer from `model` (until the server names its model), reporting to `sink`.
    pub(crate) fn new(sink: EventSink<'a>, model: &str) -> Self {
        Assembler {
            sink,
            model: model.to_string(),
            text: String::new(),
            calls: Vec::new(),
            finish: None,
            usage: Usage { model_calls: 1, ..Usage::default() },
            emitted: false,
        }
    }

    fn emit(&mut self, event: ModelEvent) {
        self.emitted = true;
        (self.sink)(event);
    }

    /// The model as the server names it (ignored when empty).
    pub(crate) fn model(&mut self, model: &str) {
        if !model.is_empty() {
            self.model = model.to_string();
        }
    }

    /// More answer text.
    pub(crate) fn text(&mut self, delta: &str) {
        if !delta.is_empty() {
            self.text.push_str(delta);
            self.emit(ModelEvent::TextDelta { text: delta.to_string() });
        }
    }

    /// A piece of the tool call the stream numbers `key`: its id and name (kept from the first
    /// piece that has them) and a fragment of its arguments text. The caller is told about the
    /// call once, as soon as both its id and its name are known.
    pub(crate) fn tool_call(&mut self, key: u64, id: &str, name: &str, arguments: &str) {
        let pos = match self.calls.iter().position(|c| c.key == key) {
            Some(pos) => pos,
            None => {
                let call = PartialCall { key, id: String::new(), name: String::new(), arguments: String::new(), announced: false };
                self.calls.push(call);
                self.calls.len() - 1
            }
        };
        let call = &mut self.calls[pos];
        if call.id.is_empty() {
            call.id = id.to_string();
        }
        if call.name.is_empty() {
            call.name = name.to_string();
        }
        call.arguments.push_str(arguments);
        if !call.announced && !call.id.is_empty() && !call.name.is_empty() {
            call.announced = true;
            let event = ModelEvent::ToolCallStart { id: call.id.clone(), name: call.name.clone() };
            self.emit(event);
        }
    }

    /// Why the model stopped.
    pub(crate) fn finish_reason(&mut self, reason: FinishReason) {
        self.finish = Some(reason);
    }

    /// Sets the prompt tokens.
    pub(crate) fn input_tokens(&mut self, tokens: u64) {
        self.usage.input_tokens = tokens;
    }

    /// Sets the completion tokens.
    pub(crate) fn output_tokens(&mut self, tokens: u64) {
        self.usage.output_tokens = tokens;
    }

    /// True when the server said why the model stopped.
    fn finished(&self) -> bool {
        self.finish.is_some()
    }

    /// The complete answer. Each call's arguments text is parsed as JSON; empty text stands for
    /// no arguments (`{}`), and text that is not JSON is kept as a JSON string so that the kernel
    /// can tell the model what was wrong.
    fn into_response(mut self) -> ChatResponse {
        for i in 0..self.calls.len() {
            if self.calls[i].id.is_empty() {
                self.calls[i].id = format!("call_{i}");
            }
            if !self.calls[i].announced {
                let event = ModelEvent::ToolCallStart { id: self.calls[i].id.clone(), name: self.calls[i].name.clone() };
                self.emit(event);
            }
        }
        let tool_calls: Vec<ToolCall> = self
            .calls
            .into_iter()
            .map(|c| {
                let arguments = if c.arguments.trim().is_empty() {
                    Value::Object(Map::new())
                } else {
                    serde_json::from_str(&c.arguments).unwrap_or(Value::String(c.arguments))
                };
                ToolCall { id: c.id, name: c.name, arguments }
            })
            .collect();
        let finish_reason = self.finish.unwrap_or(if tool_calls.is_empty() { FinishReason::Stop } else { FinishReason::ToolCalls });
        let parts = if self.text.is_empty() { Vec::new() } else { vec![Part::Text { text: self.text }] };
        let message = Message { role: Role::Assistant, parts, tool_calls, tool_call_id: None };
        ChatResponse { message, finish_reason, usage: self.usage, model: self.model }
    }
}

/// A failed attempt: the error it ends with, and whether (and when) to try again.
struct Failure {
    error: LlmError,
    transient: bool,
    retry_after: Option<Duration>,
}

/// One HTTP endpoint of a provider: its URL, headers, connection pool, retry policy and timeout.
pub(crate) struct Endpoint {
    client: reqwest::Client,
    url: String,
    headers: HeaderMap,
    secret: Option<String>,
    /// When and how often to retry.
    pub(crate) retry: RetryPolicy,
    /// How long one attempt may take.
    pub(crate) timeout: Duration,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url)
            .field("api_key", &self.secret.as_ref().map(|_| "[redacted]"))
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Endpoint {
    /// An endpoint posting to `url`, with its own connection pool. The pool keeps every idle
    /// connection, so that many concurrent calls to one host (1000 over loopback) each keep theirs.
    pub(crate) fn new(url: String) -> Result<Self, LlmError> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(usize::MAX)
            .tcp_nodelay(true)
            .user_agent(concat!("agentos/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| LlmError::Transport { url: url.clone(), reason: format!("cannot set up the HTTP client: {}", chain(&e)) })?;
        Ok(Endpoint { client, url, headers: HeaderMap::new(), secret: None, retry: RetryPolicy::default(), timeout: DEFAULT_TIMEOUT })
    }

    /// The URL requests go to.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Sends requests to `url` from now on.
    pub(crate) fn set_url(&mut self, url: String) {
        self.url = url;
    }

    /// Sends the header `name: value` with every request.
    pub(crate) fn set_header(&mut self, name: &'static str, value: &'static str) {
        self.headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }

    /// Sends the API key `key` (trimmed) in the header `name`, after `prefix`, with every request,
    /// marked sensitive; it is redacted from every error. When the key cannot be a header value
    /// (it holds control characters), the error names `provider` and the variable `var`.
    pub(crate) fn set_api_key(
        &mut self,
        name: &'static str,
        prefix: &str,
        key: &str,
        provider: &'static str,
        var: &'static str,
    ) -> Result<(), LlmError> {
        let key = key.trim();
        let mut value = HeaderValue::from_str(&format!("{prefix}{key}")).map_err(|_| LlmError::MissingApiKey { provider, var })?;
        value.set_sensitive(true);
        self.headers.insert(HeaderName::from_static(name), value);
        self.secret = Some(key.to_string());
        Ok(())
    }

    fn redact(&self, text: &str) -> String {
        match &self.secret {
            Some(secret) if !secret.is_empty() => text.replace(secret.as_str(), "[redacted]"),
            _ => text.to_string(),
        }
    }

    /// Posts `body` and reads the answer with `wire`, retrying transient failures as the policy
    /// says and reporting each retry to `on_event`.
    pub(crate) async fn chat(
        &self,
        body: Vec<u8>,
        wire: &dyn Wire,
        model: &str,
        on_event: EventSink<'_>,
    ) -> Result<ChatResponse, LlmError> {
        let body = bytes::Bytes::from(body);
        let mut attempt = 1;
        loop {
            let mut out = Assembler::new(on_event, model);
            let result = match tokio::time::timeout(self.timeout, self.attempt(body.clone(), wire, &mut out)).await {
                Ok(result) => result,
                Err(_) => Err(Failure {
                    error: LlmError::Timeout { url: self.url.clone(), after_ms: self.timeout.as_millis().try_into().unwrap_or(u64::MAX) },
                    transient: true,
                    retry_after: None,
                }),
            };
            let failure = match result {
                Ok(()) => return Ok(out.into_response()),
                Err(failure) => failure,
            };
            if !failure.transient || out.emitted || attempt > self.retry.max_retries {
                return Err(failure.error);
            }
            let wait = self.retry.wait(attempt, failure.retry_after);
            let wait_ms = wait.as_millis().try_into().unwrap_or(u64::MAX);
            attempt += 1;
            on_event(ModelEvent::Retry { attempt, wait_ms, reason: failure.error.to_string() });
            tokio::time::sleep(wait).await;
        }
    }

    async fn attempt(&self, body: bytes::Bytes, wire: &dyn Wire, out: &mut Assembler<'_>) -> Result<(), Failure> {
        let request = self.client.post(&self.url).headers(self.headers.clone()).header(reqwest::header::CONTENT_TYPE, "application/json");
        let response = request.body(body).send().await.map_err(|e| self.transport(&e))?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = parse_retry_after(response.headers(), SystemTime::now());
            let text = response.text().await.unwrap_or_default();
            return Err(Failure {
                error: LlmError::Http { url: self.url.clone(), status: status.as_u16(), body: snippet(&self.redact(&text)) },
                transient: status.as_u16() == 429 || status.is_server_error(),
                retry_after,
            });
        }
        let is_json = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("application/json"));
        if is_json {
            let bytes = response.bytes().await.map_err(|e| self.transport(&e))?;
            return wire.body(&bytes, out).map_err(|e| self.wire_failure(e));
        }
        let mut parser = SseParser::default();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.transport(&e))?;
            for event in parser.push(&chunk) {
                if self.dispatch(&event, wire, out)? == Flow::Done {
                    return Ok(());
                }
            }
        }
        if let Some(event) = parser.finish() {
            if self.dispatch(&event, wire, out)? == Flow::Done {
                return Ok(());
            }
        }
        if out.finished() {
            return Ok(());
        }
        Err(self.wire_failure(WireError::server(
            "the event stream ended before the model finished (no finish reason, no end marker); the server may have dropped the connection",
            true,
        )))
    }

    fn dispatch(&self, event: &SseEvent, wire: &dyn Wire, out: &mut Assembler<'_>) -> Result<Flow, Failure> {
        if event.data.trim() == "[DONE]" {
            return Ok(Flow::Done);
        }
        wire.event(event, out).map_err(|e| self.wire_failure(e))
    }

    fn wire_failure(&self, e: WireError) -> Failure {
        Failure {
            error: LlmError::InvalidResponse { url: self.url.clone(), reason: self.redact(&e.reason) },
            transient: e.transient,
            retry_after: None,
        }
    }

    fn transport(&self, e: &reqwest::Error) -> Failure {
        let after_ms = self.timeout.as_millis().try_into().unwrap_or(u64::MAX);
        let error = if e.is_timeout() {
            LlmError::Timeout { url: self.url.clone(), after_ms }
        } else {
            LlmError::Transport {
                url: self.url.clone(),
                reason: format!("{}; check that the server is up and the URL is right", self.redact(&chain(e))),
            }
        };
        Failure { error, transient: e.is_connect() || e.is_timeout() || e.is_request() || e.is_body(), retry_after: None }
    }
}

/// The builder and getter methods every HTTP provider shares, written once. Invoke it inside the
/// provider's `impl` block; the provider struct must have the fields `model: String` (the model
/// name sent to the server) and `endpoint: Endpoint`.
macro_rules! endpoint_methods {
    () => {
        /// Retries transient failures as `policy` says (default: [`RetryPolicy::default`](crate::RetryPolicy::default)).
        pub fn with_retry_policy(mut self, policy: $crate::RetryPolicy) -> Self {
            self.endpoint.retry = policy;
            self
        }

        /// Gives each attempt at most `timeout`, from sending the request to the end of the answer
        /// (default: [`crate::DEFAULT_TIMEOUT`], 120 s).
        pub fn with_timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self.endpoint.timeout = timeout;
            self
        }

        /// The model name sent to the server.
        pub fn model(&self) -> &str {
            &self.model
        }

        /// The endpoint URL requests go to.
        pub fn url(&self) -> &str {
            self.endpoint.url()
        }
    };
}
pub(crate) use endpoint_methods;

/// Implements [`crate::LanguageModel`] for the HTTP provider `$provider`, whose answers the wire
/// format `$wire` (a [`Wire`](crate::http::Wire)) reads. The provider must have the fields
/// `uri: String`, `model: String` and `endpoint: Endpoint`, and a method
/// `request_body(&self, &ChatRequest) -> Vec<u8>` that serializes a request.
macro_rules! impl_language_model {
    ($provider:ty, $wire:expr) => {
        #[::async_trait::async_trait]
        impl $crate::LanguageModel for $provider {
            fn uri(&self) -> &str {
                &self.uri
            }

            fn capabilities(&self) -> $crate::ModelCapabilities {
                $crate::ModelCapabilities { native_tools: true }
            }

            async fn chat(
                &self,
                request: &::agentos_core::ChatRequest,
                on_event: $crate::EventSink<'_>,
            ) -> Result<::agentos_core::ChatResponse, $crate::LlmError> {
                self.endpoint.chat(self.request_body(request), &$wire, &self.model, on_event).await
            }
        }
    };
}
pub(crate) use impl_language_model;

/// An error with all its causes, `a: b: c`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The wait a `Retry-After` header asks for: delay-seconds, or an HTTP date (IMF-fixdate) relative
/// to `now` (a date in the past means no wait). `None` when absent or unreadable.
fn parse_retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Parses an IMF-fixdate such as `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 §5.6.7).
fn parse_http_date(text: &str) -> Option<SystemTime> {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (_, rest) = text.split_once(", ")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let [day, month, year, time, "GMT"] = fields[..] else { return None };
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    let (day, year): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let hms: Vec<i64> = time.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let [h, m, s] = hms[..] else { return None };
    if !(1..=31).contains(&day) || !(0..24).contains(&h) || !(0..60).contains(&m) || !(0..=60).contains(&s) {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut parser = SseParser::default();
        let mut events: Vec<SseEvent> = chunks.iter().flat_map(|c| parser.push(c)).collect();
        events.extend(parser.finish());
        events
    }

    fn ev(event: &str, data: &str) -> SseEvent {
        SseEvent { event: event.into(), data: data.into() }
    }

    #[test]
    fn sse_events_survive_any_split() {
        let stream =
            "event: a\ndata: {\"x\": \"h\u{e9}llo\"}\n\n: comment\r\ndata: one\r\ndata:two\r\n\r\nid: 7\nretry: 10\n\ndata: [DONE]\n\n";
        let want = vec![ev("a", "{\"x\": \"h\u{e9}llo\"}"), ev("", "one\ntwo"), ev("", "[DONE]")];
        let bytes = stream.as_bytes();
        assert_eq!(parse_all(&[bytes]), want);
        for cut in 0..bytes.len() {
            assert_eq!(parse_all(&[&bytes[..cut], &bytes[cut..]]), want, "split at byte {cut}");
        }
        let single: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(parse_all(&single), want);
    }

    #[test]
    fn sse_flushes_an_unterminated_last_event() {
        assert_eq!(parse_all(&[b"data: a\n\ndata: b"]), vec![ev("", "a"), ev("", "b")]);
        assert_eq!(parse_all(&[b"data: a\n"]), vec![ev("", "a")]);
        assert_eq!(parse_all(&[b"event: x\n\n"]), vec![]);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy::default();
        let waits: Vec<u128> = (1..=8).map(|n| p.delay(n).as_millis()).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 16000, 20000, 20000]);
        assert_eq!(p.delay(200), Duration::from_secs(20));
        assert_eq!(p.wait(1, Some(Duration::from_secs(3600))), Duration::from_secs(20));
        assert_eq!(p.wait(3, Some(Duration::ZERO)), Duration::ZERO);
        assert_eq!(RetryPolicy::none().max_retries, 0);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let at = |v: &str, now: u64| {
            let mut h = HeaderMap::new();
            h.insert(RETRY_AFTER, HeaderValue::from_str(v).unwrap());
            parse_retry_after(&h, UNIX_EPOCH + Duration::from_secs(now))
        };
        assert_eq!(at("7", 0), Some(Duration::from_secs(7)));
        assert_eq!(at("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_777 - 30), Some(Duration::from_secs(30)));
        assert_eq!(at("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_777 + 30), Some(Duration::ZERO));
        assert_eq!(at("Thu, 29 Feb 2024 23:59:59 GMT", 1_709_251_199), Some(Duration::ZERO));
        assert_eq!(at("soon", 0), None);
        assert_eq!(at("Sun, 06 Foo 1994 08:49:37 GMT", 0), None);
        assert_eq!(parse_retry_after(&HeaderMap::new(), UNIX_EPOCH), None);
    }

    #[test]
    fn assembler_keeps_unparsable_arguments_as_text() {
        let events = std::sync::Mutex::new(Vec::new());
        let sink = |e: ModelEvent| events.lock().unwrap().push(e);
        let mut out = Assembler::new(&sink, "m");
        out.tool_call(0, "a", "f", "{\"x\":");
        out.tool_call(1, "", "g", "");
        out.tool_call(0, "", "", "1}");
        out.tool_call(2, "c", "h", "{oops");
        let response = out.into_response();
        let calls = &response.message.tool_calls;
        assert_eq!(calls[0].arguments, serde_json::json!({"x": 1}));
        assert_eq!((calls[1].id.as_str(), &calls[1].arguments), ("call_1", &serde_json::json!({})));
        assert_eq!(calls[2].arguments, Value::String("{oops".into()));
        assert_eq!(response.finish_reason, FinishReason::ToolCalls);
        assert!(response.message.parts.is_empty());
        let starts: Vec<String> = events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                ModelEvent::ToolCallStart { id, .. } => Some(id.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(starts, ["a", "c", "call_1"]);
    }

    #[test]
    fn urls_and_floats() {
        assert_eq!(join_url("http://127.0.0.1:8080/v1/", "/chat/completions").unwrap(), "http://127.0.0.1:8080/v1/chat/completions");
        assert!(join_url("127.0.0.1:8080", "/x").is_err());
        assert!(join_url("ftp://host/", "/x").unwrap_err().contains("ftp://host/"));
        assert_eq!(float(0.7), serde_json::json!(0.7));
    }

    #[test]
    fn secrets_are_redacted_and_hidden_from_debug() {
        let mut endpoint = Endpoint::new("http://127.0.0.1:1/x".into()).unwrap();
        endpoint.set_api_key("authorization", "Bearer ", "sk-secret\n", "P", "V").unwrap();
        assert_eq!(endpoint.redact("bad key sk-secret"), "bad key [redacted]");
        assert!(!format!("{endpoint:?}").contains("sk-secret"));
        let err = endpoint.set_api_key("authorization", "Bearer ", "a\u{1}b", "P", "V").unwrap_err();
        assert!(matches!(err, LlmError::MissingApiKey { provider: "P", var: "V" }), "{err}");
    }
}
