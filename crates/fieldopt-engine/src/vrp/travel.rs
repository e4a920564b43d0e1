//! How far, and how long, from one location to another.
//!
//! Two shapes: full matrices (any metric: Euclidean benchmarks, road
//! networks, one-way streets), which cost memory quadratic in the number of
//! locations, and great-circle distances computed when asked from the
//! points alone, which cost memory linear in it — what a large field day
//! needs (5 000 jobs would take 400 MB of matrices).

/// A location that is wherever the route is: the open end of a route, or
/// the start of a technician whose position is not known (its route starts
/// at its first job). Travel to and from it is zero.
pub const ANYWHERE: usize = usize::MAX;

/// Mean Earth radius, km.
const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Distances and travel times between locations `0..locations()`.
#[derive(Debug, Clone, PartialEq)]
pub enum Travel {
    /// Row-major `locations × locations` matrices.
    Matrix {
        /// Number of locations.
        locations: usize,
        /// Distance from row to column.
        distance: Vec<f64>,
        /// Travel time from row to column.
        time: Vec<f64>,
    },
    /// Great-circle distances between points on the Earth (as unit
    /// vectors), at a constant speed.
    GreatCircle {
        /// Each location as a unit vector.
        points: Vec<[f64; 3]>,
        /// Travel minutes per km.
        minutes_per_km: f64,
    },
}

/// A `(latitude, longitude)` in degrees as a unit vector.
fn unit_vector((latitude, longitude): (f64, f64)) -> [f64; 3] {
    let (lat, lon) = (latitude.to_radians(), longitude.to_radians());
    [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
}

fn chord_squared(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    let (x, y, z) = (a[0] - b[0], a[1] - b[1], a[2] - b[2]);
    x * x + y * y + z * z
}

/// Great-circle distance, km, between two unit vectors.
fn arc_km(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    2.0 * EARTH_RADIUS_KM * (chord_squared(a, b).sqrt() / 2.0).min(1.0).asin()
}

/// Great-circle distance, km, between two `(latitude, longitude)` points.
pub fn great_circle_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    arc_km(&unit_vector(a), &unit_vector(b))
}

impl Travel {
    /// Matrices of `locations × locations` entries.
    ///
    /// # Panics
    /// When a matrix has another size.
    pub fn matrix(locations: usize, distance: Vec<f64>, time: Vec<f64>) -> Self {
        assert_eq!(
            distance.len(),
            locations * locations,
            "distance matrix size"
        );
        assert_eq!(time.len(), locations * locations, "travel time matrix size");
        Self::Matrix {
            locations,
            distance,
            time,
        }
    }

    /// Great-circle distances between `(latitude, longitude)` points, and
    /// travel times at `speed_kmh`.
    pub fn great_circle(points: &[(f64, f64)], speed_kmh: f64) -> Self {
        Self::GreatCircle {
            points: points.iter().copied().map(unit_vector).collect(),
            minutes_per_km: 60.0 / speed_kmh.max(1e-9),
        }
    }

    /// Number of locations.
    pub fn locations(&self) -> usize {
        match self {
            Travel::Matrix { locations, .. } => *locations,
            Travel::GreatCircle { points, .. } => points.len(),
        }
    }

    /// Distance from `from` to `to` (zero to or from [`ANYWHERE`]).
    #[inline]
    pub fn distance(&self, from: usize, to: usize) -> f64 {
        if from == ANYWHERE || to == ANYWHERE {
            return 0.0;
        }
        match self {
            Travel::Matrix {
                locations,
                distance,
                ..
            } => distance[from * locations + to],
            Travel::GreatCircle { points, .. } => arc_km(&points[from], &points[to]),
        }
    }

    /// Travel time from `from` to `to` (zero to or from [`ANYWHERE`]).
    #[inline]
    pub fn time(&self, from: usize, to: usize) -> f64 {
        if from == ANYWHERE || to == ANYWHERE {
            return 0.0;
        }
        match self {
            Travel::Matrix {
                locations, time, ..
            } => time[from * locations + to],
            Travel::GreatCircle {
                points,
                minutes_per_km,
            } => arc_km(&points[from], &points[to]) * minutes_per_km,
        }
    }

    /// Whether every distance is the same both ways.
    pub fn symmetric(&self) -> bool {
        match self {
            Travel::Matrix { locations, .. } => {
                (0..*locations).all(|a| (0..a).all(|b| self.distance(a, b) == self.distance(b, a)))
            }
            Travel::GreatCircle { .. } => true,
        }
    }

    /// A value that orders locations by closeness as the round trip
    /// `distance(a, b) + distance(b, a)` does, cheaper to compute.
    pub(crate) fn closeness(&self, a: usize, b: usize) -> f64 {
        match self {
            Travel::Matrix { .. } => self.distance(a, b) + self.distance(b, a),
            // The chord grows with the arc.
            Travel::GreatCircle { points, .. } => chord_squared(&points[a], &points[b]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn great_circles_match_known_distances() {
        let new_york = (40.7128, -74.0060);
        let london = (51.5074, -0.1278);
        let km = great_circle_km(new_york, london);
        assert!((km - 5570.2).abs() < 1.0, "{km}");
        assert_eq!(great_circle_km(new_york, new_york), 0.0);
        let travel = Travel::great_circle(&[new_york, london], 60.0);
        assert_eq!(travel.distance(0, 1), km);
        assert!(
            (travel.time(0, 1) - km).abs() < 1e-9,
            "60 km/h: a minute a km"
        );
        assert_eq!(travel.distance(ANYWHERE, 1), 0.0);
        assert_eq!(travel.time(0, ANYWHERE), 0.0);
        assert!(travel.symmetric());
    }

    #[test]
    fn closeness_orders_like_the_distance() {
        let points: Vec<(f64, f64)> = (0..40)
            .map(|k| {
                (
                    40.0 + f64::from(k % 7) * 0.3,
                    -74.0 + f64::from(k / 7) * 0.41,
                )
            })
            .collect();
        let travel = Travel::great_circle(&points, 40.0);
        let mut by_distance: Vec<usize> = (1..points.len()).collect();
        let mut by_closeness = by_distance.clone();
        by_distance.sort_by(|&a, &b| travel.distance(0, a).total_cmp(&travel.distance(0, b)));
        by_closeness.sort_by(|&a, &b| travel.closeness(0, a).total_cmp(&travel.closeness(0, b)));
        assert_eq!(by_distance, by_closeness);
    }
}
