//! The writer's maintenance scheduler: once a day at `cleanup.hour:minute` (local time)
//! the purge, at `cleanup.backup_hour:backup_minute` the backup. A failed job is logged
//! and tried again the next day; nothing here ever stops the writer.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Days, Local, LocalResult, NaiveDateTime, NaiveTime, TimeZone};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use meshview_store::Db;
use meshview_store::backup::{self, BackupOptions, BackupReport};
use meshview_store::joblog::JobLog;
use meshview_store::retention::{self, PurgeOptions, PurgeReport};

/// The longest single sleep: the wall clock is re-read at least this often, so a clock
/// change or a suspended machine does not shift a job by hours.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// The first instant strictly after `now` whose local time (in `now`'s time zone) is
/// `hour:minute`; `None` if `hour`/`minute` are out of range.
///
/// Daylight-saving days: a time that occurs twice (clocks going back) resolves to its
/// first occurrence, so the job runs once; a time that does not exist (clocks going
/// forward) resolves to the first valid instant after the gap, e.g. 02:30 → 03:00.
pub fn next_occurrence<Tz: TimeZone>(
    now: &DateTime<Tz>,
    hour: u32,
    minute: u32,
) -> Option<DateTime<Tz>> {
    let at = NaiveTime::from_hms_opt(hour, minute, 0)?;
    let tz = now.timezone();
    let today = now.naive_local().date();
    // Two days always suffice; a few more cover a time zone that skips a whole day.
    (0..4u64).find_map(|d| {
        let day = today.checked_add_days(Days::new(d))?;
        let t = first_valid_instant(&tz, day.and_time(at))?;
        (t > *now).then_some(t)
    })
}

/// The earliest instant at or after the local wall time `local`.
fn first_valid_instant<Tz: TimeZone>(tz: &Tz, local: NaiveDateTime) -> Option<DateTime<Tz>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t),
        LocalResult::Ambiguous(first, _) => Some(first),
        LocalResult::None => {
            // In a gap: walk forward a minute at a time; as gaps start and end on whole
            // minutes (in every real time zone, and last at most a day), the first wall
            // time that exists is the gap's end.
            let mut probe = local;
            for _ in 0..(26 * 60) {
                probe += chrono::Duration::minutes(1);
                if let Some(t) = tz.from_local_datetime(&probe).earliest() {
                    return Some(t);
                }
            }
            None
        }
    }
}

/// The scheduler task for the writer; returns when `shutdown` is cancelled (or at once if
/// neither purge nor backup is enabled).
pub async fn run(config: Arc<Config>, db: Db, shutdown: CancellationToken) {
    let c = &config.cleanup;
    let mut purge_enabled = c.enabled;
    if purge_enabled && c.days_to_keep == 0 {
        tracing::error!(
            "cleanup.days_to_keep is 0, which would delete everything; cleanup disabled"
        );
        purge_enabled = false;
    }
    if !purge_enabled && !c.backup_enabled {
        // Nothing to do: do not even create the log file.
        tracing::debug!("cleanup and backup are disabled; no maintenance scheduled");
        return;
    }
    let log = match &config.logging.db_cleanup_logfile {
        None => JobLog::stderr_only(),
        Some(path) => match JobLog::open(path) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(
                    "cannot open the cleanup log {} (logging.db_cleanup_logfile): {e}; \
                     logging maintenance to stderr only",
                    path.display()
                );
                JobLog::stderr_only()
            }
        },
    };
    if let Some(p) = log.path() {
        tracing::info!("maintenance log: {}", p.display());
    }

    let now = Local::now();
    let mut next_purge = purge_enabled
        .then(|| next_occurrence(&now, c.hour, c.minute))
        .flatten();
    let mut next_backup = c
        .backup_enabled
        .then(|| next_occurrence(&now, c.backup_hour, c.backup_minute))
        .flatten();
    if let Some(t) = next_purge {
        log.info(format!(
            "cleanup scheduled daily at {:02}:{:02} local time (next {}), keeping {} days{}",
            c.hour,
            c.minute,
            t.format("%Y-%m-%d %H:%M %:z"),
            c.days_to_keep,
            match (c.vacuum, db.backend()) {
                (false, _) => "",
                (true, meshview_store::Backend::Sqlite) => ", then VACUUM",
                (true, meshview_store::Backend::Postgres) => ", then ANALYZE",
            }
        ));
    }
    if let Some(t) = next_backup {
        let dir = std::path::absolute(&c.backup_dir).unwrap_or_else(|_| c.backup_dir.clone());
        log.info(format!(
            "backup scheduled daily at {:02}:{:02} local time (next {}) into {}, keeping the newest {}",
            c.backup_hour,
            c.backup_minute,
            t.format("%Y-%m-%d %H:%M %:z"),
            dir.display(),
            c.backup_keep
        ));
    }

    while let Some(due) = [next_purge, next_backup].into_iter().flatten().min() {
        if !sleep_until(due, &shutdown).await {
            break;
        }
        let now = Local::now();
        let backup_due = next_backup.is_some_and(|t| t <= now);
        let purge_due = next_purge.is_some_and(|t| t <= now);
        // Backup first when both are due: it then holds the data the purge removes.
        run_once(&config, &db, &log, backup_due, purge_due, &shutdown).await;
        if shutdown.is_cancelled() {
            break;
        }
        // Next slots from the current time, so a long job never triggers twice.
        let now = Local::now();
        if backup_due {
            next_backup = next_occurrence(&now, c.backup_hour, c.backup_minute);
        }
        if purge_due {
            next_purge = next_occurrence(&now, c.hour, c.minute);
        }
    }
    log.flush().await;
}

/// Runs the backup and/or the purge now, as the scheduler does (backup first), logging
/// failures instead of returning them.
pub async fn run_once(
    config: &Config,
    db: &Db,
    log: &JobLog,
    backup: bool,
    purge: bool,
    shutdown: &CancellationToken,
) -> JobOutcome {
    let c = &config.cleanup;
    let mut out = JobOutcome::default();
    if backup {
        let opts = BackupOptions {
            dir: c.backup_dir.clone(),
            keep: c.backup_keep,
            log: log.clone(),
        };
        // backup() logs its own failure with the details.
        out.backup = Some(
            backup::backup(db, &opts)
                .await
                .map_err(|e| format!("{e:#}")),
        );
        if out.backup.as_ref().is_some_and(Result::is_err) {
            log.warn("backup failed; it is tried again at the next scheduled time");
        }
    }
    if purge && !shutdown.is_cancelled() {
        let opts = PurgeOptions {
            vacuum: c.vacuum,
            rollup_days: c.rollup_days,
            cancel: shutdown.clone(),
            log: log.clone(),
            ..PurgeOptions::default()
        };
        out.purge = Some(
            retention::purge(db, c.days_to_keep, &opts)
                .await
                .map_err(|e| format!("{e:#}")),
        );
        if let Some(Err(e)) = &out.purge {
            log.error(format!(
                "cleanup failed: {e}; it is tried again at the next scheduled time"
            ));
        }
    }
    log.flush().await;
    out
}

/// What [`run_once`] did; errors as their messages.
#[derive(Debug, Default)]
pub struct JobOutcome {
    pub backup: Option<Result<BackupReport, String>>,
    pub purge: Option<Result<PurgeReport, String>>,
}

/// Sleeps until the wall clock reaches `due`; false if shut down first.
async fn sleep_until(due: DateTime<Local>, shutdown: &CancellationToken) -> bool {
    loop {
        let now = Local::now();
        if now >= due {
            return true;
        }
        let left = (due - now)
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(MAX_SLEEP);
        tokio::select! {
            _ = tokio::time::sleep(left) => {}
            _ = shutdown.cancelled() => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, MappedLocalTime, NaiveDate, Offset, Timelike, Utc};

    fn at<Tz: TimeZone>(tz: &Tz, s: &str) -> DateTime<Tz> {
        let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
        tz.from_local_datetime(&naive).earliest().unwrap()
    }

    fn local(t: &DateTime<impl TimeZone>) -> String {
        t.naive_local().format("%Y-%m-%d %H:%M:%S").to_string()
    }

    #[test]
    fn later_today() {
        let tz = FixedOffset::east_opt(3600).unwrap();
        let now = at(&tz, "2025-06-10 01:15:00");
        assert_eq!(
            local(&next_occurrence(&now, 2, 0).unwrap()),
            "2025-06-10 02:00:00"
        );
    }

    #[test]
    fn past_time_today_is_tomorrow() {
        let tz = FixedOffset::east_opt(-7 * 3600).unwrap();
        let now = at(&tz, "2025-06-10 14:00:00");
        assert_eq!(
            local(&next_occurrence(&now, 2, 30).unwrap()),
            "2025-06-11 02:30:00"
        );
        // Exactly now is not "next": the job just ran.
        let now = at(&tz, "2025-06-10 02:30:00");
        assert_eq!(
            local(&next_occurrence(&now, 2, 30).unwrap()),
            "2025-06-11 02:30:00"
        );
        // Month and year ends roll over.
        let now = at(&tz, "2025-12-31 23:59:30");
        assert_eq!(
            local(&next_occurrence(&now, 0, 0).unwrap()),
            "2026-01-01 00:00:00"
        );
    }

    #[test]
    fn out_of_range_is_none() {
        let now = Utc::now();
        assert!(next_occurrence(&now, 24, 0).is_none());
        assert!(next_occurrence(&now, 0, 60).is_none());
        assert!(next_occurrence(&Local::now(), 23, 59).is_some());
    }

    /// A US-Eastern-like zone with the 2025 switches: UTC−5, UTC−4 from 2025-03-09 02:00
    /// local (gap 02:00–03:00) to 2025-11-02 02:00 local (01:00–02:00 twice).
    #[derive(Clone, Debug)]
    struct Eastern;

    const START_UTC: &str = "2025-03-09 07:00:00";
    const END_UTC: &str = "2025-11-02 06:00:00";

    fn utc(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn std_off() -> FixedOffset {
        FixedOffset::west_opt(5 * 3600).unwrap()
    }

    fn dst_off() -> FixedOffset {
        FixedOffset::west_opt(4 * 3600).unwrap()
    }

    impl TimeZone for Eastern {
        type Offset = FixedOffset;

        fn from_offset(_: &FixedOffset) -> Self {
            Eastern
        }

        fn offset_from_local_date(&self, _: &NaiveDate) -> MappedLocalTime<FixedOffset> {
            MappedLocalTime::Single(std_off())
        }

        fn offset_from_local_datetime(
            &self,
            local: &NaiveDateTime,
        ) -> MappedLocalTime<FixedOffset> {
            // Which offsets map this wall time back to itself?
            let fits = |o: FixedOffset| {
                let u = *local - chrono::Duration::seconds(i64::from(o.local_minus_utc()));
                self.offset_from_utc_datetime(&u).fix() == o
            };
            match (fits(dst_off()), fits(std_off())) {
                (true, true) => MappedLocalTime::Ambiguous(dst_off(), std_off()),
                (true, false) => MappedLocalTime::Single(dst_off()),
                (false, true) => MappedLocalTime::Single(std_off()),
                (false, false) => MappedLocalTime::None,
            }
        }

        fn offset_from_utc_date(&self, _: &NaiveDate) -> FixedOffset {
            std_off()
        }

        fn offset_from_utc_datetime(&self, u: &NaiveDateTime) -> FixedOffset {
            if *u >= utc(START_UTC) && *u < utc(END_UTC) {
                dst_off()
            } else {
                std_off()
            }
        }
    }

    #[test]
    fn spring_forward_gap_runs_at_the_gap_end() {
        let now = at(&Eastern, "2025-03-08 12:00:00");
        let t = next_occurrence(&now, 2, 30).unwrap();
        // 02:30 does not exist on 2025-03-09; 03:00 EDT is the first instant after it.
        assert_eq!(local(&t), "2025-03-09 03:00:00");
        assert_eq!(t.naive_utc(), utc("2025-03-09 07:00:00"));
        // And the day after, 02:30 exists again.
        let t2 = next_occurrence(&t, 2, 30).unwrap();
        assert_eq!(local(&t2), "2025-03-10 02:30:00");
        assert_eq!(t2.offset().fix(), dst_off());
    }

    #[test]
    fn fall_back_repeat_runs_once() {
        let now = at(&Eastern, "2025-11-01 12:00:00");
        let t = next_occurrence(&now, 1, 30).unwrap();
        // 01:30 happens twice on 2025-11-02: the first (EDT) one is chosen.
        assert_eq!(local(&t), "2025-11-02 01:30:00");
        assert_eq!(t.offset().fix(), dst_off());
        // Right after the job ran, the second 01:30 (EST) must not trigger it again.
        let after = t + chrono::Duration::minutes(1);
        let t2 = next_occurrence(&after, 1, 30).unwrap();
        assert_eq!(local(&t2), "2025-11-03 01:30:00");
        assert_eq!(t2.naive_local().hour(), 1);
    }

    #[test]
    fn unaffected_times_on_switch_days() {
        let now = at(&Eastern, "2025-03-09 00:10:00");
        let t = next_occurrence(&now, 4, 0).unwrap();
        assert_eq!(local(&t), "2025-03-09 04:00:00");
        assert_eq!(t.naive_utc(), utc("2025-03-09 08:00:00"));
    }
}
