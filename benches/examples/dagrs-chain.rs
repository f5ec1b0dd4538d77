//! The peer engine as a whole process, for the whole-process comparison:
//! `dagrs-chain N` builds a chain of N dagrs nodes, each adding 1 to what
//! it receives (as `plugflow run` does with a chain of `math.add`), runs it
//! once on a current-thread tokio runtime and prints the last value.

use std::sync::Arc;

use async_trait::async_trait;
use dagrs::{
    Action, Content, DefaultNode, EnvVar, Graph, InChannels, Node, NodeTable, OutChannels, Output,
};

struct AddOne;

#[async_trait]
impl Action for AddOne {
    async fn run(&self, input: &mut InChannels, out: &mut OutChannels, _: Arc<EnvVar>) -> Output {
        let received: Vec<u64> = input
            .map(|c| c.ok().and_then(|c| c.get::<u64>().copied()).unwrap_or(0))
            .await;
        let value = received.iter().sum::<u64>() + 1;
        out.broadcast(Content::new(value)).await;
        Output::Out(Some(Content::new(value)))
    }
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (mut graph, mut table) = (Graph::new(), NodeTable::new());
    let ids: Vec<_> = (0..n)
        .map(|i| {
            let node = DefaultNode::with_action(format!("n{i}"), AddOne, &mut table);
            let id = node.id();
            graph.add_node(node).expect("dagrs node");
            id
        })
        .collect();
    for pair in ids.windows(2) {
        graph.add_edge(pair[0], vec![pair[1]]).expect("dagrs edge");
    }
    runtime.block_on(graph.async_start()).expect("dagrs run");
    let results = graph.get_results::<u64>();
    let last = results
        .get(&ids[n - 1])
        .and_then(|r| r.as_ref().map(|v| **v));
    assert_eq!(last, Some(n as u64));
    println!("{}", n);
}
