//! The OpenAPI 3.1 document, generated from the same route list the router is built
//! from, so that it always names exactly the routes that exist and what each requires.

use serde_json::{Map, Value, json};

use renkei_core::access::Access;

use crate::http::routes::{Method, RouteSpec};

fn schema_ref(name: &str) -> Value {
    match name.strip_suffix("[]") {
        Some(item) => {
            json!({"type": "array", "items": {"$ref": format!("#/components/schemas/{item}")}})
        }
        None => json!({"$ref": format!("#/components/schemas/{name}")}),
    }
}

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn access_text(access: Access) -> &'static str {
    match access {
        Access::Public => "Anyone.",
        Access::Authenticated => "Any signed-in account or API token.",
        Access::Person => "Any account but sensors.",
        Access::Staff => "Coordinators and admins.",
        Access::Admin => "Admins.",
        Access::Sensor => "Sensor tokens and admins.",
    }
}

pub(crate) fn document(specs: &[&RouteSpec], server_url: &str) -> Value {
    let mut paths = Map::new();
    for spec in specs {
        let Some(doc) = spec.api else { continue };
        let mut op = Map::new();
        op.insert("summary".into(), json!(doc.summary));
        op.insert(
            "description".into(),
            json!(format!("Access: {}", access_text(spec.access))),
        );
        op.insert(
            "operationId".into(),
            json!(format!(
                "{} {}",
                spec.method.as_str().to_lowercase(),
                spec.path
            )),
        );
        let mut parameters: Vec<Value> = spec
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "integer"}}))
            .collect();
        parameters.extend(doc.query.iter().map(|(name, ty, description)| {
            json!({"name": name, "in": "query", "required": false, "description": description, "schema": {"type": ty}})
        }));
        if !parameters.is_empty() {
            op.insert("parameters".into(), Value::Array(parameters));
        }
        if let Some(request) = doc.request {
            op.insert(
                "requestBody".into(),
                json!({"required": true, "content": {"application/json": {"schema": schema_ref(request)}}}),
            );
        }
        let mut responses = Map::new();
        let success = match doc.response {
            Some(body) => {
                json!({"description": "Success", "content": {"application/json": {"schema": schema_ref(body)}}})
            }
            None => json!({"description": "Success, no content"}),
        };
        responses.insert(doc.status.to_string(), success);
        if spec.access != Access::Public {
            responses.insert(
                "401".into(),
                error_response("Not signed in, or the token is invalid"),
            );
            responses.insert("403".into(), error_response("This account may not do this"));
        } else {
            op.insert("security".into(), json!([]));
        }
        if doc.request.is_some() {
            responses.insert("400".into(), error_response("Malformed JSON"));
            responses.insert("413".into(), error_response("Body too large"));
            responses.insert("422".into(), error_response("Invalid input"));
        }
        if spec.path.contains('{') {
            responses.insert("404".into(), error_response("No such object"));
        }
        op.insert("responses".into(), Value::Object(responses));
        let entry = paths
            .entry(spec.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        let method = match spec.method {
            Method::GET => "get",
            Method::POST => "post",
            Method::PUT => "put",
            Method::PATCH => "patch",
            Method::DELETE => "delete",
        };
        entry[method] = Value::Object(op);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Renkei API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The JSON API of a Renkei coordination center. Authenticate with an API token (Authorization: Bearer rk_…) or, from the browser, a session cookie plus the X-CSRF-Token header on changes. Every error is {\"error\":{\"code\",\"message\"}}."
        },
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "An API token from /account or POST /api/v1/tokens."},
                "session": {"type": "apiKey", "in": "cookie", "name": "renkei_session"}
            },
            "schemas": schemas()
        }
    })
}

/// An indicator's page as JSON ([`crate::api::indicators`]).
fn indicator_schemas() -> Value {
    let nullable_string = json!({"type": ["string", "null"]});
    json!({
        "IndicatorSeen": {"type": "object", "required": ["count", "capped"],
            "description": "How many (counted up to 10,000; capped: more than that), and the first and last time seen",
            "properties": {"count": {"type": "integer"}, "capped": {"type": "boolean"}, "first": nullable_string, "last": nullable_string}},
        "Indicator": {"type": "object",
            "required": ["kind", "value", "search", "incidents", "latest_incidents", "reports", "latest_reports", "feed_events", "feed_days", "notifications", "latest_notifications", "cases"],
            "description": "Everything known about an address, an AS or a domain: incidents, reports that name it, feed events by day (the last 90 rows; totals over all), notifications, what sensors saw it send (addresses only), and vulnerability cases that name it",
            "properties": {
                "kind": {"type": "string", "enum": ["ip", "asn", "domain"]}, "value": {"type": "string"},
                "search": {"type": "string", "description": "The same incidents in the queue's search language"},
                "incidents": {"$ref": "#/components/schemas/IndicatorSeen"},
                "latest_incidents": {"type": "array", "items": {"$ref": "#/components/schemas/Incident"}},
                "reports": {"$ref": "#/components/schemas/IndicatorSeen"},
                "latest_reports": {"type": "array", "items": {"type": "object"}},
                "feed_events": {"$ref": "#/components/schemas/IndicatorSeen"},
                "feed_days": {"type": "array", "items": {"type": "object", "properties": {"day": {"type": "string"}, "feed": {"type": "string"}, "events": {"type": "integer"}, "files": {"type": "integer"}}}},
                "notifications": {"$ref": "#/components/schemas/IndicatorSeen"},
                "latest_notifications": {"type": "array", "items": {"type": "object"}},
                "sensors": {"type": ["object", "null"]},
                "cases": {"type": "array", "items": {"type": "object", "properties": {"case_key": {"type": "string"}, "title": {"type": "string"}, "state": {"type": "string"}}}}
            }}
    })
}

fn schemas() -> Value {
    let mut all = core_schemas();
    for more in [
        incident_schemas(),
        indicator_schemas(),
        takedown_schemas(),
        vuln_schemas(),
        observe_schemas(),
        publish_schemas(),
    ] {
        if let (Some(all), Value::Object(more)) = (all.as_object_mut(), more) {
            all.extend(more);
        }
    }
    all
}

/// Takedowns, apart from the rest of the incident schemas (one `json!` has a
/// recursion limit).
fn takedown_schemas() -> Value {
    let nullable_string = json!({"type": ["string", "null"]});
    json!({
        "Takedown": {"type": "object", "required": ["id", "incident_id", "url", "stage", "requested_at", "requested_by", "returns", "checks"],
            "properties": {"id": {"type": "integer"}, "incident_id": {"type": "integer"}, "url": {"type": "string"},
                "stage": {"type": "string", "enum": ["requested", "down", "verified"]},
                "requested_at": {"type": "string"}, "requested_by": {"type": "string"},
                "down_at": nullable_string, "verified_at": nullable_string,
                "returns": {"type": "integer", "description": "times the site came back after it was down"},
                "checks": {"type": "array", "items": {"type": "object", "required": ["id", "checked_at", "checked_by", "result", "note"],
                    "properties": {"id": {"type": "integer"}, "checked_at": {"type": "string"}, "checked_by": {"type": "string"},
                        "result": {"type": "string", "enum": ["up", "down"]}, "note": {"type": "string"}}}}}},
        "TakedownRequest": {"type": "object", "required": ["url"], "additionalProperties": false,
            "properties": {"url": {"type": "string", "description": "the site, http:// or https://"}}},
        "TakedownCheck": {"type": "object", "required": ["result"], "additionalProperties": false,
            "properties": {"result": {"type": "string", "enum": ["up", "down"], "description": "what the check found"},
                "note": {"type": "string"}}}
    })
}

fn observe_schemas() -> Value {
    let s = json!({"type": "string"});
    let i = json!({"type": "integer"});
    json!({
        "SensorNew": {"type": "object", "required": ["name", "address_range", "public_key"], "additionalProperties": false,
            "properties": {"name": s, "location": s, "address_range": {"type": "string", "description": "203.0.113.0/24, comma separated"},
                "public_key": {"type": "string", "description": "Ed25519, base64 (renkei sensor --print-key)"}}},
        "Sensor": {"type": "object", "required": ["id", "name", "location", "address_range", "public_key", "disabled"]},
        "SensorRegistered": {"type": "object", "required": ["sensor", "token"]},
        "SensorHealth": {"type": "object", "required": ["sensor", "uptime_7d", "packets_7d", "batches", "waiting"]},
        "SensorState": {"type": "object", "required": ["disabled"], "additionalProperties": false, "properties": {"disabled": {"type": "boolean"}}},
        "SensorBatch": {"type": "object", "required": ["sensor", "seq", "created", "buckets"],
            "properties": {"sensor": s, "seq": i, "created": s, "buckets": {"type": "array", "items": {"type": "object",
                "required": ["start", "seconds", "packets", "unparsed", "rows"], "properties": {"start": i, "seconds": i, "packets": i, "unparsed": i,
                "rows": {"type": "array", "items": {"type": "object", "required": ["proto", "port", "class", "packets", "sources"],
                    "properties": {"proto": s, "port": i, "class": s, "packets": i, "sources": {"type": "string", "description": "HyperLogLog sketch, base64"}}}}}}}}},
        "BatchReceipt": {"type": "object", "required": ["sensor", "seq", "buckets", "rows", "packets"]},
        "ObservationTop": {"type": "object", "required": ["period", "class", "ports", "chart"]},
        "ObservationPort": {"type": "object", "required": ["period", "chart", "trends", "annotations"]},
        "ObservationBySensor": {"type": "object", "required": ["day", "sensors"]},
        "ObservationIcmp": {"type": "object", "required": ["period", "chart"]},
        "ObservationTrends": {"type": "object", "required": ["period", "trends"]},
        "ObservationAnnotations": {"type": "object", "required": ["period", "annotations"]},
        "AnnotationNew": {"type": "object", "required": ["proto", "port", "day"], "additionalProperties": false,
            "properties": {"proto": s, "port": i, "day": s, "text_ja": s, "text_en": s, "note_id": s, "cve": s, "alert": s}},
        "Annotation": {"type": "object", "required": ["id", "proto", "port", "day", "text_ja", "text_en"]},
    })
}

fn publish_schemas() -> Value {
    let s = json!({"type": "string"});
    let strings = json!({"type": "array", "items": {"type": "string"}});
    let text = json!({"type": "object", "additionalProperties": false,
        "properties": {"category": s, "tlp": s, "title_ja": s, "title_en": s, "body_ja": s, "body_en": s,
            "change_ja": s, "change_en": s, "notes": strings,
            "exercise": {"type": "boolean", "description": "A new alert for a drill: staff only see it; its mail goes to the exercise sink"}}});
    json!({
        "AlertText": text,
        "Alert": {"type": "object", "required": ["number", "category", "tlp", "status", "history"]},
        "Alerts": {"type": "object", "required": ["alerts"]},
        "MailingLists": {"type": "object", "required": ["lists"]},
        "Subscription": {"type": "object", "required": ["email"], "additionalProperties": false, "properties": {"email": s, "lang": {"enum": ["ja", "en"]}}},
        "SubscriptionAccepted": {"type": "object", "required": ["status"]},
        "ListSendNew": {"type": "object", "additionalProperties": false, "properties": {"alert": s, "weekly": s}},
        "ListSend": {"type": "object", "required": ["id", "list", "total", "queued", "sending", "sent", "failed", "done"]},
        "ListSends": {"type": "object", "required": ["sends"]},
        "Unsubscribed": {"type": "object", "required": ["status"]},
        "WeeklyNew": {"type": "object", "additionalProperties": false, "properties": {"issue_date": s}},
        "WeeklyText": {"type": "object", "additionalProperties": false, "properties": {
            "items": {"type": "array", "items": {"type": "object", "required": ["kind"], "properties": {"kind": {"enum": ["alert", "note", "news"]}, "ref": s,
                "title_ja": s, "title_en": s, "summary_ja": s, "summary_en": s, "url": s}}},
            "memo_title_ja": s, "memo_title_en": s, "memo_ja": s, "memo_en": s}},
        "WeeklyReport": {"type": "object", "required": ["issue_date", "status", "items"]},
        "WeeklyReports": {"type": "object", "required": ["reports"]},
        "WeeklySchedule": {"type": "object", "required": ["weekday", "next", "weeks"]},
        "Warnings": {"type": "object", "required": ["warnings"]},
        "Operations": {"type": "object", "required": ["this_node", "nodes", "queues", "leases"]},
        "ActivityReport": {"type": "object", "required": ["quarter", "alerts", "issues", "incidents", "notifications", "months", "top_quarter", "top_year", "year_columns", "vuln", "figures", "topics", "texts"]},
        "ActivityTopics": {"type": "object", "required": ["quarter", "topics"]},
        "ActivityTopicsNew": {"type": "object", "required": ["topics"], "additionalProperties": false, "properties": {"topics": {"type": "array", "items": {"type": "object", "additionalProperties": false,
            "properties": {"title_ja": s, "title_en": s, "body_ja": s, "body_en": s}}}}},
        "ActivityTexts": {"type": "object", "required": ["texts"]},
        "ActivityTextsNew": {"type": "object", "required": ["texts"], "additionalProperties": false, "properties": {"texts": {"type": "array", "items": {"type": "object", "required": ["key"], "additionalProperties": false,
            "properties": {"key": {"type": "string", "enum": ["scan", "forged", "intrusion", "phishing", "dos", "malware", "other", "observation"]}, "text_ja": s, "text_en": s}}}}},
        "ActivityPublish": {"type": "object", "additionalProperties": false, "properties": {"change_note": s}},
        "ActivityRevision": {"type": "object", "required": ["quarter", "revision", "published_at", "change_note", "title_ja", "title_en"]},
        "ActivityRevisions": {"type": "object", "required": ["quarter", "revisions"]},
        "Recipients": {"type": "object", "required": ["recipients"]},
        "RecipientNew": {"type": "object", "required": ["org_id"], "additionalProperties": false, "properties": {"org_id": {"type": "integer"}}},
        "Acknowledged": {"type": "object", "required": ["number", "acknowledged_at"]},
        "ReceiptLink": {"type": "object", "required": ["number", "revision", "email", "acknowledged_at"]},
    })
}

fn vuln_schemas() -> Value {
    let s = json!({"type": "string"});
    let ns = json!({"type": ["string", "null"]});
    let strings = json!({"type": "array", "items": {"type": "string"}});
    let mut first = json!({
        "VendorApplication": {"type": "object", "required": ["company", "name", "email"], "additionalProperties": false,
            "properties": {"company": s, "name": s, "email": {"type": "string", "format": "email"}, "pgp_key": ns,
                "products": strings, "languages": strings, "country": ns, "by_mail": {"type": "boolean"}}},
        "Vendor": {"type": "object", "required": ["id", "org_id", "name", "state", "languages", "applied_at"],
            "properties": {"id": {"type": "integer"}, "org_id": {"type": "integer"}, "name": s,
                "state": {"type": "string", "enum": ["applied", "documents_sent", "documents_returned", "meeting_held", "terms_agreed", "registered", "suspended", "withdrawn"]},
                "languages": strings, "by_mail": {"type": "boolean"}, "terms_version": ns, "applied_at": s, "registered_at": ns, "state_changed_at": s}},
        "VendorDetail": {"type": "object", "required": ["id", "name", "state", "contacts", "products", "application", "documents", "meetings"],
            "properties": {"application": {"type": "object", "description": "The application as it came in"},
                "documents": {"type": "array", "items": {"$ref": "#/components/schemas/VendorDocument"}},
                "meetings": {"type": "array", "items": {"$ref": "#/components/schemas/VendorMeeting"}, "description": "Empty for the vendor's own users"}}},
        "VendorStateChange": {"type": "object", "required": ["state"], "additionalProperties": false, "properties": {"state": s, "terms_version": ns}},
        "VendorContactNew": {"type": "object", "required": ["name", "email"], "additionalProperties": false,
            "properties": {"name": s, "email": {"type": "string", "format": "email"}, "pgp_key": ns}},
        "VendorContact": {"type": "object", "required": ["id", "name", "email", "key_status"],
            "properties": {"id": {"type": "integer"}, "name": s, "email": s, "has_key": {"type": "boolean"}, "key_fingerprint": ns, "key_expires_at": ns,
                "key_status": {"type": "string", "enum": ["none", "valid", "expires_soon", "expired"]},
                "key_confirmed_at": ns, "key_confirmed_by": s, "has_account": {"type": "boolean"}}},
        "VendorProductNew": {"type": "object", "required": ["name"], "additionalProperties": false, "properties": {"name": s, "cpe": ns, "purl": ns}},
        "VendorProduct": {"type": "object", "required": ["id", "name"], "properties": {"id": {"type": "integer"}, "name": s, "cpe": ns, "purl": ns}},
        "VendorSuggestion": {"type": "object", "required": ["vendor_id", "name", "state", "products", "reasons"], "properties": {"reasons": {"type": "array", "items": {"type": "string"}, "description": "Why: product: …, cpe: …, purl: …, vendor: …"}}},
        "Terms": {"type": "object", "required": ["version", "body", "created_at"]},
        "TermsNew": {"type": "object", "required": ["version", "body"], "additionalProperties": false, "properties": {"version": s, "body": s}},
        "NewCase": {"type": "object", "required": ["title", "description"], "additionalProperties": false,
            "properties": {"title": s, "description": s, "affected": s, "cvss_vector": {"type": ["string", "null"], "description": "CVSS:3.1/AV:…"},
                "cwe": ns, "cve": ns, "credit": {"type": "string", "description": "How to credit the reporter; empty: not named"},
                "reporter_name": s, "reporter_email": {"type": "string", "format": "email", "description": "Required from finders"},
                "series": {"type": ["string", "null"], "enum": ["domestic", "overseas", "technical", null]}, "tlp": ns}},
        "CaseCreated": {"type": "object", "required": ["case"], "properties": {"case": {"type": "string", "description": "CASE-YYYY-NNNN"},
            "status_url": {"type": ["string", "null"], "description": "A finder's report: their status page (secret; shown once, and mailed to them)"}}},
        "CaseImported": {"type": "object", "required": ["case", "suggested_vendors"]},
        "CaseSummary": {"type": "object", "required": ["key", "title", "state", "series", "published"]},
        "CaseDetail": {"type": "object", "required": ["case", "vendors", "view"],
            "properties": {"case": {"type": "object"}, "vendors": {"type": "array", "items": {"type": "object"}}, "view": {"type": "string", "enum": ["coordinator", "vendor", "vendor_summary", "partner"], "description": "vendor_summary: a vendor that has not acknowledged; the details are left out. partner: a partner coordinator; vendors' statements are left out"},
                "partners": {"type": "array", "items": {"type": "object", "required": ["org_id", "name", "tracking_id"]}},
                "files": {"type": "array", "items": {"$ref": "#/components/schemas/CaseFile"}}}},
    });
    // Two objects: one would exceed the json! macro's recursion limit.
    let more = json!({
        "VendorDocument": {"type": "object", "required": ["id", "direction", "filename", "size", "sha256", "added_by", "added_at"],
            "properties": {"direction": {"type": "string", "enum": ["sent", "returned"]}, "sha256": s}},
        "VendorMeetingNew": {"type": "object", "required": ["held_on", "attendees", "minutes"], "additionalProperties": false,
            "properties": {"held_on": {"type": "string", "format": "date"}, "attendees": s, "minutes": s}},
        "VendorMeeting": {"type": "object", "required": ["id", "held_on", "attendees", "minutes", "recorded_by", "recorded_at"]},
        "KeyConfirmation": {"type": "object", "required": ["fingerprint"], "additionalProperties": false,
            "properties": {"fingerprint": {"type": "string", "description": "As the contact read it out; spaces and case do not matter"}}},
        "OwnReport": {"type": "object", "required": ["case", "title", "received_at", "standing"],
            "properties": {"standing": {"type": "string", "enum": ["received", "coordinating", "date_agreed", "published", "closed"]}, "publish_at": ns, "note_url": ns}},
        "Welcomed": {"type": "object", "required": ["created", "skipped"],
            "properties": {"created": strings, "skipped": {"type": "array", "items": {"type": "string"}, "description": "Addresses with an account of another organization"}}},
        "AddPartner": {"type": "object", "required": ["org_id"], "additionalProperties": false,
            "properties": {"org_id": {"type": "integer", "description": "An organization of kind csirt"}, "tracking_id": s}},
        "TrackingUpdate": {"type": "object", "required": ["tracking_id"], "additionalProperties": false,
            "properties": {"org_id": {"type": "integer", "description": "Coordinators: the partner"}, "tracking_id": s}},
        "Acknowledge": {"type": "object", "additionalProperties": false,
            "properties": {"vendor_id": {"type": "integer", "description": "Coordinators: the vendor that acknowledged"}, "via": ns}},
        "CaseFile": {"type": "object", "required": ["id", "filename", "size", "sha256", "shared_with"],
            "properties": {"id": {"type": "integer"}, "filename": s, "content_type": s, "size": {"type": "integer"}, "sha256": s,
                "shared_with": {"type": "string", "enum": ["team", "vendors"]}, "added_by": s, "added_at": s}},
        "FinderMessage": {"type": "object", "required": ["body"], "additionalProperties": false, "properties": {"body": s}},
        "MessageCreated": {"type": "object", "required": ["message"], "properties": {"message": {"type": "integer"}}},
        "ThreadMessage": {"type": "object", "required": ["id", "direction", "body", "created_at"]},
        "CasePatch": {"type": "object", "additionalProperties": false,
            "properties": {"title": s, "description": s, "affected": s, "cvss_vector": s, "cwe": s, "cve": s, "credit": s, "series": s, "tlp": s,
                "note_text": {"type": "object", "description": "{ja: {title, overview, solution, workaround}, en: {…}}"}, "references": strings,
                "state": {"type": "string", "enum": ["open", "closed"]}, "summary": s,
                "control_systems": {"type": "boolean", "description": "The case concerns industrial control systems"}}},
        "AddVendor": {"type": "object", "required": ["vendor_id"], "additionalProperties": false,
            "properties": {"vendor_id": {"type": "integer"}, "products": strings}},
        "VendorUpdate": {"type": "object", "additionalProperties": false,
            "properties": {"vendor_id": {"type": "integer", "description": "Coordinators: the vendor recorded for"},
                "stage": {"type": "string", "enum": ["acknowledged", "investigating", "date_agreed", "fix_ready"]},
                "statement_ja": s, "statement_en": s, "unreachable": {"type": "boolean"},
                "products": {"type": "array", "items": {"type": "object", "required": ["name", "status"], "properties": {"name": s,
                    "status": {"type": "string", "enum": ["vulnerable", "not_vulnerable", "unknown", "investigating_likely_vulnerable", "investigating_likely_not_vulnerable"]},
                    "fixed_in": ns}}}}},
        "DateProposal": {"type": "object", "required": ["publish_at"], "additionalProperties": false,
            "properties": {"publish_at": {"type": "string", "format": "date-time"}, "tz": ns}},
        "DateAnswer": {"type": "object", "required": ["accept"], "additionalProperties": false,
            "properties": {"accept": {"type": "boolean"}, "requested_date": ns, "reason": ns, "vendor_id": {"type": "integer"}}},
        "Schedule": {"type": "object", "additionalProperties": false, "properties": {"override_reason": ns}},
        "Revise": {"type": "object", "required": ["summary"], "additionalProperties": false, "properties": {"summary": s}},
        "CaseMessage": {"type": "object", "required": ["id", "author", "body", "created_at"]},
        "CaseMessageNew": {"type": "object", "required": ["body"], "additionalProperties": false, "properties": {"body": s, "vendor_id": {"type": "integer"}, "partner_org_id": {"type": "integer", "description": "Coordinators: a partner's thread"}}},
        "Document": {"description": "CSAF 2.0 or CVE JSON 5 (JSON), or JVNRSS (RDF/XML)"},
        "Note": {"type": "object", "required": ["key", "series", "publish_at", "revisions", "content"]},
        "NoteSummary": {"type": "object", "required": ["key", "series", "title", "publish_at", "updated_at", "revision"]},
        "VulnStatistics": {"type": "object", "required": ["published", "cumulative", "per_quarter", "vendors_registered", "vendors_registered_total", "cwe", "control_systems", "per_partner", "received", "control_system_cases", "days_to_publication"]},
    });
    if let (Value::Object(a), Value::Object(b)) = (&mut first, more) {
        a.extend(b);
    }
    first
}

fn incident_schemas() -> Value {
    let nullable_string = json!({"type": ["string", "null"]});
    let nullable_int = json!({"type": ["integer", "null"]});
    json!({
        "FormReport": {
            "type": "object", "required": ["site_org", "reporter_name", "reporter_email", "description"], "additionalProperties": false,
            "properties": {
                "site_org": {"type": "string", "description": "The organization whose site was attacked"},
                "site_url": nullable_string, "reporter_name": {"type": "string"}, "reporter_email": {"type": "string", "format": "email"},
                "reporter_phone": nullable_string, "hosts": {"type": "array", "items": {"type": "string"}, "description": "Affected hosts"},
                "occurred_at": nullable_string, "description": {"type": "string"}, "logs": {"type": "string"},
                "tlp": {"type": ["string", "null"], "enum": ["TLP:CLEAR", "TLP:GREEN", "TLP:AMBER", "TLP:AMBER+STRICT", "TLP:RED", null]},
                "consent_mediation": {"type": ["boolean", "null"], "description": "The reporter agrees that the site is contacted"},
                "consent_named": {"type": ["boolean", "null"], "description": "The reporter agrees to be named to the site"},
                "received_by": {"type": ["string", "null"], "enum": ["phone", "fax", null], "description": "Coordinators only: a report taken by telephone or fax"},
                "lang": {"type": ["string", "null"], "enum": ["ja", "en", null], "description": "The reporter's language, for the words Renkei adds (the subject); Japanese when absent"},
                "exercise": {"type": "boolean", "description": "Coordinators only: a drill's report, listed apart, never counted, its mail to the exercise sink"}
            }
        },
        "RawDocument": {"type": "string", "contentMediaType": "application/octet-stream", "description": "The document's bytes"},
        "FeedFile": {"type": "string", "contentMediaType": "text/csv", "description": "The feed's CSV file as received (Content-Encoding: gzip allowed)"},
        "FeedImport": {
            "type": "object", "required": ["feed", "report", "rows", "events", "bad_rows", "chunks", "chunks_done", "finished", "duplicate"],
            "description": "A feed import's figures so far: final once finished (every chunk counted, notifications queued)",
            "properties": {
                "feed": {"type": "string"}, "report": {"type": "integer", "description": "The report holding the file as received"},
                "rows": {"type": "integer"}, "events": {"type": "integer"}, "bad_rows": {"type": "integer"},
                "problems": {"type": "array", "items": {"type": "object", "properties": {"line": {"type": "integer"}, "message": {"type": "string"}}}},
                "recipients": {"type": "integer"}, "notifications": {"type": "integer"}, "unresolved": {"type": "integer"},
                "chunks": {"type": "integer"}, "chunks_done": {"type": "integer"}, "finished": {"type": "boolean"},
                "duplicate": {"type": "boolean", "description": "The same file had been sent for this feed before: this is that import"}
            }
        },
        "IntakeOutcome": {
            "type": "object", "required": ["report", "status", "incidents"],
            "properties": {
                "report": {"type": "integer", "description": "The tracking number"},
                "status": {"type": "string", "enum": ["received", "processed", "needs_review", "threaded"]},
                "incidents": {"type": "array", "items": {"type": "integer"}},
                "category": {"type": ["string", "null"]}, "problem": nullable_string, "thread_of": nullable_int
            }
        },
        "Report": {"type": "object", "required": ["id", "received_at", "status", "tlp", "raw_sha256"], "description": "A report as read, with indicators, proposed category and reasons (each {\"reason\": key, ...facts}; older reports keep English sentences)"},
        "CategoryChoice": {"type": "object", "required": ["category"], "additionalProperties": false,
            "properties": {"category": {"type": "string", "enum": ["scan", "forged", "intrusion", "phishing", "other", "inquiry"]}}},
        "Message": {"type": "object", "required": ["id", "direction", "author", "body", "created_at"],
            "properties": {"id": {"type": "integer"}, "direction": {"type": "string", "enum": ["in", "out", "note"]}, "author": {"type": "string"},
                "mail_from": nullable_string, "mail_to": {"type": "string"}, "mail_cc": {"type": "string"},
                "subject": nullable_string, "body": {"type": "string"}, "template": nullable_string,
                "message_id": nullable_string, "in_reply_to": nullable_string,
                "signed": {"type": "boolean"}, "encrypted": {"type": "boolean"},
                "signature": {"type": ["string", "null"], "enum": ["valid", "invalid", "no_key", null]},
                "flag": nullable_string, "shared": {"type": "boolean"}, "expects_reply": {"type": "boolean"}, "automatic": {"type": "boolean"},
                "created_at": {"type": "string"},
                "delivery": {"type": ["string", "null"], "enum": ["queued", "sending", "sent", "failed", null]},
                "delivery_error": nullable_string, "delivered_at": nullable_string}},
        "Mail": {"type": "object", "additionalProperties": false,
            "properties": {
                "to": {"type": "array", "items": {"type": "string"}, "description": "addresses; at least one"},
                "cc": {"type": "array", "items": {"type": "string"}},
                "subject": {"type": "string", "description": "empty: the template's; the ticket tag is added"},
                "body": {"type": "string", "description": "empty: the template's"},
                "template": {"type": "string", "enum": ["ask_logs", "advice", "referral", "notified_site", "closing"]},
                "referrals": {"type": "array", "items": {"type": "integer"}, "description": "referral organizations to point to; none: the referral template picks by topic and the reporter's country"},
                "referral_topic": {"type": "string", "description": "what the referral is about (police, consumer, legal…)"},
                "lang": {"type": "string", "enum": ["ja", "en"], "description": "the template's language; by default the first recipient's"},
                "reply_to": {"type": "integer", "description": "the message of the thread answered"},
                "quote": {"type": "boolean"},
                "report_files": {"type": "array", "items": {"type": "integer"}, "description": "files of the report to attach"},
                "attachments": {"type": "array", "items": {"type": "object", "required": ["filename", "data_base64"], "additionalProperties": false,
                    "properties": {"filename": {"type": "string"}, "content_type": {"type": "string"}, "data_base64": {"type": "string"}}}},
                "share": {"type": "boolean", "description": "show it on the reporter's status page"},
                "question": {"type": "boolean", "description": "the incidents wait for the answer"},
                "incidents": {"type": "array", "items": {"type": "integer"}, "description": "for /api/v1/incidents/mail: the selection"}
            }},
        "Mailed": {"type": "object", "required": ["id", "outbox", "message_id", "subject", "to", "signed", "encrypted"],
            "properties": {"id": {"type": "integer"}, "outbox": {"type": "integer"}, "message_id": {"type": "string"}, "subject": {"type": "string"},
                "to": {"type": "array", "items": {"type": "string"}}, "cc": {"type": "array", "items": {"type": "string"}},
                "signed": {"type": "boolean"}, "encrypted": {"type": "boolean"},
                "without_key": {"type": "array", "items": {"type": "string"}}, "waiting": {"type": "array", "items": {"type": "integer"}}}},
        "MailPreview": {"type": "object", "required": ["to", "subject", "body", "signed", "encrypted"],
            "properties": {"to": {"type": "array", "items": {"type": "string"}}, "cc": {"type": "array", "items": {"type": "string"}},
                "subject": {"type": "string"}, "body": {"type": "string"}, "template": nullable_string, "lang": {"type": "string"},
                "signed": {"type": "boolean"}, "encrypted": {"type": "boolean"},
                "without_key": {"type": "array", "items": {"type": "string"}, "description": "recipients with no key on file: the mail goes unencrypted"},
                "attachments": {"type": "array"}, "in_reply_to": nullable_string}},
        "Suggestion": {"type": "object", "required": ["role", "email", "lang", "has_key"],
            "properties": {"role": {"type": "string", "enum": ["reporter", "site", "csirt"]}, "email": {"type": "string"},
                "name": nullable_string, "lang": {"type": "string"}, "has_key": {"type": "boolean"}}},
        "NewMessage": {"type": "object", "required": ["body"], "additionalProperties": false,
            "properties": {"direction": {"type": "string", "enum": ["note", "out"]}, "subject": nullable_string, "body": {"type": "string"}}},
        "Created": {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}},
        "Incident": {
            "type": "object", "required": ["id", "report_id", "state", "tlp", "created_at"],
            "properties": {
                "id": {"type": "integer"}, "report_id": {"type": "integer"}, "source_ip": nullable_string, "source_host": nullable_string,
                "state": {"type": "string"}, "owner_id": nullable_int, "tlp": {"type": "string"}, "category": nullable_string,
                "created_at": {"type": "string"}, "updated_at": {"type": "string"}, "subject": nullable_string,
                "reporter_email": nullable_string, "linked": {"type": "array", "items": {"type": "integer"}},
                "due_kind": {"type": ["string", "null"], "enum": ["first_response", "reply", "close", null], "description": "the clock that falls due next"},
                "due_at": nullable_string, "first_response_at": nullable_string, "closed_at": nullable_string
            }
        },
        "IncidentPatch": {"type": "object", "additionalProperties": false,
            "properties": {"state": {"type": "string"}, "owner_id": {"type": "integer", "description": "0: nobody"}, "tlp": {"type": "string"}}},
        "Merge": {"type": "object", "required": ["keep", "others"], "additionalProperties": false,
            "properties": {"keep": {"type": "integer"}, "others": {"type": "array", "items": {"type": "integer"}}}},
        "Enrichment": {"type": "object", "required": ["ip", "abuse"],
            "properties": {"ip": {"type": "string"}, "prefix": nullable_string, "asn": nullable_int, "as_name": nullable_string,
                "country": nullable_string, "abuse": {"type": "array", "items": {"type": "object", "required": ["email", "source"]}},
                "csirt": {"type": ["object", "null"]}}},
        "EnrichSources": {"type": "object", "required": ["sources", "entries", "failing_contacts"]},
        "NotifyRequest": {"type": "object", "required": ["incidents"], "additionalProperties": false,
            "properties": {"incidents": {"type": "array", "items": {"type": "integer"}},
                "recipients": {"type": "object", "additionalProperties": {"type": "string", "format": "email"}, "description": "Incident number → recipient, replacing the one resolved"}}},
        "NotificationPlan": {"type": "object", "required": ["mails", "unresolved"],
            "properties": {"mails": {"type": "array", "items": {"type": "object", "required": ["recipient", "items", "tlp", "subject", "body"]}},
                "unresolved": {"type": "array", "items": {"type": "object", "required": ["incident", "reason"]}}}},
        "NotificationsSent": {"type": "object", "required": ["sent", "unresolved"]},
        "Notification": {"type": "object", "required": ["id", "recipient", "recipient_kind", "tlp", "subject", "addresses"],
            "properties": {"id": {"type": "integer"}, "created_at": {"type": "string"}, "recipient": {"type": "string"}, "recipient_kind": {"type": "string", "enum": ["abuse", "csirt", "manual"]},
                "country": nullable_string, "lang": {"type": "string"}, "tlp": {"type": "string"}, "subject": {"type": "string"}, "addresses": {"type": "integer"},
                "signed": {"type": "boolean"}, "encrypted": {"type": "boolean"}, "mail_status": nullable_string, "mail_error": nullable_string, "message_id": nullable_string}},
        "Template": {"type": "object", "required": ["lang", "subject", "body", "customized"]},
        "TemplateChange": {"type": "object", "required": ["subject", "body"], "additionalProperties": false,
            "properties": {"subject": {"type": "string"}, "body": {"type": "string", "description": "minijinja; variables team, recipient, recipient_name, tlp, notification, count, items[]"}}},
        "NotificationStatistics": {"type": "object", "required": ["from", "to", "notifications", "addresses", "by_month", "by_country", "by_category"]},
        "Statistics": {"type": "object", "required": ["from", "to", "reports", "incidents", "inquiries"],
            "description": "Reports, incidents by IP, categories per month, reporter TLDs, scanned ports, comprehensive scans"}
    })
}

fn core_schemas() -> Value {
    let nullable_string = json!({"type": ["string", "null"]});
    let nullable_int = json!({"type": ["integer", "null"]});
    let role = json!({"type": "string", "enum": ["admin", "coordinator", "vendor", "constituent", "sensor"]});
    let lang = json!({"type": "string", "enum": ["ja", "en"]});
    let kind = json!({"type": "string", "enum": ["team", "constituent", "vendor", "csirt", "isp", "referral"]});
    let organization = json!({
        "type": "object",
        "required": ["id", "name", "kind", "notes", "created_at", "updated_at"],
        "properties": {
            "id": {"type": "integer"}, "name": {"type": "string"}, "kind": kind,
            "country": nullable_string, "domain": nullable_string, "notes": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"},
            "topics": {"type": "string", "description": "referrals: what they take, comma separated"},
            "region": {"type": "string", "description": "referrals: where they serve (JP, JP-13); empty: everywhere"}
        }
    });
    let contact = json!({
        "type": "object",
        "required": ["id", "org_id", "name", "email", "lang", "role", "created_at"],
        "properties": {
            "id": {"type": "integer"}, "org_id": {"type": "integer"}, "name": {"type": "string"},
            "email": {"type": "string", "format": "email"}, "phone": nullable_string, "pgp_key": nullable_string,
            "lang": lang, "role": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"}
        }
    });
    let user_info = json!({
        "type": "object",
        "required": ["id", "email", "display_name", "role", "lang"],
        "properties": {
            "id": {"type": "integer"}, "email": {"type": "string"}, "display_name": {"type": "string"},
            "role": role, "org_id": nullable_int, "lang": lang
        }
    });
    let mut with_contacts = organization.clone();
    with_contacts["properties"]["contacts"] =
        json!({"type": "array", "items": {"$ref": "#/components/schemas/Contact"}});
    let token = json!({
        "type": "object",
        "required": ["id", "user_id", "name", "created_at"],
        "properties": {
            "id": {"type": "integer"}, "user_id": {"type": "integer"}, "name": {"type": "string"},
            "created_at": {"type": "string"}, "last_used_at": nullable_string, "revoked_at": nullable_string
        }
    });
    json!({
        "Error": {
            "type": "object", "required": ["error"],
            "properties": {"error": {"type": "object", "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}
        },
        "OpenApi": {"type": "object", "description": "An OpenAPI 3.1 document."},
        "Me": {"type": "object", "required": ["user"], "properties": {
            "user": {"$ref": "#/components/schemas/UserInfo"},
            "organization": {"oneOf": [{"$ref": "#/components/schemas/Organization"}, {"type": "null"}]}}},
        "UserInfo": user_info,
        "User": {
            "type": "object",
            "required": ["id", "email", "display_name", "role", "lang", "created_at", "disabled"],
            "properties": {
                "id": {"type": "integer"}, "email": {"type": "string"}, "display_name": {"type": "string"},
                "role": role, "org_id": nullable_int, "lang": lang, "created_at": {"type": "string"}, "disabled": {"type": "boolean"}
            }
        },
        "NewUser": {
            "type": "object", "required": ["email", "role"], "additionalProperties": false,
            "properties": {
                "email": {"type": "string"}, "display_name": {"type": "string"}, "role": role,
                "org_id": nullable_int, "password": {"type": ["string", "null"], "minLength": 10}, "lang": lang
            }
        },
        "UserPatch": {
            "type": "object", "additionalProperties": false,
            "properties": {"disabled": {"type": "boolean"}}
        },
        "Organization": organization,
        "OrganizationWithContacts": with_contacts,
        "NewOrganization": {
            "type": "object", "required": ["name", "kind"], "additionalProperties": false,
            "properties": {"name": {"type": "string"}, "kind": kind, "country": nullable_string,
                           "domain": nullable_string, "notes": {"type": "string"},
                           "topics": {"type": "string"}, "region": {"type": "string"}}
        },
        "Contact": contact,
        "NewContact": {
            "type": "object", "required": ["name", "email"], "additionalProperties": false,
            "properties": {"name": {"type": "string"}, "email": {"type": "string"}, "phone": nullable_string,
                           "pgp_key": nullable_string, "lang": lang, "role": nullable_string}
        },
        "ApiToken": token,
        "NewToken": {
            "type": "object", "required": ["name"], "additionalProperties": false,
            "properties": {"name": {"type": "string"}, "user_id": nullable_int}
        },
        "IssuedToken": {
            "type": "object", "required": ["token", "secret"],
            "properties": {"token": {"$ref": "#/components/schemas/ApiToken"}, "secret": {"type": "string"}}
        },
        "AuditEntry": {
            "type": "object",
            "required": ["seq", "at", "actor", "action", "object_type", "object_id", "changes", "hash"],
            "properties": {
                "seq": {"type": "integer"}, "at": {"type": "string"}, "actor_user_id": nullable_int,
                "actor": {"type": "string"}, "action": {"type": "string"}, "object_type": {"type": "string"},
                "object_id": {"type": "string"}, "changes": {}, "hash": {"type": "string"}
            }
        },
        "AuditVerdict": {
            "type": "object", "required": ["status"],
            "properties": {"status": {"type": "string", "enum": ["intact", "broken"]},
                "rows": {"type": "integer"}, "head": {"type": "string"},
                "first_bad_seq": {"type": "integer"}, "reason": {"type": "string"}}
        }
    })
}
