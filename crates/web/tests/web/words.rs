//! Pages say stored words (an incident's state, a category, a vendor's stage) in the
//! reader's language, never as the identifiers the database keeps: a Japanese
//! coordinator reads 返信待ち, not `waiting_for_reply`.

use std::collections::BTreeSet;

use renkei_core::access::Role;
use renkei_core::audit::Actor;
use renkei_core::lang::Lang;
use renkei_incident::classify::Category;
use renkei_incident::incidents::State;
use renkei_testkit::{both_backends, csrf_from};

/// The text a person sees: no markup, scripts, attribute values, text areas or
/// code (where identifiers belong: form values, the template source an operator
/// edits, a template's variable names).
pub(crate) fn visible_text(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        out.push(' ');
        let tag = &rest[open..];
        let skip_to = if tag.starts_with("<script") {
            tag.find("</script>").map(|i| i + "</script>".len())
        } else if tag.starts_with("<style") {
            tag.find("</style>").map(|i| i + "</style>".len())
        } else if tag.starts_with("<textarea") {
            tag.find("</textarea>").map(|i| i + "</textarea>".len())
        } else if tag.starts_with("<code") {
            tag.find("</code>").map(|i| i + "</code>".len())
        } else {
            tag.find('>').map(|i| i + 1)
        };
        match skip_to {
            Some(n) => rest = &tag[n..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Identifiers the database keeps that a Japanese page must not show as words.
fn identifiers() -> BTreeSet<&'static str> {
    let mut ids: BTreeSet<&'static str> = State::ALL.iter().map(|s| s.as_str()).collect();
    ids.extend(Category::ALL.iter().map(|c| c.as_str()));
    ids.extend(renkei_vuln::model::Stage::ALL.iter().map(|s| s.as_str()));
    ids.extend(["first_seen", "back", "surge", "calmed"]);
    // The conversation's stored words: templates, flags, signature states.
    ids.extend(renkei_incident::correspond::TEMPLATES);
    ids.extend(["unknown_sender", "not_decrypted", "no_key", "expects_reply"]);
    // Report, delivery, weekly-issue and alert states; registration steps; the
    // incident clocks; audit action words (a code such as `incident.state_changed`
    // splits into its parts here).
    ids.extend(["needs_review", "threaded", "processed", "queued", "sending"]);
    ids.extend(["draft", "review", "published", "scheduled"]);
    ids.extend([
        "documents_sent",
        "documents_returned",
        "meeting_held",
        "terms_agreed",
        "registered",
        "applied",
    ]);
    ids.extend([
        "first_response",
        "state_changed",
        "tlp_changed",
        "assigned",
        "notified",
    ]);
    ids
}

pub(crate) fn raw_identifiers_in(html: &str) -> Vec<String> {
    let ids = identifiers();
    visible_text(html)
        // A hyphenated code (RSIT's `intrusion-attempts`) is one word: the taxonomy's own.
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .filter(|w| ids.contains(w))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_checker_finds_an_identifier_in_text_but_not_in_attributes() {
    assert_eq!(
        raw_identifiers_in("<td>waiting_for_reply</td><option value=\"scan\">スキャン</option>"),
        vec!["waiting_for_reply"]
    );
    assert!(raw_identifiers_in("<script>var scan = 1;</script><p>返信待ち</p>").is_empty());
}

both_backends! {
    async fn a_japanese_coordinator_reads_states_and_categories_as_words_not_identifiers(srv) {
        // A report through the public form: its incidents are scans.
        let client = srv.client();
        let form = client.get(srv.url("/report")).send().await.unwrap().text().await.unwrap();
        let csrf = csrf_from(&form).unwrap();
        let r = client
            .post(srv.url("/report"))
            .form(&[
                ("_csrf", csrf.as_str()),
                ("site_org", "Example Shop KK"),
                ("reporter_name", "山田 太郎"),
                ("reporter_email", "taro@shop.example.co.jp"),
                ("hosts", "192.0.2.10"),
                ("description", "SSH への総当たり攻撃を受けています。"),
                ("logs", "Jan 15 07:22:18 web sshd[11]: Failed password for root from 198.51.100.7 port 40001 ssh2"),
                ("tlp", "TLP:GREEN"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let page = r.text().await.unwrap();
        let tracking: i64 = page.split("id=\"tracking-number\">#").nth(1).unwrap().split('<').next().unwrap().parse().unwrap();

        let coordinator = srv.user(Role::Coordinator).await;
        renkei_core::accounts::set_lang(&srv.store, &Actor::system("test"), coordinator.id, Lang::Ja).await.unwrap();
        let s = srv.signed_in(&coordinator).await;
        for path in [
            "/incidents".to_string(),
            format!("/reports/{tracking}"),
            "/statistics".to_string(),
            format!("/reports/{tracking}/write?template=ask_logs&to=taro%40shop.example.co.jp"),
            "/admin/templates".to_string(),
            "/dashboard".to_string(),
        ] {
            let page = s.client.get(srv.url(&path)).send().await.unwrap().text().await.unwrap();
            assert!(page.contains("lang=\"ja\""), "{path} is not in Japanese");
            let raw = raw_identifiers_in(&page);
            assert!(raw.is_empty(), "{path} shows stored words raw: {raw:?}");
        }
        // The classifier's reasons too.
        let report = s.client.get(srv.url(&format!("/reports/{tracking}"))).send().await.unwrap().text().await.unwrap();
        assert!(report.contains("ログに SSH ログイン失敗が 1 件"), "the reasons are in Japanese");
        // Charts are drawn in the reader's language too.
        let chart = s.client.get(srv.url("/observation/charts/top.svg")).send().await.unwrap().text().await.unwrap();
        assert!(chart.contains("宛先ポート") && !chart.contains("Destination ports"), "{chart}");
        let queue = s.client.get(srv.url("/incidents")).send().await.unwrap().text().await.unwrap();
        assert!(queue.contains("返信待ち") && queue.contains("スキャン"), "the states and categories are named");
    }
}
