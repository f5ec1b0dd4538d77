//! Where an entity's records live: a declared entity's typed table, or an
//! undeclared entity's table of JSON documents. Reads and writes ask it
//! for the table, how field names become SQL, and how rows become records.

use std::path::Path;
use std::sync::Arc;

use plugin_abi::sdk::NodeError;
use rusqlite::{Connection, Row};
use serde_json::Value;

use crate::acl::{self, Access};
use crate::declared::{self, DeclaredFields};
use crate::entity::{Catalog, Entity};
use crate::filter::{Fields, Schemaless};
use crate::store;

/// One entity's table, opened (created, migrated) for a call.
pub struct Target<'a> {
    /// The table's name.
    pub table: String,
    /// The schema, when the entity is declared.
    pub declared: Option<&'a Entity>,
}

impl<'a> Target<'a> {
    /// The table of `entity` in the database at `path`.
    pub fn open(
        conn: &mut Connection,
        path: &Path,
        entity: &str,
        declared: Option<&'a (Arc<Catalog>, String)>,
    ) -> Result<Self, NodeError> {
        match declared {
            Some((catalog, name)) => {
                let schema = catalog.get(name).ok_or_else(|| {
                    NodeError::execution(format!("entity `{name}` left the catalog"))
                })?;
                Ok(Self {
                    table: declared::ensure(conn, path, schema)?,
                    declared: Some(schema),
                })
            }
            None => Ok(Self {
                table: store::table(conn, entity)?,
                declared: None,
            }),
        }
    }

    /// How its field names become SQL.
    pub fn fields(&self) -> Box<dyn Fields + 'a> {
        match self.declared {
            Some(entity) => Box::new(DeclaredFields(entity)),
            None => Box::new(Schemaless),
        }
    }

    /// The order of records when a read names none: insertion order for a
    /// declared entity, creation time for an undeclared one.
    pub fn default_order(&self) -> &'static str {
        match self.declared {
            Some(_) => " ORDER BY rowid",
            None => " ORDER BY createdAt, id",
        }
    }

    /// The columns a read selects.
    pub fn select_list(&self) -> String {
        match self.declared {
            Some(entity) => declared::select_list(entity),
            None => "id, tenantId, data, createdAt, updatedAt".to_owned(),
        }
    }

    /// What the execution's `user` may touch with `operation` (`create`,
    /// `read`, `update`, `delete`): everything for an undeclared entity.
    pub fn access(&self, operation: &str, user: &Value) -> Access {
        match self.declared {
            Some(entity) => acl::access(entity, operation, user),
            None => Access::All,
        }
    }

    /// A selected row as a record.
    pub fn record(&self, row: &Row<'_>) -> rusqlite::Result<Value> {
        match self.declared {
            Some(entity) => declared::record(entity, row),
            None => Ok(store::record(
                row.get(0)?,
                row.get(1)?,
                &row.get::<_, String>(2)?,
                row.get(3)?,
                row.get(4)?,
            )),
        }
    }
}
