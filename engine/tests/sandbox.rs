//! Expressions of one execution cannot leave anything for the next: in a
//! host running many tenants' executions on the same threads, that would
//! be a cross-tenant channel.

mod common;

use common::*;
use registry_core::*;
use serde_json::json;

#[tokio::test(flavor = "current_thread")]
async fn a_global_set_by_one_execution_is_not_seen_by_the_next() {
    let (engine, _) = setup();
    let writer = json!({"nodes": [node("w", "t.echo", json!({"v": "{{ (globalThis.stash = 'tenant-a secret') }}"}))], "connections": {}});
    let reader = json!({"nodes": [node("r", "t.echo", json!({"v": "{{ typeof globalThis.stash }}"}))], "connections": {}});
    let written = run(&engine, writer, json!({})).await;
    assert_eq!(
        written.nodes["w"].error_code,
        Some(ErrorCode::ExpressionError),
        "the realm is frozen"
    );
    let read = run(&engine, reader, json!({})).await;
    assert_eq!(read.nodes["r"].output["params"]["v"], "undefined");
}

#[tokio::test(flavor = "current_thread")]
async fn a_built_in_changed_by_one_execution_is_unchanged_for_the_next() {
    let (engine, _) = setup();
    let writer = json!({"nodes": [node("w", "t.echo", json!({"v": "{{ (Array.prototype.leak = 1) }}"}))], "connections": {}});
    let reader = json!({"nodes": [node("r", "t.echo", json!({"v": "{{ [].leak === undefined }}"}))], "connections": {}});
    let _ = run(&engine, writer, json!({})).await;
    let read = run(&engine, reader, json!({})).await;
    assert_eq!(read.nodes["r"].output["params"]["v"], true);
}
