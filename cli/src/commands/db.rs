//! `plugflow db migrate`.

use serde_json::json;

use crate::args::Global;
use crate::error::CliError;
use crate::host;
use crate::output::Output;

/// Shows, or with `apply` makes, the table rebuilds the configured entity
/// schemas need.
pub fn migrate(global: &Global, apply: bool) -> Result<Output, CliError> {
    let config = host::config(global)?;
    if host::database_url(global, &config).is_some() {
        return Err(CliError::config(
            "plugflow db migrate plans and makes SQLite table rebuilds; the dbal here is on PostgreSQL (`[database] url`), where a destructive schema change is refused at run time with what changed: rebuild that table with SQL, or restore the declaration",
        ));
    }
    let database = global
        .db
        .clone()
        .or_else(|| {
            config
                .database
                .as_ref()
                .and_then(|d| d.path().map(Into::into))
        })
        .ok_or_else(|| {
            CliError::config("no database: set `[database] path` in the configuration, or --db")
        })?;
    let entities = config
        .database
        .as_ref()
        .and_then(|d| d.entities())
        .ok_or_else(|| {
            CliError::config("no entity schemas: set `[database] entities` in the configuration")
        })?
        .to_owned();
    let plans = if apply {
        plugflow_dbal::migrate::apply(&database, &entities)
    } else {
        plugflow_dbal::migrate::plan(&database, &entities)
    }
    .map_err(CliError::failed)?;
    let mut pretty = String::new();
    if plans.is_empty() {
        pretty.push_str("no entity needs a rebuild\n");
    }
    for plan in &plans {
        pretty.push_str(&format!(
            "{} `{}` ({} records):\n",
            if apply { "rebuilt" } else { "would rebuild" },
            plan.entity,
            plan.records
        ));
        for change in &plan.changes {
            pretty.push_str(&format!(
                "  {} {}: {}\n",
                change.kind, change.field, change.detail
            ));
        }
    }
    if !apply && !plans.is_empty() {
        pretty.push_str("run again with --apply to make these changes\n");
    }
    Ok(Output {
        json: json!({"database": database, "entities": entities, "applied": apply, "plans": plans})
            .into(),
        pretty,
    })
}
