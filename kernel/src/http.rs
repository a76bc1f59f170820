//! HTTP: authenticates the caller and hands GraphQL requests to `graphql`.
//!
//! Routes: `POST /graphql` (Bearer token), `GET /graphql/ws` (subscriptions over a websocket,
//! Bearer token or `?token=`), `POST /auth/login` (password → token, throttled), `POST /auth/logout` (revokes the
//! token), `GET /healthz`.
//!
//! **Invariant:** no request reaches a tenant's schema without an authenticated principal.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{
    ACCEPT_LANGUAGE, AUTHORIZATION, CONTENT_TYPE, SEC_WEBSOCKET_PROTOCOL,
};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{App as ActixApp, HttpRequest, HttpResponse, HttpServer, web};
use serde::Deserialize;

use crate::error::Code;
use crate::graphql::{self, SchemaCache};
use crate::model::Locale;
use crate::runtime::Kernel;

/// Shared state of the HTTP server.
#[derive(Clone)]
struct State {
    kernel: Arc<Kernel>,
    schemas: Arc<SchemaCache>,
}

fn locale(request: &HttpRequest) -> Locale {
    request
        .headers()
        .get(ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(Locale::parse)
        .unwrap_or_default()
}

fn json_response(status: StatusCode, body: &impl serde::Serialize) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((CONTENT_TYPE, "application/json"))
        .json(body)
}

fn graphql_error(status: StatusCode, code: Code, message: &str) -> HttpResponse {
    json_response(status, &graphql::error_response(code, message))
}

fn bearer(request: &HttpRequest) -> Option<&str> {
    request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// The token of a websocket upgrade: browsers cannot set headers on one, so `?token=` works too.
fn query_token(request: &HttpRequest) -> Option<String> {
    web::Query::<std::collections::HashMap<String, String>>::from_query(request.query_string())
        .ok()
        .and_then(|q| q.get("token").cloned())
}

/// The principal of a request, or the 401/500 answer to give instead.
/// The token a request carries: the `Authorization` header, or `?token=` where allowed.
fn request_token(request: &HttpRequest, allow_query: bool) -> Option<String> {
    let from_query = allow_query.then(|| query_token(request)).flatten();
    bearer(request)
        .map(str::to_string)
        .or(from_query)
        .filter(|t| !t.is_empty())
}

async fn authenticate(
    state: &State,
    token: Option<&str>,
    locale: Locale,
) -> Result<Arc<crate::permissions::Principal>, HttpResponse> {
    let Some(token) = token else {
        return Err(graphql_error(
            StatusCode::UNAUTHORIZED,
            Code::Unauthenticated,
            &locale.pick(
                "缺少访问令牌。请在 Authorization: Bearer <token> 中提供。",
                "Missing token. Hint: send Authorization: Bearer <token>.",
            ),
        ));
    };
    match state.kernel.authenticate(token).await {
        Ok(Some(principal)) => Ok(principal),
        Ok(None) => Err(graphql_error(
            StatusCode::UNAUTHORIZED,
            Code::Unauthenticated,
            &locale.pick(
                "访问令牌无效、已过期或已吊销。",
                "The token is invalid, expired or revoked.",
            ),
        )),
        Err(error) => {
            tracing::error!(%error, "authentication failed");
            Err(graphql_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                Code::Internal,
                "Internal error.",
            ))
        }
    }
}

/// Subscriptions: a websocket speaking `graphql-transport-ws` (or the older `graphql-ws`).
async fn graphql_ws(
    state: web::Data<State>,
    request: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    use futures_util::StreamExt;
    let locale = locale(&request);
    let token = request_token(&request, true);
    let principal = match authenticate(&state, token.as_deref(), locale).await {
        Ok(principal) => principal,
        Err(response) => return response,
    };
    let offered = request
        .headers()
        .get(SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok());
    let Some(protocol) = graphql::ws_protocol(offered) else {
        return graphql_error(
            StatusCode::BAD_REQUEST,
            Code::BadRequest,
            "Unsupported websocket subprotocol. Hint: use graphql-transport-ws.",
        );
    };
    let (mut response, mut session, mut messages) = match actix_ws::handle(&request, payload) {
        Ok(parts) => parts,
        Err(error) => return error.error_response(),
    };
    response.headers_mut().insert(
        SEC_WEBSOCKET_PROTOCOL,
        actix_web::http::header::HeaderValue::from_static(protocol),
    );
    // Frames from the client go to the GraphQL protocol; pings are answered here.
    let (frames, inbox) = tokio::sync::mpsc::channel::<Vec<u8>>(64);
    let mut pong = session.clone();
    actix_web::rt::spawn(async move {
        while let Some(Ok(message)) = messages.next().await {
            let frame = match message {
                actix_ws::Message::Text(text) => text.as_bytes().to_vec(),
                actix_ws::Message::Binary(bytes) => bytes.to_vec(),
                actix_ws::Message::Ping(bytes) => {
                    let _ = pong.pong(&bytes).await;
                    continue;
                }
                actix_ws::Message::Close(_) => break,
                _ => continue,
            };
            if frames.send(frame).await.is_err() {
                break;
            }
        }
    });
    let input = futures_util::stream::unfold(inbox, |mut inbox| async move {
        inbox.recv().await.map(|frame| (frame, inbox))
    })
    .boxed();
    let kernel = state.kernel.clone();
    let schemas = state.schemas.clone();
    let token = token.unwrap_or_default();
    actix_web::rt::spawn(async move {
        let roles = principal.roles.clone();
        let mut output =
            match graphql::websocket(&kernel, &schemas, principal, locale, protocol, input).await {
                Ok(output) => output,
                Err(_) => {
                    let _ = session.close(None).await;
                    return;
                }
            };
        // The token is checked again now and then: a revoked or expired token, or changed
        // roles, end the subscriptions (the client reconnects with what it may now see).
        let every =
            std::time::Duration::from_millis(kernel.config.api.subscription_recheck_ms.max(50));
        let mut recheck = tokio::time::interval(every);
        recheck.tick().await;
        loop {
            let message = tokio::select! {
                message = output.next() => message,
                _ = recheck.tick() => {
                    let close = match kernel.authenticate(&token).await {
                        Ok(Some(now)) if now.roles == roles => None,
                        Ok(Some(_)) => Some((4403, "roles changed; reconnect")),
                        Ok(None) => Some((4401, "token expired or revoked")),
                        Err(_) => None,
                    };
                    match close {
                        Some((code, reason)) => Some(graphql::WsOut::Close(code, reason.into())),
                        None => continue,
                    }
                }
            };
            match message {
                Some(graphql::WsOut::Text(text)) => {
                    if session.text(text).await.is_err() {
                        return;
                    }
                }
                Some(graphql::WsOut::Close(code, reason)) => {
                    let reason = actix_ws::CloseReason {
                        code: actix_ws::CloseCode::from(code),
                        description: Some(reason),
                    };
                    let _ = session.close(Some(reason)).await;
                    return;
                }
                None => break,
            }
        }
        let _ = session.close(None).await;
    });
    response
}

async fn graphql_endpoint(
    state: web::Data<State>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let locale = locale(&request);
    let token = request_token(&request, false);
    let principal = match authenticate(&state, token.as_deref(), locale).await {
        Ok(principal) => principal,
        Err(response) => return response,
    };
    let gql_request = match graphql::parse_request(&body) {
        Ok(request) => request,
        Err(error) => {
            return graphql_error(
                StatusCode::BAD_REQUEST,
                Code::BadRequest,
                &locale.pick(
                    format!("请求体不是有效的 GraphQL JSON:{error}"),
                    format!("The body is not a GraphQL JSON request: {error}"),
                ),
            );
        }
    };
    let response = graphql::execute(
        &state.kernel,
        &state.schemas,
        principal,
        locale,
        gql_request,
    )
    .await;
    json_response(StatusCode::OK, &response)
}

#[derive(Deserialize)]
struct Login {
    tenant: String,
    email: String,
    password: String,
}

async fn login(state: web::Data<State>, request: HttpRequest, body: web::Bytes) -> HttpResponse {
    let locale = locale(&request);
    let Ok(login) = serde_json::from_slice::<Login>(&body) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            &serde_json::json!({"error": {"code": Code::BadRequest.as_str(),
                "message": locale.pick("请求体应为 {\"tenant\", \"email\", \"password\"}。", "Expected {\"tenant\", \"email\", \"password\"}.")}}),
        );
    };
    let address = request.peer_addr().map(|a| a.ip().to_string());
    match state
        .kernel
        .login_from(
            &login.tenant,
            &login.email,
            &login.password,
            address.as_deref(),
        )
        .await
    {
        Ok(Some(token)) => json_response(StatusCode::OK, &serde_json::json!({"token": token})),
        Ok(None) => json_response(
            StatusCode::UNAUTHORIZED,
            &serde_json::json!({"error": {"code": Code::Unauthenticated.as_str(),
                "message": locale.pick("租户、邮箱或密码不正确。", "Wrong tenant, email or password.")}}),
        ),
        Err(error @ crate::runtime::Error::LimitExceeded(_)) => json_response(
            StatusCode::TOO_MANY_REQUESTS,
            &serde_json::json!({"error": {"code": Code::LimitExceeded.as_str(), "message": error.to_string()}}),
        ),
        Err(error) => {
            tracing::error!(%error, "login failed");
            json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                &serde_json::json!({"error": {"code": "INTERNAL", "message": "Internal error."}}),
            )
        }
    }
}

/// A body over `http.max_body_bytes` is answered like every other refusal: GraphQL-shaped JSON
/// with `LIMIT_EXCEEDED`, instead of actix-web's plain-text 413.
fn body_too_large<B>(response: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let (request, _) = response.into_parts();
    let locale = locale(&request);
    let body = graphql_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        Code::LimitExceeded,
        &locale.pick(
            "请求体过大。",
            "The request body is too large. Hint: split the batch.",
        ),
    );
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(request, body).map_into_right_body(),
    ))
}

/// Revokes the token the request carries.
async fn logout(state: web::Data<State>, request: HttpRequest) -> HttpResponse {
    let locale = locale(&request);
    let Some(token) = bearer(&request).filter(|t| !t.is_empty()) else {
        return graphql_error(
            StatusCode::UNAUTHORIZED,
            Code::Unauthenticated,
            &locale.pick("缺少访问令牌。", "Missing token."),
        );
    };
    match state.kernel.revoke_token(token).await {
        Ok(revoked) => json_response(StatusCode::OK, &serde_json::json!({"revoked": revoked})),
        Err(error) => {
            tracing::error!(%error, "logout failed");
            graphql_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                Code::Internal,
                "Internal error.",
            )
        }
    }
}

async fn healthz() -> HttpResponse {
    json_response(StatusCode::OK, &serde_json::json!({"status": "ok"}))
}

/// Serves the API on `listener` until the returned server is stopped.
pub fn serve(
    kernel: Arc<Kernel>,
    listener: TcpListener,
) -> std::io::Result<actix_web::dev::Server> {
    let state = State {
        kernel: kernel.clone(),
        schemas: Arc::new(SchemaCache::default()),
    };
    let max_body = kernel.config.http.max_body_bytes;
    let workers = match kernel.config.http.workers {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
        n => n,
    };
    let server = HttpServer::new(move || {
        ActixApp::new()
            .wrap(ErrorHandlers::new().handler(StatusCode::PAYLOAD_TOO_LARGE, body_too_large))
            .app_data(web::Data::new(state.clone()))
            .app_data(web::PayloadConfig::new(max_body))
            .route("/graphql", web::post().to(graphql_endpoint))
            .route("/graphql/ws", web::get().to(graphql_ws))
            .route("/auth/login", web::post().to(login))
            .route("/auth/logout", web::post().to(logout))
            .route("/healthz", web::get().to(healthz))
    })
    .workers(workers)
    .listen(listener)?
    .run();
    Ok(server)
}
