//! Access rules of declared entities (the schema's `acl`), one layer
//! inside the tenant: which records of an operation the execution's user
//! (`$context.user`) may touch.
//!
//! * A rule per operation (`create`, `read`, `update`, `delete`); an
//!   entity with an `acl` but no rule for an operation allows it to no
//!   one.
//! * Role keys rank `public` < `user` < `moderator` < `admin` < `god` <
//!   `supergod`: `admin: true` admits admins and above. A user's rank is
//!   its `level` (0–5) when given, else its highest `role` / `roles`; a
//!   user with an `id` and no known role is a `user`.
//! * `self: true` admits the records the user owns: the field named by
//!   `row_level` (`"<field> = $user.id"`, its first such clause), else
//!   `id` for an entity named `user`, else the first of `userId`,
//!   `ownerId`, `authorId`, `createdBy` the entity declares.
//! * An execution without a user (a system run: the CLI without `--user`,
//!   a webhook without a signed-in caller) is not restricted by `acl`; the
//!   tenant still is.

use serde_json::Value;

use crate::entity::Entity;

/// What an operation may touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Every record of the tenant.
    All,
    /// Only records whose `field` holds `user_id`.
    Owned {
        /// The owner field.
        field: String,
        /// The user's id.
        user_id: String,
    },
    /// None.
    Nothing,
}

/// The role keys of a rule, by rank.
const RANKS: [&str; 6] = ["public", "user", "moderator", "admin", "god", "supergod"];

/// What `user` may touch with `operation` (`create`, `read`, `update`,
/// `delete`) on `entity`.
pub fn access(entity: &Entity, operation: &str, user: &Value) -> Access {
    let Some(acl) = &entity.acl else {
        return Access::All;
    };
    if user.is_null() {
        return Access::All;
    }
    let Some(rule) = acl.get(operation) else {
        return Access::Nothing;
    };
    let rank = rank_of(user);
    let admitted = RANKS
        .iter()
        .enumerate()
        .any(|(key_rank, key)| rule.get(key) == Some(&Value::Bool(true)) && rank >= key_rank);
    if admitted {
        return Access::All;
    }
    let user_id = match user.get("id") {
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Access::Nothing,
    };
    if rule.get("self") != Some(&Value::Bool(true)) {
        return Access::Nothing;
    }
    match owner_field(entity, rule) {
        Some(field) => Access::Owned { field, user_id },
        None => Access::Nothing,
    }
}

/// The user's rank: `level`, else its highest role; a signed-in user
/// without a known role is a `user`.
fn rank_of(user: &Value) -> usize {
    if let Some(level) = user.get("level").and_then(Value::as_u64) {
        return usize::try_from(level).unwrap_or(0).min(RANKS.len() - 1);
    }
    let named = |role: &str| RANKS.iter().position(|r| r.eq_ignore_ascii_case(role));
    let mut rank = None;
    if let Some(role) = user.get("role").and_then(Value::as_str) {
        rank = rank.max(named(role));
    }
    if let Some(roles) = user.get("roles").and_then(Value::as_array) {
        for role in roles.iter().filter_map(Value::as_str) {
            rank = rank.max(named(role));
        }
    }
    rank.unwrap_or(usize::from(user.get("id").is_some()))
}

/// The field holding a record's owner for `self` rules.
fn owner_field(entity: &Entity, rule: &Value) -> Option<String> {
    if let Some(row_level) = rule.get("row_level").and_then(Value::as_str) {
        for clause in row_level.split(" OR ").chain(row_level.split(" or ")) {
            if let Some((field, value)) = clause.split_once('=') {
                let field = field.trim();
                if value.trim() == "$user.id" && entity.field(field).is_some() {
                    return Some(field.to_owned());
                }
            }
        }
    }
    if entity.name.eq_ignore_ascii_case("user") {
        return Some("id".to_owned());
    }
    ["userId", "ownerId", "authorId", "createdBy"]
        .into_iter()
        .find(|f| entity.field(f).is_some())
        .map(str::to_owned)
}
