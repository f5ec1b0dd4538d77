//! The workflow as a graph: nodes by index, edges with ports and output
//! indexes, parallel tasks, start nodes. Building it finds dangling
//! connections and cycles.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde_json::Value;

use super::model::{Outputs, Workflow};
use super::problem::Problem;
use registry_core::ErrorCode;

/// Which output port an edge leaves from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Port {
    /// The regular output (`main`, and `success`/`condition` aliases).
    Main,
    /// The error output, followed under `continueErrorOutput`.
    Error,
}

/// An edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Edge {
    /// Source node index.
    pub from: usize,
    /// Source port.
    pub port: Port,
    /// Source output index (0 = true, 1 = false for conditions).
    pub output: usize,
    /// Target node index.
    pub to: usize,
}

/// A node index by key (id or name). The hasher is fast and seeded per
/// map, so crafted ids cannot make lookups collide.
pub type NodeIndex = HashMap<String, usize, foldhash::fast::RandomState>;

/// The graph of a workflow.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    /// Node ids by index.
    pub ids: Vec<String>,
    /// Index by node id.
    pub by_id: NodeIndex,
    /// Index by node name.
    pub by_name: NodeIndex,
    /// All edges.
    pub edges: Vec<Edge>,
    /// Edge indexes leaving each node.
    pub outgoing: Vec<Vec<usize>>,
    /// Edge indexes entering each node.
    pub incoming: Vec<Vec<usize>>,
    /// Distinct source nodes of each node's incoming edges, in edge order.
    pub sources: Vec<Vec<usize>>,
    /// For each edge, the position of its source in its target's
    /// `sources`: a run marks an arrival without searching the list (a
    /// join of a thousand branches would otherwise search it a thousand
    /// times).
    pub source_slot: Vec<usize>,
    /// Where each node's sources start when every node's `sources` are
    /// laid end to end (one more entry than nodes: the last is the total).
    pub source_start: Vec<usize>,
    /// For each `parallel` node, its task nodes.
    pub tasks: Vec<Vec<usize>>,
    /// For each task node, its `parallel` node.
    pub task_of: Vec<Option<usize>>,
    /// Start nodes.
    pub start: Vec<usize>,
}

use crate::pointer::escape as esc;

impl Graph {
    /// A node's index by id, else by name.
    pub fn index_of(&self, key: &str) -> Option<usize> {
        self.by_id
            .get(key)
            .or_else(|| self.by_name.get(key))
            .copied()
    }

    /// The nodes that finish before node `i` starts on every path that
    /// reaches it: its transitive predecessors, and the tasks of any
    /// parallel node among them. `target` stops the search early.
    pub fn finishes_before(&self, target: usize, i: usize) -> bool {
        let mut seen = vec![false; self.ids.len()];
        let mut pending: Vec<usize> = self.predecessors(i).collect();
        while let Some(v) = pending.pop() {
            if v == target {
                return true;
            }
            if std::mem::replace(&mut seen[v], true) {
                continue;
            }
            if self.tasks[v].contains(&target) {
                return true;
            }
            pending.extend(self.predecessors(v));
        }
        false
    }

    /// Direct predecessors: connection sources, and for a task, its
    /// parallel node's predecessors.
    fn predecessors(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        let owner = self.task_of[i];
        self.incoming[i].iter().map(|&e| self.edges[e].from).chain(
            owner
                .into_iter()
                .flat_map(|p| self.incoming[p].iter().map(|&e| self.edges[e].from)),
        )
    }

    /// Builds the graph, reporting dangling connections, duplicate ids,
    /// bad parallel tasks and cycles (naming the nodes on the cycle).
    pub fn build(workflow: &Workflow) -> (Graph, Vec<Problem>) {
        let mut problems = Vec::new();
        let mut g = Graph::default();
        let n = workflow.nodes.len();
        g.ids.reserve(n);
        g.by_id.reserve(n);
        g.by_name.reserve(n);
        for (i, node) in workflow.nodes.iter().enumerate() {
            if node.id.is_empty() {
                problems.push(Problem::new(
                    None,
                    ErrorCode::ValidationFailed,
                    format!("/nodes/{i}/id"),
                    "node has an empty id; give every node a unique id",
                ));
            }
            if g.by_id.insert(node.id.clone(), i).is_some() {
                problems.push(Problem::new(
                    Some(&node.id),
                    ErrorCode::ValidationFailed,
                    format!("/nodes/{i}/id"),
                    "duplicate node id; node ids must be unique",
                ));
            }
            if !node.name.is_empty() {
                g.by_name.entry(node.name.clone()).or_insert(i);
            }
            g.ids.push(node.id.clone());
        }
        if n == 0 {
            problems.push(Problem::new(
                None,
                ErrorCode::ValidationFailed,
                "/nodes",
                "workflow has no nodes",
            ));
        }
        g.outgoing = vec![Vec::new(); n];
        g.incoming = vec![Vec::new(); n];
        g.sources = vec![Vec::new(); n];
        g.tasks = vec![Vec::new(); n];
        g.task_of = vec![None; n];

        let resolve =
            |g: &Graph, key: &str| g.by_id.get(key).or_else(|| g.by_name.get(key)).copied();
        // (target, source) → the source's position in the target's
        // `sources`.
        let mut slots: HashMap<(usize, usize), usize, foldhash::fast::RandomState> =
            HashMap::default();
        let mut seen: HashSet<(usize, bool, usize, usize), foldhash::fast::RandomState> =
            HashSet::default();
        for (source, ports) in &workflow.connections {
            let Some(from) = resolve(&g, source) else {
                problems.push(Problem::new(
                    None,
                    ErrorCode::ValidationFailed,
                    format!("/connections/{}", esc(source)),
                    format!("connection source `{source}` is not a node id or name"),
                ));
                continue;
            };
            for (port_name, outputs) in ports {
                let port = match port_name.as_str() {
                    "error" => Port::Error,
                    _ => Port::Main,
                };
                let lists: Vec<(usize, &Vec<super::model::Target>)> = match outputs {
                    Outputs::Array(items) => items
                        .iter()
                        .enumerate()
                        .filter_map(|(i, t)| t.as_ref().map(|t| (i, t)))
                        .collect(),
                    Outputs::Object(map) => {
                        let mut lists = Vec::new();
                        for (key, targets) in map {
                            match key.parse::<usize>() {
                                Ok(i) => lists.push((i, targets)),
                                Err(_) => problems.push(Problem::new(
                                    Some(&g.ids[from]),
                                    ErrorCode::ValidationFailed,
                                    format!(
                                        "/connections/{}/{}/{}",
                                        esc(source),
                                        esc(port_name),
                                        esc(key)
                                    ),
                                    format!("output index `{key}` is not a number"),
                                )),
                            }
                        }
                        lists
                    }
                };
                for (output, targets) in lists {
                    for (t, target) in targets.iter().enumerate() {
                        let Some(to) = resolve(&g, &target.node) else {
                            problems.push(Problem::new(
                                Some(&g.ids[from]),
                                ErrorCode::ValidationFailed,
                                format!("/connections/{}/{}/{output}/{t}/node", esc(source), esc(port_name)),
                                format!("connection target `{}` does not exist; fix the target or add the node", target.node),
                            ));
                            continue;
                        };
                        let edge = Edge {
                            from,
                            port,
                            output,
                            to,
                        };
                        if seen.insert((from, port == Port::Error, output, to)) {
                            g.outgoing[from].push(g.edges.len());
                            g.incoming[to].push(g.edges.len());
                            g.edges.push(edge);
                            let sources = &mut g.sources[to];
                            let slot = *slots.entry((to, from)).or_insert_with(|| {
                                sources.push(from);
                                sources.len() - 1
                            });
                            g.source_slot.push(slot);
                        }
                    }
                }
            }
        }

        g.source_start = std::iter::once(0)
            .chain(g.sources.iter().scan(0, |total, sources| {
                *total += sources.len();
                Some(*total)
            }))
            .collect();
        for (i, node) in workflow.nodes.iter().enumerate() {
            if !node.is_parallel() {
                continue;
            }
            let tasks = node.parameters.get("tasks").and_then(Value::as_array);
            let Some(tasks) = tasks else {
                problems.push(Problem::new(
                    Some(&node.id),
                    ErrorCode::ValidationFailed,
                    "/parameters/tasks",
                    "a parallel node needs `tasks`: a list of {\"nodeId\": ...}",
                ));
                continue;
            };
            for (t, task) in tasks.iter().enumerate() {
                let id = task
                    .get("nodeId")
                    .and_then(Value::as_str)
                    .or_else(|| task.as_str());
                match id.and_then(|id| resolve(&g, id)) {
                    Some(task_index) if workflow.nodes[task_index].is_parallel() => {
                        problems.push(Problem::new(
                            Some(&node.id),
                            ErrorCode::ValidationFailed,
                            format!("/parameters/tasks/{t}"),
                            format!(
                                "task `{}` is itself a parallel node; a parallel node's tasks must be ordinary nodes (connect the inner parallel node after this one instead)",
                                g.ids[task_index]
                            ),
                        ));
                    }
                    Some(task_index) if task_index != i && g.task_of[task_index].is_none() => {
                        if !g.incoming[task_index].is_empty() {
                            problems.push(Problem::new(Some(&g.ids[task_index]), ErrorCode::ValidationFailed, format!("/parameters/tasks/{t}"), format!("node `{}` is a task of parallel node `{}` and cannot also have incoming connections", g.ids[task_index], node.id)));
                        }
                        g.tasks[i].push(task_index);
                        g.task_of[task_index] = Some(i);
                    }
                    _ => problems.push(Problem::new(
                        Some(&node.id),
                        ErrorCode::ValidationFailed,
                        format!("/parameters/tasks/{t}"),
                        format!(
                            "task `{}` is not a node of this workflow (or is already a task)",
                            id.unwrap_or("?")
                        ),
                    )),
                }
            }
        }

        if let Some(cycle) = g.find_cycle() {
            let names: Vec<&str> = cycle.iter().map(|&i| g.ids[i].as_str()).collect();
            problems.push(Problem::new(
                Some(names[0]),
                ErrorCode::ValidationFailed,
                "/connections",
                format!(
                    "the workflow has a cycle: {}; a workflow must be a DAG",
                    names.join(" -> ")
                ),
            ));
        }

        let enabled: Vec<&super::model::Trigger> =
            workflow.triggers.iter().filter(|t| t.enabled).collect();
        if enabled.is_empty() {
            g.start = (0..n)
                .filter(|&i| g.incoming[i].is_empty() && g.task_of[i].is_none())
                .collect();
        } else {
            for (t, trigger) in enabled.iter().enumerate() {
                match resolve(&g, &trigger.node_id) {
                    Some(i) => g.start.push(i),
                    None => problems.push(Problem::new(
                        None,
                        ErrorCode::ValidationFailed,
                        format!("/triggers/{t}/nodeId"),
                        format!("trigger node `{}` does not exist", trigger.node_id),
                    )),
                }
            }
        }
        if n > 0 && g.start.is_empty() && problems.is_empty() {
            problems.push(Problem::new(
                None,
                ErrorCode::ValidationFailed,
                "/connections",
                "no start node: every node has an incoming connection",
            ));
        }
        (g, problems)
    }

    /// The `k`th successor of a node for cycle detection: connection
    /// targets, then, for a parallel node, its tasks.
    fn successor(&self, i: usize, k: usize) -> Option<usize> {
        let out = &self.outgoing[i];
        match out.get(k) {
            Some(&e) => Some(self.edges[e].to),
            None => self.tasks[i].get(k - out.len()).copied(),
        }
    }

    fn find_cycle(&self) -> Option<Vec<usize>> {
        // Iterative three-colour DFS; the grey stack is the current path,
        // each entry with how many of its successors it has walked.
        let n = self.ids.len();
        let mut colour = vec![0u8; n];
        let mut stack: Vec<(usize, usize)> = Vec::new();
        for root in 0..n {
            if colour[root] != 0 {
                continue;
            }
            colour[root] = 1;
            stack.push((root, 0));
            while let Some((node, walked)) = stack.last_mut() {
                let node = *node;
                let next = self.successor(node, *walked);
                *walked += 1;
                match next {
                    Some(next) if colour[next] == 1 => {
                        let start = stack.iter().position(|(n, _)| *n == next).unwrap_or(0);
                        let mut cycle: Vec<usize> =
                            stack[start..].iter().map(|(n, _)| *n).collect();
                        cycle.push(next);
                        return Some(cycle);
                    }
                    Some(next) if colour[next] == 0 => {
                        colour[next] = 1;
                        stack.push((next, 0));
                    }
                    Some(_) => {}
                    None => {
                        colour[node] = 2;
                        stack.pop();
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::Graph;
    use crate::workflow::Workflow;

    /// `a` reaches `j` by both outputs, `b` by one.
    fn join_graph() -> Graph {
        let text = r#"{"nodes": [{"id": "a", "type": "x"}, {"id": "b", "type": "x"}, {"id": "j", "type": "x"}],
            "connections": {"a": {"main": [[{"node": "j"}], [{"node": "j"}]]}, "b": {"main": [[{"node": "j"}]]}}}"#;
        let workflow = Workflow::from_json_str(text, "join.json").expect("parses");
        let (graph, problems) = Graph::build(&workflow);
        assert!(problems.is_empty(), "{problems:?}");
        graph
    }

    #[test]
    fn a_source_sending_several_edges_holds_one_slot_of_its_target() {
        let graph = join_graph();
        let j = graph.index_of("j").expect("j");
        let (a, b) = (
            graph.index_of("a").expect("a"),
            graph.index_of("b").expect("b"),
        );
        assert_eq!(graph.sources[j], [a, b]);
        let slots: Vec<(usize, usize)> = graph
            .edges
            .iter()
            .zip(&graph.source_slot)
            .map(|(edge, &slot)| (edge.from, slot))
            .collect();
        assert_eq!(slots, [(a, 0), (a, 0), (b, 1)]);
    }

    #[test]
    fn source_starts_lay_every_nodes_sources_end_to_end() {
        let graph = join_graph();
        let lengths: Vec<usize> = graph.sources.iter().map(Vec::len).collect();
        let spans: Vec<usize> = graph.source_start.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(spans, lengths);
        assert_eq!(graph.source_start.first(), Some(&0));
    }
}
