//! Holidays, for the weekly report's schedule: Japan's public holidays computed
//! from the Act on National Holidays as it stands since 2007 (fixed days, Happy
//! Monday days, the equinoxes, substitute holidays and the day between two
//! holidays), with the one-off changes of 2019–2021; and days a team loads itself
//! (another country's calendar, its own closing days).

use chrono::{Datelike, Duration, NaiveDate, Weekday};

/// The name of a Japanese public holiday on `day`, if it is one. Years before 2007
/// follow today's rules, which differ in details from those then in force.
pub fn japanese_holiday(day: NaiveDate) -> Option<&'static str> {
    if let Some(name) = base_holiday(day) {
        return Some(name);
    }
    // 振替休日: a holiday on a Sunday moves to the next day that is not one.
    if day.weekday() != Weekday::Sun {
        let mut d = day - Duration::days(1);
        while base_holiday(d).is_some() {
            if d.weekday() == Weekday::Sun {
                return Some("振替休日");
            }
            d -= Duration::days(1);
        }
    }
    // 国民の休日: a weekday between two holidays.
    if day.weekday() != Weekday::Sun
        && base_holiday(day - Duration::days(1)).is_some()
        && base_holiday(day + Duration::days(1)).is_some()
    {
        return Some("国民の休日");
    }
    None
}

/// The n-th `weekday` of a month.
fn nth(year: i32, month: u32, weekday: Weekday, n: u8) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n)
}

fn equinox(year: i32, base: f64) -> u32 {
    let y = f64::from(year - 1980);
    (base + 0.242194 * y - (y / 4.0).floor()).floor() as u32
}

/// The holidays the law names, before substitutes and days between.
fn base_holiday(day: NaiveDate) -> Option<&'static str> {
    let (y, m, d) = (day.year(), day.month(), day.day());
    let name = match (m, d) {
        (1, 1) => "元日",
        (2, 11) => "建国記念の日",
        (2, 23) if y >= 2020 => "天皇誕生日",
        (12, 23) if y <= 2018 => "天皇誕生日",
        (4, 29) => "昭和の日",
        (5, 3) => "憲法記念日",
        (5, 4) => "みどりの日",
        (5, 5) => "こどもの日",
        (11, 3) => "文化の日",
        (11, 23) => "勤労感謝の日",
        (8, 11) if y >= 2016 && y != 2020 && y != 2021 => "山の日",
        (3, _) if d == equinox(y, 20.8431) => "春分の日",
        (9, _) if d == equinox(y, 23.2488) => "秋分の日",
        _ => {
            return match y {
                2019 => match (m, d) {
                    (4, 30) | (5, 2) => Some("国民の休日"),
                    (5, 1) => Some("天皇の即位の日"),
                    (10, 22) => Some("即位礼正殿の儀の行われる日"),
                    _ => happy_monday(day, true),
                },
                // The Tokyo Games moved three holidays in 2020 and 2021.
                2020 => match (m, d) {
                    (7, 23) => Some("海の日"),
                    (7, 24) => Some("スポーツの日"),
                    (8, 10) => Some("山の日"),
                    _ => happy_monday(day, false),
                },
                2021 => match (m, d) {
                    (7, 22) => Some("海の日"),
                    (7, 23) => Some("スポーツの日"),
                    (8, 8) => Some("山の日"),
                    _ => happy_monday(day, false),
                },
                _ => happy_monday(day, true),
            };
        }
    };
    Some(name)
}

/// Holidays on the n-th Monday of a month; `summer` says whether Marine Day and
/// Sports Day are where they usually are.
fn happy_monday(day: NaiveDate, summer: bool) -> Option<&'static str> {
    let y = day.year();
    let is = |date: Option<NaiveDate>| date == Some(day);
    if is(nth(y, 1, Weekday::Mon, 2)) {
        Some("成人の日")
    } else if summer && is(nth(y, 7, Weekday::Mon, 3)) {
        Some("海の日")
    } else if is(nth(y, 9, Weekday::Mon, 3)) {
        Some("敬老の日")
    } else if summer && is(nth(y, 10, Weekday::Mon, 2)) {
        Some(if y >= 2020 {
            "スポーツの日"
        } else {
            "体育の日"
        })
    } else {
        None
    }
}

/// Reads loadable holidays: lines `YYYY-MM-DD[,name]` (CSV), or the all-day
/// events of an iCalendar file (`DTSTART;VALUE=DATE:YYYYMMDD` with `SUMMARY`), as
/// governments and calendar services publish them.
pub fn parse_holidays(text: &str) -> Result<Vec<(NaiveDate, String)>, String> {
    let mut out = Vec::new();
    if text.contains("BEGIN:VCALENDAR") {
        let mut start: Option<NaiveDate> = None;
        let mut summary = String::new();
        // Folded lines (RFC 5545 §3.1) are joined first.
        let unfolded = text.replace("\r\n ", "").replace("\n ", "");
        for line in unfolded.lines() {
            let line = line.trim_end_matches('\r');
            if line == "BEGIN:VEVENT" {
                start = None;
                summary.clear();
            } else if let Some(rest) = line.strip_prefix("DTSTART") {
                let value = rest.rsplit(':').next().unwrap_or("");
                start = NaiveDate::parse_from_str(value.get(..8).unwrap_or(""), "%Y%m%d").ok();
            } else if let Some(s) = line.strip_prefix("SUMMARY") {
                summary = s.split_once(':').map(|(_, v)| v).unwrap_or("").to_string();
            } else if line == "END:VEVENT" {
                let day = start.ok_or("an event without an all-day DTSTART")?;
                out.push((day, summary.clone()));
            }
        }
        return Ok(out);
    }
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (date, name) = line.split_once(',').unwrap_or((line, ""));
        let day = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
            .map_err(|_| format!("line {}: {date:?} is not a date like 2026-12-31", i + 1))?;
        out.push((day, name.trim().trim_matches('"').to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holidays(year: i32) -> Vec<String> {
        let mut d = NaiveDate::from_ymd_opt(year, 1, 1).unwrap();
        let mut out = Vec::new();
        while d.year() == year {
            if japanese_holiday(d).is_some() {
                out.push(d.format("%m-%d").to_string());
            }
            d += Duration::days(1);
        }
        out
    }

    #[test]
    fn the_2025_and_2026_holidays_are_the_cabinet_offices_list() {
        assert_eq!(
            holidays(2025),
            [
                "01-01", "01-13", "02-11", "02-23", "02-24", "03-20", "04-29", "05-03", "05-04",
                "05-05", "05-06", "07-21", "08-11", "09-15", "09-23", "10-13", "11-03", "11-23",
                "11-24"
            ]
        );
        assert_eq!(
            holidays(2026),
            [
                "01-01", "01-12", "02-11", "02-23", "03-20", "04-29", "05-03", "05-04", "05-05",
                "05-06", "07-20", "08-11", "09-21", "09-22", "09-23", "10-12", "11-03", "11-23"
            ]
        );
    }

    #[test]
    fn the_one_off_years_and_2007_follow_their_rules() {
        assert_eq!(
            holidays(2019),
            [
                "01-01", "01-14", "02-11", "03-21", "04-29", "04-30", "05-01", "05-02", "05-03",
                "05-04", "05-05", "05-06", "07-15", "08-11", "08-12", "09-16", "09-23", "10-14",
                "10-22", "11-03", "11-04", "11-23"
            ]
        );
        assert_eq!(
            holidays(2021),
            [
                "01-01", "01-11", "02-11", "02-23", "03-20", "04-29", "05-03", "05-04", "05-05",
                "07-22", "07-23", "08-08", "08-09", "09-20", "09-23", "11-03", "11-23"
            ]
        );
        // 2007: the Emperor's birthday in December, no Mountain Day.
        let h = holidays(2007);
        assert!(h.contains(&"12-23".to_string()) && h.contains(&"12-24".to_string()));
        assert!(!h.contains(&"08-11".to_string()));
    }

    #[test]
    fn holiday_files_read_as_csv_or_icalendar() {
        let csv = parse_holidays("# closing days\n2026-12-29,年末休暇\n2026-12-30\n").unwrap();
        assert_eq!(csv.len(), 2);
        assert_eq!(csv[0].1, "年末休暇");
        let ics = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261225\r\nSUMMARY:Christmas\r\n Day\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let ics = parse_holidays(ics).unwrap();
        assert_eq!(
            ics,
            vec![(
                NaiveDate::from_ymd_opt(2026, 12, 25).unwrap(),
                "ChristmasDay".to_string()
            )]
        );
        assert!(parse_holidays("2026-13-01,bad").is_err());
        assert!(parse_holidays("BEGIN:VCALENDAR\nBEGIN:VEVENT\nSUMMARY:x\nEND:VEVENT\n").is_err());
    }
}
