//! One configured upstream, whatever protocol it speaks: the gateway talks
//! to every provider through this one shape.

use std::time::Duration;

use baton_config::ProviderKind;
use baton_core::{ChatRequest, ChatResponse, ModelInfo};

use crate::anthropic::{self, AnthropicClient};
use crate::embeddings::Embeddings;
use crate::error::{GatewayError, UpstreamError};
use crate::http::Http;
use crate::ollama::OllamaClient;
use crate::openai::OpenAiClient;
use crate::redact::Redactor;
use crate::spec::ProviderSpec;
use crate::sse::ProviderStream;

/// A provider's client and the facts about it that may be shown to anyone.
#[derive(Debug)]
pub(crate) struct Provider {
    pub(crate) name: String,
    pub(crate) kind: ProviderKind,
    /// The base URL without credentials or query, fit for status pages.
    pub(crate) display_url: String,
    client: Client,
}

#[derive(Debug)]
enum Client {
    OpenAi(OpenAiClient),
    Anthropic(AnthropicClient),
    Ollama(OllamaClient),
}

impl Provider {
    pub(crate) fn new(
        spec: &ProviderSpec,
        connect_timeout: Duration,
    ) -> Result<Self, GatewayError> {
        let key = spec.api_key.as_ref().map(|k| k.expose().to_owned());
        let mut headers: Vec<(String, String)> = Vec::new();
        if let Some(key) = &key {
            match spec.kind {
                ProviderKind::Anthropic => headers.push(("x-api-key".into(), key.clone())),
                ProviderKind::Openai | ProviderKind::Ollama => {
                    headers.push(("authorization".into(), format!("Bearer {key}")));
                }
            }
        }
        if spec.kind == ProviderKind::Anthropic {
            headers.push(("anthropic-version".into(), anthropic::API_VERSION.into()));
        }
        headers.extend(
            spec.headers
                .iter()
                .map(|(name, value)| (name.clone(), value.expose().to_owned())),
        );
        let secrets = key
            .into_iter()
            .chain(spec.headers.iter().map(|(_, v)| v.expose().to_owned()));
        let http = Http::new(
            &spec.name,
            connect_timeout,
            &headers,
            Redactor::new(secrets),
        )?;
        let client = match spec.kind {
            ProviderKind::Openai => Client::OpenAi(OpenAiClient::new(
                http,
                &spec.base_url,
                &spec.max_tokens_field,
            )),
            ProviderKind::Anthropic => {
                Client::Anthropic(AnthropicClient::new(http, &spec.base_url))
            }
            ProviderKind::Ollama => Client::Ollama(OllamaClient::new(http, &spec.base_url)),
        };
        Ok(Provider {
            name: spec.name.clone(),
            kind: spec.kind,
            display_url: display_url(&spec.base_url),
            client,
        })
    }

    /// A complete answer; the response headers must arrive within
    /// `headers_timeout` (the caller bounds the whole call).
    pub(crate) async fn chat(
        &self,
        req: &ChatRequest,
        model: &ModelInfo,
        headers_timeout: Duration,
    ) -> Result<ChatResponse, UpstreamError> {
        match &self.client {
            Client::OpenAi(c) => c.chat(req, model, headers_timeout).await,
            Client::Anthropic(c) => c.chat(req, model, headers_timeout).await,
            Client::Ollama(c) => c.chat().chat(req, model, headers_timeout).await,
        }
    }

    /// A streamed answer; the caller bounds the wait for its first events.
    pub(crate) async fn chat_stream(
        &self,
        req: &ChatRequest,
        model: &ModelInfo,
    ) -> Result<ProviderStream, UpstreamError> {
        match &self.client {
            Client::OpenAi(c) => c.chat_stream(req, model).await,
            Client::Anthropic(c) => c.chat_stream(req, model).await,
            Client::Ollama(c) => c.chat().chat_stream(req, model).await,
        }
    }

    /// Vectors for `inputs` from the provider's embeddings endpoint.
    pub(crate) async fn embed(
        &self,
        model: &str,
        inputs: &[String],
        timeout: Duration,
    ) -> Result<Embeddings, GatewayError> {
        let answer = match &self.client {
            Client::OpenAi(c) => c.embed(model, inputs, timeout).await,
            Client::Ollama(c) => c.chat().embed(model, inputs, timeout).await,
            Client::Anthropic(_) => {
                return Err(GatewayError::Unsupported {
                    provider: self.name.clone(),
                    what: "embeddings (Anthropic's API has no embeddings endpoint)".to_owned(),
                });
            }
        };
        answer.map_err(|e| e.into_gateway(&self.name, model))
    }

    /// The model names the server itself lists.
    pub(crate) async fn list_models(
        &self,
        timeout: Duration,
    ) -> Result<Vec<String>, UpstreamError> {
        match &self.client {
            Client::OpenAi(c) => c.list_models(timeout).await,
            Client::Anthropic(c) => c.list_models(timeout).await,
            Client::Ollama(c) => c.list_models(timeout).await,
        }
    }
}

/// `base_url` without user info, query or fragment, which can hold secrets.
fn display_url(base_url: &str) -> String {
    match url::Url::parse(base_url) {
        Ok(mut url) => {
            // Both only fail for URLs that cannot have credentials at all.
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.set_query(None);
            url.set_fragment(None);
            url.as_str().trim_end_matches('/').to_owned()
        }
        Err(_) => String::from("(invalid URL)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_config::Secret;

    #[test]
    fn display_urls_hide_credentials() {
        assert_eq!(
            display_url("https://user:pw@example.com/v1?key=abc#x"),
            "https://example.com/v1"
        );
        assert_eq!(
            display_url("http://127.0.0.1:1234/v1"),
            "http://127.0.0.1:1234/v1"
        );
    }

    #[test]
    fn debug_output_shows_no_secrets() {
        let spec = ProviderSpec {
            name: "p".into(),
            kind: ProviderKind::Openai,
            base_url: "http://127.0.0.1:9/v1".into(),
            api_key: Some(Secret::new("sk-very-secret")),
            headers: vec![("x-extra".into(), Secret::new("header-secret"))],
            models: vec![],
            max_tokens_field: "max_tokens".into(),
            list_at_start: false,
        };
        let provider = Provider::new(&spec, Duration::from_secs(1)).unwrap();
        let debug = format!("{provider:?} {spec:?}");
        assert!(!debug.contains("sk-very-secret"), "{debug}");
        assert!(!debug.contains("header-secret"), "{debug}");
    }
}
