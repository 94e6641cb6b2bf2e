//! The decision log, `<state-dir>/decisions.jsonl`: one JSON object per line, appended and
//! fsynced, for every start of the daemon, every persisted layout decision (what caused it:
//! the health signals of the deciding round, or the operator's command), every fence and what
//! the apply of the decision did. `state.json` holds only the latest decision; this is what
//! an operator reads after an incident, and it survives restarts and log rotation. No secrets
//! are written to it. A failed append is logged and never stops a failover.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::failover::Input;

pub const FILE: &str = "decisions.jsonl";

/// Appends one record: `event` plus `fields`, stamped with the wall-clock time.
pub fn append(dir: &Path, event: &str, fields: Value) {
    if let Err(e) = try_append(dir, &record(SystemTime::now(), event, fields)) {
        tracing::error!(error = %format!("{e:#}"), "cannot append to the decision log");
    }
}

fn try_append(dir: &Path, line: &str) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(dir.join(FILE))?;
    f.write_all(line.as_bytes())?;
    f.sync_data()?;
    Ok(())
}

/// `{"time": …, "event": …, fields…}` and a newline; time and event first, for people
/// reading the file.
fn record(at: SystemTime, event: &str, fields: Value) -> String {
    let head = format!(
        "{{\"time\":{},\"event\":{}",
        Value::String(rfc3339(at)),
        Value::String(event.into())
    );
    let rest = match fields {
        Value::Object(m) if !m.is_empty() => Value::Object(m).to_string(),
        _ => "{}".into(),
    };
    match rest.strip_prefix('{').filter(|r| *r != "}") {
        Some(r) => format!("{head},{r}\n"),
        None => format!("{head}}}\n"),
    }
}

/// What caused a decision: the operator's command, or the health signals of the round that
/// decided (with the reasons of those that were not Good).
pub fn cause(input: &Input) -> Value {
    match input {
        Input::Round(obs) => {
            let signals: BTreeMap<&str, String> = obs
                .signals
                .iter()
                .map(|(n, s)| (*n, format!("{s:?}")))
                .collect();
            let details: BTreeMap<&str, &str> =
                obs.details.iter().map(|(n, d)| (*n, d.as_str())).collect();
            json!({"cause": "health checks", "signals": signals, "details": details})
        }
        Input::FailoverTo(l) => json!({"cause": format!("fabric failover --to {l}")}),
        Input::Failback => json!({"cause": "fabric failback"}),
    }
}

/// UTC, millisecond precision: `2026-11-27T19:00:00.000Z`.
pub fn rfc3339(at: SystemTime) -> String {
    let d = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, m, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::failover::{Observation, Signal};

    fn at(secs: u64, ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(ms)
    }

    #[test]
    fn times_are_utc_rfc3339_with_milliseconds() {
        assert_eq!(rfc3339(at(0, 0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(at(951_782_400, 5)), "2000-02-29T00:00:00.005Z");
        assert_eq!(rfc3339(at(1_798_761_599, 999)), "2026-12-31T23:59:59.999Z");
        assert_eq!(rfc3339(at(4_107_542_400, 0)), "2100-03-01T00:00:00.000Z");
    }

    #[test]
    fn a_health_decision_records_its_signals_and_reasons() {
        let mut obs = Observation::of(&[("tunnel", Signal::Bad), ("underlay", Signal::Unknown)]);
        obs.details
            .push(("tunnel", "no reply within 300 ms".into()));
        let mut fields = cause(&Input::Round(obs));
        fields["epoch"] = json!(3);
        let line = record(at(0, 0), "decision", fields);
        assert_eq!(
            line,
            "{\"time\":\"1970-01-01T00:00:00.000Z\",\"event\":\"decision\",\
             \"cause\":\"health checks\",\"details\":{\"tunnel\":\"no reply within 300 ms\"},\
             \"epoch\":3,\"signals\":{\"tunnel\":\"Bad\",\"underlay\":\"Unknown\"}}\n"
        );
    }

    #[test]
    fn a_record_without_fields_is_still_one_object() {
        assert_eq!(
            record(at(0, 0), "start", json!({})),
            "{\"time\":\"1970-01-01T00:00:00.000Z\",\"event\":\"start\"}\n"
        );
    }

    #[test]
    fn records_are_appended_one_line_each_and_the_file_is_not_world_readable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        append(dir.path(), "start", json!({"epoch": 0}));
        append(dir.path(), "decision", cause(&Input::Failback));
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["event"], "start");
        assert_eq!(lines[1]["cause"], "fabric failback");
        let mode = std::fs::metadata(dir.path().join(FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o007, 0, "{mode:o}");
    }
}
