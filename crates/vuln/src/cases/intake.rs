//! A case comes in: a finder's report, a coordinator's own, or a partner's CSAF 2.0
//! advisory or CVE JSON 5 record, checked before anything is stored.

use super::*;

pub(super) struct Checked {
    pub(super) cvss: Option<Cvss31>,
    pub(super) cwe: Option<String>,
    pub(super) cve: Option<String>,
    pub(super) series: Series,
    pub(super) tlp: Tlp,
}

pub(super) fn check(new: &NewCase, default_series: Series) -> Result<Checked> {
    // What the web refuses at its door, an imported document may still carry.
    let optional = |v: &Option<String>| v.clone().unwrap_or_default();
    for (field, text) in [
        ("title", new.title.clone()),
        ("description", new.description.clone()),
        ("affected", new.affected.clone()),
        ("credit", new.credit.clone()),
        ("reporter_name", new.reporter_name.clone()),
        ("reporter_email", new.reporter_email.clone()),
        ("cvss_vector", optional(&new.cvss_vector)),
        ("cwe", optional(&new.cwe)),
        ("cve", optional(&new.cve)),
    ] {
        if text.contains('\0') {
            return Err(VulnError::invalid(
                field,
                "contains a NUL character, which no text field accepts",
            ));
        }
    }
    if new.title.trim().is_empty() || new.title.len() > 300 {
        return Err(VulnError::invalid(
            "title",
            "give a title (at most 300 characters)",
        ));
    }
    if new.description.trim().is_empty() {
        return Err(VulnError::invalid(
            "description",
            "describe the vulnerability",
        ));
    }
    let cvss = match new
        .cvss_vector
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        Some(v) => {
            Some(Cvss31::parse(v).map_err(|e| VulnError::invalid("cvss_vector", e.to_string()))?)
        }
        None => None,
    };
    let cwe = match new.cwe.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        Some(c) => Some(renkei_formats::cwe::parse(c).ok_or_else(|| {
            VulnError::invalid(
                "cwe",
                format!("{c:?} is not a CWE identifier such as CWE-79"),
            )
        })?),
        None => None,
    };
    let cve = match new.cve.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        Some(c) if renkei_formats::cve5::valid_cve_id(&c.to_ascii_uppercase()) => {
            Some(c.to_ascii_uppercase())
        }
        Some(c) => {
            return Err(VulnError::invalid(
                "cve",
                format!("{c:?} is not a CVE ID such as CVE-2026-12345"),
            ));
        }
        None => None,
    };
    let series = match new.series.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Series::parse(s)?,
        None => default_series,
    };
    let tlp = match new.tlp.as_deref().filter(|s| !s.is_empty()) {
        Some(t) => Tlp::parse(t)?,
        None => Tlp::parse("TLP:AMBER")?,
    };
    Ok(Checked {
        cvss,
        cwe,
        cve,
        series,
        tlp,
    })
}

/// A case as kept, and for a finder's report the secret of their status page.
#[derive(Debug, Clone, Serialize)]
pub struct Submitted {
    pub case: CaseId,
    /// Shown once to whoever submitted, and mailed to the finder; never stored.
    #[serde(skip)]
    pub secret: Option<String>,
}

#[allow(clippy::too_many_arguments)]
async fn insert(
    store: &Store,
    actor: &Actor,
    new: &NewCase,
    source: &str,
    default_series: Series,
    raw: &str,
    now: &str,
    finder: Option<(&Settings, renkei_core::lang::Lang)>,
    vulnerabilities: &[renkei_formats::csaf::ImportedVulnerability],
) -> Result<Submitted> {
    let checked = check(new, default_series)?;
    let year = time::parse(now).map(|t| t.year()).unwrap_or(2000);
    for _ in 0..5 {
        let mut tx = store.begin().await?;
        let taken: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cases WHERE case_key LIKE $1")
            .bind(format!("CASE-{year:04}-%"))
            .fetch_one(tx.conn())
            .await?;
        let key = CaseId::new(year, taken + 1);
        let inserted = sqlx::query_scalar::<_, i64>(
            "INSERT INTO cases (case_key, state, series, source, tlp, title, description, affected, cvss_vector, \
             cvss_score, cwe, cve, credit, reporter_name, reporter_email, note_text, refs, raw, received_at, \
             created_at, updated_at) \
             VALUES ($1, 'draft', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, '{}', '[]', $15, $16, $16, $16) \
             RETURNING id",
        )
        .bind(key.as_str())
        .bind(checked.series.as_str())
        .bind(source)
        .bind(checked.tlp.as_str())
        .bind(new.title.trim())
        .bind(new.description.trim())
        .bind(new.affected.trim())
        .bind(checked.cvss.as_ref().map(|c| c.vector.clone()))
        .bind(checked.cvss.as_ref().map(|c| c.score))
        .bind(&checked.cwe)
        .bind(&checked.cve)
        .bind(new.credit.trim())
        .bind(new.reporter_name.trim())
        .bind(new.reporter_email.trim())
        .bind(raw)
        .bind(now)
        .fetch_one(tx.conn())
        .await;
        let id = match inserted {
            Ok(id) => id,
            // Two cases opened at once took the same number: count again.
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => continue,
            Err(e) => return Err(e.into()),
        };
        if finder.is_some()
            && let Some(user) = actor.user_id
        {
            sqlx::query("UPDATE cases SET finder_user_id = $1 WHERE id = $2")
                .bind(user)
                .bind(id)
                .execute(tx.conn())
                .await?;
        }
        let secret = match finder {
            Some((settings, lang)) => Some(
                finder::start(
                    &mut tx,
                    settings,
                    id,
                    &key,
                    new.title.trim(),
                    new.reporter_email.trim(),
                    lang,
                )
                .await?,
            ),
            None => None,
        };
        for (position, v) in vulnerabilities.iter().enumerate() {
            sqlx::query(
                "INSERT INTO case_vulnerabilities (case_id, position, title, cve, cwe, description, scores) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(id)
            .bind(position as i64 + 1)
            .bind(&v.title)
            .bind(&v.cve)
            .bind(&v.cwe)
            .bind(&v.description)
            .bind(serde_json::to_string(&v.scores).unwrap_or_else(|_| "[]".into()))
            .execute(tx.conn())
            .await?;
        }
        audit::record(
            &mut tx,
            actor,
            Event {
                action: "case.create",
                object_type: "case",
                object_id: key.to_string(),
                changes: json!({"id": id, "source": source, "title": new.title.trim(), "series": checked.series, "finder_link": secret.is_some(), "vulnerabilities": vulnerabilities.len()}),
            },
        )
        .await?;
        tx.commit().await?;
        return Ok(Submitted { case: key, secret });
    }
    Err(VulnError::Conflict(
        "could not number the case; try again".into(),
    ))
}

/// A finder's report through the public form or the API: a draft case for the
/// coordinators. The submission is kept as sent; a finder signed in (`actor` is
/// their account) also finds it in their account. The finder gets a status page,
/// whose link is mailed to them (in `lang`) and returned.
pub async fn submit(
    store: &Store,
    settings: &Settings,
    actor: &Actor,
    new: NewCase,
    lang: renkei_core::lang::Lang,
    now: &str,
) -> Result<Submitted> {
    accounts::validate_email(&new.reporter_email).map_err(|_| {
        VulnError::invalid(
            "reporter_email",
            "give an address the coordinators can reach you at",
        )
    })?;
    let raw = serde_json::to_string(&new).unwrap_or_default();
    insert(
        store,
        actor,
        &new,
        "finder",
        Series::Domestic,
        &raw,
        now,
        Some((settings, lang)),
        &[],
    )
    .await
}

/// A case a coordinator opens.
pub async fn create(store: &Store, actor: &Actor, new: NewCase, now: &str) -> Result<CaseId> {
    let raw = serde_json::to_string(&new).unwrap_or_default();
    insert(
        store,
        actor,
        &new,
        "coordinator",
        Series::Domestic,
        &raw,
        now,
        None,
        &[],
    )
    .await
    .map(|s| s.case)
}

/// A partner coordinator's CSAF 2.0 advisory or CVE JSON 5 record as a draft case
/// in the overseas series. A document that does not validate (CSAF: its schema and
/// the mandatory tests of section 6.1) is refused with every problem listed by
/// test and JSON path, and nothing is created. A CSAF document with several
/// vulnerabilities becomes one case that keeps each, with all its scores.
pub async fn import(
    store: &Store,
    actor: &Actor,
    format: &str,
    bytes: &[u8],
    now: &str,
) -> Result<CaseId> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| VulnError::invalid("document", "not UTF-8 text"))?;
    let mut vulnerabilities = Vec::new();
    let (new, source) = match format {
        "csaf" => {
            let d = renkei_formats::csaf::read(bytes)?;
            // Each vulnerability is kept whole, with every score: the case's own
            // fields hold only the first one's CVE, CWE and CVSS v3.1.
            vulnerabilities = d.vulnerabilities.clone();
            let affected = d
                .products
                .iter()
                .map(|(v, p)| {
                    if v.is_empty() {
                        p.clone()
                    } else {
                        format!("{v} {p}")
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            (
                NewCase {
                    title: d.title,
                    description: d.description,
                    affected,
                    cvss_vector: d
                        .cvss_vector
                        .filter(|v| v.starts_with("CVSS:3.1/"))
                        .map(|v| Cvss31::base_of(&v)),
                    cwe: d.cwe,
                    cve: d.cve,
                    credit: d.credits.join(", "),
                    reporter_name: d.publisher,
                    reporter_email: String::new(),
                    series: Some("overseas".into()),
                    tlp: None,
                },
                "csaf",
            )
        }
        "cve5" => {
            let d = renkei_formats::cve5::read(bytes)?;
            let affected = d
                .products
                .iter()
                .map(|(v, p)| format!("{v} {p}").trim().to_string())
                .collect::<Vec<_>>()
                .join("\n");
            (
                NewCase {
                    title: if d.title.is_empty() {
                        d.cve_id.clone()
                    } else {
                        d.title
                    },
                    description: d.description,
                    affected,
                    cvss_vector: d
                        .cvss_vector
                        .filter(|v| v.starts_with("CVSS:3.1/"))
                        .map(|v| Cvss31::base_of(&v)),
                    cwe: d.cwe,
                    cve: Some(d.cve_id).filter(|c| !c.is_empty()),
                    credit: d.credits.join(", "),
                    reporter_name: String::new(),
                    reporter_email: String::new(),
                    series: Some("overseas".into()),
                    tlp: None,
                },
                "cve5",
            )
        }
        other => {
            return Err(VulnError::invalid(
                "format",
                format!("unknown format {other:?}; use csaf or cve5"),
            ));
        }
    };
    insert(
        store,
        actor,
        &new,
        source,
        Series::Overseas,
        text,
        now,
        None,
        &vulnerabilities,
    )
    .await
    .map(|s| s.case)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> NewCase {
        NewCase {
            title: "Stored XSS in the admin console".into(),
            description: "A crafted device name runs script in the console.".into(),
            ..Default::default()
        }
    }

    fn refused_field(new: &NewCase) -> String {
        match check(new, Series::Domestic) {
            Err(VulnError::Invalid { field, .. }) => field.to_string(),
            Err(e) => panic!("refused, but not as invalid input: {e}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn a_plain_report_is_domestic_amber_with_nothing_scored() {
        let c = check(&report(), Series::Domestic).unwrap();
        assert_eq!(c.series, Series::Domestic);
        assert_eq!(c.tlp, Tlp::Amber);
        assert!(c.cvss.is_none() && c.cwe.is_none() && c.cve.is_none());
    }

    #[test]
    fn identifiers_are_checked_and_written_the_standard_way() {
        let c = check(
            &NewCase {
                cvss_vector: Some(" CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N ".into()),
                cwe: Some("cwe-79".into()),
                cve: Some("cve-2026-12345".into()),
                series: Some("overseas".into()),
                tlp: Some("TLP:RED".into()),
                ..report()
            },
            Series::Domestic,
        )
        .unwrap();
        assert_eq!(c.cve.as_deref(), Some("CVE-2026-12345"));
        assert_eq!(c.cwe.as_deref(), Some("CWE-79"));
        assert!(c.cvss.is_some_and(|v| (v.score - 6.1).abs() < 0.05));
        assert_eq!((c.series, c.tlp), (Series::Overseas, Tlp::Red));
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases: [(&str, NewCase); 7] = [
            (
                "title",
                NewCase {
                    title: " ".into(),
                    ..report()
                },
            ),
            (
                "title",
                NewCase {
                    title: "x".repeat(301),
                    ..report()
                },
            ),
            (
                "description",
                NewCase {
                    description: "".into(),
                    ..report()
                },
            ),
            (
                "cvss_vector",
                NewCase {
                    cvss_vector: Some("CVSS:3.1/AV:X".into()),
                    ..report()
                },
            ),
            (
                "cwe",
                NewCase {
                    cwe: Some("XSS".into()),
                    ..report()
                },
            ),
            (
                "cve",
                NewCase {
                    cve: Some("CVE-26-1".into()),
                    ..report()
                },
            ),
            (
                "credit",
                NewCase {
                    credit: "a\0b".into(),
                    ..report()
                },
            ),
        ];
        for (field, new) in cases {
            assert_eq!(refused_field(&new), field);
        }
    }
}
