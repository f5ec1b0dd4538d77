//! RFC 3339 timestamps with milliseconds (`2026-12-06T18:38:27.079Z`), as
//! every node result carries two: written into a fixed buffer with plain
//! arithmetic. Going through `Display` (`humantime`) cost a fifth of
//! writing a node's result.

use std::time::{SystemTime, UNIX_EPOCH};

/// `t` as `YYYY-MM-DDTHH:MM:SS.mmmZ`. Times before 1970 are written as
/// 1970-01-01T00:00:00.000Z (no node runs then); after 9999 the year is
/// 9999's.
pub(crate) fn rfc3339_millis(t: SystemTime) -> [u8; 24] {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs().min(253_402_300_799); // 9999-12-31T23:59:59
    let millis = since.subsec_millis();
    let (days, in_day) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    let mut out = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, value: u64, digits: usize| {
        let mut v = value;
        for i in (0..digits).rev() {
            out[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, year, 4);
    put(5, month, 2);
    put(8, day, 2);
    put(11, in_day / 3600, 2);
    put(14, in_day / 60 % 60, 2);
    put(17, in_day % 60, 2);
    put(20, u64::from(millis), 3);
    out
}

/// The proleptic Gregorian date of `days` since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::rfc3339_millis;

    fn written(millis: u64) -> String {
        let t = UNIX_EPOCH + Duration::from_millis(millis);
        String::from_utf8(rfc3339_millis(t).to_vec()).unwrap()
    }

    #[test]
    fn the_epoch_and_a_leap_day_are_written_as_humantime_writes_them() {
        for millis in [0, 951_782_400_123, 1_709_164_800_999, 4_107_542_399_001] {
            let t = UNIX_EPOCH + Duration::from_millis(millis);
            assert_eq!(
                written(millis),
                humantime::format_rfc3339_millis(t).to_string()
            );
        }
    }

    #[test]
    fn every_day_of_four_centuries_matches_humantime() {
        // One instant a day from 1970 to 2370, at a different time of day each.
        for day in 0..146_097_u64 {
            let millis = day * 86_400_000 + (day * 7_919_993) % 86_400_000;
            let t = UNIX_EPOCH + Duration::from_millis(millis);
            assert_eq!(
                written(millis),
                humantime::format_rfc3339_millis(t).to_string()
            );
        }
    }
}
