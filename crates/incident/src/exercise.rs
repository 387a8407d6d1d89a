//! Drills: reports, and the incidents they open, marked as an exercise. A team
//! rehearses with the real workflow; the marked ones are listed apart, never
//! counted in statistics, and their mail goes to the exercise sink instead of its
//! recipients (the outbox keeps the mark for the sender).

use renkei_core::store::Tx;
use renkei_mail::conversations::Owner;

use crate::Result;
use crate::replies::{INCIDENT, REPORT};

/// Whether a mailed report's subject marks it as an exercise: it begins with one
/// of the configured tags (`[訓練]`, `[EXERCISE]`), ignoring case and a reply's
/// `Re:`.
pub fn tagged(subject: &str, tags: &[String]) -> bool {
    let mut s = subject.trim_start();
    loop {
        let lower = s.get(..3).map(str::to_ascii_lowercase);
        if matches!(lower.as_deref(), Some("re:" | "fw:")) {
            s = s[3..].trim_start();
        } else {
            break;
        }
    }
    tags.iter().any(|t| {
        let t = t.trim();
        !t.is_empty()
            && s.get(..t.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(t))
    })
}

/// Whether mail from these threads belongs to a drill: any report or incident
/// among them is an exercise.
pub(crate) async fn of_owners(tx: &mut Tx, owners: &[Owner]) -> Result<bool> {
    for o in owners {
        let table = match o.kind.as_str() {
            REPORT => "reports",
            INCIDENT => "incidents",
            _ => continue,
        };
        let flag: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT exercise FROM {table} WHERE id = $1"
        )))
        .bind(o.id)
        .fetch_optional(tx.conn())
        .await?;
        if flag.unwrap_or(0) != 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::tagged;

    #[test]
    fn a_subject_begun_with_a_tag_is_an_exercise_and_no_other_is() {
        let tags = vec!["[訓練]".to_string(), "[EXERCISE]".to_string()];
        assert!(tagged("[訓練] 不正アクセスの報告", &tags));
        assert!(tagged("  [exercise] port scan", &tags));
        assert!(tagged("Re: RE: [EXERCISE] port scan", &tags));
        assert!(!tagged("Port scan [EXERCISE]", &tags));
        assert!(!tagged("訓練のお知らせ", &tags));
        assert!(!tagged("[訓練] x", &[]));
    }
}
