//! Local calendar days as exact UTC intervals. A day is `[start of date, start of next date)` in
//! the requested IANA zone, so it lasts 23 or 25 hours on DST days, and nothing at all on a date
//! the zone skipped (Pacific/Apia 2011-12-30). Rolling windows count calendar dates.

use jiff::civil::Date;
use jiff::tz::TimeZone;

/// The first instant of `date` in `tz`, in microseconds since the epoch. When local midnight
/// does not exist (a gap), the day starts at the first instant that does.
///
/// # Panics
/// Never for dates jiff supports; callers check ranges (2000..2100) first.
pub fn day_start(tz: &TimeZone, date: Date) -> i64 {
    date.to_zoned(tz.clone())
        .expect("dates between 2000 and 2100 are representable")
        .timestamp()
        .as_microsecond()
}

/// A run of consecutive local dates with their UTC bounds.
#[derive(Debug, Clone)]
pub struct DayGrid {
    pub first: Date,
    /// `bounds[i]` is the start of `first + i` days; the last entry ends the last day.
    bounds: Vec<i64>,
}

impl DayGrid {
    /// The dates `first..=last` in `tz`.
    pub fn new(tz: &TimeZone, first: Date, last: Date) -> Self {
        let mut bounds = Vec::new();
        let mut date = first;
        loop {
            bounds.push(day_start(tz, date));
            if date > last {
                break;
            }
            date = date.tomorrow().expect("dates before 9999 have a tomorrow");
        }
        DayGrid { first, bounds }
    }

    /// How many dates the grid holds.
    pub fn len(&self) -> usize {
        self.bounds.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The date at position `i`.
    pub fn date(&self, i: usize) -> Date {
        self.first
            .checked_add(jiff::Span::new().days(i as i64))
            .expect("within the grid")
    }

    /// The UTC interval `[start, end)` of the date at position `i`.
    pub fn bounds(&self, i: usize) -> (i64, i64) {
        (self.bounds[i], self.bounds[i + 1])
    }

    /// The UTC interval the whole grid covers.
    pub fn span(&self) -> (i64, i64) {
        (self.bounds[0], self.bounds[self.len()])
    }

    /// The position of the date whose interval holds instant `t`, if any.
    pub fn index_of(&self, t: i64) -> Option<usize> {
        let (start, end) = self.span();
        if t < start || t >= end {
            return None;
        }
        // The last bound <= t; empty (skipped) days share a bound with the next day and are
        // passed over by taking the last equal bound.
        Some(self.bounds.partition_point(|&b| b <= t) - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn hours(tz: &str, d: Date) -> f64 {
        let tz = TimeZone::get(tz).unwrap();
        let grid = DayGrid::new(&tz, d, d);
        let (start, end) = grid.bounds(0);
        (end - start) as f64 / 3_600_000_000.0
    }

    #[test]
    fn days_have_their_real_length() {
        assert_eq!(hours("UTC", date(2024, 3, 31)), 24.0);
        assert_eq!(hours("Europe/Paris", date(2024, 3, 31)), 23.0);
        assert_eq!(hours("Europe/Paris", date(2024, 10, 27)), 25.0);
        assert_eq!(hours("America/New_York", date(2024, 3, 10)), 23.0);
        assert_eq!(hours("Australia/Lord_Howe", date(2024, 4, 7)), 24.5);
        assert_eq!(hours("Australia/Lord_Howe", date(2024, 10, 6)), 23.5);
        assert_eq!(hours("Pacific/Apia", date(2011, 12, 30)), 0.0);
        assert_eq!(hours("Pacific/Apia", date(2011, 12, 29)), 24.0);
        assert_eq!(hours("Asia/Kathmandu", date(2024, 1, 1)), 24.0);
    }

    #[test]
    fn days_start_at_local_midnight_with_odd_offsets() {
        let tz = TimeZone::get("Asia/Kathmandu").unwrap();
        let start = day_start(&tz, date(2024, 1, 1));
        assert_eq!(
            jiff::Timestamp::from_microsecond(start)
                .unwrap()
                .to_string(),
            "2023-12-31T18:15:00Z"
        );
        let tz = TimeZone::get("Asia/Kolkata").unwrap();
        let start = day_start(&tz, date(2024, 1, 1));
        assert_eq!(
            jiff::Timestamp::from_microsecond(start)
                .unwrap()
                .to_string(),
            "2023-12-31T18:30:00Z"
        );
    }

    #[test]
    fn instants_find_their_day_and_skipped_days_hold_none() {
        let tz = TimeZone::get("Pacific/Apia").unwrap();
        let grid = DayGrid::new(&tz, date(2011, 12, 29), date(2011, 12, 31));
        assert_eq!(grid.len(), 3);
        let (dec31, _) = grid.bounds(2);
        assert_eq!(grid.index_of(dec31), Some(2));
        assert_eq!(grid.index_of(dec31 - 1), Some(0));
        assert_eq!(grid.index_of(grid.span().1), None);
        assert_eq!(grid.date(1), date(2011, 12, 30));
    }
}
