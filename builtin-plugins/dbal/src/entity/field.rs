//! A field's type and attributes.

use serde::Deserialize;
use serde_json::Value;

/// The field types of MetaBuilder's schema format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// UUID text.
    Uuid,
    /// Collision-resistant id text.
    Cuid,
    /// Short text.
    String,
    /// Long text.
    Text,
    /// An email address.
    Email,
    /// A URL.
    Url,
    /// A 32-bit integer.
    Integer,
    /// A 64-bit integer.
    Bigint,
    /// A floating-point number.
    Float,
    /// A fixed-point number (kept as a number).
    Decimal,
    /// `true` / `false`.
    Boolean,
    /// Unix milliseconds.
    Timestamp,
    /// `YYYY-MM-DD`.
    Date,
    /// Date and time (RFC 3339 text).
    Datetime,
    /// Any JSON value.
    Json,
    /// One of `values`.
    Enum,
    /// Binary data (base64 text).
    Bytes,
    /// A URL-friendly identifier.
    Slug,
    /// A phone number.
    Phone,
    /// Money (a number).
    Currency,
    /// `#RRGGBB`.
    Color,
    /// `{lat, lng}`.
    Coordinates,
}

impl FieldType {
    /// The column's SQLite type affinity.
    pub fn column_type(self) -> &'static str {
        match self {
            FieldType::Integer | FieldType::Bigint | FieldType::Timestamp | FieldType::Boolean => {
                "INTEGER"
            }
            FieldType::Float | FieldType::Decimal | FieldType::Currency => "REAL",
            _ => "TEXT",
        }
    }

    /// Whether values are stored as JSON text.
    pub fn is_json(self) -> bool {
        matches!(self, FieldType::Json | FieldType::Coordinates)
    }
}

/// One field as declared.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct FieldSpec {
    /// Its type.
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// The primary key (the store's `id`).
    #[serde(default)]
    pub primary: bool,
    /// Must be present and not null.
    #[serde(default)]
    pub required: bool,
    /// May be absent (the opposite of `required`).
    #[serde(default)]
    pub optional: bool,
    /// May be null.
    #[serde(default)]
    pub nullable: Option<bool>,
    /// Unique per tenant.
    #[serde(default)]
    pub unique: bool,
    /// Filled in by the store when absent (ids, timestamps).
    #[serde(default)]
    pub generated: bool,
    /// Shortest text.
    #[serde(default)]
    pub min_length: Option<u64>,
    /// Longest text.
    #[serde(default)]
    pub max_length: Option<u64>,
    /// A regular expression text must match.
    #[serde(default)]
    pub pattern: Option<String>,
    /// Smallest number.
    #[serde(default)]
    pub min: Option<f64>,
    /// Largest number.
    #[serde(default)]
    pub max: Option<f64>,
    /// The values of an `enum`.
    #[serde(default)]
    pub values: Option<Vec<String>>,
    /// The value of a new record that has none.
    #[serde(default)]
    pub default: Option<Value>,
    /// Index this field (per tenant).
    #[serde(default)]
    pub index: bool,
    /// A unique index on this field (per tenant).
    #[serde(default)]
    pub unique_index: bool,
    /// What the field is.
    #[serde(default)]
    pub description: Option<String>,
}

impl FieldSpec {
    /// Whether the column may hold NULL.
    pub fn is_nullable(&self) -> bool {
        match self.nullable {
            Some(nullable) => nullable,
            None => !self.required,
        }
    }

    /// Whether a record must carry a value (after defaults and generation).
    pub fn must_be_present(&self) -> bool {
        self.required && self.default.is_none() && !self.generated
    }
}
