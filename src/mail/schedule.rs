//! When a message that could not be sent is tried again.

/// A message is tried at most 15 s apart for its first 10 minutes, then
/// at most 5 minutes apart, and given up after a day.
const FIRST_PHASE_SECS: i64 = 10 * 60;
const FIRST_PHASE_MAX_GAP: i64 = 15;
const LATER_MAX_GAP: i64 = 5 * 60;
pub const GIVE_UP_AFTER_SECS: i64 = 24 * 60 * 60;

/// Seconds until the next try after `attempts` failed ones of a message
/// queued `age` seconds ago; `None`: give it up. The gaps double from one
/// second up to the phase's cap.
pub fn retry_delay(attempts: i32, age: i64) -> Option<i64> {
    if age >= GIVE_UP_AFTER_SECS {
        return None;
    }
    let cap = if age < FIRST_PHASE_SECS {
        FIRST_PHASE_MAX_GAP
    } else {
        LATER_MAX_GAP
    };
    let doubled = 1_i64 << attempts.clamp(1, 20).saturating_sub(1);
    Some(doubled.min(cap))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_double_up_to_fifteen_seconds_for_ten_minutes() {
        let gaps: Vec<_> = (1..=7).map(|n| retry_delay(n, 30)).collect();
        assert_eq!(gaps, [1, 2, 4, 8, 15, 15, 15].map(Some));
        assert_eq!(retry_delay(40, 599), Some(15));
    }

    #[test]
    fn later_gaps_stay_within_five_minutes_and_a_day_ends_it() {
        assert_eq!(retry_delay(8, 600), Some(128));
        assert_eq!(retry_delay(60, 3600), Some(300));
        assert_eq!(retry_delay(60, GIVE_UP_AFTER_SECS - 1), Some(300));
        assert_eq!(retry_delay(1, GIVE_UP_AFTER_SECS), None);
    }
}
