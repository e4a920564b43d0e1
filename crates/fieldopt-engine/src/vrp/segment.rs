//! Route segments that join in constant time (the time-window segments of
//! Vidal et al., 2013). Every route keeps the segment of each of its
//! prefixes and suffixes, so a move is checked by joining three or four
//! segments instead of re-simulating the routes it touches.
//!
//! A segment that would have to arrive somewhere after its window closes
//! carries that lateness as "time warp": a route is feasible in time exactly
//! when its whole segment has none.

use super::Problem;

/// Location marker of the empty segment.
const NOWHERE: usize = usize::MAX - 1;

/// A stretch of a route, summed up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Segment {
    /// Location of the first visit.
    pub first: usize,
    /// Location of the last visit.
    pub last: usize,
    /// Travel, service and waiting from the start of the first visit to the
    /// end of the last.
    pub duration: f64,
    /// Lateness the stretch cannot avoid; 0 when it is feasible.
    pub warp: f64,
    /// Earliest start of the first visit without needless waiting.
    pub earliest: f64,
    /// Latest start of the first visit without added warp.
    pub latest: f64,
    /// Distance travelled inside the stretch.
    pub distance: f64,
    /// Sum of demands.
    pub load: i64,
    /// Jobs in the stretch (the start and end of a route count none).
    pub jobs: usize,
}

impl Segment {
    /// Nothing at all: the identity of [`join`].
    pub const EMPTY: Segment = Segment {
        first: NOWHERE,
        last: NOWHERE,
        duration: 0.0,
        warp: 0.0,
        earliest: f64::NEG_INFINITY,
        latest: f64::INFINITY,
        distance: 0.0,
        load: 0,
        jobs: 0,
    };

    /// One visit: at `location`, starting within `[earliest, latest]`,
    /// lasting `duration`.
    pub fn visit(location: usize, duration: f64, earliest: f64, latest: f64) -> Segment {
        Segment {
            first: location,
            last: location,
            duration,
            warp: 0.0,
            earliest,
            latest,
            distance: 0.0,
            load: 0,
            jobs: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.first == NOWHERE
    }
}

/// `a` then `b`, travelling from the last visit of `a` to the first of `b`.
#[inline]
pub(super) fn join(p: &Problem, a: &Segment, b: &Segment) -> Segment {
    if a.is_empty() {
        return *b;
    }
    if b.is_empty() {
        return *a;
    }
    let (distance, travel) = (p.dist(a.last, b.first), p.time(a.last, b.first));
    let reach = a.duration - a.warp + travel;
    let wait = (b.earliest - reach - a.latest).max(0.0);
    let warp = (a.earliest + reach - b.latest).max(0.0);
    Segment {
        first: a.first,
        last: b.last,
        duration: a.duration + b.duration + travel + wait,
        warp: a.warp + b.warp + warp,
        earliest: (b.earliest - reach).max(a.earliest) - wait,
        latest: (b.latest - reach).min(a.latest) + warp,
        distance: a.distance + b.distance + distance,
        load: a.load + b.load,
        jobs: a.jobs + b.jobs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(points: usize) -> Problem {
        let distance: Vec<f64> = (0..points * points)
            .map(|k| ((k / points) as f64 - (k % points) as f64).abs())
            .collect();
        Problem {
            travel: super::super::Travel::matrix(points, distance.clone(), distance),
            vehicles: Vec::new(),
            jobs: Vec::new(),
            open_routes: false,
        }
    }

    /// Forward simulation of visits `(location, duration, earliest, latest)`
    /// from time `t`: total lateness.
    fn simulate(p: &Problem, visits: &[(usize, f64, f64, f64)], mut t: f64) -> f64 {
        let mut warp = 0.0;
        let mut prev = visits[0].0;
        for &(at, duration, earliest, latest) in visits {
            t = (t + p.time(prev, at)).max(earliest);
            if t > latest {
                warp += t - latest;
                t = latest;
            }
            t += duration;
            prev = at;
        }
        warp
    }

    #[test]
    fn joining_in_any_grouping_matches_a_forward_simulation() {
        let p = line(10);
        let visits = [
            (0, 0.0, 0.0, 100.0),
            (3, 2.0, 10.0, 12.0),
            (1, 1.0, 0.0, 14.0),
            (7, 3.0, 30.0, 31.0),
            (9, 0.0, 0.0, 33.0),
        ];
        let single: Vec<Segment> = visits
            .iter()
            .map(|&(at, d, e, l)| Segment::visit(at, d, e, l))
            .collect();
        let left = single
            .iter()
            .fold(Segment::EMPTY, |acc, s| join(&p, &acc, s));
        let right = single
            .iter()
            .rev()
            .fold(Segment::EMPTY, |acc, s| join(&p, s, &acc));
        let middle = join(
            &p,
            &join(&p, &single[0], &single[1]),
            &join(&p, &join(&p, &single[2], &single[3]), &single[4]),
        );
        let expected = simulate(&p, &visits, 0.0);
        assert!(expected > 0.0, "the example must be late somewhere");
        for s in [left, right, middle] {
            assert!((s.warp - expected).abs() < 1e-9, "{s:?} vs {expected}");
            assert_eq!(s.distance, 3.0 + 2.0 + 6.0 + 2.0);
        }
    }

    proptest::proptest! {
        /// Any split of any visit sequence joins to what a forward
        /// simulation finds.
        #[test]
        fn any_split_matches_the_simulation(
            raw in proptest::collection::vec((0usize..10, 0u8..20, 0u8..100, 0u8..60), 1..12),
            cut in 0usize..12,
        ) {
            let p = line(10);
            let visits: Vec<(usize, f64, f64, f64)> = raw
                .iter()
                .map(|&(at, d, e, w)| (at, f64::from(d), f64::from(e), f64::from(e) + f64::from(w)))
                .collect();
            let cut = cut.min(visits.len());
            let fold = |part: &[(usize, f64, f64, f64)]| {
                part.iter().fold(Segment::EMPTY, |acc, &(at, d, e, l)| {
                    join(&p, &acc, &Segment::visit(at, d, e, l))
                })
            };
            let joined = join(&p, &fold(&visits[..cut]), &fold(&visits[cut..]));
            let expected = simulate(&p, &visits, visits[0].2);
            proptest::prop_assert!((joined.warp - expected).abs() < 1e-9, "{} vs {}", joined.warp, expected);
        }
    }

    #[test]
    fn waiting_is_allowed_and_costs_no_warp() {
        let p = line(5);
        let a = Segment::visit(0, 0.0, 0.0, 100.0);
        let b = Segment::visit(4, 1.0, 50.0, 60.0);
        let both = join(&p, &a, &b);
        // Leaving at 46 arrives just as the window opens.
        assert_eq!(both.warp, 0.0);
        assert_eq!(both.earliest, 46.0);
        assert_eq!(both.duration, 4.0 + 1.0);
        let late = Segment::visit(0, 0.0, 58.0, 100.0);
        assert_eq!(join(&p, &late, &b).warp, 2.0);
    }
}
