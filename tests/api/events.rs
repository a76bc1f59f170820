//! Events out: signed webhooks with retries and a delivery log, and permission-filtered
//! subscriptions over a websocket.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hmac::{Hmac, Mac};
use jingxi_tests::{TestServer, error_code};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::fixtures::complaint;
use crate::workflow::{staff, take};

/// What the receiver saw: headers of interest and the body, per request.
#[derive(Debug, Clone)]
struct Received {
    event_id: String,
    timestamp: String,
    signature: String,
    body: String,
}

/// A webhook receiver on a loopback port that answers 500 to the first request of every event,
/// and 200 after that.
async fn receiver() -> (
    String,
    Arc<Mutex<Vec<Received>>>,
    actix_web::dev::ServerHandle,
) {
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
    let state = seen.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        let state = state.clone();
        App::new().route(
            "/hook",
            web::post().to(move |request: HttpRequest, body: web::Bytes| {
                let state = state.clone();
                async move {
                    let header = |name: &str| {
                        request
                            .headers()
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string()
                    };
                    let received = Received {
                        event_id: header("x-jingxi-event-id"),
                        timestamp: header("x-jingxi-timestamp"),
                        signature: header("x-jingxi-signature"),
                        body: String::from_utf8_lossy(&body).into_owned(),
                    };
                    let mut seen = state.lock().unwrap();
                    let first = !seen.iter().any(|r| r.event_id == received.event_id);
                    seen.push(received);
                    if first {
                        HttpResponse::InternalServerError().finish()
                    } else {
                        HttpResponse::Ok().finish()
                    }
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .expect("listen")
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    (url, seen, handle)
}

fn signed(secret: &str, received: &Received) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{}.{}", received.timestamp, received.body).as_bytes());
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    expected == received.signature
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_get_every_event_signed_and_again_after_a_500() {
    let server = TestServer::configured(|config| {
        config.webhooks.poll_interval_ms = 50;
        config.webhooks.retry_base_ms = 100;
    })
    .await;
    let s = staff(&server, "acme").await;
    let (url, seen, receiver) = receiver().await;
    let create = "mutation($url: String!) { createWebhook(url: $url, entity: \"crm.complaint\", kinds: [\"create\", \"transition\"]) { id secret kinds } }";
    let (body, _) = server.graphql(&s.sup, create, json!({"url": url})).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "admins only: {body}");
    let (body, _) = server
        .graphql(
            &s.tenant.admin,
            create,
            json!({"url": "ftp://example.test/x"}),
        )
        .await;
    assert_eq!(error_code(&body), "VALIDATION_FAILED", "{body}");
    let hook = server
        .ok(&s.tenant.admin, create, json!({"url": url}))
        .await["createWebhook"]
        .clone();
    let secret = hook["secret"].as_str().unwrap().to_string();

    let id = complaint(&server, &s.spec, &s.customer, "热水器漏水").await;
    take(
        &server,
        &s.spec,
        &id,
        "accept",
        json!({"handlerId": s.handler_id}),
    )
    .await;
    server
        .ok(
            &s.tenant.admin,
            "mutation($id: ID!) { updateCrmComplaint(id: $id, patch: {orderNo: \"SO-1\"}) { id } }",
            json!({"id": id}),
        )
        .await;

    // Two events of the asked kinds (the update is not one), each sent twice: 500, then 200.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let count = seen.lock().unwrap().len();
        if count >= 4 || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let received = seen.lock().unwrap().clone();
    assert_eq!(received.len(), 4, "{received:#?}");
    for request in &received {
        assert!(signed(&secret, request), "valid signature: {request:?}");
        assert!(!signed("wrong secret", request));
    }
    let bodies: Vec<Value> = received
        .iter()
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect();
    let mut kinds: Vec<(&str, &str)> = bodies
        .iter()
        .map(|b| (b["kind"].as_str().unwrap(), b["id"].as_str().unwrap()))
        .collect();
    kinds.sort();
    kinds.dedup();
    assert_eq!(
        kinds.len(),
        2,
        "two distinct events, each delivered twice: {bodies:#?}"
    );
    let transition = bodies.iter().find(|b| b["kind"] == "transition").unwrap();
    assert_eq!(transition["transition"], "accept");
    assert_eq!(
        (transition["from"].as_str(), transition["to"].as_str()),
        (Some("registered"), Some("accepted"))
    );
    assert_eq!(transition["recordId"], id);
    assert_eq!(transition["record"]["state"], "accepted");
    for request in &received {
        let body: Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(
            body["id"],
            request.event_id.as_str(),
            "the event id is stable"
        );
    }

    let log = server
        .ok(
            &s.tenant.admin,
            "query($id: ID!) { webhookDeliveries(webhookId: $id) { status attempts lastStatusCode } }",
            json!({"id": hook["id"]}),
        )
        .await;
    let mut deliveries = Vec::new();
    for _ in 0..100 {
        deliveries = server
            .ok(
                &s.tenant.admin,
                "query($id: ID!) { webhookDeliveries(webhookId: $id) { status attempts lastStatusCode } }",
                json!({"id": hook["id"]}),
            )
            .await["webhookDeliveries"]
            .as_array()
            .unwrap()
            .clone();
        if deliveries.iter().all(|d| d["status"] == "delivered") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        deliveries,
        vec![json!({"status": "delivered", "attempts": 2, "lastStatusCode": 200}); 2],
        "{log}"
    );
    let (body, _) = server
        .graphql(
            &s.tenant.admin,
            "query($id: ID!) { webhookDeliveries(webhookId: $id) { status } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND", "not a webhook: {body}");

    // Sent events leave the outbox after the retention time; the history keeps them.
    let later = chrono::Utc::now() + chrono::Duration::days(1);
    let pruned = server
        .kernel
        .store
        .prune_outbox(later)
        .await
        .expect("prune");
    assert_eq!(
        pruned, 5,
        "region, customer, complaint, accept and update events were all dispatched"
    );
    let history = server
        .ok(
            &s.sup,
            "query($id: ID!) { history(entity: \"crm.complaint\", id: $id) { kind } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(history["history"].as_array().unwrap().len(), 3);
    receiver.stop(true).await;
}

async fn subscribe(
    server: &TestServer,
    token: &str,
    query: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let url = format!("{}/graphql/ws", server.url.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket");
    assert_eq!(
        response.headers().get("sec-websocket-protocol").unwrap(),
        "graphql-transport-ws"
    );
    socket
        .send(Message::text(
            json!({"type": "connection_init", "payload": {}}).to_string(),
        ))
        .await
        .unwrap();
    let ack = next_json(&mut socket).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    socket
        .send(Message::text(
            json!({"type": "subscribe", "id": "1", "payload": {"query": query}}).to_string(),
        ))
        .await
        .unwrap();
    socket
}

async fn next_json(
    socket: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s")
            .expect("open socket")
            .expect("valid frame");
        if let Message::Text(text) = message {
            return serde_json::from_str(text.as_str()).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn subscribers_hear_only_of_records_they_may_read() {
    let server = TestServer::new().await;
    let s = staff(&server, "acme").await;
    // A sales representative reads only complaints they own.
    let rep = server
        .user(&s.tenant, "rep@acme.test", &["sales_rep"], None)
        .await;
    let query = "subscription { crmComplaintChanged { kind recordId transition record { id state description } } }";
    let mut rep_socket = subscribe(&server, &rep, query).await;
    let mut sup_socket = subscribe(&server, &s.sup, query).await;
    // Give the subscriptions a moment to be registered before anything changes.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let hidden = complaint(&server, &s.spec, &s.customer, "别人的投诉").await;
    let own = complaint(&server, &rep, &s.customer, "我的客户投诉").await;
    take(
        &server,
        &s.spec,
        &own,
        "accept",
        json!({"handlerId": s.handler_id}),
    )
    .await;

    let first = next_json(&mut rep_socket).await;
    assert_eq!(first["type"], "next", "{first}");
    let change = &first["payload"]["data"]["crmComplaintChanged"];
    assert_eq!(
        change["recordId"], own,
        "the first event a rep hears of is their own: {first}"
    );
    assert_eq!(change["kind"], "create");
    assert_eq!(change["record"]["description"], "我的客户投诉");
    let second = next_json(&mut rep_socket).await;
    let change = &second["payload"]["data"]["crmComplaintChanged"];
    assert_eq!(
        (change["kind"].as_str(), change["transition"].as_str()),
        (Some("transition"), Some("accept"))
    );
    assert_eq!(change["record"]["state"], "accepted");

    // The supervisor reads every complaint, so hears all three changes in order.
    let mut heard = Vec::new();
    for _ in 0..3 {
        let message = next_json(&mut sup_socket).await;
        let change = &message["payload"]["data"]["crmComplaintChanged"];
        heard.push((
            change["recordId"].clone(),
            change["kind"].as_str().unwrap().to_string(),
        ));
    }
    assert_eq!(
        heard,
        vec![
            (hidden, "create".to_string()),
            (own.clone(), "create".to_string()),
            (own, "transition".to_string()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn https_webhooks_are_sent_over_tls() {
    let server = TestServer::configured(|config| {
        config.webhooks.poll_interval_ms = 50;
        config.webhooks.max_attempts = 1;
    })
    .await;
    let s = staff(&server, "acme").await;
    // A receiver that speaks plain HTTP: a TLS client fails its handshake there.
    let (url, seen, receiver) = receiver().await;
    let https = url.replace("http://", "https://");
    let create = "mutation($url: String!) { createWebhook(url: $url, entity: \"*\", kinds: [\"create\"]) { id } }";
    let hook = server
        .ok(&s.tenant.admin, create, json!({"url": https}))
        .await["createWebhook"]
        .clone();
    complaint(&server, &s.spec, &s.customer, "走 HTTPS 的投诉").await;
    let query = "query($id: ID!) { webhookDeliveries(webhookId: $id) { status lastError } }";
    let mut deliveries = Value::Null;
    for _ in 0..100 {
        deliveries = server
            .ok(&s.tenant.admin, query, json!({"id": hook["id"]}))
            .await["webhookDeliveries"]
            .clone();
        if deliveries[0]["status"] == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(deliveries[0]["status"], "failed", "{deliveries}");
    let error = deliveries[0]["lastError"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    eprintln!("{error}");
    assert!(
        seen.lock().unwrap().is_empty(),
        "nothing arrived in plain text"
    );
    receiver.stop(true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscriber_hears_of_changes_made_through_another_node_once() {
    let server = TestServer::configured(|config| config.api.event_poll_ms = 50).await;
    let s = staff(&server, "acme").await;
    let other = server.second_node().await;
    let query = "subscription { crmComplaintChanged { kind recordId } }";
    let mut on_other = subscribe(&other, &s.sup, query).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // One change through the first node, one through the subscriber's own node.
    let first = complaint(&server, &s.spec, &s.customer, "在一号节点登记").await;
    let second = complaint(&other, &s.spec, &s.customer, "在二号节点登记").await;
    let mut heard = Vec::new();
    for _ in 0..2 {
        let message = next_json(&mut on_other).await;
        heard.push(message["payload"]["data"]["crmComplaintChanged"]["recordId"].clone());
    }
    heard.sort_by_key(|id| id.to_string());
    let mut expected = vec![first, second];
    expected.sort_by_key(|id| id.to_string());
    assert_eq!(heard, expected);
    // Each event once: nothing more arrives.
    let more = tokio::time::timeout(Duration::from_millis(800), on_other.next()).await;
    assert!(more.is_err(), "an event arrived twice: {more:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscription_ends_when_its_token_is_revoked() {
    let server = TestServer::configured(|config| config.api.subscription_recheck_ms = 100).await;
    let s = staff(&server, "acme").await;
    let query = "subscription { crmComplaintChanged { kind } }";
    let mut socket = subscribe(&server, &s.sup, query).await;
    server
        .ok(
            &s.tenant.admin,
            "mutation { revokeUserTokens(email: \"sup@acme.test\") }",
            json!({}),
        )
        .await;
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    })
    .await
    .expect("closed within the recheck interval");
    assert_eq!(closed, Some(4401));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_websocket_without_a_valid_token_is_refused() {
    let server = TestServer::new().await;
    let url = format!(
        "{}/graphql/ws?token=nope",
        server.url.replace("http://", "ws://")
    );
    let error = tokio_tungstenite::connect_async(url)
        .await
        .expect_err("refused");
    assert!(error.to_string().contains("401"), "{error}");
}
