//! `near` (Location.position, FHIR R4 location.html#positional): the searched circle and
//! the distance every engine measures, so that all engines agree on what is near.
//!
//! A value is `latitude|longitude|distance|units` in decimal degrees (WGS84). Units are
//! UCUM length codes (`km`, `m`, `[mi_i]`, `[mi_us]`, `[nmi_i]`), kilometres when omitted;
//! without a distance, "near" is within [`DEFAULT_DISTANCE_KM`]. A position matches when
//! its great-circle distance to the centre, on a sphere of the Earth's mean radius, is at
//! most the distance.
//!
//! The distance test is written without trigonometry at search time: positions are
//! indexed as points on the unit sphere ([`unit_vector`]) and a position is within the
//! circle when the straight line (chord) to the centre's point is at most
//! [`NearQuery::max_chord_squared`]'s root, which is the same test as the arc length.

/// The Earth's mean radius in kilometres (IUGG), which OpenSearch's `geo_distance` uses.
pub const EARTH_RADIUS_KM: f64 = 6_371.008_771_4;

/// The distance a `near` search without one looks within.
pub const DEFAULT_DISTANCE_KM: f64 = 1.0;

/// A parsed `near` value: the centre and the largest distance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NearQuery {
    /// Latitude of the centre, decimal degrees.
    pub latitude: f64,
    /// Longitude of the centre, decimal degrees.
    pub longitude: f64,
    /// The largest distance, kilometres.
    pub distance_km: f64,
}

impl NearQuery {
    /// Parses `latitude|longitude[|distance[|units]]`.
    ///
    /// # Errors
    /// What is wrong, for a 400 that names the parameter.
    pub fn parse(value: &str) -> std::result::Result<Self, String> {
        let parts: Vec<&str> = value.split('|').collect();
        if parts.len() < 2 || parts.len() > 4 {
            return Err("two to four parts".to_owned());
        }
        let number = |text: &str, what: &str| -> std::result::Result<f64, String> {
            text.trim()
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .ok_or_else(|| format!("the {what} '{text}' is not a number"))
        };
        let latitude = number(parts[0], "latitude")?;
        let longitude = number(parts[1], "longitude")?;
        if !(-90.0..=90.0).contains(&latitude) {
            return Err(format!("the latitude {latitude} is not within -90..90"));
        }
        if !(-180.0..=180.0).contains(&longitude) {
            return Err(format!("the longitude {longitude} is not within -180..180"));
        }
        let distance = parts.get(2).map(|d| d.trim()).filter(|d| !d.is_empty());
        let distance_km = match distance {
            None => DEFAULT_DISTANCE_KM,
            Some(text) => {
                let distance = number(text, "distance")?;
                if distance < 0.0 {
                    return Err(format!("the distance {distance} is negative"));
                }
                let unit = parts.get(3).map_or("", |u| u.trim());
                distance * kilometres_per(unit)?
            }
        };
        Ok(Self {
            latitude,
            longitude,
            distance_km,
        })
    }

    /// The square of the longest chord between the centre's and a matching position's
    /// [`unit_vector`]s.
    pub fn max_chord_squared(&self) -> f64 {
        let half_angle =
            (self.distance_km / EARTH_RADIUS_KM / 2.0).min(std::f64::consts::FRAC_PI_2);
        let chord = 2.0 * half_angle.sin();
        chord * chord
    }

    /// The latitudes a matching position lies between (a band that narrows the search
    /// before the exact test).
    pub fn latitude_band(&self) -> (f64, f64) {
        let degrees = (self.distance_km / EARTH_RADIUS_KM).to_degrees();
        (self.latitude - degrees, self.latitude + degrees)
    }

    /// Whether the position at `latitude`, `longitude` is within the circle.
    pub fn contains(&self, latitude: f64, longitude: f64) -> bool {
        let centre = unit_vector(self.latitude, self.longitude);
        chord_squared(centre, unit_vector(latitude, longitude)) <= self.max_chord_squared()
    }
}

/// The kilometres in one `unit` (a UCUM length code; empty for kilometres).
fn kilometres_per(unit: &str) -> std::result::Result<f64, String> {
    Ok(match unit {
        "" | "km" => 1.0,
        "m" => 0.001,
        "[mi_i]" | "mi_i" => 1.609_344,
        "[mi_us]" | "mi_us" => 1.609_347_218_694_437,
        "[nmi_i]" | "nmi_i" => 1.852,
        other => {
            return Err(format!(
                "the unit '{other}' is not a length this server knows (km, m, [mi_i], [mi_us], [nmi_i])"
            ));
        }
    })
}

/// The point on the unit sphere at `latitude`, `longitude` (decimal degrees).
pub fn unit_vector(latitude: f64, longitude: f64) -> [f64; 3] {
    let (lat, lon) = (latitude.to_radians(), longitude.to_radians());
    [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
}

/// The squared straight-line distance between two points.
pub fn chord_squared(a: [f64; 3], b: [f64; 3]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// The great-circle distance in kilometres between two positions.
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let chord = chord_squared(unit_vector(a.0, a.1), unit_vector(b.0, b.1)).sqrt();
    2.0 * (chord / 2.0).min(1.0).asin() * EARTH_RADIUS_KM
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_centre_distance_and_units() {
        let q = NearQuery::parse("42.25|-83.69|11.2|km").expect("near");
        assert_eq!(
            (q.latitude, q.longitude, q.distance_km),
            (42.25, -83.69, 11.2)
        );
        let m = NearQuery::parse("0|0|500|m").expect("metres");
        assert!((m.distance_km - 0.5).abs() < 1e-12);
        let mi = NearQuery::parse("0|0|1|[mi_i]").expect("miles");
        assert!((mi.distance_km - 1.609_344).abs() < 1e-12);
        assert_eq!(
            NearQuery::parse("1|2|3")
                .expect("km by default")
                .distance_km,
            3.0
        );
        assert_eq!(
            NearQuery::parse("1|2")
                .expect("default distance")
                .distance_km,
            DEFAULT_DISTANCE_KM
        );
        assert_eq!(
            NearQuery::parse("1|2||").expect("empty parts").distance_km,
            DEFAULT_DISTANCE_KM
        );
        for bad in [
            "1",
            "x|2",
            "1|y",
            "91|0",
            "0|181",
            "0|0|-1",
            "0|0|1|furlong",
            "0|0|1|km|x",
            "NaN|0",
        ] {
            assert!(NearQuery::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn distances_are_great_circle_distances() {
        // Paris to London, about 343.5 km.
        let d = distance_km((48.8566, 2.3522), (51.5074, -0.1278));
        assert!((d - 343.5).abs() < 1.0, "{d}");
        // A quarter of the equator.
        let quarter = distance_km((0.0, 0.0), (0.0, 90.0));
        assert!((quarter - EARTH_RADIUS_KM * std::f64::consts::FRAC_PI_2).abs() < 1e-6);
        let paris = NearQuery::parse("48.8566|2.3522|344|km").expect("near");
        assert!(paris.contains(51.5074, -0.1278));
        let closer = NearQuery::parse("48.8566|2.3522|343|km").expect("near");
        assert!(!closer.contains(51.5074, -0.1278));
        let (south, north) = paris.latitude_band();
        assert!(south < 48.8566 && 51.5074 < north);
    }

    #[test]
    fn the_whole_earth_is_within_half_its_circumference() {
        let everywhere = NearQuery::parse("0|0|30000|km").expect("near");
        assert!(everywhere.contains(0.0, 180.0));
        assert!(everywhere.contains(-90.0, 0.0));
    }
}
