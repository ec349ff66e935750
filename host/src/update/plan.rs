//! Dependency order: the components a set of updates touches form a graph (each manifest's
//! `dependencies`); updates run dependencies first, a cycle is an error that names it, and
//! an update that leaves any requirement unmet (a candidate's, or an installed
//! dependent's) is refused.

use std::collections::{BTreeMap, BTreeSet};

use semver::{Version, VersionReq};

use crate::ids::ComponentName;

/// One node of the graph: a component at the version it will have, and what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub version: Version,
    pub dependencies: BTreeMap<ComponentName, VersionReq>,
    /// Part of the update being planned (not just installed).
    pub planned: bool,
}

/// A dependency cycle, in order, with its first component repeated at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle(pub Vec<ComponentName>);

impl std::fmt::Display for Cycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.0.iter().map(ComponentName::as_str).collect();
        f.write_str(&names.join(" → "))
    }
}

/// The planned components in an order where each comes after everything it depends on
/// (ties broken by name, so the order is stable), or the first cycle found in the graph.
///
/// `graph` holds the planned components and the installed ones (at the versions they
/// will have): a cycle through an installed component is a cycle too.
pub fn order(graph: &BTreeMap<ComponentName, Node>) -> Result<Vec<ComponentName>, Cycle> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    let mut marks: BTreeMap<&ComponentName, Mark> = BTreeMap::new();
    let mut out = Vec::new();
    // Iterative depth-first search: (node, its dependencies not yet visited).
    for root in graph.keys() {
        if marks.contains_key(root) {
            continue;
        }
        let mut stack: Vec<(&ComponentName, Vec<&ComponentName>)> = vec![(root, deps(graph, root))];
        marks.insert(root, Mark::Visiting);
        while let Some((node, pending)) = stack.last_mut() {
            let node = *node;
            match pending.pop() {
                Some(next) => match marks.get(next) {
                    Some(Mark::Done) => {}
                    Some(Mark::Visiting) => {
                        let start = stack
                            .iter()
                            .position(|(n, _)| *n == next)
                            .expect("a node being visited is on the stack");
                        let mut cycle: Vec<ComponentName> =
                            stack[start..].iter().map(|(n, _)| (*n).clone()).collect();
                        cycle.push(next.clone());
                        return Err(Cycle(cycle));
                    }
                    None => {
                        marks.insert(next, Mark::Visiting);
                        stack.push((next, deps(graph, next)));
                    }
                },
                None => {
                    marks.insert(node, Mark::Done);
                    if graph[node].planned {
                        out.push(node.clone());
                    }
                    stack.pop();
                }
            }
        }
    }
    Ok(out)
}

/// The dependencies of `name` that are in the graph, in reverse name order (popped
/// from the back, so visited in name order).
fn deps<'a>(
    graph: &'a BTreeMap<ComponentName, Node>,
    name: &ComponentName,
) -> Vec<&'a ComponentName> {
    let mut out: Vec<&ComponentName> = graph[name]
        .dependencies
        .keys()
        .filter_map(|d| graph.get_key_value(d).map(|(k, _)| k))
        .collect();
    out.reverse();
    out
}

/// Every requirement the planned update leaves unmet, each naming who requires what and
/// what it would get: a planned component's dependency missing or at a version outside
/// its requirement, or an installed component's requirement broken by a planned version.
pub fn unmet(graph: &BTreeMap<ComponentName, Node>) -> Vec<String> {
    let mut out = Vec::new();
    let planned: BTreeSet<&ComponentName> = graph
        .iter()
        .filter(|(_, n)| n.planned)
        .map(|(name, _)| name)
        .collect();
    for (name, node) in graph {
        for (dep, req) in &node.dependencies {
            let target = graph.get(dep);
            match (node.planned, target) {
                (true, None) => out.push(format!(
                    "{name} {} requires {dep} {req}, which is neither installed nor part of \
                     this install",
                    node.version
                )),
                (true, Some(t)) if !req.matches(&t.version) => out.push(format!(
                    "{name} {} requires {dep} {req}, but {dep} {} {}",
                    node.version,
                    t.version,
                    if t.planned {
                        "would be installed"
                    } else {
                        "is installed"
                    }
                )),
                (false, Some(t)) if planned.contains(dep) && !req.matches(&t.version) => {
                    out.push(format!(
                        "installing {dep} {} would break {name} {}, which requires {dep} {req}",
                        t.version, node.version
                    ))
                }
                _ => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> ComponentName {
        ComponentName::parse(s).unwrap()
    }

    fn node(version: &str, deps: &[(&str, &str)], planned: bool) -> Node {
        Node {
            version: Version::parse(version).unwrap(),
            dependencies: deps
                .iter()
                .map(|(n, r)| (name(n), VersionReq::parse(r).unwrap()))
                .collect(),
            planned,
        }
    }

    fn graph(nodes: &[(&str, Node)]) -> BTreeMap<ComponentName, Node> {
        nodes
            .iter()
            .map(|(n, node)| (name(n), node.clone()))
            .collect()
    }

    fn names(v: &[ComponentName]) -> Vec<&str> {
        v.iter().map(ComponentName::as_str).collect()
    }

    #[test]
    fn dependencies_come_first() {
        let g = graph(&[
            (
                "app",
                node("2.0.0", &[("wallet", "^1"), ("bech32", "^1")], true),
            ),
            ("wallet", node("1.1.0", &[("bech32", "^1.1")], true)),
            ("bech32", node("1.1.0", &[], true)),
            ("unrelated", node("1.0.0", &[], true)),
        ]);
        assert_eq!(
            names(&order(&g).unwrap()),
            ["bech32", "wallet", "app", "unrelated"]
        );
        assert!(unmet(&g).is_empty());
    }

    #[test]
    fn installed_components_order_but_are_not_listed() {
        let g = graph(&[
            ("app", node("2.0.0", &[("bech32", "^1")], true)),
            ("bech32", node("1.0.0", &[], false)),
        ]);
        assert_eq!(names(&order(&g).unwrap()), ["app"]);
    }

    #[test]
    fn a_cycle_is_named() {
        let g = graph(&[
            ("a", node("1.0.0", &[("b", "*")], true)),
            ("b", node("1.0.0", &[("c", "*")], true)),
            ("c", node("1.0.0", &[("a", "*")], false)),
            ("d", node("1.0.0", &[], true)),
        ]);
        assert_eq!(order(&g).unwrap_err().to_string(), "a → b → c → a");
        let g = graph(&[("a", node("1.0.0", &[("a", "*")], true))]);
        assert_eq!(order(&g).unwrap_err().to_string(), "a → a");
    }

    #[test]
    fn unmet_requirements_name_both_sides() {
        let g = graph(&[
            (
                "app",
                node("2.0.0", &[("bech32", "^2"), ("gone", "^1")], true),
            ),
            ("bech32", node("1.1.0", &[], false)),
        ]);
        assert_eq!(
            unmet(&g),
            [
                "app 2.0.0 requires bech32 ^2, but bech32 1.1.0 is installed",
                "app 2.0.0 requires gone ^1, which is neither installed nor part of this install",
            ]
        );
        // An installed dependent whose requirement a planned version breaks.
        let g = graph(&[
            ("wallet", node("1.0.0", &[("bech32", "^1")], false)),
            ("bech32", node("2.0.0", &[], true)),
        ]);
        assert_eq!(
            unmet(&g),
            ["installing bech32 2.0.0 would break wallet 1.0.0, which requires bech32 ^1"]
        );
    }
}
