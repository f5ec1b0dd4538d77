//! http-request against a real HTTP server on 127.0.0.1 started by the
//! test, through the `.so` and statically linked: methods, JSON, status
//! classes, redirects, timeouts, size limits and the egress allowlist.

use std::time::Duration;

use loader::{DiscoveryConfig, Loader};
use plugflow_tests::http_server::{self, Response};
use plugflow_tests::install;
use plugin_abi::request::ExecContext;
use registry_core::{ErrorCode, NodeCall, NodeExecution, Registry};
use serde_json::{json, Map, Value};

/// The test server's routes.
fn serve() -> u16 {
    http_server::serve(|request, port| match request.path.as_str() {
        "/echo" => Response::json(200, &request.to_json()),
        "/text" => Response::new(200, "text/plain", "plain words"),
        "/missing" => Response::json(404, &json!({"error": "no such thing"})),
        "/broken" => Response::new(503, "text/plain", "try later"),
        "/limited" => Response::new(429, "text/plain", "slow down"),
        "/hop" => Response::redirect(302, "/echo"),
        "/see-other" => Response::redirect(303, "/echo"),
        "/escape" => Response::redirect(302, &format!("http://127.0.0.2:{port}/echo")),
        "/loop" => Response::redirect(302, "/loop"),
        "/slow" => {
            std::thread::sleep(Duration::from_millis(1500));
            Response::new(200, "text/plain", "late")
        }
        "/big" => Response::new(200, "text/plain", "x".repeat(200_000)),
        _ => Response::new(500, "text/plain", "unknown path"),
    })
}

/// Registries with http-request: with `egress` as its allowlist, or with
/// none and internal addresses opened (the test server is on loopback).
fn registries(egress: Option<Value>) -> Vec<(Registry, Option<tempfile::TempDir>)> {
    let mut out = Vec::new();
    for dynamic in [true, false] {
        let registry = Registry::new();
        let dir = if dynamic {
            let dir = tempfile::tempdir().unwrap();
            install(dir.path(), &["plugflow_http"]);
            let report =
                Loader::new(DiscoveryConfig::with_directories([dir.path()])).discover(&registry);
            assert_eq!(report.totals.loaded, 1, "{report:#?}");
            Some(dir)
        } else {
            loader::register_static_plugin(&registry, plugflow_http::plugflow_module()).unwrap();
            None
        };
        let mut config = Map::new();
        match &egress {
            Some(egress) => config.insert("egress".into(), egress.clone()),
            None => config.insert("allowInternal".into(), json!(true)),
        };
        registry.set_node_config("http-request", config);
        out.push((registry, dir));
    }
    out
}

/// Registries with http-request and no egress configuration at all: the
/// defaults.
fn default_registries() -> Vec<(Registry, Option<tempfile::TempDir>)> {
    let mut out = Vec::new();
    for dynamic in [true, false] {
        let registry = Registry::new();
        let dir = if dynamic {
            let dir = tempfile::tempdir().unwrap();
            install(dir.path(), &["plugflow_http"]);
            Loader::new(DiscoveryConfig::with_directories([dir.path()])).discover(&registry);
            Some(dir)
        } else {
            loader::register_static_plugin(&registry, plugflow_http::plugflow_module()).unwrap();
            None
        };
        out.push((registry, dir));
    }
    out
}

async fn call(registry: &Registry, tenant: &str, params: Value) -> NodeExecution {
    let context = ExecContext {
        tenant_id: Some(tenant.into()),
        ..Default::default()
    };
    registry
        .execute(&NodeCall::new("http-request", "h", &params).context(&context))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_responses_and_status_classes() {
    let port = serve();
    let base = format!("http://127.0.0.1:{port}");
    for (registry, _dir) in registries(None) {
        let done = call(&registry, "a", json!({"method": "post", "url": format!("{base}/echo"), "query": {"q": "a b", "n": 1}, "headers": {"X-Token": "t1"}, "body": {"k": [1, 2]}})).await;
        let out = done.output;
        assert_eq!(out["status"], 200, "{:?}", done.error);
        assert_eq!(out["body"]["method"], "POST");
        assert_eq!(
            out["body"]["target"], "/echo?q=a+b&n=1",
            "query keys in the order written, values encoded"
        );
        assert_eq!(out["body"]["headers"]["x-token"], "t1");
        assert_eq!(out["body"]["headers"]["content-type"], "application/json");
        assert_eq!(out["body"]["body"], "{\"k\":[1,2]}");
        assert_eq!(
            call(&registry, "a", json!({"url": format!("{base}/text")}))
                .await
                .output["body"],
            "plain words"
        );

        let missing = call(&registry, "a", json!({"url": format!("{base}/missing")})).await;
        let error = missing.error.unwrap();
        assert_eq!(
            (error.code, error.retryable),
            (ErrorCode::ExecutionError, false)
        );
        assert_eq!(
            error.details.unwrap()["body"]["error"],
            "no such thing",
            "the response rides along"
        );
        for path in ["/broken", "/limited"] {
            let error = call(&registry, "a", json!({"url": format!("{base}{path}")}))
                .await
                .error
                .unwrap();
            assert!(error.retryable, "{path} is retryable");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_timeouts_and_size_limits() {
    let port = serve();
    let base = format!("http://127.0.0.1:{port}");
    for (registry, _dir) in registries(None) {
        assert_eq!(
            call(&registry, "a", json!({"url": format!("{base}/hop")}))
                .await
                .output["body"]["method"],
            "GET"
        );
        let after_303 = call(
            &registry,
            "a",
            json!({"method": "POST", "url": format!("{base}/see-other"), "body": "x"}),
        )
        .await;
        assert_eq!(
            after_303.output["body"]["method"], "GET",
            "303 turns into GET"
        );
        let not_followed = call(
            &registry,
            "a",
            json!({"url": format!("{base}/hop"), "followRedirects": false}),
        )
        .await;
        assert_eq!(not_followed.output["status"], 302);
        let looping = call(
            &registry,
            "a",
            json!({"url": format!("{base}/loop"), "maxRedirects": 3}),
        )
        .await;
        assert!(looping
            .error
            .unwrap()
            .message
            .contains("more than 3 redirects"));

        let started = std::time::Instant::now();
        let slow = call(
            &registry,
            "a",
            json!({"url": format!("{base}/slow"), "timeout": 0.2}),
        )
        .await;
        assert_eq!(slow.error_code(), Some(ErrorCode::ExecutionTimeout));
        assert!(started.elapsed() < Duration::from_millis(1200));

        let big = call(
            &registry,
            "a",
            json!({"url": format!("{base}/big"), "maxResponseBytes": 1000}),
        )
        .await;
        assert!(big
            .error
            .unwrap()
            .message
            .contains("larger than 1000 bytes"));
        let refused = call(&registry, "a", json!({"url": "http://127.0.0.1:1/nothing"})).await;
        assert_eq!(refused.error_code(), Some(ErrorCode::ExecutionError));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_egress_allowlist_applies_per_tenant_and_to_every_redirect() {
    let port = serve();
    let base = format!("http://127.0.0.1:{port}");
    let egress = json!({"a": [format!("127.0.0.1:{port}")], "b": ["*.example.com"]});
    for (registry, _dir) in registries(Some(egress.clone())) {
        assert_eq!(
            call(&registry, "a", json!({"url": format!("{base}/echo")}))
                .await
                .output["status"],
            200
        );
        let b = call(&registry, "b", json!({"url": format!("{base}/echo")})).await;
        assert!(b
            .error
            .unwrap()
            .message
            .contains("not allowed for tenant `b`"));
        let nobody = call(&registry, "c", json!({"url": format!("{base}/echo")})).await;
        assert!(
            nobody.error.is_some(),
            "a tenant without an entry reaches nothing"
        );
        let escape = call(&registry, "a", json!({"url": format!("{base}/escape")})).await;
        assert!(
            escape.error.unwrap().message.contains("127.0.0.2"),
            "a redirect off the allowlist is refused"
        );
        for url in [
            "file:///etc/passwd",
            "ftp://127.0.0.1/x",
            "gopher://127.0.0.1/",
        ] {
            let done = call(&registry, "a", json!({"url": url})).await;
            assert_eq!(
                done.error_code(),
                Some(ErrorCode::InvalidParameters),
                "{url}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_resolving_to_internal_addresses_are_refused() {
    let port = http_server::serve(move |request, port| match request.path.as_str() {
        "/to-localhost" => Response::redirect(302, &format!("http://localhost:{port}/echo")),
        _ => Response::json(200, &request.to_json()),
    });
    // Tenant a may reach `localhost` by name, but the name resolves to a
    // loopback address the allowlist does not name: refused. Tenant b names
    // the address itself: allowed.
    let egress = json!({"a": [format!("localhost:{port}"), format!("127.0.0.1:{port}")],
                        "b": [format!("localhost:{port}")], "c": ["127.0.0.1", "localhost"]});
    for (registry, _dir) in registries(Some(egress.clone())) {
        let by_name = call(
            &registry,
            "b",
            json!({"url": format!("http://localhost:{port}/echo")}),
        )
        .await;
        let message = by_name.error.map(|e| e.message).unwrap_or_default();
        assert!(message.contains("is the internal address"), "{message}");
        // Tenant a names 127.0.0.1 too, so `localhost` reaches it (when it
        // resolves to IPv4; a ::1 answer is refused just the same).
        let named = call(
            &registry,
            "a",
            json!({"url": format!("http://localhost:{port}/echo")}),
        )
        .await;
        match named.error {
            None => assert_eq!(named.output["status"], 200),
            Some(e) => assert!(e.message.contains("::1"), "{}", e.message),
        }
        // A redirect from an allowed address to a name resolving inside is
        // checked on its hop as well.
        let hop = call(
            &registry,
            "b",
            json!({"url": format!("http://127.0.0.1:{port}/to-localhost")}),
        )
        .await;
        assert!(hop.error.is_some(), "b may not even start at 127.0.0.1");
        let hop = call(
            &registry,
            "c",
            json!({"url": format!("http://127.0.0.1:{port}/to-localhost")}),
        )
        .await;
        assert!(
            hop.error.is_none() || !hop.error.as_ref().unwrap().retryable,
            "refusals are final, not retried"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_addresses_are_refused_by_default_in_every_spelling() {
    let port = serve();
    for (registry, _dir) in default_registries() {
        for host in [
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
            "[::ffff:127.0.0.1]".to_owned(),
            "2130706433".to_owned(),
            "0177.0.0.1".to_owned(),
            "0x7f.1".to_owned(),
            "127.1".to_owned(),
            "[::1]".to_owned(),
            "0.0.0.0".to_owned(),
            "[::]".to_owned(),
            "169.254.169.254".to_owned(),
        ] {
            let url = format!("http://{host}:{port}/echo");
            let done = call(&registry, "a", json!({"url": url})).await;
            let message = done
                .error
                .as_ref()
                .map(|e| e.message.clone())
                .unwrap_or_default();
            assert!(
                message.contains("egress refused"),
                "{url}: {message} {:?}",
                done.output
            );
        }
    }
}

/// Header sets a test server saw.
type SeenHeaders = std::sync::Arc<std::sync::Mutex<Vec<Map<String, Value>>>>;

/// Two origins on loopback (two ports): the first redirects to the second,
/// which records the headers it was sent.
fn two_origins() -> (u16, SeenHeaders) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let other = http_server::serve(move |request, _| {
        log.lock().unwrap().push(request.headers.clone());
        Response::json(200, &json!({"ok": true}))
    });
    let first = http_server::serve(move |request, port| match request.path.as_str() {
        "/same" => Response::redirect(302, &format!("http://127.0.0.1:{port}/done")),
        "/done" => Response::json(200, &json!({"auth": request.headers.get("authorization")})),
        _ => Response::redirect(302, &format!("http://127.0.0.1:{other}/landing")),
    });
    (first, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_dropped_on_a_redirect_to_another_origin() {
    let (port, seen) = two_origins();
    for (registry, _dir) in registries(None) {
        let done = call(
            &registry,
            "a",
            json!({"url": format!("http://127.0.0.1:{port}/away"),
                   "headers": {"Authorization": "Bearer hunter2", "Cookie": "session=1", "Proxy-Authorization": "Basic x", "X-Trace": "kept"}}),
        )
        .await;
        assert_eq!(done.output["status"], 200, "{:?}", done.error);
        let headers = seen.lock().unwrap().pop().unwrap();
        for dropped in ["authorization", "cookie", "proxy-authorization"] {
            assert!(
                !headers.contains_key(dropped),
                "{dropped} crossed origins: {headers:?}"
            );
        }
        assert_eq!(headers["x-trace"], "kept");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_follow_a_redirect_within_the_origin() {
    let (port, _) = two_origins();
    for (registry, _dir) in registries(None) {
        let done = call(
            &registry,
            "a",
            json!({"url": format!("http://127.0.0.1:{port}/same"), "headers": {"Authorization": "Bearer hunter2"}}),
        )
        .await;
        assert_eq!(done.output["body"]["auth"], "Bearer hunter2");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_cannot_set_host() {
    let port = serve();
    for (registry, _dir) in registries(None) {
        let done = call(
            &registry,
            "a",
            json!({"url": format!("http://127.0.0.1:{port}/echo"), "headers": {"Host": "internal.example"}}),
        )
        .await;
        assert_eq!(done.error_code(), Some(ErrorCode::InvalidParameters));
    }
}
