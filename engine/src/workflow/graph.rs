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

    /// [`finishes_before`](Self::finishes_before) for many `(target,
    /// node)` pairs at once: one pass over the graph in topological order
    /// per 64 distinct targets, where one search per pair is quadratic in
    /// a long chain whose nodes all name an early node. A node on or
    /// after a cycle (a workflow refused for it) gets `true`: the cycle is
    /// the error to report there.
    pub fn finish_before_all(&self, pairs: &[(usize, usize)]) -> Vec<bool> {
        let n = self.ids.len();
        let mut answers = vec![true; pairs.len()];
        if pairs.is_empty() {
            return answers;
        }
        let order = self.predecessor_order();
        let mut ordered = vec![false; n];
        for &v in &order {
            ordered[v] = true;
        }
        // The parallel nodes that list each node as a task.
        let mut owners: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (v, tasks) in self.tasks.iter().enumerate() {
            for &t in tasks.iter().filter(|&&t| t < n) {
                owners[t].push(v);
            }
        }
        let mut targets: Vec<usize> = pairs.iter().map(|&(t, _)| t).filter(|&t| t < n).collect();
        targets.sort_unstable();
        targets.dedup();
        // Each target's pass and bit; each pass's pairs.
        let mut slot = vec![(0usize, 0u64); n];
        for (k, &t) in targets.iter().enumerate() {
            slot[t] = (k / 64, 1 << (k % 64));
        }
        let mut by_pass: Vec<Vec<usize>> = vec![Vec::new(); targets.len().div_ceil(64)];
        for (q, &(t, i)) in pairs.iter().enumerate() {
            if t < n && i < n && ordered[i] {
                by_pass[slot[t].0].push(q);
            }
        }
        // `marks[v]`: the pass's targets that are `v` or one of its
        // tasks; `before[v]`: those marking any of `v`'s ancestors.
        let mut marks = vec![0u64; n];
        let mut before = vec![0u64; n];
        for (pass, group) in targets.chunks(64).enumerate() {
            marks.fill(0);
            for &t in group {
                let bit = slot[t].1;
                marks[t] |= bit;
                for &owner in &owners[t] {
                    marks[owner] |= bit;
                }
            }
            for &v in &order {
                before[v] = self
                    .predecessors(v)
                    .fold(0, |bits, p| bits | marks[p] | before[p]);
            }
            for &q in &by_pass[pass] {
                let (t, i) = pairs[q];
                answers[q] = before[i] & slot[t].1 != 0;
            }
        }
        answers
    }

    /// The nodes in an order where each comes after its
    /// [`predecessors`](Self::predecessors) (Kahn's algorithm); nodes on
    /// or after a cycle are left out.
    fn predecessor_order(&self) -> Vec<usize> {
        let n = self.ids.len();
        let mut successors: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut waiting = vec![0usize; n];
        for (i, count) in waiting.iter_mut().enumerate() {
            for p in self.predecessors(i).filter(|&p| p < n) {
                successors[p].push(i);
                *count += 1;
            }
        }
        let mut order: Vec<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
        let mut next = 0;
        while let Some(&v) = order.get(next) {
            next += 1;
            for &s in &successors[v] {
                waiting[s] -= 1;
                if waiting[s] == 0 {
                    order.push(s);
                }
            }
        }
        order
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

    /// Every pair of nodes of `graph`, `(target, node)`.
    fn every_pair(graph: &Graph) -> Vec<(usize, usize)> {
        let n = graph.ids.len();
        (0..n).flat_map(|t| (0..n).map(move |i| (t, i))).collect()
    }

    #[test]
    fn batch_answers_agree_with_one_search_per_pair_tasks_included() {
        // `p` runs tasks `t1`, `t2`; `a` comes before `p`, `z` after it,
        // `lone` is connected to nothing.
        let text = r#"{"nodes": [{"id": "a", "type": "x"},
            {"id": "p", "type": "parallel", "parameters": {"tasks": [{"nodeId": "t1"}, {"nodeId": "t2"}]}},
            {"id": "t1", "type": "x"}, {"id": "t2", "type": "x"}, {"id": "z", "type": "x"},
            {"id": "lone", "type": "x"}],
            "connections": {"a": {"main": [[{"node": "p"}]]}, "p": {"main": [[{"node": "z"}]]}}}"#;
        let workflow = Workflow::from_json_str(text, "parallel.json").expect("parses");
        let (graph, problems) = Graph::build(&workflow);
        assert!(problems.is_empty(), "{problems:?}");
        let pairs = every_pair(&graph);
        let one_by_one: Vec<bool> = pairs
            .iter()
            .map(|&(t, i)| graph.finishes_before(t, i))
            .collect();
        assert_eq!(graph.finish_before_all(&pairs), one_by_one);
        let (t1, z) = (
            graph.index_of("t1").expect("t1"),
            graph.index_of("z").expect("z"),
        );
        assert_eq!(graph.finish_before_all(&[(t1, z), (z, t1)]), [true, false]);
    }

    #[test]
    fn batch_answers_span_more_than_one_pass_of_targets() {
        // A chain of 150 nodes: more distinct targets than one pass holds.
        let nodes: Vec<String> = (0..150)
            .map(|i| format!(r#"{{"id": "n{i}", "type": "x"}}"#))
            .collect();
        let links: Vec<String> = (1..150)
            .map(|i| format!(r#""n{}": {{"main": [[{{"node": "n{i}"}}]]}}"#, i - 1))
            .collect();
        let text = format!(
            r#"{{"nodes": [{}], "connections": {{{}}}}}"#,
            nodes.join(", "),
            links.join(", ")
        );
        let workflow = Workflow::from_json_str(&text, "chain.json").expect("parses");
        let (graph, problems) = Graph::build(&workflow);
        assert!(problems.is_empty(), "{problems:?}");
        let pairs = every_pair(&graph);
        let answers = graph.finish_before_all(&pairs);
        for (&(t, i), &answer) in pairs.iter().zip(&answers) {
            assert_eq!(answer, t < i, "n{t} before n{i}");
        }
    }

    #[test]
    fn a_node_on_a_cycle_is_not_second_guessed() {
        let text = r#"{"nodes": [{"id": "a", "type": "x"}, {"id": "b", "type": "x"}, {"id": "c", "type": "x"}],
            "connections": {"a": {"main": [[{"node": "b"}]]}, "b": {"main": [[{"node": "a"}]]}}}"#;
        let workflow = Workflow::from_json_str(text, "cycle.json").expect("parses");
        let (graph, problems) = Graph::build(&workflow);
        assert!(!problems.is_empty(), "the cycle is reported");
        let (a, c) = (
            graph.index_of("a").expect("a"),
            graph.index_of("c").expect("c"),
        );
        assert_eq!(graph.finish_before_all(&[(c, a)]), [true]);
    }
}
