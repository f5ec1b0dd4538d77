//! `acme-geo`: an example third-party plugflow plugin.
//!
//! * `geo.distance` — great-circle distance in km between `from` and `to`
//!   (`{lat, lon}` in degrees). Output: `{result: km}`.
//! * `geo.nearest` — the place of `places` (`[{name, lat, lon, ...}]`)
//!   nearest to `point`. Output: `{result: place, distanceKm}`.

use plugin_abi::sdk::{NodeError, NodeOutput, NodeRequest, NodeSpec, PluginDefinition};
use serde_json::{json, Value};

/// Mean Earth radius (IUGG), km.
const EARTH_RADIUS_KM: f64 = 6371.0088;

/// A point on the globe, in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatLon {
    /// Latitude, -90..=90.
    pub lat: f64,
    /// Longitude, -180..=180.
    pub lon: f64,
}

impl LatLon {
    /// Reads `{lat, lon}` from `value`; `what` names it in errors.
    fn from_json(value: &Value, what: &str) -> Result<Self, NodeError> {
        let coordinate = |key: &str, limit: f64| {
            value
                .get(key)
                .and_then(Value::as_f64)
                .filter(|v| v.abs() <= limit)
                .ok_or_else(|| {
                    NodeError::invalid_parameter(
                        &format!("{what}.{key}"),
                        format!("must be a number within ±{limit}"),
                    )
                })
        };
        Ok(Self {
            lat: coordinate("lat", 90.0)?,
            lon: coordinate("lon", 180.0)?,
        })
    }
}

/// Great-circle distance by the haversine formula, in km.
///
/// ```
/// use acme_geo::{haversine_km, LatLon};
/// let paris = LatLon { lat: 48.8566, lon: 2.3522 };
/// let london = LatLon { lat: 51.5074, lon: -0.1278 };
/// assert!((haversine_km(paris, london) - 343.6).abs() < 1.0);
/// ```
pub fn haversine_km(a: LatLon, b: LatLon) -> f64 {
    let (phi1, phi2) = (a.lat.to_radians(), b.lat.to_radians());
    let d_phi = (b.lat - a.lat).to_radians();
    let d_lambda = (b.lon - a.lon).to_radians();
    let h = (d_phi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (d_lambda / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

fn round3(km: f64) -> f64 {
    (km * 1000.0).round() / 1000.0
}

fn distance(request: &NodeRequest) -> Result<NodeOutput, NodeError> {
    let from = LatLon::from_json(request.required_param("from")?, "from")?;
    let to = LatLon::from_json(request.required_param("to")?, "to")?;
    Ok(NodeOutput::result(json!(round3(haversine_km(from, to)))))
}

fn nearest(request: &NodeRequest) -> Result<NodeOutput, NodeError> {
    let point = LatLon::from_json(request.required_param("point")?, "point")?;
    let places = request
        .required_param("places")?
        .as_array()
        .ok_or_else(|| NodeError::invalid_parameter("places", "must be an array"))?;
    let mut best: Option<(f64, &Value)> = None;
    for (i, place) in places.iter().enumerate() {
        let km = haversine_km(point, LatLon::from_json(place, &format!("places[{i}]"))?);
        if best.is_none_or(|(best_km, _)| km < best_km) {
            best = Some((km, place));
        }
    }
    let (km, place) =
        best.ok_or_else(|| NodeError::invalid_parameter("places", "is empty: nothing is nearest"))?;
    tracing::debug!(node = %request.node_id, km, "nearest place found");
    Ok(NodeOutput::new(
        json!({"result": place, "distanceKm": round3(km)}),
    ))
}

fn point_schema() -> Value {
    json!({"type": "object", "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}}, "required": ["lat", "lon"]})
}

/// The plugin's node types.
pub fn definition() -> PluginDefinition {
    PluginDefinition::new("acme-geo", env!("CARGO_PKG_VERSION"))
        .node(
            NodeSpec::new("geo.distance", "1.0.0", "geo", "Great-circle distance in km between `from` and `to` ({lat, lon} in degrees). Output: {result: km}.")
                .schema(json!({"type": "object", "properties": {"from": point_schema(), "to": point_schema()}}))
                .required(["from", "to"])
                .tags(["geo", "distance"])
                .handler(distance),
        )
        .node(
            NodeSpec::new("geo.nearest", "1.0.0", "geo", "The place of `places` ([{lat, lon, ...}]) nearest to `point`. Output: {result: place, distanceKm}.")
                .schema(json!({"type": "object", "properties": {"point": point_schema(), "places": {"type": "array", "items": point_schema()}}}))
                .required(["point", "places"])
                .tags(["geo"])
                .handler(nearest),
        )
}

plugin_abi::export_plugin!(definition);
