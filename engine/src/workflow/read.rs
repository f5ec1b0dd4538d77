//! Deserialization of the large parts of a workflow file — the root, its
//! nodes and its connections — written out by hand, so that reading a
//! 10,000-node file costs what the model keeps and no more: keys are
//! matched without allocating, connection outputs are read without
//! buffering, and fields outside the v3 schema are noted (as JSON
//! Pointers, in the model) only when they occur. The small blocks
//! (settings, retry policies, variables, ...) keep their derived
//! deserializers, read through [`Tracked`] so their unknown fields are
//! noted too.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use super::model::{NodeDef, Outputs, Target, Workflow};

/// Node fields of the v3 schema the executor does not use: read and
/// dropped without a note.
pub(crate) const NODE_FIELDS_UNUSED: &[&str] = &[
    "description",
    "typeVersion",
    "position",
    "size",
    "parameterSchema",
    "inputs",
    "outputs",
    "skipOnFail",
    "alwaysOutputData",
    "errorOutput",
    "notes",
    "notesInFlow",
    "color",
    "icon",
    "metadata",
];

/// Workflow fields of the v3 schema the executor does not use.
pub(crate) const WORKFLOW_FIELDS_UNUSED: &[&str] = &[
    "$schema",
    "description",
    "createdBy",
    "createdAt",
    "updatedAt",
    "active",
    "locked",
    "tags",
    "category",
    "rateLimiting",
    "credentials",
    "metadata",
    "executionLimits",
    "versionHistory",
];

pub(super) use crate::pointer::escape;

/// A `serde_ignored` path as a JSON Pointer.
pub(super) fn ignored_pointer(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path as P;
    match path {
        P::Root => String::new(),
        P::Seq { parent, index } => format!("{}/{index}", ignored_pointer(parent)),
        P::Map { parent, key } => format!("{}/{}", ignored_pointer(parent), escape(key)),
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            ignored_pointer(parent)
        }
    }
}

/// A map key, borrowed from the text when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// Reads a derived block through `serde_ignored`, noting its unknown
/// fields as pointers under `prefix`.
struct Tracked<'u, T> {
    prefix: &'static str,
    unknown: &'u mut Vec<String>,
    kind: PhantomData<T>,
}

impl<'u, T> Tracked<'u, T> {
    fn new(prefix: &'static str, unknown: &'u mut Vec<String>) -> Self {
        Self {
            prefix,
            unknown,
            kind: PhantomData,
        }
    }
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for Tracked<'_, T> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        let (prefix, unknown) = (self.prefix, self.unknown);
        let mut note = |path: serde_ignored::Path<'_>| {
            unknown.push(format!("{prefix}{}", ignored_pointer(&path)));
        };
        T::deserialize(serde_ignored::Deserializer::new(d, &mut note))
    }
}

/// Duplicate keys are an error, as with derived deserializers.
struct Seen(u64);

impl Seen {
    fn first<E: de::Error>(&mut self, bit: u32, field: &'static str) -> Result<(), E> {
        if self.0 & (1 << bit) != 0 {
            return Err(E::duplicate_field(field));
        }
        self.0 |= 1 << bit;
        Ok(())
    }
}

impl<'de> Deserialize<'de> for NodeDef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = NodeDef;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a node object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeDef, A::Error> {
        let mut node = NodeDef {
            parameters: Value::Object(serde_json::Map::new()),
            ..NodeDef::default()
        };
        let mut seen = Seen(0);
        while let Some(Key(key)) = map.next_key()? {
            match key.as_ref() {
                "id" => {
                    seen.first(0, "id")?;
                    node.id = map.next_value()?;
                }
                "name" => {
                    seen.first(1, "name")?;
                    node.name = map.next_value()?;
                }
                "type" => {
                    seen.first(2, "type")?;
                    node.kind = map.next_value()?;
                }
                "nodeType" => {
                    seen.first(3, "nodeType")?;
                    node.node_type = map.next_value()?;
                }
                "parameters" => {
                    seen.first(4, "parameters")?;
                    let value: Value = map.next_value()?;
                    if !value.is_null() {
                        node.parameters = value;
                    }
                }
                "credentials" => {
                    seen.first(5, "credentials")?;
                    node.credentials = map
                        .next_value_seed(Tracked::new("/credentials", &mut node.unknown_fields))?;
                }
                "disabled" => {
                    seen.first(6, "disabled")?;
                    node.disabled = map.next_value()?;
                }
                "retryPolicy" => {
                    seen.first(7, "retryPolicy")?;
                    node.retry_policy = map
                        .next_value_seed(Tracked::new("/retryPolicy", &mut node.unknown_fields))?;
                }
                "timeout" => {
                    seen.first(8, "timeout")?;
                    node.timeout = map.next_value()?;
                }
                "maxTries" => {
                    seen.first(9, "maxTries")?;
                    node.max_tries = map.next_value()?;
                }
                "waitBetweenTries" => {
                    seen.first(10, "waitBetweenTries")?;
                    node.wait_between_tries = map.next_value()?;
                }
                "continueOnError" => {
                    seen.first(11, "continueOnError")?;
                    node.continue_on_error = map.next_value()?;
                }
                "onError" => {
                    seen.first(12, "onError")?;
                    node.on_error = map.next_value()?;
                }
                "recovery" => {
                    seen.first(13, "recovery")?;
                    node.recovery =
                        map.next_value_seed(Tracked::new("/recovery", &mut node.unknown_fields))?;
                }
                unused if NODE_FIELDS_UNUSED.contains(&unused) => {
                    map.next_value::<IgnoredAny>()?;
                }
                other => {
                    node.unknown_fields.push(format!("/{}", escape(other)));
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(node)
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(TargetVisitor)
    }
}

struct TargetVisitor;

impl<'de> Visitor<'de> for TargetVisitor {
    type Value = Target;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a connection target such as {\"node\": \"b\", \"type\": \"main\", \"index\": 0}",
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Target, A::Error> {
        let mut target = Target {
            node: String::new(),
            port: String::new(),
            index: 0,
            unknown_fields: Vec::new(),
        };
        let mut port = None;
        let mut seen = Seen(0);
        while let Some(Key(key)) = map.next_key()? {
            match key.as_ref() {
                "node" => {
                    seen.first(0, "node")?;
                    target.node = map.next_value()?;
                }
                "type" => {
                    seen.first(1, "type")?;
                    port = Some(map.next_value()?);
                }
                "index" => {
                    seen.first(2, "index")?;
                    target.index = map.next_value()?;
                }
                other => {
                    target.unknown_fields.push(format!("/{}", escape(other)));
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        // The default port is made only when the target names none.
        target.port = port.unwrap_or_else(|| "main".to_owned());
        Ok(target)
    }
}

impl<'de> Deserialize<'de> for Outputs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(OutputsVisitor)
    }
}

struct OutputsVisitor;

impl<'de> Visitor<'de> for OutputsVisitor {
    type Value = Outputs;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a port's outputs: [[targets], ...] or {\"0\": [targets], ...}")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Outputs, A::Error> {
        let mut outputs = Vec::with_capacity(seq.size_hint().unwrap_or(1));
        while let Some(targets) = seq.next_element()? {
            outputs.push(targets);
        }
        Ok(Outputs::Array(outputs))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Outputs, A::Error> {
        let mut outputs = BTreeMap::new();
        while let Some((index, targets)) = map.next_entry()? {
            outputs.insert(index, targets);
        }
        Ok(Outputs::Object(outputs))
    }
}

impl<'de> Deserialize<'de> for Workflow {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(WorkflowVisitor)
    }
}

struct WorkflowVisitor;

impl<'de> Visitor<'de> for WorkflowVisitor {
    type Value = Workflow;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a workflow object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Workflow, A::Error> {
        let mut w = Workflow::default();
        let mut unknown = Vec::new();
        let mut seen = Seen(0);
        while let Some(Key(key)) = map.next_key()? {
            match key.as_ref() {
                "id" => {
                    seen.first(0, "id")?;
                    w.id = map.next_value()?;
                }
                "name" => {
                    seen.first(1, "name")?;
                    w.name = map.next_value()?;
                }
                "version" => {
                    seen.first(2, "version")?;
                    w.version = map.next_value()?;
                }
                "tenantId" => {
                    seen.first(3, "tenantId")?;
                    w.tenant_id = map.next_value()?;
                }
                "nodes" => {
                    seen.first(4, "nodes")?;
                    w.nodes = map.next_value()?;
                }
                "connections" => {
                    seen.first(5, "connections")?;
                    w.connections = map.next_value()?;
                }
                "settings" => {
                    seen.first(6, "settings")?;
                    w.settings = map.next_value_seed(Tracked::new("/settings", &mut unknown))?;
                }
                "errorHandling" => {
                    seen.first(7, "errorHandling")?;
                    w.error_handling =
                        map.next_value_seed(Tracked::new("/errorHandling", &mut unknown))?;
                }
                "retryPolicy" => {
                    seen.first(8, "retryPolicy")?;
                    w.retry_policy =
                        map.next_value_seed(Tracked::new("/retryPolicy", &mut unknown))?;
                }
                "variables" => {
                    seen.first(9, "variables")?;
                    w.variables = map.next_value_seed(Tracked::new("/variables", &mut unknown))?;
                }
                "triggers" => {
                    seen.first(10, "triggers")?;
                    w.triggers = map.next_value_seed(Tracked::new("/triggers", &mut unknown))?;
                }
                "multiTenancy" => {
                    seen.first(11, "multiTenancy")?;
                    w.multi_tenancy =
                        map.next_value_seed(Tracked::new("/multiTenancy", &mut unknown))?;
                }
                unused if WORKFLOW_FIELDS_UNUSED.contains(&unused) => {
                    map.next_value::<IgnoredAny>()?;
                }
                other => {
                    unknown.push(format!("/{}", escape(other)));
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        collect_unknown(&mut w, &mut unknown);
        w.unknown_fields = unknown;
        Ok(w)
    }
}

/// Moves the unknown fields noted inside nodes and connection targets to
/// the workflow's list, as pointers from the document's root.
fn collect_unknown(w: &mut Workflow, unknown: &mut Vec<String>) {
    for (i, node) in w.nodes.iter_mut().enumerate() {
        for field in node.unknown_fields.drain(..) {
            unknown.push(format!("/nodes/{i}{field}"));
        }
    }
    for (source, ports) in &mut w.connections {
        for (port, outputs) in ports {
            let lists: Vec<(String, &mut Vec<Target>)> = match outputs {
                Outputs::Array(lists) => lists
                    .iter_mut()
                    .enumerate()
                    .filter_map(|(i, l)| l.as_mut().map(|l| (i.to_string(), l)))
                    .filter(|(_, l)| has_unknown(l))
                    .collect(),
                Outputs::Object(lists) => lists
                    .iter_mut()
                    .filter(|(_, l)| has_unknown(l))
                    .map(|(k, l)| (escape(k).into_owned(), l))
                    .collect(),
            };
            for (output, targets) in lists {
                for (t, target) in targets.iter_mut().enumerate() {
                    for field in target.unknown_fields.drain(..) {
                        unknown.push(format!(
                            "/connections/{}/{}/{output}/{t}{field}",
                            escape(source),
                            escape(port)
                        ));
                    }
                }
            }
        }
    }
}

fn has_unknown(targets: &[Target]) -> bool {
    targets.iter().any(|t| !t.unknown_fields.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Workflow {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn fields_outside_the_schema_are_noted_with_their_pointers() {
        let w = read(
            r#"{"id": "w", "colour": 1,
                "settings": {"executionTimeout": 5, "timeoutt": 1},
                "nodes": [{"id": "a", "typ": "x", "retryPolicy": {"maxAttempts": 2, "delay": 3}}],
                "connections": {"a": {"main": [[{"node": "b", "idx": 0}]]}}}"#,
        );
        assert_eq!(
            w.unknown_fields,
            [
                "/colour",
                "/settings/timeoutt",
                "/nodes/0/typ",
                "/nodes/0/retryPolicy/delay",
                "/connections/a/main/0/0/idx"
            ]
        );
    }

    #[test]
    fn schema_fields_the_executor_does_not_use_are_not_noted() {
        let w = read(
            r#"{"id": "w", "description": "d", "active": true, "tags": [],
                "nodes": [{"id": "a", "typeVersion": 1, "position": [0, 0], "notes": "n"}]}"#,
        );
        assert!(w.unknown_fields.is_empty(), "{:?}", w.unknown_fields);
    }

    #[test]
    fn a_duplicate_field_is_an_error() {
        let err =
            serde_json::from_str::<Workflow>(r#"{"nodes": [{"id": "a", "id": "b"}]}"#).unwrap_err();
        assert!(err.to_string().contains("duplicate field `id`"), "{err}");
    }

    #[test]
    fn null_parameters_read_as_an_empty_object() {
        let w = read(r#"{"nodes": [{"id": "a", "parameters": null}]}"#);
        assert_eq!(w.nodes[0].parameters, serde_json::json!({}));
    }

    #[test]
    fn both_output_forms_are_read() {
        let w = read(
            r#"{"connections": {"a": {"main": [[{"node": "b"}], null]}, "c": {"main": {"1": [{"node": "d", "type": "error", "index": 2}]}}}}"#,
        );
        match &w.connections["a"]["main"] {
            Outputs::Array(lists) => {
                assert_eq!(lists.len(), 2);
                assert_eq!(lists[0].as_ref().unwrap()[0].port, "main");
                assert!(lists[1].is_none());
            }
            other => panic!("{other:?}"),
        }
        match &w.connections["c"]["main"] {
            Outputs::Object(lists) => {
                let t = &lists["1"][0];
                assert_eq!(
                    (t.node.as_str(), t.port.as_str(), t.index),
                    ("d", "error", 2)
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
