//! One page per indicator: everything the center knows about an address, an AS or a
//! domain — its incidents, the reports that name it, the feed events that saw it by
//! day, the notifications that told someone of it, what the sensors saw it send,
//! and the vulnerability cases that name it — gathered from each pillar, for the
//! page (`/indicators/{kind}/{value}`) and the API alike.

use axum::Json;
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use renkei_incident::indicators::{self, Indicator, Profile};
use serde::Serialize;

use crate::http::context::Ctx;
use crate::http::error::AppError;

/// How many days the sensors' part lists.
const SENSOR_ROWS: i64 = 50;

#[derive(Debug, Serialize)]
pub struct IndicatorView {
    pub kind: &'static str,
    pub value: String,
    /// The same incidents in the queue's search language.
    pub search: String,
    #[serde(flatten)]
    pub handling: Profile,
    /// What sensors saw an address send (an AS or a domain has none).
    pub sensors: Option<renkei_observe::sources::Seen>,
    /// Vulnerability cases whose text names the address or domain.
    pub cases: Vec<renkei_vuln::cases::Mention>,
}

pub(crate) async fn gather(ctx: &Ctx, kind: &str, value: &str) -> Result<IndicatorView, AppError> {
    let indicator = Indicator::parse(kind, value)?;
    let store = ctx.settled().await?;
    let handling = indicators::profile(store, &indicator).await?;
    let sensors = match indicator {
        Indicator::Ip(ip) => Some(renkei_observe::sources::seen(store, ip, SENSOR_ROWS).await?),
        _ => None,
    };
    let cases = match &indicator {
        Indicator::Asn(_) => Vec::new(),
        other => renkei_vuln::cases::naming(store, ctx.caller(), &other.value()).await?,
    };
    Ok(IndicatorView {
        kind: indicator.kind(),
        value: indicator.value(),
        search: indicator.search_text(),
        handling,
        sensors,
        cases,
    })
}

pub(crate) async fn show(
    ctx: Ctx,
    Path((kind, value)): Path<(String, String)>,
) -> Result<Response, AppError> {
    Ok(Json(gather(&ctx, &kind, &value).await?).into_response())
}
