//! Reading a directory of entity schemas (`*.json`, `*.yaml`, `*.yml`,
//! recursively) and checking each, with errors naming the file, the
//! entity and the field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Entity, EntitySchema, FieldSpec, IndexSpec, STORE_COLUMNS};

/// What is wrong with a schema, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    /// The file.
    pub file: PathBuf,
    /// The entity, once known.
    pub entity: Option<String>,
    /// The field, when the problem is one field's.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(entity) = &self.entity {
            write!(f, ": entity `{entity}`")?;
        }
        if let Some(field) = &self.field {
            write!(f, ", field `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem of `errors` in one line, for a message.
pub fn describe(errors: &[SchemaError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Every declared entity, by name.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    entities: BTreeMap<String, Entity>,
}

impl Catalog {
    /// The entity named `name` (as `dbal-read` / `dbal-write` name it).
    pub fn get(&self, name: &str) -> Option<&Entity> {
        self.entities.get(name)
    }

    /// Every declared entity, by name.
    pub fn entities(&self) -> impl Iterator<Item = &Entity> {
        self.entities.values()
    }

    /// How many entities are declared.
    pub fn len(&self) -> usize {
        self.entities.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }
}

/// Reads and checks every schema file under `dir`. Files without an
/// `entity` key (indexes of other files, for instance) are skipped; one
/// entity declared by two files (MetaBuilder ships `.json` and `.yaml` of
/// each) must be declared the same way in both.
///
/// # Errors
///
/// Every problem found, each naming its file, entity and field.
pub fn load_dir(dir: &Path) -> Result<Catalog, Vec<SchemaError>> {
    let mut files = Vec::new();
    collect(dir, &mut files, 0).map_err(|message| {
        vec![SchemaError {
            file: dir.to_owned(),
            entity: None,
            field: None,
            message,
        }]
    })?;
    files.sort();
    let mut errors = Vec::new();
    let mut declared: BTreeMap<String, (PathBuf, Value)> = BTreeMap::new();
    let mut catalog = Catalog::default();
    for file in files {
        let value = match read(&file) {
            Ok(Some(value)) => value,
            Ok(None) => continue,
            Err(message) => {
                errors.push(error(&file, None, None, message));
                continue;
            }
        };
        match parse(&file, &value) {
            Ok(entity) => {
                if let Some((first, earlier)) = declared.get(&entity.name) {
                    if *earlier != value {
                        errors.push(error(
                            &file,
                            Some(&entity.name),
                            None,
                            format!("is also declared, differently, in {}", first.display()),
                        ));
                    }
                    continue;
                }
                declared.insert(entity.name.clone(), (file.clone(), value));
                catalog.entities.insert(entity.name.clone(), entity);
            }
            Err(mut found) => errors.append(&mut found),
        }
    }
    if errors.is_empty() {
        Ok(catalog)
    } else {
        Err(errors)
    }
}

/// Deepest directory level searched.
const MAX_DEPTH: usize = 8;

fn collect(dir: &Path, into: &mut Vec<PathBuf>, depth: usize) -> Result<(), String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read the entity directory: {e}"))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if depth < MAX_DEPTH {
                collect(&path, into, depth + 1)?;
            }
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("json" | "yaml" | "yml")
        ) {
            into.push(path);
        }
    }
    Ok(())
}

/// The file as JSON; `None` when it declares no entity.
fn read(file: &Path) -> Result<Option<Value>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read: {e}"))?;
    let value: Value = if file.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| format!("not valid JSON: {e}"))?
    } else {
        yaml_serde::from_str(&text).map_err(|e| format!("not valid YAML: {e}"))?
    };
    Ok(value.get("entity").is_some().then_some(value))
}

fn error(file: &Path, entity: Option<&str>, field: Option<&str>, message: String) -> SchemaError {
    SchemaError {
        file: file.to_owned(),
        entity: entity.map(str::to_owned),
        field: field.map(str::to_owned),
        message,
    }
}

/// Checks one schema.
///
/// # Errors
///
/// Every problem in it.
pub fn parse(file: &Path, value: &Value) -> Result<Entity, Vec<SchemaError>> {
    let schema: EntitySchema = serde_json::from_value(value.clone()).map_err(|e| {
        vec![error(
            file,
            None,
            None,
            format!("not an entity schema: {e}"),
        )]
    })?;
    let name = schema.entity.clone();
    let mut errors = Vec::new();
    if !crate::store::valid_entity(&name) {
        errors.push(error(
            file,
            Some(&name),
            None,
            "is not a valid entity name: use letters, digits and `_`".to_owned(),
        ));
    }
    let mut fields = Vec::new();
    let mut patterns = Vec::new();
    for (field_name, declared) in &schema.fields {
        let at = |message: String| error(file, Some(&name), Some(field_name), message);
        if !crate::filter::valid_field(field_name) || field_name.contains('.') {
            errors.push(at("is not a valid field name".to_owned()));
            continue;
        }
        let spec: FieldSpec = match serde_json::from_value(declared.clone()) {
            Ok(spec) => spec,
            Err(e) => {
                errors.push(at(e.to_string()));
                continue;
            }
        };
        if spec.primary && field_name != "id" {
            errors.push(at(
                "is the primary key, but the store keys records by `id`; name the primary key `id`"
                    .to_owned(),
            ));
        }
        for problem in field_problems(&spec) {
            errors.push(at(problem));
        }
        if let Some(pattern) = &spec.pattern {
            match regex::Regex::new(pattern) {
                Ok(re) => patterns.push((field_name.clone(), re)),
                Err(e) => errors.push(at(format!("`pattern` does not compile: {e}"))),
            }
        }
        if STORE_COLUMNS.contains(&field_name.as_str()) {
            continue;
        }
        fields.push((field_name.clone(), spec));
    }
    let known = |f: &str| STORE_COLUMNS.contains(&f) || fields.iter().any(|(n, _)| n == f);
    for (i, index) in schema.indexes.iter().enumerate() {
        if index.fields.is_empty() {
            errors.push(error(
                file,
                Some(&name),
                None,
                format!("index {i} names no field"),
            ));
        }
        for field in &index.fields {
            if !known(field) {
                errors.push(error(
                    file,
                    Some(&name),
                    Some(field),
                    format!("index {i} names a field the entity does not declare"),
                ));
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut indexes: Vec<IndexSpec> = schema.indexes.clone();
    for (field, spec) in &fields {
        if spec.unique || spec.unique_index || spec.index {
            indexes.push(IndexSpec {
                fields: vec![field.clone()],
                unique: spec.unique || spec.unique_index,
                name: None,
                kind: None,
            });
        }
    }
    indexes.dedup_by(|a, b| a.fields == b.fields && a.unique == b.unique);
    Ok(Entity {
        name,
        file: file.to_owned(),
        fields,
        indexes,
        acl: schema.acl,
        patterns,
    })
}

/// What is inconsistent in one field's attributes.
fn field_problems(spec: &FieldSpec) -> Vec<String> {
    let mut problems = Vec::new();
    if spec.kind == super::FieldType::Enum && spec.values.as_ref().is_none_or(Vec::is_empty) {
        problems.push("is an `enum` without `values`".to_owned());
    }
    if let (Some(min), Some(max)) = (spec.min_length, spec.max_length) {
        if min > max {
            problems.push(format!("`min_length` {min} is over `max_length` {max}"));
        }
    }
    if let (Some(min), Some(max)) = (spec.min, spec.max) {
        if min > max {
            problems.push(format!("`min` {min} is over `max` {max}"));
        }
    }
    if spec.required && spec.nullable == Some(true) {
        problems.push("is both `required` and `nullable`".to_owned());
    }
    if let Some(default) = &spec.default {
        if let Err(why) = super::check::value(spec, None, default) {
            problems.push(format!("its `default` is not a valid value: {why}"));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(schema: Value) -> Vec<String> {
        parse(Path::new("s.json"), &schema)
            .err()
            .unwrap_or_default()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_sound_schema_loads_with_its_field_hints_as_indexes() {
        let entity = parse(
            Path::new("u.json"),
            &json!({"entity": "user", "fields": {
                "id": {"type": "uuid", "primary": true},
                "name": {"type": "string", "unique": true},
                "role": {"type": "enum", "values": ["a", "b"], "index": true}}}),
        )
        .unwrap();
        assert_eq!(entity.fields.len(), 2, "id is the store's");
        assert_eq!(entity.indexes.len(), 2);
        assert!(entity
            .indexes
            .iter()
            .any(|i| i.unique && i.fields == ["name"]));
    }

    #[test]
    fn an_unknown_type_names_the_file_entity_and_field() {
        let found = problems(json!({"entity": "user", "fields": {"age": {"type": "number"}}}));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("s.json: entity `user`, field `age`: unknown variant `number`"),
            "{}",
            found[0]
        );
    }

    #[test]
    fn an_enum_without_values_is_refused() {
        let found = problems(json!({"entity": "user", "fields": {"role": {"type": "enum"}}}));
        assert!(found[0].contains("`enum` without `values`"), "{found:?}");
    }

    #[test]
    fn a_pattern_that_does_not_compile_is_refused() {
        let found = problems(
            json!({"entity": "user", "fields": {"name": {"type": "string", "pattern": "(["}}}),
        );
        assert!(found[0].contains("`pattern` does not compile"), "{found:?}");
    }

    #[test]
    fn an_index_on_an_undeclared_field_is_refused() {
        let found =
            problems(json!({"entity": "user", "fields": {}, "indexes": [{"fields": ["ghost"]}]}));
        assert!(
            found[0].contains("field `ghost`: index 0 names a field"),
            "{found:?}"
        );
    }

    #[test]
    fn a_primary_key_not_named_id_is_refused() {
        let found = problems(
            json!({"entity": "user", "fields": {"key": {"type": "uuid", "primary": true}}}),
        );
        assert!(found[0].contains("name the primary key `id`"), "{found:?}");
    }

    #[test]
    fn a_default_of_the_wrong_type_is_refused() {
        let found = problems(
            json!({"entity": "user", "fields": {"age": {"type": "integer", "default": "old"}}}),
        );
        assert!(
            found[0].contains("its `default` is not a valid value"),
            "{found:?}"
        );
    }

    #[test]
    fn inverted_bounds_are_refused() {
        let found = problems(
            json!({"entity": "user", "fields": {"name": {"type": "string", "min_length": 5, "max_length": 2}}}),
        );
        assert!(
            found[0].contains("`min_length` 5 is over `max_length` 2"),
            "{found:?}"
        );
    }

    #[test]
    fn a_directory_with_json_and_yaml_of_one_entity_loads_it_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("t.json"),
            r#"{"entity": "t", "fields": {"a": {"type": "string"}}}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("t.yaml"),
            "entity: t\nfields:\n  a:\n    type: string\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("index.json"), r#"{"entities": ["t"]}"#).unwrap();
        let catalog = load_dir(dir.path()).unwrap();
        assert_eq!(catalog.len(), 1);
        assert!(catalog.get("t").is_some());
    }

    #[test]
    fn one_entity_declared_differently_twice_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.json"),
            r#"{"entity": "t", "fields": {"a": {"type": "string"}}}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("b.json"),
            r#"{"entity": "t", "fields": {"a": {"type": "integer"}}}"#,
        )
        .unwrap();
        let errors = load_dir(dir.path()).unwrap_err();
        assert!(
            errors[0].message.contains("declared, differently"),
            "{errors:?}"
        );
    }
}
