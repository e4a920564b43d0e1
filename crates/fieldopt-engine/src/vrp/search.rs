//! The search: regret construction, then large neighbourhood search with
//! local search, under a simulated-annealing acceptance rule.

use std::time::Instant;

use super::{
    Plan, PlannedRoute, PlannedStop, Problem, SolveOptions, UnassignedJob, UnassignedReason,
    qualified,
};

/// Slack for floating-point time comparisons.
const EPS: f64 = 1e-6;
/// Neighbours per job in the granular neighbourhoods.
const NEIGHBOURS: usize = 30;

use crate::random::SplitMix64 as Rng;

/// Precomputed facts about the problem.
struct Ctx<'a> {
    p: &'a Problem,
    n: usize,
    /// `compatible[v * n + j]`: skills, area, pin.
    compatible: Vec<bool>,
    /// Nearest other jobs of each job.
    neighbours: Vec<Vec<usize>>,
    /// Value of serving each job.
    weight: Vec<u128>,
    /// Vehicles that are interchangeable share a class (index of the first).
    class: Vec<usize>,
}

impl<'a> Ctx<'a> {
    fn new(p: &'a Problem) -> Self {
        let n = p.jobs.len();
        let mut compatible = vec![false; p.vehicles.len() * n];
        for (v, vehicle) in p.vehicles.iter().enumerate() {
            for (j, job) in p.jobs.iter().enumerate() {
                let (skills, area) = qualified(vehicle, job);
                let pin = job.pinned_to.is_none_or(|w| w == v);
                compatible[v * n + j] = skills && area && pin;
            }
        }
        let neighbours = (0..n)
            .map(|j| {
                let mut others: Vec<usize> = (0..n).filter(|&k| k != j).collect();
                let from = p.jobs[j].location;
                others.sort_by(|&a, &b| {
                    let da = p.dist(from, p.jobs[a].location) + p.dist(p.jobs[a].location, from);
                    let db = p.dist(from, p.jobs[b].location) + p.dist(p.jobs[b].location, from);
                    da.total_cmp(&db).then(a.cmp(&b))
                });
                others.truncate(NEIGHBOURS);
                others
            })
            .collect();
        let weight = p
            .jobs
            .iter()
            .map(|job| 10_000u128.pow(5 - u32::from(job.priority.clamp(1, 5))))
            .collect();
        let class = (0..p.vehicles.len())
            .map(|v| {
                (0..v)
                    .find(|&w| {
                        p.vehicles[w] == p.vehicles[v] || {
                            let (a, b) = (&p.vehicles[w], &p.vehicles[v]);
                            a.start == b.start
                                && a.shift_start == b.shift_start
                                && a.shift_end == b.shift_end
                                && a.skills == b.skills
                                && a.areas == b.areas
                                && a.max_jobs == b.max_jobs
                                && a.load_capacity == b.load_capacity
                        }
                    })
                    .filter(|_| !p.jobs.iter().any(|j| j.pinned_to == Some(v)))
                    .unwrap_or(v)
            })
            .collect();
        Ctx {
            p,
            n,
            compatible,
            neighbours,
            weight,
            class,
        }
    }

    /// Distance of `route` on vehicle `v`, or `None` if it breaks a rule.
    fn cost(&self, v: usize, route: impl Iterator<Item = usize>) -> Option<f64> {
        let p = self.p;
        let vehicle = &p.vehicles[v];
        let (mut t, mut prev, mut d, mut load, mut count) =
            (vehicle.shift_start, vehicle.start, 0.0, 0i64, 0usize);
        for j in route {
            if !self.compatible[v * self.n + j] {
                return None;
            }
            let job = &p.jobs[j];
            count += 1;
            load += job.demand;
            if count > vehicle.max_jobs || load > vehicle.load_capacity {
                return None;
            }
            let start = (t + p.time(prev, job.location)).max(job.window_start);
            if start > job.window_end + EPS {
                return None;
            }
            t = start + job.duration;
            if p.open_routes && t > vehicle.shift_end + EPS {
                return None;
            }
            d += p.dist(prev, job.location);
            prev = job.location;
        }
        if !p.open_routes && count > 0 {
            if t + p.time(prev, vehicle.start) > vehicle.shift_end + EPS {
                return None;
            }
            d += p.dist(prev, vehicle.start);
        }
        Some(d)
    }
}

/// Routes, their distances, and the jobs left out.
#[derive(Debug, Clone)]
struct Solution {
    routes: Vec<Vec<usize>>,
    distance: Vec<f64>,
    unassigned: Vec<usize>,
}

impl Solution {
    fn empty(ctx: &Ctx<'_>) -> Self {
        Solution {
            routes: vec![Vec::new(); ctx.p.vehicles.len()],
            distance: vec![0.0; ctx.p.vehicles.len()],
            unassigned: (0..ctx.n).collect(),
        }
    }

    fn total_distance(&self) -> f64 {
        self.distance.iter().sum()
    }

    fn lost(&self, ctx: &Ctx<'_>) -> u128 {
        self.unassigned.iter().map(|&j| ctx.weight[j]).sum()
    }

    /// Lexicographic: less lost weight first, then less distance.
    fn better_than(&self, other: &Solution, ctx: &Ctx<'_>) -> bool {
        let (a, b) = (self.lost(ctx), other.lost(ctx));
        a < b || (a == b && self.total_distance() < other.total_distance() - EPS)
    }
}

/// The cheapest feasible position of job `j` in vehicle `v`'s route:
/// (new route distance, position). `blink` skips positions at random.
fn cheapest_position(
    ctx: &Ctx<'_>,
    v: usize,
    route: &[usize],
    j: usize,
    rng: &mut Rng,
    blink: f64,
) -> Option<(f64, usize)> {
    let mut best: Option<(f64, usize)> = None;
    for pos in 0..=route.len() {
        if blink > 0.0 && rng.unit() < blink {
            continue;
        }
        let candidate = route[..pos]
            .iter()
            .copied()
            .chain(std::iter::once(j))
            .chain(route[pos..].iter().copied());
        if let Some(d) = ctx.cost(v, candidate)
            && best.is_none_or(|(b, _)| d < b - EPS)
        {
            best = Some((d, pos));
        }
    }
    best
}

/// The best place to insert job `j`: (extra distance, vehicle, position).
fn best_insertion(
    ctx: &Ctx<'_>,
    s: &Solution,
    j: usize,
    rng: &mut Rng,
    blink: f64,
) -> Option<(f64, usize, usize)> {
    let mut best: Option<(f64, usize, usize)> = None;
    for v in 0..s.routes.len() {
        if !ctx.compatible[v * ctx.n + j] {
            continue;
        }
        let route = &s.routes[v];
        if route.is_empty() && ctx.class[v] != v && s.routes[ctx.class[v]].is_empty() {
            continue; // an identical empty vehicle was already tried
        }
        if let Some((d, pos)) = cheapest_position(ctx, v, route, j, rng, blink) {
            let delta = d - s.distance[v];
            if best.is_none_or(|(b, _, _)| delta < b - EPS) {
                best = Some((delta, v, pos));
            }
        }
    }
    best
}

/// Inserts the unassigned jobs, highest priority first; `regret` picks, in
/// each round, the job that would lose most by waiting.
fn recreate(ctx: &Ctx<'_>, s: &mut Solution, rng: &mut Rng, blink: f64, regret: bool) {
    let mut pending = std::mem::take(&mut s.unassigned);
    rng.shuffle(&mut pending);
    pending.sort_by_key(|&j| std::cmp::Reverse(ctx.weight[j]));
    let mut left = Vec::new();
    if regret {
        while !pending.is_empty() {
            let top = ctx.weight[pending[0]];
            let mut choice: Option<(f64, usize, usize, usize)> = None;
            for (index, &j) in pending
                .iter()
                .enumerate()
                .take_while(|(_, j)| ctx.weight[**j] == top)
            {
                let mut costs: Vec<(f64, usize, usize)> = Vec::new();
                for v in 0..s.routes.len() {
                    if !ctx.compatible[v * ctx.n + j] {
                        continue;
                    }
                    let route = &s.routes[v];
                    if route.is_empty() && ctx.class[v] != v && s.routes[ctx.class[v]].is_empty() {
                        continue;
                    }
                    let best_here = cheapest_position(ctx, v, route, j, rng, 0.0)
                        .map(|(d, pos)| (d - s.distance[v], pos));
                    if let Some((delta, pos)) = best_here {
                        costs.push((delta, v, pos));
                    }
                }
                costs.sort_by(|a, b| a.0.total_cmp(&b.0));
                let Some(&(first, v, pos)) = costs.first() else {
                    continue;
                };
                let second = costs.get(1).map_or(f64::INFINITY, |c| c.0);
                let regret_value = second - first;
                if choice.is_none_or(|(r, ..)| regret_value > r + EPS) {
                    choice = Some((regret_value, index, v, pos));
                }
            }
            match choice {
                Some((_, index, v, pos)) => {
                    let j = pending.remove(index);
                    s.routes[v].insert(pos, j);
                    s.distance[v] = ctx
                        .cost(v, s.routes[v].iter().copied())
                        .unwrap_or(f64::INFINITY);
                }
                None => {
                    // Nothing of this priority fits anywhere.
                    let cut = pending
                        .iter()
                        .take_while(|j| ctx.weight[**j] == top)
                        .count();
                    left.extend(pending.drain(..cut));
                }
            }
        }
    } else {
        for j in pending {
            match best_insertion(ctx, s, j, rng, blink) {
                Some((_, v, pos)) => {
                    s.routes[v].insert(pos, j);
                    s.distance[v] = ctx
                        .cost(v, s.routes[v].iter().copied())
                        .unwrap_or(f64::INFINITY);
                }
                None => left.push(j),
            }
        }
    }
    s.unassigned = left;
}

/// Where each job is: (vehicle, index) or `None`.
fn positions(s: &Solution, n: usize) -> Vec<Option<(usize, usize)>> {
    let mut at = vec![None; n];
    for (v, route) in s.routes.iter().enumerate() {
        for (i, &j) in route.iter().enumerate() {
            at[j] = Some((v, i));
        }
    }
    at
}

/// Local search to a local optimum: relocate (1–3 jobs), swap, 2-opt*,
/// 2-opt, and insertion of left-out jobs.
fn local_search(ctx: &Ctx<'_>, s: &mut Solution, rng: &mut Rng, deadline: &dyn Fn() -> bool) {
    let n = ctx.n;
    let mut order: Vec<usize> = (0..n).collect();
    let mut a_buf: Vec<usize> = Vec::new();
    let mut b_buf: Vec<usize> = Vec::new();
    let mut improved = true;
    while improved && !deadline() {
        improved = false;
        if !s.unassigned.is_empty() {
            let before = s.unassigned.len();
            recreate(ctx, s, rng, 0.0, false);
            improved |= s.unassigned.len() < before;
        }
        let mut at = positions(s, n);
        rng.shuffle(&mut order);
        for &u in &order {
            for &w in &ctx.neighbours[u] {
                let (Some(pu), Some(pw)) = (at[u], at[w]) else {
                    continue;
                };
                if try_moves(ctx, s, pu, pw, &mut a_buf, &mut b_buf) {
                    improved = true;
                    at = positions(s, n);
                }
            }
        }
        // Moving a job into an unused vehicle.
        for &u in &order {
            let Some((ru, iu)) = at[u] else { continue };
            for v in 0..s.routes.len() {
                if v == ru
                    || !s.routes[v].is_empty()
                    || ctx.class[v] != v
                    || !ctx.compatible[v * n + u]
                {
                    continue;
                }
                let without = s.routes[ru]
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != iu)
                    .map(|(_, &j)| j);
                let (Some(da), Some(db)) = (ctx.cost(ru, without), ctx.cost(v, std::iter::once(u)))
                else {
                    continue;
                };
                if da + db < s.distance[ru] - EPS {
                    s.routes[ru].remove(iu);
                    s.routes[v].push(u);
                    s.distance[ru] = da;
                    s.distance[v] = db;
                    improved = true;
                    at = positions(s, n);
                    break;
                }
            }
        }
    }
}

/// Tries the moves that bring the job at `(ru, iu)` next to its neighbour at
/// `(rw, iw)`; applies the
/// first that shortens the plan. Candidates are built in the reused
/// buffers `a` and `b`: nothing is allocated unless a move is applied.
#[allow(clippy::too_many_arguments)]
fn try_moves(
    ctx: &Ctx<'_>,
    s: &mut Solution,
    (ru, iu): (usize, usize),
    (rw, iw): (usize, usize),
    a: &mut Vec<usize>,
    b: &mut Vec<usize>,
) -> bool {
    let current = if ru == rw {
        s.distance[ru]
    } else {
        s.distance[ru] + s.distance[rw]
    };
    // New distances of the two routes when the candidate is shorter.
    let improving = |a: &[usize], b: &[usize]| -> Option<(f64, f64)> {
        let da = ctx.cost(ru, a.iter().copied())?;
        if ru == rw {
            return (da < current - EPS).then_some((da, 0.0));
        }
        if da >= current - EPS {
            return None;
        }
        let db = ctx.cost(rw, b.iter().copied())?;
        (da + db < current - EPS).then_some((da, db))
    };
    let found = 'search: {
        let (route_u, route_w) = (&s.routes[ru], &s.routes[rw]);
        if ru != rw {
            // Relocate a segment of 1..=3 jobs starting at u to just after / before w.
            for len in 1..=3usize {
                if iu + len > route_u.len() {
                    break;
                }
                let segment = &route_u[iu..iu + len];
                if segment.iter().any(|&j| !ctx.compatible[rw * ctx.n + j]) {
                    break;
                }
                for insert_at in [iw + 1, iw] {
                    a.clear();
                    a.extend_from_slice(&route_u[..iu]);
                    a.extend_from_slice(&route_u[iu + len..]);
                    b.clear();
                    b.extend_from_slice(&route_w[..insert_at]);
                    b.extend_from_slice(segment);
                    b.extend_from_slice(&route_w[insert_at..]);
                    if let Some(found) = improving(a, b) {
                        break 'search Some(found);
                    }
                }
            }
            // Swap u and w.
            a.clone_from(route_u);
            a[iu] = route_w[iw];
            b.clone_from(route_w);
            b[iw] = route_u[iu];
            if let Some(found) = improving(a, b) {
                break 'search Some(found);
            }
            // 2-opt*: u's head with w's tail (u then w), and w's head with u's tail.
            for (split_u, split_w) in [(iu + 1, iw), (iu, iw + 1)] {
                a.clear();
                a.extend_from_slice(&route_u[..split_u]);
                a.extend_from_slice(&route_w[split_w..]);
                b.clear();
                b.extend_from_slice(&route_w[..split_w]);
                b.extend_from_slice(&route_u[split_u..]);
                if let Some(found) = improving(a, b) {
                    break 'search Some(found);
                }
            }
        } else {
            // Relocate u right after w within the route.
            a.clone_from(route_u);
            let job = a.remove(iu);
            let target = if iw < iu { iw + 1 } else { iw };
            a.insert(target.min(a.len()), job);
            if let Some(found) = improving(a, b) {
                break 'search Some(found);
            }
            // 2-opt: reverse the stretch so that u follows w (or w follows u).
            let (lo, hi) = if iu < iw { (iu + 1, iw) } else { (iw + 1, iu) };
            if lo < hi {
                a.clone_from(route_u);
                a[lo..=hi].reverse();
                if let Some(found) = improving(a, b) {
                    break 'search Some(found);
                }
            }
        }
        None
    };
    let Some((da, db)) = found else { return false };
    s.routes[ru].clone_from(a);
    s.distance[ru] = da;
    if ru != rw {
        s.routes[rw].clone_from(b);
        s.distance[rw] = db;
    }
    true
}

/// Removes `count` related jobs: a string of consecutive jobs around a seed
/// and its neighbours' routes, or the seed's nearest neighbours, or random.
fn ruin(ctx: &Ctx<'_>, s: &mut Solution, rng: &mut Rng, count: usize) {
    let routed: Vec<usize> = s
        .routes
        .iter()
        .flatten()
        .copied()
        .filter(|&j| ctx.p.jobs[j].pinned_to.is_none())
        .collect();
    if routed.is_empty() {
        return;
    }
    let seed = routed[rng.below(routed.len())];
    let mut removed: Vec<usize> = Vec::with_capacity(count);
    let method = rng.below(3);
    let at = positions(s, ctx.n);
    match method {
        0 => {
            // Strings: for the seed and its neighbours, cut a string from each route met.
            let mut touched = Vec::new();
            for &j in std::iter::once(&seed).chain(ctx.neighbours[seed].iter()) {
                if removed.len() >= count {
                    break;
                }
                let Some((v, i)) = at[j] else { continue };
                if touched.contains(&v) {
                    continue;
                }
                touched.push(v);
                let route = &s.routes[v];
                let len = 1 + rng.below((count - removed.len()).min(route.len()).max(1));
                let first = i.saturating_sub(rng.below(len));
                for &k in route.iter().skip(first).take(len) {
                    if ctx.p.jobs[k].pinned_to.is_none() && !removed.contains(&k) {
                        removed.push(k);
                    }
                }
            }
        }
        1 => {
            removed.push(seed);
            for &j in &ctx.neighbours[seed] {
                if removed.len() >= count {
                    break;
                }
                if at[j].is_some() && ctx.p.jobs[j].pinned_to.is_none() {
                    removed.push(j);
                }
            }
        }
        _ => {
            let mut pool = routed.clone();
            rng.shuffle(&mut pool);
            removed.extend(pool.into_iter().take(count));
        }
    }
    for v in 0..s.routes.len() {
        let before = s.routes[v].len();
        s.routes[v].retain(|j| !removed.contains(j));
        if s.routes[v].len() != before {
            s.distance[v] = ctx
                .cost(v, s.routes[v].iter().copied())
                .unwrap_or(f64::INFINITY);
        }
    }
    s.unassigned.extend(removed);
}

/// Pinned jobs go to their vehicle first, wherever they fit best (or at the
/// end when nothing fits: they are never dropped).
fn place_pinned(ctx: &Ctx<'_>, s: &mut Solution, rng: &mut Rng) {
    for j in 0..ctx.n {
        let Some(v) = ctx.p.jobs[j].pinned_to else {
            continue;
        };
        if v >= s.routes.len() {
            continue;
        }
        let best = cheapest_position(ctx, v, &s.routes[v], j, rng, 0.0);
        let pos = best.map_or(s.routes[v].len(), |(_, pos)| pos);
        s.routes[v].insert(pos, j);
        s.distance[v] = ctx
            .cost(v, s.routes[v].iter().copied())
            .unwrap_or_else(|| raw_distance(ctx, v, &s.routes[v]));
        s.unassigned.retain(|&u| u != j);
    }
}

fn raw_distance(ctx: &Ctx<'_>, v: usize, route: &[usize]) -> f64 {
    let p = ctx.p;
    let mut prev = p.vehicles[v].start;
    let mut d = 0.0;
    for &j in route {
        d += p.dist(prev, p.jobs[j].location);
        prev = p.jobs[j].location;
    }
    if !p.open_routes && !route.is_empty() {
        d += p.dist(prev, p.vehicles[v].start);
    }
    d
}

/// Plans: the best solution found within the limits.
pub fn solve(problem: &Problem, options: &SolveOptions) -> Plan {
    let started = Instant::now();
    let ctx = Ctx::new(problem);
    let mut rng = Rng::new(options.seed ^ 0x05EE_D0FF_1E1D);
    let max_iterations = options.max_iterations.unwrap_or(u64::MAX);
    let out_of_time = || {
        options
            .time_limit
            .is_some_and(|limit| started.elapsed() >= limit)
    };
    let no_limit = options.time_limit.is_none() && options.max_iterations.is_none();

    let mut current = Solution::empty(&ctx);
    place_pinned(&ctx, &mut current, &mut rng);
    recreate(&ctx, &mut current, &mut rng, 0.0, true);
    local_search(&ctx, &mut current, &mut rng, &out_of_time);
    let mut best = current.clone();

    let routed = ctx.n.max(1);
    let start_temperature = 0.02 * best.total_distance() / routed as f64;
    let mut iteration = 0u64;
    let effective_max = if no_limit { 2_000 } else { max_iterations };
    while iteration < effective_max && !out_of_time() && ctx.n > 1 {
        iteration += 1;
        let progress = match (options.time_limit, options.max_iterations) {
            (Some(limit), _) => started.elapsed().as_secs_f64() / limit.as_secs_f64().max(1e-9),
            (None, _) => iteration as f64 / effective_max as f64,
        }
        .min(1.0);
        let temperature = start_temperature * (1.0 - progress).max(0.0) + 1e-9;
        let mut candidate = current.clone();
        let most = (ctx.n / 5).clamp(2, 40);
        let count = 2 + rng.below(most.saturating_sub(1));
        ruin(&ctx, &mut candidate, &mut rng, count);
        let regret = rng.below(4) == 0;
        recreate(
            &ctx,
            &mut candidate,
            &mut rng,
            if regret { 0.0 } else { 0.01 },
            regret,
        );
        local_search(&ctx, &mut candidate, &mut rng, &out_of_time);
        let (lost_c, lost_cur) = (candidate.lost(&ctx), current.lost(&ctx));
        let accept = lost_c < lost_cur
            || (lost_c == lost_cur
                && candidate.total_distance()
                    < current.total_distance() - temperature * rng.unit().max(1e-12).ln());
        if candidate.better_than(&best, &ctx) {
            best = candidate.clone();
        }
        if accept {
            current = candidate;
        }
    }
    into_plan(&ctx, &best)
}

fn into_plan(ctx: &Ctx<'_>, s: &Solution) -> Plan {
    let p = ctx.p;
    let routes: Vec<PlannedRoute> = s
        .routes
        .iter()
        .enumerate()
        .map(|(v, route)| {
            let vehicle = &p.vehicles[v];
            let (mut t, mut prev) = (vehicle.shift_start, vehicle.start);
            let stops: Vec<PlannedStop> = route
                .iter()
                .map(|&j| {
                    let job = &p.jobs[j];
                    let arrival = t + p.time(prev, job.location);
                    let start = arrival.max(job.window_start);
                    let end = start + job.duration;
                    let leg = p.dist(prev, job.location);
                    t = end;
                    prev = job.location;
                    PlannedStop {
                        job: j,
                        arrival,
                        start,
                        end,
                        distance: leg,
                    }
                })
                .collect();
            PlannedRoute {
                vehicle: v,
                distance: raw_distance(ctx, v, route),
                work_time: route.iter().map(|&j| p.jobs[j].duration).sum(),
                stops,
            }
        })
        .collect();
    let mut unassigned: Vec<UnassignedJob> = s
        .unassigned
        .iter()
        .map(|&j| UnassignedJob {
            job: j,
            reasons: reasons(ctx, s, j),
        })
        .collect();
    unassigned.sort_by_key(|u| u.job);
    Plan {
        distance: routes.iter().map(|r| r.distance).sum(),
        routes,
        unassigned,
    }
}

/// Why job `j` is left out, checked against every vehicle.
fn reasons(ctx: &Ctx<'_>, s: &Solution, j: usize) -> Vec<UnassignedReason> {
    let p = ctx.p;
    let job = &p.jobs[j];
    let qualifying: Vec<usize> = (0..p.vehicles.len())
        .filter(|&v| qualified(&p.vehicles[v], job).0)
        .collect();
    if qualifying.is_empty() {
        return vec![UnassignedReason::Skill];
    }
    let suitable: Vec<usize> = qualifying
        .into_iter()
        .filter(|&v| qualified(&p.vehicles[v], job).1 && job.pinned_to.is_none_or(|w| w == v))
        .collect();
    if suitable.is_empty() {
        return vec![UnassignedReason::Area];
    }
    if suitable
        .iter()
        .all(|&v| job.demand > p.vehicles[v].load_capacity || p.vehicles[v].max_jobs == 0)
    {
        return vec![UnassignedReason::Capacity];
    }
    if suitable.iter().all(|&v| {
        job.window_end < p.vehicles[v].shift_start || job.window_start > p.vehicles[v].shift_end
    }) {
        return vec![UnassignedReason::TimeWindow];
    }
    if suitable.iter().all(|&v| {
        let vehicle = &p.vehicles[v];
        job.window_start.max(vehicle.shift_start) + job.duration > vehicle.shift_end + EPS
    }) {
        return vec![UnassignedReason::Shift];
    }
    if suitable
        .iter()
        .all(|&v| ctx.cost(v, std::iter::once(j)).is_none())
    {
        return vec![UnassignedReason::Unreachable];
    }
    if suitable
        .iter()
        .all(|&v| s.routes[v].len() >= p.vehicles[v].max_jobs)
    {
        return vec![UnassignedReason::Capacity];
    }
    vec![UnassignedReason::NoRoom]
}
