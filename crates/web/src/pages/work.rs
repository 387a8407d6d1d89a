//! The coordinator's day at a glance: what waits for a person across the pillars,
//! each a count and a link to the work itself; and the intake page where reports set
//! aside for review and feeds that did not come today are listed.

use askama::Template;
use axum::response::Response;
use chrono::{Duration, NaiveTime};
use renkei_incident::incidents::{self, Filter};
use renkei_publish::alerts::Viewer;

use crate::http::error::AppError;
use crate::pages::{Page, Shell, html};

/// One count on the dashboard. `warn` marks what should be zero (overdue work, a
/// silent sensor); `detail` says more in a few words.
pub struct WorkItem {
    pub key: &'static str,
    pub count: i64,
    pub href: String,
    pub warn: bool,
    pub detail: String,
}

/// The team's midnight today and a week ago, as stored times.
fn team_days(page: &Page) -> (String, String) {
    let zone = page.state.config.server.team_zone();
    let today = page.now.with_timezone(&zone).date_naive();
    let midnight = |d: chrono::NaiveDate| {
        d.and_time(NaiveTime::MIN)
            .and_local_timezone(zone)
            .single()
            .map(|t| renkei_core::time::format(t.with_timezone(&chrono::Utc)))
            .unwrap_or_default()
    };
    (midnight(today), midnight(today - Duration::days(7)))
}

/// Everything waiting for a person, for a member of staff `me`; with the overdue
/// incidents clock by clock, which the dashboard also breaks down.
pub(crate) async fn staff_work(
    page: &Page,
    me: i64,
) -> Result<(Vec<WorkItem>, renkei_incident::clocks::Overdue), AppError> {
    let store = page.store();
    let words = |key: &'static str| page.shell("").t(key);
    let now = page.now;
    let now_str = renkei_core::time::format(now);
    let week_on = renkei_core::time::format(now + Duration::days(7));
    let hour_ago = renkei_core::time::format(now - Duration::hours(1));
    let week_ago_utc = renkei_core::time::format(now - Duration::days(7));
    let (today, week_ago) = team_days(page);
    let zone = page.state.config.server.team_zone();
    let mine_filter = Filter {
        owner: Some(me),
        open_only: true,
        ..Filter::default()
    };
    // The figures are independent: asked at once, the page waits for the slowest,
    // not for the sum.
    let incident = |e: renkei_incident::IncidentError| AppError::from(e);
    let (
        mine,
        replies,
        overdue,
        review,
        case_dates,
        alerts_review,
        silent,
        quiet,
        stuck,
        next_issue,
    ) = tokio::try_join!(
        async {
            incidents::count(store, &mine_filter)
                .await
                .map_err(incident)
        },
        async { incidents::new_replies(store).await.map_err(incident) },
        async {
            renkei_incident::clocks::overdue(store, &page.state.clocks)
                .await
                .map_err(incident)
        },
        async {
            renkei_incident::reports::needing_review(store, 1)
                .await
                .map(|(n, _)| n)
                .map_err(incident)
        },
        async {
            renkei_vuln::cases::dated_between(store, &now_str, &week_on)
                .await
                .map_err(AppError::from)
        },
        async {
            renkei_publish::alerts::awaiting_review(store)
                .await
                .map_err(AppError::from)
        },
        async {
            renkei_observe::outage::silent(
                store,
                now,
                Duration::hours(renkei_observe::outage::SILENT_AFTER_HOURS),
            )
            .await
            .map_err(AppError::from)
        },
        async {
            renkei_incident::feeds::quiet_since(store, &week_ago, &today)
                .await
                .map_err(incident)
        },
        async {
            renkei_mail::outbox::stuck(store, &hour_ago, &week_ago_utc)
                .await
                .map_err(AppError::internal)
        },
        async {
            let schedule = crate::api::publish::schedule(&page.state).await?;
            let next = schedule.next_issue(now.with_timezone(&zone).date_naive());
            let issue =
                renkei_publish::weekly::get(store, &next.to_string(), Viewer::Staff).await?;
            Ok::<_, AppError>((next, issue))
        },
    )?;
    let item = |key: &'static str, count: i64, href: String, warn: bool, detail: String| WorkItem {
        key,
        count,
        href,
        warn: warn && count > 0,
        detail,
    };
    let (next, issue) = next_issue;
    let (state, due) = match &issue {
        None => (words("work.weekly_none"), 1),
        Some(w) if w.is_published() => (words("work.weekly_published"), 0),
        Some(_) => (words("work.weekly_draft"), 1),
    };
    let names = |list: Vec<&str>, n: usize| list.into_iter().take(n).collect::<Vec<_>>().join(", ");
    let items = vec![
        item(
            "mine",
            mine,
            format!("/incidents?owner={me}"),
            false,
            String::new(),
        ),
        item(
            "replies",
            replies,
            "/incidents?replied=1".into(),
            false,
            String::new(),
        ),
        item(
            "overdue",
            overdue.total(),
            "/incidents?overdue=1&sort=due".into(),
            true,
            String::new(),
        ),
        item(
            "review",
            review,
            "/reports/review".into(),
            false,
            String::new(),
        ),
        item(
            "case_dates",
            case_dates,
            "/cases".into(),
            false,
            String::new(),
        ),
        item(
            "alerts_review",
            alerts_review,
            "/alerts".into(),
            false,
            String::new(),
        ),
        item(
            "weekly",
            due,
            match issue {
                Some(_) => format!("/weekly/{next}/edit"),
                None => "/weekly".into(),
            },
            false,
            format!("{next} · {state}"),
        ),
        item(
            "sensors",
            silent.len() as i64,
            "/observation/sensors".into(),
            true,
            names(silent.iter().map(|s| s.name.as_str()).collect(), 5),
        ),
        item(
            "feeds",
            quiet.len() as i64,
            "/reports/review#feeds".into(),
            false,
            names(quiet.iter().map(|(f, _)| f.as_str()).collect(), 3),
        ),
        item(
            "mail",
            stuck,
            "/notifications?status=failed".into(),
            true,
            String::new(),
        ),
    ];
    Ok((items, overdue))
}

impl WorkItem {
    /// The catalog's words for this count.
    pub fn label(&self, shell: &Shell<'_>) -> &'static str {
        shell.t(match self.key {
            "mine" => "work.mine",
            "replies" => "work.replies",
            "overdue" => "work.overdue",
            "review" => "work.review",
            "case_dates" => "work.case_dates",
            "alerts_review" => "work.alerts_review",
            "weekly" => "work.weekly",
            "sensors" => "work.sensors",
            "feeds" => "work.feeds",
            _ => "work.mail",
        })
    }
}

#[derive(Template)]
#[template(path = "review.html")]
struct ReviewPage<'a> {
    shell: Shell<'a>,
    total: i64,
    reports: Vec<renkei_incident::reports::ReviewItem>,
    feeds: Vec<(String, String)>,
}

/// Reports set aside for a person, and the feeds that did not come today.
pub(crate) async fn review(page: Page) -> Result<Response, AppError> {
    let (total, reports) = renkei_incident::reports::needing_review(page.store(), 200).await?;
    let (today, week_ago) = team_days(&page);
    let feeds = renkei_incident::feeds::quiet_since(page.store(), &week_ago, &today).await?;
    html(&ReviewPage {
        shell: page.shell("review"),
        total,
        reports,
        feeds,
    })
}
