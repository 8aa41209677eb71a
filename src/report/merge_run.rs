//! run.json of a merged run (`readsim merge`), from the shards' run.json: the fleet's
//! wall-clock figures. Counts of the fleet add up (ops per wall second, acknowledged receipts
//! per second, peak clients); times and sizes of one process are the largest shard's (wall
//! time, peak RSS, which is what one pod needs) with the fleet's total RSS beside it. Each
//! shard's own figures are listed, and the spread of the shards' traffic starts shows how
//! common the common start was. The shards' starts also align their per-second throughput
//! ([`offsets_ms`]).

use super::{CpuTime, RunStats};

/// One shard's run.json, as the merge read it (None: the shard's directory had none).
#[derive(Clone, Debug)]
pub struct ShardRun {
    pub shard: u32,
    pub stats: Option<RunStats>,
}

/// run.json of a merged run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MergedRun {
    #[serde(flatten)]
    pub stats: RunStats,
    /// The shards' peak RSS summed: the fleet's memory.
    pub peak_rss_bytes_total: u64,
    /// Latest minus earliest traffic start of the shards (live runs), ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_spread_ms: Option<u64>,
    /// Shards whose run.json was not found next to their report.json.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shards_without_run_json: Vec<u32>,
    /// Each shard's own figures, in shard order.
    pub shards: Vec<ShardFigures>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct ShardFigures {
    pub shard: u32,
    #[serde(flatten)]
    pub stats: RunStats,
}

/// The merged run.json figures; `virtual_seconds` is the merged report's.
pub fn merge_runs(runs: &[ShardRun], virtual_seconds: f64) -> MergedRun {
    let present: Vec<&RunStats> = runs.iter().filter_map(|r| r.stats.as_ref()).collect();
    let starts: Vec<u64> = present
        .iter()
        .filter_map(|s| s.traffic_started_at_epoch_ms)
        .collect();
    let some_sum = |f: fn(&RunStats) -> Option<f64>| {
        let v: Vec<f64> = present.iter().filter_map(|s| f(s)).collect();
        (!v.is_empty()).then(|| v.iter().sum())
    };
    let asked: Vec<Option<u64>> = present.iter().map(|s| s.start_at_epoch_ms).collect();
    let stats = RunStats {
        wall_seconds: present.iter().map(|s| s.wall_seconds).fold(0.0, f64::max),
        virtual_seconds,
        ops_per_wall_second: present.iter().map(|s| s.ops_per_wall_second).sum(),
        peak_rss_bytes: present.iter().map(|s| s.peak_rss_bytes).max().unwrap_or(0),
        cpu: cpu_sum(&present),
        ops_per_cpu_second: ops_per_cpu(&present),
        target_cpu: target_cpu_sum(&present),
        // The most contended machine of the fleet: the one whose figures are least quiet.
        host: present
            .iter()
            .filter_map(|s| s.host)
            .max_by(|a, b| a.steal_share.total_cmp(&b.steal_share)),
        acked_receipts_per_second: some_sum(|s| s.acked_receipts_per_second),
        peak_clients: some_sum(|s| s.peak_clients.map(|c| c as f64)).map(|c| c as u64),
        // The common start, when every shard was given the same one.
        start_at_epoch_ms: asked
            .first()
            .copied()
            .flatten()
            .filter(|a| asked.iter().all(|b| *b == Some(*a))),
        traffic_started_at_epoch_ms: starts.iter().min().copied(),
    };
    MergedRun {
        stats,
        peak_rss_bytes_total: present.iter().map(|s| s.peak_rss_bytes).sum(),
        start_spread_ms: match (starts.iter().min(), starts.iter().max()) {
            (Some(lo), Some(hi)) => Some(hi - lo),
            _ => None,
        },
        shards_without_run_json: runs
            .iter()
            .filter(|r| r.stats.is_none())
            .map(|r| r.shard)
            .collect(),
        shards: runs
            .iter()
            .filter_map(|r| {
                r.stats.clone().map(|stats| ShardFigures {
                    shard: r.shard,
                    stats,
                })
            })
            .collect(),
    }
}

/// Per shard (in `runs` order), how many ms after the earliest shard its traffic began: 0
/// for every shard unless all of them recorded their start (simulated shards have none; a
/// shard without run.json cannot be placed, so nothing is shifted).
pub fn offsets_ms(runs: &[ShardRun]) -> Vec<u64> {
    let starts: Option<Vec<u64>> = runs
        .iter()
        .map(|r| r.stats.as_ref().and_then(|s| s.traffic_started_at_epoch_ms))
        .collect();
    match starts {
        Some(s) if !s.is_empty() => {
            let lo = *s.iter().min().unwrap_or(&0);
            s.iter().map(|t| t - lo).collect()
        }
        _ => vec![0; runs.len()],
    }
}

/// The shards' CPU time added up, when every shard reported it.
fn cpu_sum(present: &[&RunStats]) -> Option<CpuTime> {
    let all: Option<Vec<CpuTime>> = present.iter().map(|s| s.cpu).collect();
    all?.into_iter().reduce(CpuTime::plus)
}

/// The CPU time of the servers the shards started, added up (None when no shard started
/// one: a fleet usually shares a server started outside readsim).
fn target_cpu_sum(present: &[&RunStats]) -> Option<CpuTime> {
    present
        .iter()
        .filter_map(|s| s.target_cpu)
        .reduce(CpuTime::plus)
}

/// The fleet's operations over the fleet's CPU time (each shard's operations are its rate
/// times its CPU seconds), when every shard reported both.
fn ops_per_cpu(present: &[&RunStats]) -> Option<f64> {
    let pairs: Option<Vec<(f64, f64)>> = present
        .iter()
        .map(|s| Some((s.ops_per_cpu_second?, s.cpu?.total())))
        .collect();
    let pairs = pairs.filter(|v| !v.is_empty())?;
    let cpu: f64 = pairs.iter().map(|(_, c)| c).sum();
    (cpu > 0.0).then(|| pairs.iter().map(|(r, c)| r * c).sum::<f64>() / cpu)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::HostLoad;

    fn live(start: u64, clients: u64, rss: u64) -> Option<RunStats> {
        Some(RunStats {
            wall_seconds: 30.0 + start as f64 / 1000.0,
            virtual_seconds: 20.0,
            ops_per_wall_second: 100.0,
            peak_rss_bytes: rss,
            acked_receipts_per_second: Some(10.0),
            peak_clients: Some(clients),
            start_at_epoch_ms: Some(1_000),
            traffic_started_at_epoch_ms: Some(1_000 + start),
            cpu: Some(CpuTime {
                user_seconds: 2.0,
                system_seconds: 1.0,
            }),
            ops_per_cpu_second: Some(start as f64),
            // Two shards ran their own server; the one that started at 4 ms did not.
            target_cpu: (start != 4).then_some(CpuTime {
                user_seconds: 4.0,
                system_seconds: 8.0,
            }),
            host: Some(HostLoad {
                cpus: 2,
                busy_share: 0.5,
                steal_share: start as f64 / 10_000.0,
            }),
        })
    }

    #[test]
    fn fleet_counts_add_up_and_process_sizes_take_the_largest() {
        let runs = [
            ShardRun {
                shard: 0,
                stats: live(4, 176, 50),
            },
            ShardRun {
                shard: 1,
                stats: live(0, 144, 70),
            },
            ShardRun {
                shard: 2,
                stats: live(1600, 109, 60),
            },
        ];
        let m = merge_runs(&runs, 21.0);
        assert_eq!(m.stats.peak_clients, Some(176 + 144 + 109));
        assert_eq!(m.stats.ops_per_wall_second, 300.0);
        let host = m.stats.host.expect("shards measured their hosts");
        assert_eq!(host.steal_share, 0.16, "the most contended shard's machine");
        assert_eq!(m.stats.acked_receipts_per_second, Some(30.0));
        assert_eq!(m.stats.peak_rss_bytes, 70);
        let servers = m.stats.target_cpu.expect("two shards started a server");
        assert_eq!(
            servers.total(),
            24.0,
            "the servers the shards started, added up"
        );
        assert_eq!(m.peak_rss_bytes_total, 180);
        assert_eq!(m.stats.start_at_epoch_ms, Some(1_000));
        assert_eq!(m.stats.traffic_started_at_epoch_ms, Some(1_000));
        assert_eq!(m.start_spread_ms, Some(1600));
        // CPU adds up; the rate is the fleet's ops (rate x CPU per shard) over its CPU.
        let cpu = m.stats.cpu.expect("every shard reported CPU");
        assert_eq!((cpu.user_seconds, cpu.system_seconds), (6.0, 3.0));
        let expected = (4.0 * 3.0 + 0.0 * 3.0 + 1600.0 * 3.0) / 9.0;
        assert_eq!(m.stats.ops_per_cpu_second, Some(expected));
        assert_eq!(m.shards.len(), 3);
        assert_eq!(offsets_ms(&runs), [4, 0, 1600]);
    }

    #[test]
    fn without_every_start_nothing_is_shifted() {
        let runs = [
            ShardRun {
                shard: 0,
                stats: live(500, 1, 1),
            },
            ShardRun {
                shard: 1,
                stats: None,
            },
        ];
        assert_eq!(offsets_ms(&runs), [0, 0]);
        let m = merge_runs(&runs, 1.0);
        assert_eq!(m.shards_without_run_json, [1]);
        assert_eq!(m.stats.peak_clients, Some(1));
        let sim = [ShardRun {
            shard: 0,
            stats: Some(RunStats::default()),
        }];
        let m = merge_runs(&sim, 1.0);
        assert_eq!(m.stats.peak_clients, None);
        assert_eq!(m.start_spread_ms, None);
    }
}
