//! The search: regret construction, then large neighbourhood search with
//! local search, under a simulated-annealing acceptance rule.
//!
//! Every route keeps the [`Segment`] of each prefix and suffix, so a move is
//! priced from a few distance lookups and, only when it shortens the plan,
//! checked for time, load and job count by joining segments: constant time
//! per move, whatever the route length.

use std::collections::HashMap;
use std::time::Instant;

use super::segment::{Segment, join};
use super::{
    ANYWHERE, Plan, PlannedRoute, PlannedStop, Problem, SolveOptions, UnassignedJob,
    UnassignedReason, qualified,
};
use crate::random::SplitMix64 as Rng;

/// Slack for floating-point time and distance comparisons.
const EPS: f64 = 1e-6;
/// Neighbours per job in the granular neighbourhoods.
const NEIGHBOURS: usize = 30;
/// Most cells (jobs × vehicles) of the regret table; larger constructions
/// insert greedily, in linear memory.
const REGRET_TABLE_CELLS: usize = 1 << 20;
/// How often the long loops look at the clock.
const CHECK_EVERY: usize = 64;

/// Whether the solve must stop now (time limit or cancellation).
type Deadline<'a> = &'a dyn Fn() -> bool;

/// Precomputed facts about the problem.
struct Ctx<'a> {
    p: &'a Problem,
    n: usize,
    /// `compatible[v * n + j]`: skills, area, pin.
    compatible: Vec<bool>,
    /// `skilled[v * n + j]`: the vehicle has the job's skills.
    skilled: Vec<bool>,
    /// `covers[v * n + j]`: the vehicle covers the job's area.
    covers: Vec<bool>,
    /// Every vehicle may do every job: moves need no per-job check.
    all_compatible: bool,
    /// Distances are the same both ways: reversing a stretch keeps its length.
    symmetric: bool,
    /// Nearest other jobs of each job (empty when the time ran out before
    /// they were found).
    neighbours: Vec<Vec<usize>>,
    /// Value of serving each job.
    weight: Vec<u128>,
    /// Vehicles that are interchangeable share a class (index of the first).
    class: Vec<usize>,
    /// Each job as a one-visit segment.
    visit: Vec<Segment>,
    /// Each vehicle's start and end as segments.
    start: Vec<Segment>,
    end: Vec<Segment>,
}

impl<'a> Ctx<'a> {
    fn new(p: &'a Problem, deadline: Deadline<'_>) -> Self {
        let n = p.jobs.len();
        let vehicles = p.vehicles.len();
        // Jobs that ask for the same skills and area are checked once per
        // vehicle: days have many jobs and few kinds of job.
        let mut kinds: HashMap<(&[String], Option<&str>), usize> = HashMap::new();
        let kind_of: Vec<usize> = p
            .jobs
            .iter()
            .map(|job| {
                let next = kinds.len();
                *kinds
                    .entry((job.skills.as_slice(), job.area.as_deref()))
                    .or_insert(next)
            })
            .collect();
        let mut example = vec![0; kinds.len()];
        for (j, &kind) in kind_of.iter().enumerate().rev() {
            example[kind] = j;
        }
        let (mut skilled, mut covers) = (vec![false; vehicles * n], vec![false; vehicles * n]);
        for (v, vehicle) in p.vehicles.iter().enumerate() {
            let by_kind: Vec<(bool, bool)> = example
                .iter()
                .map(|&j| qualified(vehicle, &p.jobs[j]))
                .collect();
            for (j, &kind) in kind_of.iter().enumerate() {
                (skilled[v * n + j], covers[v * n + j]) = by_kind[kind];
            }
        }
        let compatible: Vec<bool> = (0..vehicles * n)
            .map(|cell| {
                let (v, j) = (cell / n.max(1), cell % n.max(1));
                skilled[cell] && covers[cell] && p.jobs[j].pinned_to.is_none_or(|w| w == v)
            })
            .collect();
        let mut neighbours = vec![Vec::new(); n];
        let mut others: Vec<usize> = Vec::with_capacity(n);
        for (j, list) in neighbours.iter_mut().enumerate() {
            if j % CHECK_EVERY == 0 && deadline() {
                break;
            }
            let from = p.jobs[j].location;
            let closeness = |k: usize| p.travel.closeness(from, p.jobs[k].location);
            let by_closeness =
                |a: &usize, b: &usize| closeness(*a).total_cmp(&closeness(*b)).then(a.cmp(b));
            others.clear();
            others.extend((0..n).filter(|&k| k != j));
            if others.len() > NEIGHBOURS {
                others.select_nth_unstable_by(NEIGHBOURS, by_closeness);
                others.truncate(NEIGHBOURS);
            }
            others.sort_by(by_closeness);
            list.extend_from_slice(&others);
        }
        let weight = p
            .jobs
            .iter()
            .map(|job| 10_000u128.pow(5 - u32::from(job.priority.clamp(1, 5))))
            .collect();
        let class = (0..p.vehicles.len())
            .map(|v| {
                (0..v)
                    .find(|&w| {
                        let (a, b) = (&p.vehicles[w], &p.vehicles[v]);
                        a.start == b.start
                            && a.shift_start == b.shift_start
                            && a.shift_end == b.shift_end
                            && a.skills == b.skills
                            && a.areas == b.areas
                            && a.max_jobs == b.max_jobs
                            && a.load_capacity == b.load_capacity
                    })
                    .filter(|_| !p.jobs.iter().any(|j| j.pinned_to == Some(v)))
                    .unwrap_or(v)
            })
            .collect();
        let visit = p
            .jobs
            .iter()
            .map(|job| Segment {
                load: job.demand,
                jobs: 1,
                ..Segment::visit(job.location, job.duration, job.window_start, job.window_end)
            })
            .collect();
        let start = p
            .vehicles
            .iter()
            .map(|v| Segment::visit(v.start, 0.0, v.shift_start, v.shift_end))
            .collect();
        let end = p
            .vehicles
            .iter()
            .map(|v| {
                let at = if p.open_routes { ANYWHERE } else { v.start };
                Segment::visit(at, 0.0, v.shift_start, v.shift_end)
            })
            .collect();
        Ctx {
            p,
            n,
            all_compatible: compatible.iter().all(|&c| c),
            symmetric: p.travel.symmetric(),
            compatible,
            skilled,
            covers,
            neighbours,
            weight,
            class,
            visit,
            start,
            end,
        }
    }

    #[inline(always)]
    fn join(&self, a: &Segment, b: &Segment) -> Segment {
        join(self.p, a, b)
    }

    /// `head`, then `middle`, then `tail`, then vehicle `v`'s end.
    fn route_of(&self, v: usize, head: &Segment, middle: &Segment, tail: &Segment) -> Segment {
        self.join(&self.join(&self.join(head, middle), tail), &self.end[v])
    }

    /// Distance of vehicle `v`'s route made of `head` (never empty: it holds
    /// the start) and `tail`: the segment join without its time arithmetic.
    fn chain_distance(&self, v: usize, head: &Segment, tail: &Segment) -> f64 {
        let mut distance = head.distance + tail.distance;
        let last = if tail.is_empty() {
            head.last
        } else {
            distance += self.dist(head.last, tail.first);
            tail.last
        };
        distance + self.dist(last, self.end[v].first)
    }

    /// Whether a whole route of vehicle `v` keeps time, load and job count.
    fn fits(&self, v: usize, route: &Segment) -> bool {
        let vehicle = &self.p.vehicles[v];
        route.warp <= EPS && route.load <= vehicle.load_capacity && route.jobs <= vehicle.max_jobs
    }

    /// Distance between two locations, free to and from [`ANYWHERE`].
    fn dist(&self, from: usize, to: usize) -> f64 {
        self.p.dist(from, to)
    }

    fn location(&self, j: usize) -> usize {
        self.p.jobs[j].location
    }

    fn may_do(&self, v: usize, jobs: &[usize]) -> bool {
        self.all_compatible || jobs.iter().all(|&j| self.compatible[v * self.n + j])
    }
}

/// A vehicle's jobs in order, with the segment of every prefix and suffix.
#[derive(Debug, Clone)]
struct Route {
    jobs: Vec<usize>,
    /// `head[k]`: the vehicle's start and the first `k` jobs.
    head: Vec<Segment>,
    /// `tail[k]`: jobs `k..` (without the end).
    tail: Vec<Segment>,
    /// The whole route, end included.
    whole: Segment,
    /// Location of the start, and of the end (`ANYWHERE` when open).
    from: usize,
    to: usize,
}

impl Route {
    fn new(ctx: &Ctx<'_>, v: usize) -> Self {
        let mut route = Route {
            jobs: Vec::new(),
            head: Vec::new(),
            tail: Vec::new(),
            whole: Segment::EMPTY,
            from: ctx.start[v].first,
            to: ctx.end[v].first,
        };
        route.update(ctx, v);
        route
    }

    /// Recomputes the segments after `jobs` changed.
    fn update(&mut self, ctx: &Ctx<'_>, v: usize) {
        let len = self.jobs.len();
        self.head.clear();
        self.head.push(ctx.start[v]);
        for (k, &j) in self.jobs.iter().enumerate() {
            let next = ctx.join(&self.head[k], &ctx.visit[j]);
            self.head.push(next);
        }
        self.tail.clear();
        self.tail.resize(len + 1, Segment::EMPTY);
        for k in (0..len).rev() {
            self.tail[k] = ctx.join(&ctx.visit[self.jobs[k]], &self.tail[k + 1]);
        }
        self.whole = ctx.join(&self.head[len], &ctx.end[v]);
    }

    fn distance(&self) -> f64 {
        self.whole.distance
    }

    /// Location just before position `k` (the start for 0).
    fn before(&self, ctx: &Ctx<'_>, k: usize) -> usize {
        if k == 0 {
            self.from
        } else {
            ctx.location(self.jobs[k - 1])
        }
    }

    /// Location at position `k` (the end for `len`).
    fn at(&self, ctx: &Ctx<'_>, k: usize) -> usize {
        self.jobs.get(k).map_or(self.to, |&j| ctx.location(j))
    }

    /// The jobs of `order` joined in that order.
    fn stretch(ctx: &Ctx<'_>, order: &mut dyn Iterator<Item = usize>) -> Segment {
        order.fold(Segment::EMPTY, |acc, j| ctx.join(&acc, &ctx.visit[j]))
    }
}

/// Routes and the jobs left out.
#[derive(Debug, Clone)]
struct Solution {
    routes: Vec<Route>,
    unassigned: Vec<usize>,
    /// Routes changed since the last local search finished.
    dirty: Vec<bool>,
}

impl Solution {
    fn empty(ctx: &Ctx<'_>) -> Self {
        let vehicles = ctx.p.vehicles.len();
        Solution {
            routes: (0..vehicles).map(|v| Route::new(ctx, v)).collect(),
            unassigned: (0..ctx.n).collect(),
            dirty: vec![true; vehicles],
        }
    }

    fn total_distance(&self) -> f64 {
        self.routes.iter().map(Route::distance).sum()
    }

    fn lost(&self, ctx: &Ctx<'_>) -> u128 {
        self.unassigned.iter().map(|&j| ctx.weight[j]).sum()
    }

    /// Lexicographic: less lost weight first, then less distance.
    fn better_than(&self, other: &Solution, ctx: &Ctx<'_>) -> bool {
        let (a, b) = (self.lost(ctx), other.lost(ctx));
        a < b || (a == b && self.total_distance() < other.total_distance() - EPS)
    }

    fn insert(&mut self, ctx: &Ctx<'_>, v: usize, pos: usize, j: usize) {
        self.routes[v].jobs.insert(pos, j);
        self.routes[v].update(ctx, v);
        self.dirty[v] = true;
    }

    /// Whether vehicle `v` is worth trying for a new job: an empty vehicle
    /// is skipped when an identical one is empty too.
    fn worth_trying(&self, ctx: &Ctx<'_>, v: usize) -> bool {
        !(self.routes[v].jobs.is_empty()
            && ctx.class[v] != v
            && self.routes[ctx.class[v]].jobs.is_empty())
    }
}

/// The cheapest feasible position of job `j` in vehicle `v`'s route:
/// (extra distance, position). `blink` skips positions at random.
fn cheapest_position(
    ctx: &Ctx<'_>,
    v: usize,
    route: &Route,
    j: usize,
    rng: &mut Rng,
    blink: f64,
) -> Option<(f64, usize)> {
    let vehicle = &ctx.p.vehicles[v];
    let job = &ctx.p.jobs[j];
    if route.whole.load + job.demand > vehicle.load_capacity
        || route.jobs.len() >= vehicle.max_jobs
        || route.whole.warp > EPS
    {
        return None;
    }
    let x = job.location;
    let mut best: Option<(f64, usize)> = None;
    for pos in 0..=route.jobs.len() {
        let head = &route.head[pos];
        // Every later position is reached later still.
        if head.earliest + head.duration > job.window_end + EPS {
            break;
        }
        if blink > 0.0 && rng.unit() < blink {
            continue;
        }
        let (a, b) = (route.before(ctx, pos), route.at(ctx, pos));
        let delta = ctx.dist(a, x) + ctx.dist(x, b) - ctx.dist(a, b);
        if best.is_some_and(|(d, _)| delta >= d - EPS) {
            continue;
        }
        let whole = ctx.route_of(v, head, &ctx.visit[j], &route.tail[pos]);
        if whole.warp <= EPS {
            best = Some((delta, pos));
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
        if !ctx.compatible[v * ctx.n + j] || !s.worth_trying(ctx, v) {
            continue;
        }
        if let Some((delta, pos)) = cheapest_position(ctx, v, &s.routes[v], j, rng, blink)
            && best.is_none_or(|(b, _, _)| delta < b - EPS)
        {
            best = Some((delta, v, pos));
        }
    }
    best
}

/// Inserts the unassigned jobs, highest priority first; `regret` picks, in
/// each round, the job that would lose most by waiting (greedy when the
/// regret table would be too large). Returns the jobs not even tried
/// because the deadline came first; they stay unassigned.
fn recreate(
    ctx: &Ctx<'_>,
    s: &mut Solution,
    rng: &mut Rng,
    blink: f64,
    regret: bool,
    deadline: Deadline<'_>,
) -> Vec<usize> {
    let mut pending = std::mem::take(&mut s.unassigned);
    rng.shuffle(&mut pending);
    pending.sort_by_key(|&j| std::cmp::Reverse(ctx.weight[j]));
    let mut left = Vec::new();
    let mut untried = Vec::new();
    for group in pending.chunk_by(|a, b| ctx.weight[*a] == ctx.weight[*b]) {
        if !untried.is_empty() || deadline() {
            untried.extend_from_slice(group);
        } else if regret && group.len() * s.routes.len() <= REGRET_TABLE_CELLS {
            insert_by_regret(
                ctx,
                s,
                rng,
                group.to_vec(),
                &mut left,
                &mut untried,
                deadline,
            );
        } else {
            for (k, &j) in group.iter().enumerate() {
                if k % CHECK_EVERY == CHECK_EVERY - 1 && deadline() {
                    untried.extend_from_slice(&group[k..]);
                    break;
                }
                match best_insertion(ctx, s, j, rng, blink) {
                    Some((_, v, pos)) => s.insert(ctx, v, pos, j),
                    None => left.push(j),
                }
            }
        }
    }
    left.extend_from_slice(&untried);
    s.unassigned = left;
    untried
}

/// Regret insertion of jobs of one priority. The cheapest position of each
/// job in each route is kept in a table; after an insertion only the
/// changed route's column is recomputed.
fn insert_by_regret(
    ctx: &Ctx<'_>,
    s: &mut Solution,
    rng: &mut Rng,
    mut group: Vec<usize>,
    left: &mut Vec<usize>,
    untried: &mut Vec<usize>,
    deadline: Deadline<'_>,
) {
    let vehicles = s.routes.len();
    let cell = |s: &Solution, rng: &mut Rng, j: usize, v: usize| {
        if ctx.compatible[v * ctx.n + j] && s.worth_trying(ctx, v) {
            cheapest_position(ctx, v, &s.routes[v], j, rng, 0.0)
        } else {
            None
        }
    };
    let mut table: Vec<Option<(f64, usize)>> = Vec::with_capacity(group.len() * vehicles);
    for (row, &j) in group.iter().enumerate() {
        if row % CHECK_EVERY == CHECK_EVERY - 1 && deadline() {
            untried.append(&mut group);
            return;
        }
        for v in 0..vehicles {
            table.push(cell(s, rng, j, v));
        }
    }
    while !group.is_empty() {
        if deadline() {
            untried.append(&mut group);
            return;
        }
        // (regret, row, vehicle, position)
        let mut choice: Option<(f64, usize, usize, usize)> = None;
        for g in 0..group.len() {
            let (mut first, mut second): (Option<(f64, usize, usize)>, f64) = (None, f64::INFINITY);
            for (v, entry) in table[g * vehicles..(g + 1) * vehicles].iter().enumerate() {
                let Some((delta, pos)) = *entry else { continue };
                match first {
                    Some((f, ..)) if delta >= f => second = second.min(delta),
                    _ => {
                        if let Some((f, ..)) = first {
                            second = f;
                        }
                        first = Some((delta, v, pos));
                    }
                }
            }
            if let Some((f, v, pos)) = first {
                let regret = second - f;
                if choice.is_none_or(|(r, ..)| regret > r + EPS) {
                    choice = Some((regret, g, v, pos));
                }
            }
        }
        let Some((_, g, v, pos)) = choice else {
            left.append(&mut group);
            return;
        };
        let j = group.swap_remove(g);
        let last = group.len();
        if g != last {
            table.copy_within(last * vehicles..(last + 1) * vehicles, g * vehicles);
        }
        table.truncate(last * vehicles);
        let opened = s.routes[v].jobs.is_empty();
        s.insert(ctx, v, pos, j);
        // Opening a vehicle makes its identical empty twins worth trying.
        for w in 0..vehicles {
            if w == v || (opened && ctx.class[w] == ctx.class[v]) {
                for (row, &k) in group.iter().enumerate() {
                    table[row * vehicles + w] = cell(s, rng, k, w);
                }
            }
        }
    }
}

/// Where each job is: (vehicle, index) or `None`.
fn positions(s: &Solution, n: usize) -> Vec<Option<(usize, usize)>> {
    let mut at = vec![None; n];
    for v in 0..s.routes.len() {
        refresh_positions(s, v, &mut at);
    }
    at
}

fn refresh_positions(s: &Solution, v: usize, at: &mut [Option<(usize, usize)>]) {
    for (i, &j) in s.routes[v].jobs.iter().enumerate() {
        at[j] = Some((v, i));
    }
}

/// Local search to a local optimum over granular neighbourhoods: relocate
/// (1–3 jobs), swap, 2-opt*, Or-opt (1–3 jobs) and 2-opt within a route, a
/// job into an unused vehicle, and insertion of left-out jobs.
///
/// A pair is only tried when one of its two routes changed since the job
/// was last examined: the moves depend on those two routes alone, so an
/// unchanged pair cannot have become improving.
fn local_search(ctx: &Ctx<'_>, s: &mut Solution, rng: &mut Rng, deadline: Deadline<'_>) {
    let n = ctx.n;
    // Stamps: a route's last change, and when each job was last examined.
    let mut clock = 1u64;
    let mut changed: Vec<u64> = s.dirty.iter().map(|&d| u64::from(d)).collect();
    let mut examined = vec![0u64; n];
    let mut order: Vec<usize> = (0..n).collect();
    let mut at = positions(s, n);
    let mut improved = true;
    while improved && !deadline() {
        improved = false;
        if !s.unassigned.is_empty() {
            let before = s.unassigned.len();
            let routes_before = s.dirty.clone();
            s.dirty.fill(false);
            recreate(ctx, s, rng, 0.0, false, deadline);
            if s.unassigned.len() < before {
                improved = true;
                clock += 1;
                for (stamp, _) in changed.iter_mut().zip(&s.dirty).filter(|(_, d)| **d) {
                    *stamp = clock;
                }
                at = positions(s, n);
            }
            for (d, was) in s.dirty.iter_mut().zip(routes_before) {
                *d |= was;
            }
        }
        rng.shuffle(&mut order);
        for (k, &u) in order.iter().enumerate() {
            if k % CHECK_EVERY == CHECK_EVERY - 1 && deadline() {
                break;
            }
            if at[u].is_none() {
                continue;
            }
            let since = examined[u];
            examined[u] = clock;
            for &w in &ctx.neighbours[u] {
                let (Some(pu), Some(pw)) = (at[u], at[w]) else {
                    continue;
                };
                if changed[pu.0] <= since && changed[pw.0] <= since {
                    continue;
                }
                if let Some((a, b)) = try_moves(ctx, s, pu, pw) {
                    improved = true;
                    clock += 1;
                    for v in [a, b] {
                        changed[v] = clock;
                        s.dirty[v] = true;
                        refresh_positions(s, v, &mut at);
                    }
                }
            }
            if let Some(pu) = at[u]
                && changed[pu.0] > since
                && let Some(v) = into_unused_vehicle(ctx, s, pu)
            {
                improved = true;
                clock += 1;
                for v in [pu.0, v] {
                    changed[v] = clock;
                    s.dirty[v] = true;
                    refresh_positions(s, v, &mut at);
                }
            }
        }
    }
    if !deadline() {
        s.dirty.fill(false);
    }
}

/// Moves the job at `(ru, iu)` into an unused vehicle when that shortens
/// the plan; returns the vehicle.
fn into_unused_vehicle(ctx: &Ctx<'_>, s: &mut Solution, (ru, iu): (usize, usize)) -> Option<usize> {
    let route = &s.routes[ru];
    let u = route.jobs[iu];
    let without = ctx.route_of(ru, &route.head[iu], &Segment::EMPTY, &route.tail[iu + 1]);
    if !ctx.fits(ru, &without) {
        return None;
    }
    let saved = route.distance() - without.distance;
    let v = (0..s.routes.len()).find(|&v| {
        v != ru
            && s.routes[v].jobs.is_empty()
            && s.worth_trying(ctx, v)
            && ctx.compatible[v * ctx.n + u]
            && {
                let alone = ctx.route_of(v, &ctx.start[v], &ctx.visit[u], &Segment::EMPTY);
                ctx.fits(v, &alone) && alone.distance < saved - EPS
            }
    })?;
    s.routes[ru].jobs.remove(iu);
    s.routes[ru].update(ctx, ru);
    s.routes[v].jobs.push(u);
    s.routes[v].update(ctx, v);
    Some(v)
}

/// Tries the moves that bring the job at `(ru, iu)` next to its neighbour
/// at `(rw, iw)` and applies the first that shortens the plan; returns the
/// two routes changed (the same twice for a move within one route).
fn try_moves(
    ctx: &Ctx<'_>,
    s: &mut Solution,
    (ru, iu): (usize, usize),
    (rw, iw): (usize, usize),
) -> Option<(usize, usize)> {
    if ru == rw {
        return within_route(ctx, s, ru, iu, iw).then_some((ru, ru));
    }
    let (route_u, route_w) = (&s.routes[ru], &s.routes[rw]);
    let current = route_u.distance() + route_w.distance();
    let (u, w) = (route_u.jobs[iu], route_w.jobs[iw]);

    // Relocate a string of 1..=3 jobs starting at u to just after / before w.
    for len in 1..=3usize {
        if iu + len > route_u.jobs.len() {
            break;
        }
        let string = &route_u.jobs[iu..iu + len];
        if !ctx.may_do(rw, string) {
            break;
        }
        let (first, last) = (ctx.location(string[0]), ctx.location(string[len - 1]));
        let (pu, nu) = (route_u.before(ctx, iu), route_u.at(ctx, iu + len));
        let removal = ctx.dist(pu, nu) - ctx.dist(pu, first) - ctx.dist(last, nu);
        for insert_at in [iw + 1, iw] {
            let (pw, nw) = (route_w.before(ctx, insert_at), route_w.at(ctx, insert_at));
            let delta = removal + ctx.dist(pw, first) + ctx.dist(last, nw) - ctx.dist(pw, nw);
            if delta >= -EPS {
                continue;
            }
            let new_u = ctx.route_of(
                ru,
                &route_u.head[iu],
                &Segment::EMPTY,
                &route_u.tail[iu + len],
            );
            let middle = Route::stretch(ctx, &mut string.iter().copied());
            let new_w = ctx.route_of(
                rw,
                &route_w.head[insert_at],
                &middle,
                &route_w.tail[insert_at],
            );
            if ctx.fits(ru, &new_u) && ctx.fits(rw, &new_w) {
                let moved: Vec<usize> = s.routes[ru].jobs.drain(iu..iu + len).collect();
                s.routes[rw].jobs.splice(insert_at..insert_at, moved);
                return Some(apply(ctx, s, ru, rw));
            }
        }
    }

    // Swap u and w.
    if ctx.compatible[rw * ctx.n + u] && ctx.compatible[ru * ctx.n + w] {
        let (pu, nu) = (route_u.before(ctx, iu), route_u.at(ctx, iu + 1));
        let (pw, nw) = (route_w.before(ctx, iw), route_w.at(ctx, iw + 1));
        let (lu, lw) = (ctx.location(u), ctx.location(w));
        let delta = ctx.dist(pu, lw) + ctx.dist(lw, nu) - ctx.dist(pu, lu) - ctx.dist(lu, nu)
            + ctx.dist(pw, lu)
            + ctx.dist(lu, nw)
            - ctx.dist(pw, lw)
            - ctx.dist(lw, nw);
        if delta < -EPS {
            let new_u = ctx.route_of(ru, &route_u.head[iu], &ctx.visit[w], &route_u.tail[iu + 1]);
            let new_w = ctx.route_of(rw, &route_w.head[iw], &ctx.visit[u], &route_w.tail[iw + 1]);
            if ctx.fits(ru, &new_u) && ctx.fits(rw, &new_w) {
                s.routes[ru].jobs[iu] = w;
                s.routes[rw].jobs[iw] = u;
                return Some(apply(ctx, s, ru, rw));
            }
        }
    }

    // 2-opt*: u's head with w's tail (u then w), and w's head with u's tail.
    for (split_u, split_w) in [(iu + 1, iw), (iu, iw + 1)] {
        let (head_u, tail_u) = (&route_u.head[split_u], &route_u.tail[split_u]);
        let (head_w, tail_w) = (&route_w.head[split_w], &route_w.tail[split_w]);
        let shorter = ctx.chain_distance(ru, head_u, tail_w)
            + ctx.chain_distance(rw, head_w, tail_u)
            < current - EPS;
        if shorter
            && ctx.fits(ru, &ctx.route_of(ru, head_u, tail_w, &Segment::EMPTY))
            && ctx.fits(rw, &ctx.route_of(rw, head_w, tail_u, &Segment::EMPTY))
            && ctx.may_do(ru, &route_w.jobs[split_w..])
            && ctx.may_do(rw, &route_u.jobs[split_u..])
        {
            let tail_u: Vec<usize> = s.routes[ru].jobs.drain(split_u..).collect();
            let tail_w: Vec<usize> = s.routes[rw].jobs.drain(split_w..).collect();
            s.routes[ru].jobs.extend(tail_w);
            s.routes[rw].jobs.extend(tail_u);
            return Some(apply(ctx, s, ru, rw));
        }
    }
    None
}

fn apply(ctx: &Ctx<'_>, s: &mut Solution, a: usize, b: usize) -> (usize, usize) {
    s.routes[a].update(ctx, a);
    s.routes[b].update(ctx, b);
    (a, b)
}

/// Within route `v`: move the string of 1–3 jobs starting at `iu` to just
/// after the job at `iw` (Or-opt), or reverse the stretch between them so
/// that they meet (2-opt).
/// Applies the first that shortens the route.
fn within_route(ctx: &Ctx<'_>, s: &mut Solution, v: usize, iu: usize, iw: usize) -> bool {
    let route = &s.routes[v];
    let jobs = &route.jobs;
    let at = |k: usize| route.at(ctx, k);
    let before = |k: usize| route.before(ctx, k);
    // Joins the rebuilt stretch only for a move the distances say is
    // shorter: the stretch costs time linear in its length.
    let fits = |from: usize, to: usize, order: &mut dyn Iterator<Item = usize>| {
        let middle = Route::stretch(ctx, order);
        ctx.fits(
            v,
            &ctx.route_of(v, &route.head[from], &middle, &route.tail[to]),
        )
    };
    // Or-opt: the string of 1–3 jobs starting at u moves to just after w
    // (unless it is already there).
    let lw = at(iw);
    for len in (1..=3usize).take_while(|_| iw + 1 != iu) {
        if iu + len > jobs.len() || (iu <= iw && iw < iu + len) {
            break;
        }
        let (first, last) = (at(iu), at(iu + len - 1));
        let delta =
            ctx.dist(before(iu), at(iu + len)) + ctx.dist(lw, first) + ctx.dist(last, at(iw + 1))
                - ctx.dist(before(iu), first)
                - ctx.dist(last, at(iu + len))
                - ctx.dist(lw, at(iw + 1));
        if delta >= -EPS {
            continue;
        }
        let string = &jobs[iu..iu + len];
        let fitting = if iu < iw {
            fits(
                iu,
                iw + 1,
                &mut jobs[iu + len..=iw].iter().chain(string).copied(),
            )
        } else {
            fits(
                iw + 1,
                iu + len,
                &mut string.iter().chain(&jobs[iw + 1..iu]).copied(),
            )
        };
        if fitting {
            let jobs = &mut s.routes[v].jobs;
            if iu < iw {
                jobs[iu..=iw].rotate_left(len);
            } else {
                jobs[iw + 1..iu + len].rotate_right(len);
            }
            s.routes[v].update(ctx, v);
            return true;
        }
    }
    // 2-opt: reverse lo..=hi so that u and w meet.
    let (lo, hi) = if iu < iw { (iu + 1, iw) } else { (iw + 1, iu) };
    if lo < hi {
        let (first, last) = (at(lo), at(hi));
        let mut delta = ctx.dist(before(lo), last) + ctx.dist(first, at(hi + 1))
            - ctx.dist(before(lo), first)
            - ctx.dist(last, at(hi + 1));
        if !ctx.symmetric {
            for k in lo..hi {
                let (a, b) = (at(k), at(k + 1));
                delta += ctx.dist(b, a) - ctx.dist(a, b);
            }
        }
        if delta < -EPS && fits(lo, hi + 1, &mut jobs[lo..=hi].iter().rev().copied()) {
            s.routes[v].jobs[lo..=hi].reverse();
            s.routes[v].update(ctx, v);
            return true;
        }
    }
    false
}

/// Removes `count` related jobs: a string of consecutive jobs around a seed
/// and its neighbours' routes, or the seed's nearest neighbours, or random.
fn ruin(ctx: &Ctx<'_>, s: &mut Solution, rng: &mut Rng, count: usize) {
    let routed: Vec<usize> = s
        .routes
        .iter()
        .flat_map(|r| r.jobs.iter().copied())
        .filter(|&j| ctx.p.jobs[j].pinned_to.is_none())
        .collect();
    if routed.is_empty() {
        return;
    }
    let seed = routed[rng.below(routed.len())];
    let mut removed = vec![false; ctx.n];
    let mut removed_count = 0;
    let mut remove = |j: usize, removed_count: &mut usize| {
        if ctx.p.jobs[j].pinned_to.is_none() && !removed[j] {
            removed[j] = true;
            *removed_count += 1;
        }
    };
    let at = positions(s, ctx.n);
    // Strings 2/7, neighbours 4/7, random 1/7 (measured on Solomon; random
    // removal is kept for problems where skills, not distance, relate jobs).
    match rng.below(7) {
        0 | 1 => {
            // Strings: for the seed and its neighbours, cut a string from each route met.
            let mut touched = vec![false; s.routes.len()];
            for &j in std::iter::once(&seed).chain(ctx.neighbours[seed].iter()) {
                if removed_count >= count {
                    break;
                }
                let Some((v, i)) = at[j] else { continue };
                if std::mem::replace(&mut touched[v], true) {
                    continue;
                }
                let route = &s.routes[v].jobs;
                let len = 1 + rng.below((count - removed_count).min(route.len()).max(1));
                let first = i.saturating_sub(rng.below(len));
                for &k in route.iter().skip(first).take(len) {
                    remove(k, &mut removed_count);
                }
            }
        }
        2..=5 => {
            remove(seed, &mut removed_count);
            for &j in &ctx.neighbours[seed] {
                if removed_count >= count {
                    break;
                }
                if at[j].is_some() {
                    remove(j, &mut removed_count);
                }
            }
        }
        _ => {
            let mut pool = routed;
            rng.shuffle(&mut pool);
            for j in pool.into_iter().take(count) {
                remove(j, &mut removed_count);
            }
        }
    }
    for v in 0..s.routes.len() {
        let before = s.routes[v].jobs.len();
        s.routes[v].jobs.retain(|&j| !removed[j]);
        if s.routes[v].jobs.len() != before {
            s.routes[v].update(ctx, v);
            s.dirty[v] = true;
        }
    }
    // In job order: recreate shuffles them anyway.
    s.unassigned.extend((0..ctx.n).filter(|&j| removed[j]));
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
        let pos = best.map_or(s.routes[v].jobs.len(), |(_, pos)| pos);
        s.insert(ctx, v, pos, j);
        s.unassigned.retain(|&u| u != j);
    }
}

/// Plans: the best solution found within the limits. The time limit
/// covers everything, set-up and construction included; when it (or a
/// cancellation) cuts the construction short, the jobs not yet tried are
/// left out with [`UnassignedReason::TimeLimit`].
pub fn solve(problem: &Problem, options: &SolveOptions) -> Plan {
    let started = Instant::now();
    let out_of_time = || {
        options
            .time_limit
            .is_some_and(|limit| started.elapsed() >= limit)
            || options.cancel.as_ref().is_some_and(|c| c.is_cancelled())
    };
    let ctx = Ctx::new(problem, &out_of_time);
    let mut rng = Rng::new(options.seed ^ 0x05EE_D0FF_1E1D);
    let max_iterations = options.max_iterations.unwrap_or(u64::MAX);
    let no_limit = options.time_limit.is_none() && options.max_iterations.is_none();

    let mut current = Solution::empty(&ctx);
    place_pinned(&ctx, &mut current, &mut rng);
    let untried = recreate(&ctx, &mut current, &mut rng, 0.0, true, &out_of_time);
    local_search(&ctx, &mut current, &mut rng, &out_of_time);
    let mut best = current.clone();

    let routed = ctx.n.max(1);
    let start_temperature = 0.02 * best.total_distance() / routed as f64;
    let mut iteration = 0u64;
    let mut last_improvement = 0u64;
    let effective_max = if no_limit { 2_000 } else { max_iterations };
    let patience = options.patience.unwrap_or(u64::MAX);
    while iteration < effective_max
        && iteration - last_improvement < patience
        && !out_of_time()
        && ctx.n > 1
    {
        iteration += 1;
        let progress = match (options.time_limit, options.max_iterations) {
            (Some(limit), _) => started.elapsed().as_secs_f64() / limit.as_secs_f64().max(1e-9),
            (None, _) => iteration as f64 / effective_max as f64,
        }
        .min(1.0);
        let temperature = start_temperature * (1.0 - progress).max(0.0) + 1e-9;
        let mut candidate = current.clone();
        // Up to 30 % of the jobs, at most 60: measured better than smaller ruins.
        let most = (ctx.n * 3 / 10).clamp(2, 60);
        let count = 2 + rng.below(most.saturating_sub(1));
        ruin(&ctx, &mut candidate, &mut rng, count);
        let regret = rng.below(4) == 0;
        recreate(
            &ctx,
            &mut candidate,
            &mut rng,
            if regret { 0.0 } else { 0.01 },
            regret,
            &out_of_time,
        );
        local_search(&ctx, &mut candidate, &mut rng, &out_of_time);
        let (lost_c, lost_cur) = (candidate.lost(&ctx), current.lost(&ctx));
        let accept = lost_c < lost_cur
            || (lost_c == lost_cur
                && candidate.total_distance()
                    < current.total_distance() - temperature * rng.unit().max(1e-12).ln());
        if candidate.better_than(&best, &ctx) {
            best = candidate.clone();
            last_improvement = iteration;
        }
        if accept {
            current = candidate;
        }
    }
    into_plan(&ctx, &best, &untried)
}

fn into_plan(ctx: &Ctx<'_>, s: &Solution, untried: &[usize]) -> Plan {
    let p = ctx.p;
    let routes: Vec<PlannedRoute> = s
        .routes
        .iter()
        .enumerate()
        .map(|(v, route)| {
            let vehicle = &p.vehicles[v];
            let (mut t, mut prev, mut distance) = (vehicle.shift_start, vehicle.start, 0.0);
            let stops: Vec<PlannedStop> = route
                .jobs
                .iter()
                .map(|&j| {
                    let job = &p.jobs[j];
                    let arrival = t + p.time(prev, job.location);
                    let start = arrival.max(job.window_start);
                    let end = start + job.duration;
                    let leg = p.dist(prev, job.location);
                    distance += leg;
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
            if !p.open_routes && !stops.is_empty() {
                distance += p.dist(prev, vehicle.start);
            }
            PlannedRoute {
                vehicle: v,
                distance,
                work_time: route.jobs.iter().map(|&j| p.jobs[j].duration).sum(),
                stops,
            }
        })
        .collect();
    let mut timed_out = vec![false; ctx.n];
    for &j in untried {
        timed_out[j] = true;
    }
    let mut unassigned: Vec<UnassignedJob> = s
        .unassigned
        .iter()
        .map(|&j| UnassignedJob {
            job: j,
            reasons: if timed_out[j] {
                vec![UnassignedReason::TimeLimit]
            } else {
                reasons(ctx, s, j)
            },
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
        .filter(|&v| ctx.skilled[v * ctx.n + j])
        .collect();
    if qualifying.is_empty() {
        return vec![UnassignedReason::Skill];
    }
    let suitable: Vec<usize> = qualifying
        .into_iter()
        .filter(|&v| ctx.covers[v * ctx.n + j] && job.pinned_to.is_none_or(|w| w == v))
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
    if suitable.iter().all(|&v| {
        let alone = ctx.route_of(v, &ctx.start[v], &ctx.visit[j], &Segment::EMPTY);
        !ctx.fits(v, &alone)
    }) {
        return vec![UnassignedReason::Unreachable];
    }
    if suitable
        .iter()
        .all(|&v| s.routes[v].jobs.len() >= p.vehicles[v].max_jobs)
    {
        return vec![UnassignedReason::Capacity];
    }
    vec![UnassignedReason::NoRoom]
}
