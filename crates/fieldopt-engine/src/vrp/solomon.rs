//! Solomon / Gehring–Homberger VRPTW instances.

use super::{PlanJob, Problem, Travel, Vehicle};

/// One instance: depot (customer 0) and customers.
#[derive(Debug, Clone, PartialEq)]
pub struct SolomonInstance {
    /// Name from the first line.
    pub name: String,
    /// Vehicles available.
    pub vehicles: usize,
    /// Load capacity of each vehicle.
    pub capacity: i64,
    /// Customers, depot first.
    pub customers: Vec<Customer>,
}

/// A row of the customer table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Customer {
    /// Customer number (0 is the depot).
    pub number: i64,
    /// X coordinate.
    pub x: f64,
    /// Y coordinate.
    pub y: f64,
    /// Demand.
    pub demand: i64,
    /// Earliest start of service.
    pub ready: f64,
    /// Latest start of service (for the depot: when routes must be back).
    pub due: f64,
    /// Service time.
    pub service: f64,
}

/// Parses the text format (any line ends).
pub fn parse(text: &str) -> Result<SolomonInstance, String> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let name = lines.next().ok_or("empty file")?.to_string();
    let mut vehicles = None;
    let mut customers = Vec::new();
    while let Some(line) = lines.next() {
        if line.starts_with("VEHICLE") {
            let header = lines.next().ok_or("missing vehicle header")?;
            if !header.starts_with("NUMBER") {
                return Err(format!("expected NUMBER CAPACITY, got {header:?}"));
            }
            let values = lines.next().ok_or("missing vehicle numbers")?;
            let numbers: Vec<&str> = values.split_whitespace().collect();
            let [count, capacity] = numbers[..] else {
                return Err(format!("bad vehicle line {values:?}"));
            };
            vehicles = Some((
                count.parse::<usize>().map_err(|e| e.to_string())?,
                capacity.parse::<i64>().map_err(|e| e.to_string())?,
            ));
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() == 7 && fields[0].parse::<i64>().is_ok() {
            let number = |i: usize| {
                fields[i]
                    .parse::<f64>()
                    .map_err(|e| format!("{line:?}: {e}"))
            };
            customers.push(Customer {
                number: fields[0].parse().map_err(|e| format!("{line:?}: {e}"))?,
                x: number(1)?,
                y: number(2)?,
                demand: number(3)? as i64,
                ready: number(4)?,
                due: number(5)?,
                service: number(6)?,
            });
        }
    }
    let (vehicles, capacity) = vehicles.ok_or("no VEHICLE section")?;
    if customers.len() < 2 || customers[0].number != 0 {
        return Err("the customer table must start with the depot (0) and list customers".into());
    }
    Ok(SolomonInstance {
        name,
        vehicles,
        capacity,
        customers,
    })
}

impl SolomonInstance {
    /// The routing problem: the depot (location 0) starts and ends every
    /// route by its due date; identical vehicles with the file's capacity;
    /// Euclidean distance, unrounded, as travel time too.
    pub fn to_problem(&self) -> Problem {
        let n = self.customers.len();
        let mut distance = vec![0.0; n * n];
        for (i, a) in self.customers.iter().enumerate() {
            for (j, b) in self.customers.iter().enumerate() {
                distance[i * n + j] = ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt();
            }
        }
        let depot = self.customers[0];
        let vehicles = (0..self.vehicles)
            .map(|k| Vehicle {
                id: k as i64 + 1,
                start: 0,
                shift_start: depot.ready,
                shift_end: depot.due,
                skills: Vec::new(),
                areas: Vec::new(),
                max_jobs: usize::MAX,
                load_capacity: self.capacity,
            })
            .collect();
        let jobs = self.customers[1..]
            .iter()
            .enumerate()
            .map(|(index, c)| PlanJob {
                id: c.number,
                location: index + 1,
                duration: c.service,
                window_start: c.ready,
                window_end: c.due,
                skills: Vec::new(),
                area: None,
                priority: 1,
                demand: c.demand,
                pinned_to: None,
            })
            .collect();
        Problem {
            travel: Travel::matrix(n, distance.clone(), distance),
            vehicles,
            jobs,
            open_routes: false,
        }
    }
}
