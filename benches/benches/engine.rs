//! Engine overhead per node, measured side by side with the peer engine
//! dagrs in the same process and runtime:
//!
//! * `engine/chain/1000/{dynamic,static}`: a 1,000-node chain of the trivial
//!   `noop.pass` (parameters templated from `$input`, tenant set, whole
//!   registry pipeline), the plugin loaded from its `.so` or linked in;
//! * `engine/chain/1000/dagrs`: the same chain in dagrs, each node an
//!   `Action` receiving its predecessor's value and sending value + 1;
//! * `engine/fan_out_in/1000/{static,dagrs}`: one start node, 1,000 nodes
//!   fed by it, one join of all 1,000 (1,002 nodes);
//! * `engine/chain/10000/static`: the chain at 10,000 nodes (linear scaling).
//!
//! Divide a time by the node count for the per-node cost.

use std::sync::Arc;

use async_trait::async_trait;
use criterion::{criterion_group, criterion_main, Criterion};
use dagrs::{
    Action, Content, DefaultNode, EnvVar, Graph, InChannels, Node, NodeId, NodeTable, OutChannels,
    Output,
};
use plugflow_engine::{Engine, RunOptions, RunStatus};
use plugin_abi::request::ExecContext;

fn options() -> RunOptions {
    RunOptions {
        context: ExecContext {
            tenant_id: Some("acme".into()),
            execution_id: "bench".into(),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// dagrs's trivial node: the sum of what it received, plus one, sent on.
struct Pass;

#[async_trait]
impl Action for Pass {
    async fn run(&self, input: &mut InChannels, out: &mut OutChannels, _: Arc<EnvVar>) -> Output {
        let received: Vec<u64> = input
            .map(|c| c.ok().and_then(|c| c.get::<u64>().copied()).unwrap_or(0))
            .await;
        let value = received.iter().sum::<u64>() + 1;
        out.broadcast(Content::new(value)).await;
        Output::Out(Some(Content::new(value)))
    }
}

/// A dagrs graph and the id of its last node.
struct DagrsGraph {
    graph: Graph,
    last: NodeId,
}

impl DagrsGraph {
    fn node(graph: &mut Graph, table: &mut NodeTable, name: String) -> NodeId {
        let node = DefaultNode::with_action(name, Pass, table);
        let id = node.id();
        graph.add_node(node).expect("dagrs node");
        id
    }

    fn chain(n: usize) -> Self {
        let (mut graph, mut table) = (Graph::new(), NodeTable::new());
        let ids: Vec<NodeId> = (0..n)
            .map(|i| Self::node(&mut graph, &mut table, format!("n{i}")))
            .collect();
        for pair in ids.windows(2) {
            graph.add_edge(pair[0], vec![pair[1]]).expect("dagrs edge");
        }
        Self {
            graph,
            last: ids[n - 1],
        }
    }

    fn fan_out_in(width: usize) -> Self {
        let (mut graph, mut table) = (Graph::new(), NodeTable::new());
        let start = Self::node(&mut graph, &mut table, "start".into());
        let middle: Vec<NodeId> = (0..width)
            .map(|i| Self::node(&mut graph, &mut table, format!("w{i}")))
            .collect();
        let join = Self::node(&mut graph, &mut table, "join".into());
        graph.add_edge(start, middle.clone()).expect("dagrs edge");
        for &m in &middle {
            graph.add_edge(m, vec![join]).expect("dagrs edge");
        }
        Self { graph, last: join }
    }

    /// One run: dagrs needs a reset between runs of the same graph.
    async fn run(&mut self, expected: u64) {
        self.graph.reset().await.expect("dagrs reset");
        self.graph.async_start().await.expect("dagrs run");
        let results = self.graph.get_results::<u64>();
        let last = results
            .get(&self.last)
            .and_then(|r| r.as_ref().map(|v| **v));
        assert_eq!(last, Some(expected));
    }
}

fn chains(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (dynamic, _dir) = plugflow_benches::dynamic_noop();
    let linked = plugflow_benches::static_noop();
    let mut group = c.benchmark_group("engine");
    group.sample_size(20);
    for (n, label, registry) in [
        (1000, "chain/1000/dynamic", &dynamic),
        (1000, "chain/1000/static", &linked),
        (10_000, "chain/10000/static", &linked),
    ] {
        let compiled = plugflow_benches::chain(n);
        let engine = Engine::new(registry.clone());
        group.bench_function(label, |b| {
            b.to_async(&runtime).iter(|| async {
                let result = engine.run(&compiled, options()).await.expect("valid");
                assert_eq!(result.status, RunStatus::Success);
                result
            });
        });
    }
    let mut dagrs_chain = DagrsGraph::chain(1000);
    group.bench_function("chain/1000/dagrs", |b| {
        b.iter(|| runtime.block_on(dagrs_chain.run(1000)));
    });

    let compiled = plugflow_benches::fan_out_in(1000);
    let engine = Engine::new(linked.clone());
    group.bench_function("fan_out_in/1000/static", |b| {
        b.to_async(&runtime).iter(|| async {
            let result = engine.run(&compiled, options()).await.expect("valid");
            assert_eq!(result.metrics.nodes_succeeded, 1002);
            result
        });
    });
    let mut dagrs_fan = DagrsGraph::fan_out_in(1000);
    group.bench_function("fan_out_in/1000/dagrs", |b| {
        // start 1, each middle node 2, the join 1000 * 2 + 1.
        b.iter(|| runtime.block_on(dagrs_fan.run(2001)));
    });
    group.finish();
}

criterion_group!(benches, chains);
criterion_main!(benches);
