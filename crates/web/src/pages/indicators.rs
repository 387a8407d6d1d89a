//! One page per indicator (`/indicators/ip/203.0.113.5`, `/indicators/asn/64500`,
//! `/indicators/domain/example.jp`): everything the center knows about it, from
//! every pillar, with counts and first and last seen. The same as JSON at
//! `/api/v1/indicators/…` ([`crate::api::indicators`]).

use askama::Template;
use axum::extract::Path;
use axum::response::Response;
use renkei_incident::indicators::{COUNT_CAP, Seen};

use crate::api::indicators::{IndicatorView, gather};
use crate::http::error::AppError;
use crate::pages::{Page, Shell, html};

#[derive(Template)]
#[template(path = "indicator.html")]
struct IndicatorPage<'a> {
    shell: Shell<'a>,
    v: IndicatorView,
    /// The same incidents in the queue, closed ones included.
    queue_href: String,
}

impl IndicatorPage<'_> {
    fn kind_label(&self) -> &'static str {
        match self.v.kind {
            "ip" => self.shell.t("indicator.kind_ip"),
            "asn" => self.shell.t("indicator.kind_asn"),
            _ => self.shell.t("indicator.kind_domain"),
        }
    }

    fn shown_value(&self) -> String {
        match self.v.kind {
            "asn" => format!("AS{}", self.v.value),
            _ => self.v.value.clone(),
        }
    }

    /// A count as people read it: "more than 10,000" past the cap.
    fn count(&self, seen: &Seen) -> String {
        if seen.capped {
            self.shell
                .catalog
                .fill("queue.total_more", &[("n", &COUNT_CAP)])
        } else {
            seen.count.to_string()
        }
    }

    /// First and last seen, or nothing when never seen.
    fn span(&self, seen: &Seen) -> String {
        match (&seen.first, &seen.last) {
            (Some(first), Some(last)) => self.shell.catalog.fill(
                "indicator.span",
                &[("first", &self.at(first)), ("last", &self.at(last))],
            ),
            _ => String::new(),
        }
    }

    /// A stored time in the team's zone, or a day as it is.
    fn at(&self, stored: &str) -> String {
        if stored.len() == 10 {
            stored.to_string()
        } else {
            self.shell.when(stored)
        }
    }

    fn port(&self, proto: &str, port: &i64) -> String {
        let number = u16::try_from(*port).unwrap_or_default();
        match renkei_formats::services::Transport::parse(proto) {
            Some(t) => format!(
                "{} {}",
                proto.to_uppercase(),
                renkei_formats::services::port_with_name(t, number)
            ),
            None => format!("{} {number}", proto.to_uppercase()),
        }
    }

    fn sensor_span(&self) -> String {
        match self.v.sensors.as_ref() {
            Some(s) => self.span(&Seen {
                first: s.first.clone(),
                last: s.last.clone(),
                ..Seen::default()
            }),
            None => String::new(),
        }
    }

    fn sensor_count(&self) -> String {
        self.v
            .sensors
            .as_ref()
            .map(|s| s.days.to_string())
            .unwrap_or_default()
    }
}

pub(crate) async fn show(
    page: Page,
    Path((kind, value)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let v = gather(&page, &kind, &value).await?;
    let queue_href = format!(
        "/incidents?all=1&q={}",
        url::form_urlencoded::byte_serialize(v.search.as_bytes()).collect::<String>()
    );
    html(&IndicatorPage {
        shell: page.shell("incidents"),
        v,
        queue_href,
    })
}
