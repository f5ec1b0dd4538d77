//! Steps 5 and 6: conflicts between plugins providing the same node type,
//! and dependency resolution across all candidates.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use plugin_abi::manifest::PluginManifest;
use semver::{Version, VersionReq};

use crate::reason::{RejectReason, Rejection};

/// A plugin taking part in resolution.
pub struct Contender<'a> {
    /// A label for messages (the library path).
    pub label: String,
    /// Its validated manifest.
    pub manifest: &'a PluginManifest,
}

/// Who provides a node type after conflicts are settled.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Provider {
    /// Already registered (statically linked or loaded earlier).
    Existing(Version),
    /// The contender at this index.
    Plugin(usize, Version),
}

/// The outcome of resolution.
#[derive(Debug, Default)]
pub struct Resolution {
    /// Contenders to register, dependencies first.
    pub order: Vec<usize>,
    /// Per contender, node types another provider won (not registered).
    pub shadowed: HashMap<usize, Vec<String>>,
    /// Rejected contenders with their reasons.
    pub rejected: BTreeMap<usize, Rejection>,
}

fn version_of(text: &str) -> Version {
    // Manifests were validated; a parse failure cannot happen here, and the
    // lowest version is the safe answer if it somehow did.
    Version::parse(text).unwrap_or_else(|_| Version::new(0, 0, 0))
}

/// Settles conflicts (higher version wins; a tie keeps what was there first:
/// already registered, then the earlier path) and resolves dependencies:
/// missing or mismatched ones, cycles, and everything that depends on a
/// rejected plugin are rejected, each with its reason.
pub fn resolve(contenders: &[Contender<'_>], existing: &HashMap<String, Version>) -> Resolution {
    let mut resolution = Resolution::default();

    // Conflicts.
    let mut providers: HashMap<&str, Provider> = existing
        .iter()
        .map(|(k, v)| (k.as_str(), Provider::Existing(v.clone())))
        .collect();
    for (index, contender) in contenders.iter().enumerate() {
        for node in &contender.manifest.node_types {
            let version = version_of(&node.version);
            let wins = match providers.get(node.node_type.as_str()) {
                None => true,
                Some(Provider::Existing(current) | Provider::Plugin(_, current)) => {
                    version > *current
                }
            };
            if wins {
                if let Some(Provider::Plugin(loser, _)) =
                    providers.insert(&node.node_type, Provider::Plugin(index, version))
                {
                    resolution
                        .shadowed
                        .entry(loser)
                        .or_default()
                        .push(node.node_type.clone());
                }
            } else {
                resolution
                    .shadowed
                    .entry(index)
                    .or_default()
                    .push(node.node_type.clone());
            }
        }
    }
    for (index, contender) in contenders.iter().enumerate() {
        let shadowed = resolution.shadowed.get(&index).map_or(0, Vec::len);
        if shadowed > 0 && shadowed == contender.manifest.node_types.len() {
            let first = &contender.manifest.node_types[0];
            let winner = match providers.get(first.node_type.as_str()) {
                Some(Provider::Plugin(w, v)) => format!("{} (version {v})", contenders[*w].label),
                Some(Provider::Existing(v)) => {
                    format!("an already registered provider (version {v})")
                }
                None => "another provider".to_owned(),
            };
            resolution.rejected.insert(
                index,
                Rejection::new(
                    RejectReason::DuplicateNodeType,
                    format!(
                        "every node type it provides is provided by a winning plugin (e.g. `{}` {} loses to {winner}); remove one of the two libraries",
                        first.node_type, first.version
                    ),
                ),
            );
        }
    }

    let active = |index: usize, node_type: &str, resolution: &Resolution| {
        !resolution
            .shadowed
            .get(&index)
            .is_some_and(|s| s.iter().any(|n| n == node_type))
    };

    // Direct dependencies: present, version matching.
    let mut edges: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    for (index, contender) in contenders.iter().enumerate() {
        if resolution.rejected.contains_key(&index) {
            continue;
        }
        let mut problem = None;
        for node in contender
            .manifest
            .node_types
            .iter()
            .filter(|n| active(index, &n.node_type, &resolution))
        {
            for dep in &node.dependencies {
                let requirement = VersionReq::parse(&dep.version).unwrap_or(VersionReq::STAR);
                match providers.get(dep.node_type.as_str()) {
                    None => {
                        problem.get_or_insert_with(|| format!(
                            "node type `{}` needs `{}` {}, which no loaded plugin provides; install the plugin that provides it",
                            node.node_type, dep.node_type, dep.version
                        ));
                    }
                    Some(Provider::Existing(v) | Provider::Plugin(_, v))
                        if !requirement.matches(v) =>
                    {
                        problem.get_or_insert_with(|| {
                            format!(
                                "node type `{}` needs `{}` {}, but version {v} is loaded",
                                node.node_type, dep.node_type, dep.version
                            )
                        });
                    }
                    Some(Provider::Plugin(other, _)) if *other != index => {
                        edges.entry(index).or_default().insert(*other);
                    }
                    Some(_) => {}
                }
            }
        }
        if let Some(message) = problem {
            resolution.rejected.insert(
                index,
                Rejection::new(RejectReason::DependencyNotLoaded, message),
            );
        }
    }

    propagate(contenders, &edges, &mut resolution);

    // Topological order (Kahn, ties by path order); leftovers are cycles or
    // depend on one.
    let alive: BTreeSet<usize> = (0..contenders.len())
        .filter(|i| !resolution.rejected.contains_key(i))
        .collect();
    let mut indegree: BTreeMap<usize, usize> = alive.iter().map(|&i| (i, 0)).collect();
    for (&from, targets) in &edges {
        if alive.contains(&from) {
            indegree.insert(from, targets.iter().filter(|t| alive.contains(t)).count());
        }
    }
    let mut ready: BTreeSet<usize> = indegree
        .iter()
        .filter(|(_, &d)| d == 0)
        .map(|(&i, _)| i)
        .collect();
    while let Some(next) = ready.pop_first() {
        resolution.order.push(next);
        for (&from, targets) in &edges {
            if alive.contains(&from) && targets.contains(&next) {
                if let Some(d) = indegree.get_mut(&from) {
                    *d -= 1;
                    if *d == 0 {
                        ready.insert(from);
                    }
                }
            }
        }
    }
    let leftover: BTreeSet<usize> = alive
        .iter()
        .copied()
        .filter(|i| !resolution.order.contains(i))
        .collect();
    for &index in &leftover {
        if let Some(cycle) = find_cycle(index, &edges, &leftover) {
            let names: Vec<&str> = cycle
                .iter()
                .map(|&i| contenders[i].manifest.name.as_str())
                .collect();
            resolution.rejected.insert(
                index,
                Rejection::new(
                    RejectReason::DependencyCycle,
                    format!(
                        "plugins depend on each other in a cycle: {}; break the cycle by moving the shared node types into one plugin",
                        names.join(" -> ")
                    ),
                ),
            );
        }
    }
    for &index in &leftover {
        resolution.rejected.entry(index).or_insert_with(|| {
            Rejection::new(
                RejectReason::DependencyNotLoaded,
                "depends on plugins caught in a dependency cycle",
            )
        });
    }
    resolution
}

/// Rejects, until nothing changes, every plugin depending on a rejected one.
fn propagate(
    contenders: &[Contender<'_>],
    edges: &BTreeMap<usize, BTreeSet<usize>>,
    resolution: &mut Resolution,
) {
    loop {
        let newly: Vec<(usize, usize)> = edges
            .iter()
            .filter(|(from, _)| !resolution.rejected.contains_key(from))
            .filter_map(|(&from, targets)| {
                targets
                    .iter()
                    .find(|t| resolution.rejected.contains_key(t))
                    .map(|&t| (from, t))
            })
            .collect();
        if newly.is_empty() {
            return;
        }
        for (from, target) in newly {
            let why = resolution
                .rejected
                .get(&target)
                .map(|r| r.reason)
                .unwrap_or(RejectReason::DependencyNotLoaded);
            resolution.rejected.insert(
                from,
                Rejection::new(
                    RejectReason::DependencyNotLoaded,
                    format!(
                        "depends on plugin `{}` ({}), which was rejected ({why})",
                        contenders[target].manifest.name, contenders[target].label
                    ),
                ),
            );
        }
    }
}

/// A path from `start` back to itself within `within`, if there is one.
fn find_cycle(
    start: usize,
    edges: &BTreeMap<usize, BTreeSet<usize>>,
    within: &BTreeSet<usize>,
) -> Option<Vec<usize>> {
    fn walk(
        at: usize,
        start: usize,
        edges: &BTreeMap<usize, BTreeSet<usize>>,
        within: &BTreeSet<usize>,
        path: &mut Vec<usize>,
        seen: &mut BTreeSet<usize>,
    ) -> bool {
        for &next in edges.get(&at).into_iter().flatten() {
            if next == start {
                path.push(next);
                return true;
            }
            if within.contains(&next) && seen.insert(next) {
                path.push(next);
                if walk(next, start, edges, within, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start];
    let mut seen = BTreeSet::new();
    walk(start, start, edges, within, &mut path, &mut seen).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_abi::manifest::{NodeDependency, NodeTypeManifest};

    fn plugin(name: &str, nodes: &[(&str, &str, &[&str])]) -> PluginManifest {
        PluginManifest {
            name: name.into(),
            version: "1.0.0".into(),
            abi_version: plugin_abi::ABI_VERSION,
            description: None,
            node_types: nodes
                .iter()
                .map(|(t, v, deps)| {
                    let mut m = NodeTypeManifest::new(*t, *v);
                    m.dependencies = deps
                        .iter()
                        .map(|d| NodeDependency {
                            node_type: (*d).into(),
                            version: "*".into(),
                        })
                        .collect();
                    m
                })
                .collect(),
        }
    }

    fn run(manifests: &[PluginManifest]) -> Resolution {
        let contenders: Vec<_> = manifests
            .iter()
            .map(|m| Contender {
                label: m.name.clone(),
                manifest: m,
            })
            .collect();
        resolve(&contenders, &HashMap::new())
    }

    #[test]
    fn dependencies_come_first_in_the_order() {
        let r = run(&[
            plugin("a", &[("a.x", "1.0.0", &["b.y"])]),
            plugin("b", &[("b.y", "1.0.0", &[])]),
        ]);
        assert_eq!(r.order, vec![1, 0]);
        assert!(r.rejected.is_empty());
    }

    #[test]
    fn a_cycle_rejects_its_members_and_their_dependents() {
        let r = run(&[
            plugin("a", &[("a.x", "1.0.0", &["b.y"])]),
            plugin("b", &[("b.y", "1.0.0", &["a.x"])]),
            plugin("c", &[("c.z", "1.0.0", &["a.x"])]),
            plugin("d", &[("d.w", "1.0.0", &[])]),
        ]);
        assert_eq!(r.order, vec![3]);
        assert_eq!(r.rejected[&0].reason, RejectReason::DependencyCycle);
        assert_eq!(r.rejected[&1].reason, RejectReason::DependencyCycle);
        assert_eq!(r.rejected[&2].reason, RejectReason::DependencyNotLoaded);
        assert!(
            r.rejected[&0].message.contains("a -> b -> a"),
            "{}",
            r.rejected[&0].message
        );
    }

    #[test]
    fn missing_dependency_rejects_transitively() {
        let r = run(&[
            plugin("a", &[("a.x", "1.0.0", &["nowhere.q"])]),
            plugin("b", &[("b.y", "1.0.0", &["a.x"])]),
        ]);
        assert!(r.order.is_empty());
        assert_eq!(r.rejected[&0].reason, RejectReason::DependencyNotLoaded);
        assert_eq!(r.rejected[&1].reason, RejectReason::DependencyNotLoaded);
        assert!(r.rejected[&1].message.contains("`a`"));
    }

    #[test]
    fn higher_version_wins_and_ties_keep_the_first() {
        let r = run(&[
            plugin("old", &[("dup.n", "1.0.0", &[])]),
            plugin("new", &[("dup.n", "2.0.0", &[])]),
            plugin("same", &[("dup.n", "2.0.0", &[])]),
        ]);
        assert_eq!(r.order, vec![1]);
        assert_eq!(r.rejected[&0].reason, RejectReason::DuplicateNodeType);
        assert_eq!(r.rejected[&2].reason, RejectReason::DuplicateNodeType);
    }

    #[test]
    fn version_requirements_are_checked() {
        let mut a = plugin("a", &[("a.x", "1.0.0", &[])]);
        a.node_types[0].dependencies = vec![NodeDependency {
            node_type: "b.y".into(),
            version: "^2".into(),
        }];
        let r = run(&[a, plugin("b", &[("b.y", "1.4.0", &[])])]);
        assert_eq!(r.rejected[&0].reason, RejectReason::DependencyNotLoaded);
        assert!(r.rejected[&0].message.contains("1.4.0"));
    }
}
