//! The GraphQL API: one dynamic schema per set of enabled plugins, built at runtime from the
//! entity definitions, cached by that set, and executed for one authenticated principal.
//!
//! **Invariant:** resolvers never build queries; they call `runtime::Kernel`, which derives the
//! store access from the principal. Errors carry a stable `extensions.code`.

mod aggregate;
mod events;
mod filter;
mod kpi;
mod related;
mod schema;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use async_graphql::dynamic::Schema;
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ErrorExtensions, Response, ServerError};

use crate::error::{Code, ErrorCode};
use crate::model::Locale;
use crate::permissions::Principal;
use crate::runtime::{self, Kernel, TenantCatalog};

pub use schema::{build_schema, plural};

/// Everything a resolver needs, put into each request's data.
#[derive(Clone)]
pub struct RequestContext {
    pub kernel: Arc<Kernel>,
    pub principal: Arc<Principal>,
    pub catalog: Arc<TenantCatalog>,
    pub locale: Locale,
}

impl RequestContext {
    pub fn caller(&self) -> runtime::Caller<'_> {
        runtime::Caller {
            principal: &self.principal,
            catalog: &self.catalog,
            locale: self.locale,
        }
    }
}

/// Query texts up to this length are parsed once and kept; longer ones are parsed every time.
const CACHED_QUERY_BYTES: usize = 2048;

/// Parsed queries kept at most (clients send a few fixed queries with variables); the cache
/// starts over when it is full, so random texts cannot make it grow.
const CACHED_QUERIES: usize = 256;

/// Schemas by the key of the enabled plugin set; tenants with the same modules share one. Also
/// the parsed form of recently seen query texts, which do not depend on the schema.
#[derive(Default)]
pub struct SchemaCache {
    schemas: RwLock<HashMap<String, Schema>>,
    queries: Mutex<HashMap<String, ExecutableDocument>>,
}

impl std::fmt::Debug for SchemaCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaCache").finish_non_exhaustive()
    }
}

impl SchemaCache {
    pub fn schema(
        &self,
        kernel: &Kernel,
        catalog: &TenantCatalog,
    ) -> Result<Schema, async_graphql::Error> {
        if let Some(schema) = self
            .schemas
            .read()
            .expect("schema cache lock")
            .get(&catalog.key)
        {
            return Ok(schema.clone());
        }
        let schema = build_schema(catalog, &kernel.config.api).map_err(|error| {
            async_graphql::Error::new(format!("cannot build the API schema: {error}"))
        })?;
        let mut schemas = self.schemas.write().expect("schema cache lock");
        if schemas.len() > 256 {
            schemas.clear();
        }
        schemas.insert(catalog.key.clone(), schema.clone());
        Ok(schema)
    }

    /// Gives the request the parsed form of its query, parsing each text once. A text that does
    /// not parse is left alone: execution reports its syntax error as always. Validation still
    /// runs on every request.
    pub fn parse(&self, request: &mut async_graphql::Request) {
        if request.query.len() > CACHED_QUERY_BYTES {
            return;
        }
        let cached = self
            .queries
            .lock()
            .expect("query cache lock")
            .get(&request.query)
            .cloned();
        if let Some(document) = cached {
            request.set_parsed_query(document);
            return;
        }
        let Ok(document) = request.parsed_query().cloned() else {
            return;
        };
        let mut queries = self.queries.lock().expect("query cache lock");
        if queries.len() >= CACHED_QUERIES {
            queries.clear();
        }
        queries.insert(request.query.clone(), document);
    }

    #[cfg(test)]
    fn cached_queries(&self) -> usize {
        self.queries.lock().expect("query cache lock").len()
    }
}

/// Turns a kernel error into a GraphQL error with `extensions.code` (and `details` for
/// validation problems).
pub fn to_graphql_error(error: runtime::Error) -> async_graphql::Error {
    graphql_error_of(&error)
}

/// [`to_graphql_error`] for an error shared by several fields (a DataLoader's).
pub fn graphql_error_of(error: &runtime::Error) -> async_graphql::Error {
    let code = error.code();
    let message = match error {
        runtime::Error::Store(inner) => {
            tracing::error!(error = %inner, "store failure");
            "内部错误 / Internal error.".to_string()
        }
        other => other.to_string(),
    };
    let details = match error {
        runtime::Error::Validation { issues } => serde_json::to_value(issues).ok(),
        _ => None,
    };
    async_graphql::Error::new(message).extend_with(|_, extensions| {
        extensions.set("code", code.as_str());
        if let Some(details) = details.and_then(|d| async_graphql::Value::from_json(d).ok()) {
            extensions.set("details", details);
        }
    })
}

/// An error response for requests that never reach a schema (no token, bad token, …).
pub fn error_response(code: Code, message: &str) -> Response {
    let mut error = ServerError::new(message, None);
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", code.as_str());
    error.extensions = Some(extensions);
    Response::from_errors(vec![error])
}

/// The code of an error that reached the client without one: limit errors are
/// `LIMIT_EXCEEDED`, query parse and validation errors `BAD_REQUEST`.
fn code_for(message: &str) -> Code {
    let lower = message.to_ascii_lowercase();
    let limits = [
        "too complex",
        "too deep",
        "recursion depth",
        "recursion limit",
        "stack limit",
    ];
    if limits.iter().any(|limit| lower.contains(limit)) {
        Code::LimitExceeded
    } else {
        Code::BadRequest
    }
}

/// Gives every error without a code one, so clients can always match on `extensions.code`.
pub fn ensure_codes(mut response: Response) -> Response {
    for error in &mut response.errors {
        let has_code = error
            .extensions
            .as_ref()
            .is_some_and(|e| e.get("code").is_some());
        if !has_code {
            let code = code_for(&error.message);
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", code.as_str());
        }
    }
    response
}

/// The same for the errors inside one websocket message (`next` and `error` payloads).
fn ensure_ws_codes(text: String) -> String {
    let Ok(mut message) = serde_json::from_str::<serde_json::Value>(&text) else {
        return text;
    };
    let errors = match message.get_mut("payload") {
        Some(serde_json::Value::Array(errors)) => errors,
        Some(payload) => match payload.get_mut("errors") {
            Some(serde_json::Value::Array(errors)) => errors,
            _ => return text,
        },
        None => return text,
    };
    for error in errors.iter_mut() {
        let Some(object) = error.as_object_mut() else {
            continue;
        };
        let text = object.get("message").and_then(|m| m.as_str()).unwrap_or("");
        let code = code_for(text).as_str();
        let extensions = object
            .entry("extensions")
            .or_insert_with(|| serde_json::json!({}));
        if let Some(extensions) = extensions.as_object_mut() {
            extensions
                .entry("code")
                .or_insert_with(|| serde_json::Value::String(code.to_string()));
        }
    }
    message.to_string()
}

/// Reads a GraphQL-over-HTTP JSON body (`query`, `variables`, `operationName`).
pub fn parse_request(body: &[u8]) -> Result<async_graphql::Request, serde_json::Error> {
    serde_json::from_slice(body)
}

/// Executes one GraphQL request for an authenticated principal against its tenant's schema.
pub async fn execute(
    kernel: &Arc<Kernel>,
    schemas: &SchemaCache,
    principal: Arc<Principal>,
    locale: Locale,
    mut request: async_graphql::Request,
) -> Response {
    let catalog = match kernel.catalog(principal.tenant_id).await {
        Ok(catalog) => catalog,
        Err(error) => return error_response(error.code(), &error.to_string()),
    };
    let schema = match schemas.schema(kernel, &catalog) {
        Ok(schema) => schema,
        Err(error) => return error_response(Code::Internal, &error.message),
    };
    let context = RequestContext {
        kernel: kernel.clone(),
        principal,
        catalog,
        locale,
    };
    schemas.parse(&mut request);
    let request = request
        .data(schema::record_loader(context.clone()))
        .data(related::related_loader(context.clone()))
        .data(context);
    ensure_codes(schema.execute(request).await)
}

/// A message for the client of a subscription websocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsOut {
    Text(String),
    Close(u16, String),
}

/// The subprotocol to answer a websocket upgrade with: the first of the client's offers that
/// is `graphql-transport-ws` or `graphql-ws`; `graphql-transport-ws` when it offers none.
pub fn ws_protocol(offered: Option<&str>) -> Option<&'static str> {
    use async_graphql::http::WebSocketProtocols;
    match offered {
        None => Some(WebSocketProtocols::GraphQLWS.sec_websocket_protocol()),
        Some(list) => list
            .split(',')
            .find_map(|p| p.trim().parse::<WebSocketProtocols>().ok())
            .map(|p| p.sec_websocket_protocol()),
    }
}

/// Runs GraphQL subscriptions over a websocket for an authenticated principal: `input` is the
/// client's text frames, the answer the frames to send back. Each subscriber hears only of
/// records its own read permissions show.
pub async fn websocket(
    kernel: &Arc<Kernel>,
    schemas: &SchemaCache,
    principal: Arc<Principal>,
    locale: Locale,
    protocol: &str,
    input: impl futures_util::Stream<Item = Vec<u8>> + Send + Unpin + 'static,
) -> Result<impl futures_util::Stream<Item = WsOut> + Send + Unpin + 'static, Response> {
    use async_graphql::http::{WebSocket, WebSocketProtocols, WsMessage};
    use futures_util::StreamExt;
    let protocol: WebSocketProtocols = protocol
        .parse()
        .map_err(|_| error_response(Code::BadRequest, "unsupported websocket subprotocol"))?;
    let catalog = kernel
        .catalog(principal.tenant_id)
        .await
        .map_err(|error| error_response(error.code(), &error.to_string()))?;
    let schema = schemas
        .schema(kernel, &catalog)
        .map_err(|error| error_response(Code::Internal, &error.message))?;
    let context = RequestContext {
        kernel: kernel.clone(),
        principal,
        catalog,
        locale,
    };
    let mut data = async_graphql::Data::default();
    data.insert(schema::record_loader(context.clone()));
    data.insert(related::related_loader(context.clone()));
    data.insert(context);
    Ok(WebSocket::new(schema, input, protocol)
        .connection_data(data)
        .map(|message| match message {
            WsMessage::Text(text) => WsOut::Text(ensure_ws_codes(text)),
            WsMessage::Close(code, reason) => WsOut::Close(code, reason),
        }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn websocket_errors_get_codes_and_keep_theirs() {
        let next = json!({"type": "next", "id": "1", "payload": {"data": null, "errors": [
            {"message": "Unknown field \"nope\""},
            {"message": "Query is nested too deep."},
            {"message": "x", "extensions": {"code": "FORBIDDEN"}},
        ]}});
        let coded: Value = serde_json::from_str(&ensure_ws_codes(next.to_string())).unwrap();
        let codes: Vec<&str> = coded["payload"]["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["extensions"]["code"].as_str().unwrap())
            .collect();
        assert_eq!(codes, ["BAD_REQUEST", "LIMIT_EXCEEDED", "FORBIDDEN"]);
        let error = json!({"type": "error", "id": "1", "payload": [{"message": "Syntax error"}]});
        let coded: Value = serde_json::from_str(&ensure_ws_codes(error.to_string())).unwrap();
        assert_eq!(coded["payload"][0]["extensions"]["code"], "BAD_REQUEST");
        let ack = json!({"type": "connection_ack"}).to_string();
        assert_eq!(ensure_ws_codes(ack.clone()), ack);
    }

    #[test]
    fn a_query_text_is_parsed_once_and_the_cache_stays_bounded() {
        let cache = SchemaCache::default();
        let query = "query($id: ID!) { crmCustomer(id: $id) { id name } }";
        let mut first = async_graphql::Request::new(query);
        cache.parse(&mut first);
        assert_eq!(cache.cached_queries(), 1);
        let mut second = async_graphql::Request::new(query);
        cache.parse(&mut second);
        assert_eq!(cache.cached_queries(), 1, "the same text is parsed once");
        let parsed = second.parsed_query().expect("the cached document").clone();
        let fresh = async_graphql::parser::parse_query(query).expect("parses");
        assert_eq!(format!("{parsed:?}"), format!("{fresh:?}"));

        let mut broken = async_graphql::Request::new("{ crmCustomer(id: ");
        cache.parse(&mut broken);
        assert_eq!(cache.cached_queries(), 1, "a syntax error is not kept");
        let long = format!("{{ me {{ id }} }} #{}", "x".repeat(CACHED_QUERY_BYTES));
        cache.parse(&mut async_graphql::Request::new(long));
        assert_eq!(cache.cached_queries(), 1, "long texts are not kept");

        for n in 0..CACHED_QUERIES + 10 {
            cache.parse(&mut async_graphql::Request::new(format!(
                "{{ me {{ id }} }} #{n}"
            )));
            assert!(cache.cached_queries() <= CACHED_QUERIES);
        }
    }
}
