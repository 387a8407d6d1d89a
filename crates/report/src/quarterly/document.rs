//! The report laid out once, as a list of blocks: the cover, the contents, the
//! headings, paragraphs whose figures keep their own ids, tables with a column per
//! month and the quarter's total (the seeds' layout), explanations, figures. The
//! HTML page and the typeset PDF both print these blocks, so the two never differ
//! in what they say.

use super::*;

/// One piece of the report, in reading order.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// The team, the title, the period and the day of publication.
    Cover,
    /// The table of contents, from the headings of levels 2 and 3.
    Contents,
    Heading {
        level: u8,
        id: String,
        text: String,
    },
    Para(Vec<Part>),
    /// A generated comparison sentence, `id` like `compare-reports`.
    Compare {
        id: String,
        text: String,
    },
    /// Markdown the team wrote: a topic (`class` "topic") or an explanation
    /// ("explain").
    Markdown {
        class: &'static str,
        text: String,
    },
    Bullets(Vec<String>),
    Table(Table),
    /// A chart, by its number.
    Figure(String),
}

/// Part of a paragraph: words, or a figure the page marks with an id.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    Value {
        id: &'static str,
        text: String,
        strong: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub id: String,
    pub head: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Cell {
    pub text: String,
    pub num: bool,
    /// `↑`, `↓` or `→` beside a number compared with the quarter before.
    pub arrow: Option<&'static str>,
    /// The incident category a row stands for, for the page's scripts and tests.
    pub category: Option<String>,
}

impl Cell {
    fn text(s: impl Into<String>) -> Cell {
        Cell {
            text: s.into(),
            ..Cell::default()
        }
    }

    fn num(n: impl std::fmt::Display) -> Cell {
        Cell {
            text: n.to_string(),
            num: true,
            ..Cell::default()
        }
    }
}

/// A heading's id, level and text, for the contents.
pub struct Entry<'a> {
    pub level: u8,
    pub id: &'a str,
    pub text: &'a str,
}

/// The headings the contents list.
pub fn contents(blocks: &[Block]) -> Vec<Entry<'_>> {
    blocks
        .iter()
        .filter_map(|b| match b {
            Block::Heading { level, id, text } if *level <= 3 && !id.is_empty() => Some(Entry {
                level: *level,
                id,
                text,
            }),
            _ => None,
        })
        .collect()
}

struct Builder<'a> {
    r: &'a QuarterlyReport,
    w: Words,
    out: Vec<Block>,
}

impl Builder<'_> {
    fn heading(&mut self, level: u8, id: &str, text: impl Into<String>) {
        self.out.push(Block::Heading {
            level,
            id: id.into(),
            text: text.into(),
        });
    }

    fn para(&mut self, parts: Vec<Part>) {
        self.out.push(Block::Para(parts));
    }

    fn compare(&mut self, key: &str) {
        if let Some(c) = self.r.compared(key) {
            self.out.push(Block::Compare {
                id: format!("compare-{key}"),
                text: c.sentence.clone(),
            });
        }
    }

    fn explain(&mut self, key: &str) {
        if let Some(text) = self.r.texts.get(key).filter(|t| !t.trim().is_empty()) {
            self.out.push(Block::Markdown {
                class: "explain",
                text: text.clone(),
            });
        }
    }

    fn table(&mut self, id: &str, head: Vec<String>, rows: Vec<Vec<Cell>>) {
        self.out.push(Block::Table(Table {
            id: id.into(),
            head,
            rows,
        }));
    }

    fn figure(&mut self, number: &str) {
        if self.r.figure(number).is_some() {
            self.out.push(Block::Figure(number.into()));
        }
    }

    /// The head of a month table: what the rows are, the three months, the total.
    fn month_head(&self, first: &str) -> Vec<String> {
        let mut head = vec![first.to_string()];
        head.extend(self.r.months.iter().map(|m| m.label.clone()));
        head.push(self.w.t("quarter_total").to_string());
        head
    }

    /// A row of a month table: its label, each month's count and the quarter's.
    fn month_row(&self, label: Cell, per_month: impl Fn(&Month) -> i64, total: i64) -> Vec<Cell> {
        let mut row = vec![label];
        row.extend(self.r.months.iter().map(|m| Cell::num(per_month(m))));
        row.push(Cell::num(total));
        row
    }
}

fn value(id: &'static str, text: impl std::fmt::Display, strong: bool) -> Part {
    Part::Value {
        id,
        text: text.to_string(),
        strong,
    }
}

fn words(s: impl Into<String>) -> Part {
    Part::Text(s.into())
}

fn count_of(list: &[renkei_incident::stats::Count], key: &str) -> i64 {
    list.iter()
        .find(|c| c.key == key)
        .map(|c| c.count)
        .unwrap_or(0)
}

fn pair_of(list: &[(String, i64)], key: &str) -> i64 {
    list.iter()
        .find(|(k, _)| k == key)
        .map(|(_, n)| *n)
        .unwrap_or(0)
}

/// A scanned port as the seeds print it: `80 (http)`.
fn port_words(port: u16) -> String {
    renkei_formats::services::port_with_name(renkei_formats::services::Transport::Tcp, port)
}

impl QuarterlyReport {
    /// The report as blocks, in reading order.
    pub fn blocks(&self) -> Vec<Block> {
        let mut b = Builder {
            r: self,
            w: Words { lang: self.lang },
            out: vec![Block::Cover, Block::Contents],
        };
        b.topics();
        b.published();
        b.incidents();
        b.observation();
        b.vulnerabilities();
        b.out
    }
}

impl Builder<'_> {
    fn topics(&mut self) {
        let r = self.r;
        if r.topics.is_empty() {
            return;
        }
        self.heading(2, "topics", format!("◆ {} ◆", self.w.t("topics")));
        for (i, t) in r.topics.iter().enumerate() {
            self.heading(
                3,
                &format!("topic-{}", i + 1),
                format!("【{} {}】{}", self.w.t("topic"), i + 1, t.title(r.lang)),
            );
            self.out.push(Block::Markdown {
                class: "topic",
                text: t.body(r.lang).to_string(),
            });
        }
    }

    /// §1: alerts, weekly issues, readers.
    fn published(&mut self) {
        let (r, w) = (self.r, Words { lang: self.r.lang });
        self.heading(2, "s1", w.t("s1"));
        self.para(vec![
            words(format!("{}: ", w.t("subscribers"))),
            value("subscribers", r.subscribers, false),
        ]);
        self.heading(3, "s1-alerts", w.t("alerts"));
        self.para(vec![
            words(format!("{}: ", w.t("alerts_count"))),
            value("alerts-count", r.alerts.len(), true),
            words(format!(
                " ({} {} · {} {})",
                w.t("first"),
                r.alerts_first,
                w.t("update"),
                r.alerts_updates
            )),
        ]);
        self.compare("alerts");
        if r.alerts.is_empty() {
            self.para(vec![words(w.t("none"))]);
        } else {
            let rows = r
                .alerts
                .iter()
                .map(|a| {
                    vec![
                        Cell::text(a.published_at.get(..10).unwrap_or("")),
                        Cell::text(a.number.clone()),
                        Cell::text(a.title(r.lang)),
                        Cell::text(if a.is_update() {
                            w.t("update")
                        } else {
                            w.t("first")
                        }),
                    ]
                })
                .collect();
            self.table(
                "alerts",
                vec![
                    w.t("published_on").into(),
                    w.t("number").into(),
                    w.t("alert_title").into(),
                    String::new(),
                ],
                rows,
            );
        }
        self.heading(3, "s1-weekly", w.t("weekly"));
        self.para(vec![
            words(format!("{}: ", w.t("weekly_count"))),
            value("weekly-count", r.issues.len(), true),
            words(format!(" · {}: ", w.t("weekly_items"))),
            value("weekly-items", r.weekly_items, true),
            words(format!(" · {}: ", w.t("weekly_memos"))),
            value("weekly-memos", r.weekly_memos, false),
        ]);
    }

    /// §2: reports, where they came from, notifications, categories, ports, the
    /// rest; every table with the three months and the quarter.
    fn incidents(&mut self) {
        let (r, w) = (self.r, Words { lang: self.r.lang });
        let i = &r.incidents;
        self.heading(2, "s2", w.t("s2"));
        self.para(vec![
            words(format!("{}: ", w.t("reports"))),
            value("reports", i.reports, true),
            words(format!(" · {}: ", w.t("incidents"))),
            value("incidents", i.incidents, true),
        ]);
        self.compare("reports");
        self.compare("incidents");
        let summary = vec![
            self.month_row(
                Cell::text(w.t("reports")),
                |m| m.incidents.reports,
                i.reports,
            ),
            self.month_row(
                Cell::text(w.t("incidents")),
                |m| m.incidents.incidents,
                i.incidents,
            ),
            self.month_row(
                Cell::text(w.t("notifications_text")),
                |m| m.notifications.notifications,
                r.notifications.notifications,
            ),
            self.month_row(
                Cell::text(w.t("inquiries_text")),
                |m| m.incidents.inquiries,
                i.inquiries,
            ),
        ];
        self.table("summary", self.month_head(""), summary);

        self.heading(3, "s2-tld", w.t("tld"));
        let rows = i
            .reporter_tlds
            .iter()
            .map(|c| {
                self.month_row(
                    Cell::text(format!(".{}", c.key)),
                    |m| count_of(&m.incidents.reporter_tlds, &c.key),
                    c.count,
                )
            })
            .collect();
        self.table("tlds", self.month_head(w.t("domain")), rows);

        self.heading(3, "s2-notifications", w.t("notifications"));
        self.para(vec![
            words(format!("{}: ", w.t("notifications_text"))),
            value("notifications", r.notifications.notifications, true),
        ]);
        self.compare("notifications");
        let kinds: Vec<Vec<Cell>> = r
            .notifications
            .by_recipient_kind
            .iter()
            .map(|(kind, n)| {
                let label = catalog(r.lang)
                    .lookup(&format!("recipient_kind.{kind}"))
                    .unwrap_or(kind);
                self.month_row(
                    Cell::text(label),
                    |m| pair_of(&m.notifications.by_recipient_kind, kind),
                    *n,
                )
            })
            .collect();
        if !kinds.is_empty() {
            self.table(
                "notifications-by-kind",
                self.month_head(w.t("recipient")),
                kinds,
            );
        }
        if r.notifications.queued > 0 {
            self.para(vec![words(w.fill(
                "notifications_waiting",
                &[("n", &r.notifications.queued)],
            ))]);
        }

        self.heading(3, "s2-categories", w.t("categories"));
        let mut head = self.month_head("");
        head.push(w.t("previous_quarter").into());
        let rows = i
            .by_category
            .iter()
            .map(|c| {
                let (before, arrow) = compare::against(&r.categories_before, &c.key, c.count);
                let mut row = self.month_row(
                    Cell {
                        text: r.category_name(&c.key),
                        category: Some(c.key.clone()),
                        ..Cell::default()
                    },
                    |m| count_of(&m.incidents.by_category, &c.key),
                    c.count,
                );
                if let Some(total) = row.last_mut() {
                    total.arrow = Some(arrow);
                }
                row.push(Cell::num(before));
                row
            })
            .collect();
        self.table("categories", head, rows);
        self.figure("1-1");
        for (n, c) in i.by_category.iter().enumerate() {
            self.heading(
                4,
                &format!("category-{}", c.key),
                format!("({}) {}", n + 1, r.category_name(&c.key)),
            );
            self.para(vec![words(w.fill(
                "category_count",
                &[("name", &r.category_name(&c.key)), ("n", &c.count)],
            ))]);
            if c.key == "scan" {
                self.ports();
            }
            self.explain(&c.key);
        }
        if !i.by_category.iter().any(|c| c.key == "scan") {
            self.ports();
        }

        self.heading(3, "s2-inquiries", w.t("inquiries"));
        self.para(vec![
            words(format!("{}: ", w.t("inquiries_text"))),
            value("inquiries", i.inquiries, false),
        ]);
        self.heading(3, "s2-referrals", w.t("referrals"));
        self.para(vec![
            words(format!("{}: ", w.t("referrals_text"))),
            value(
                "referrals",
                i.referrals.iter().map(|c| c.count).sum::<i64>(),
                true,
            ),
        ]);
        if !i.referrals.is_empty() {
            let rows = i
                .referrals
                .iter()
                .map(|c| {
                    self.month_row(
                        Cell::text(c.key.clone()),
                        |m| count_of(&m.incidents.referrals, &c.key),
                        c.count,
                    )
                })
                .collect();
            self.table("referrals-by-org", self.month_head(""), rows);
        }
        self.heading(3, "s2-takedowns", w.t("takedowns"));
        self.para(vec![words(w.t("takedowns_text"))]);
        let t = &i.takedowns;
        let rows = vec![
            self.month_row(
                Cell::text(w.t("takedowns_requested")),
                |m| m.incidents.takedowns.requested,
                t.requested,
            ),
            self.month_row(
                Cell::text(w.t("takedowns_down")),
                |m| m.incidents.takedowns.down,
                t.down,
            ),
            self.month_row(
                Cell::text(w.t("takedowns_returned")),
                |m| m.incidents.takedowns.returned,
                t.returned,
            ),
        ];
        self.table("takedowns", self.month_head(""), rows);

        self.heading(3, "s2-handling", w.t("handling"));
        self.para(vec![words(w.t("handling_text"))]);
        let spread = |label: &str,
                      s: &renkei_incident::stats::Spread,
                      per: &dyn Fn(&Month) -> renkei_incident::stats::Spread| {
            let mut row = vec![Cell::text(label), Cell::num(s.count)];
            for m in &r.months {
                row.push(Cell::num(w.hours(per(m).median_secs)));
            }
            row.push(Cell::num(w.hours(s.median_secs)));
            row.push(Cell::num(w.hours(s.p90_secs)));
            row
        };
        let mut head = vec![String::new(), w.t("handled").to_string()];
        head.extend(
            r.months
                .iter()
                .map(|m| format!("{} {}", m.label, w.t("handling_median"))),
        );
        head.push(w.t("handling_median").into());
        head.push(w.t("handling_p90").into());
        let rows = vec![
            spread(
                w.t("first_response"),
                &i.time_to_first_response,
                &|m: &Month| m.incidents.time_to_first_response.clone(),
            ),
            spread(w.t("to_close"), &i.time_to_close, &|m: &Month| {
                m.incidents.time_to_close.clone()
            }),
        ];
        self.table("handling", head, rows);
    }

    /// The ports scanned most, with their service names, per month.
    fn ports(&mut self) {
        let (r, w) = (self.r, Words { lang: self.r.lang });
        let i = &r.incidents;
        let port_count = |list: &[renkei_incident::stats::PortCount], port: u16| {
            list.iter()
                .find(|p| p.port == port)
                .map(|p| p.count)
                .unwrap_or(0)
        };
        let mut rows: Vec<Vec<Cell>> = i
            .scanned_ports
            .iter()
            .take(10)
            .map(|p| {
                self.month_row(
                    Cell::text(port_words(p.port)),
                    |m| port_count(&m.incidents.scanned_ports, p.port),
                    p.count,
                )
            })
            .collect();
        rows.push(self.month_row(
            Cell::text(w.t("comprehensive")),
            |m| m.incidents.comprehensive_scans,
            i.comprehensive_scans,
        ));
        self.table("ports", self.month_head(w.t("port")), rows);
    }

    /// §3: the rankings with a column per month (or quarter), the charts, the
    /// ports the coordinators explain.
    fn observation(&mut self) {
        let (r, w) = (self.r, Words { lang: self.r.lang });
        self.heading(2, "s3", w.t("s3"));
        self.explain("observation");
        self.para(vec![
            words(format!("{}: ", w.t("sensors_reporting"))),
            value("sensors-reporting", r.sensors_reporting, false),
        ]);
        let ranking = |list: &[Ranked]| -> Vec<Vec<Cell>> {
            list.iter()
                .map(|p| {
                    let mut row = vec![Cell::num(p.rank), Cell::text(p.label.clone())];
                    row.extend(p.parts.iter().map(|v| Cell::num(format!("{v:.1}"))));
                    row.push(Cell::num(format!("{:.1}", p.per_sensor)));
                    row
                })
                .collect()
        };
        let head = |columns: Vec<String>, total: &str| {
            let mut head = vec![w.t("rank").to_string(), w.t("port").to_string()];
            head.extend(columns);
            head.push(total.to_string());
            head
        };
        self.heading(3, "s3-quarter", w.t("top_quarter"));
        self.para(vec![words(w.t("per_sensor_text"))]);
        self.table(
            "top-quarter",
            head(
                r.months.iter().map(|m| m.label.clone()).collect(),
                w.t("quarter_total"),
            ),
            ranking(&r.top_quarter),
        );
        self.figure("2-1");
        self.figure("2-2");
        self.heading(3, "s3-year", w.t("top_year"));
        self.table(
            "top-year",
            head(r.year_columns.clone(), w.t("year_total")),
            ranking(&r.top_year),
        );
        self.figure("2-3");
        self.figure("2-4");
        self.heading(3, "s3-notable", w.t("notable"));
        if r.notable.is_empty() {
            self.para(vec![words(w.t("no_notes"))]);
        }
        for (n, p) in r.notable.iter().enumerate() {
            self.heading(4, &format!("notable-{}", n + 1), p.label.clone());
            self.out.push(Block::Bullets(p.notes.clone()));
            self.figure(&p.figure);
        }
        if let Some(icmp) = r
            .figures
            .iter()
            .rev()
            .find(|f| f.file.ends_with("-icmp.svg"))
        {
            self.figure(&icmp.number.clone());
        }
        self.heading(3, "s3-trends", w.t("trends"));
        if r.trend_lines.is_empty() {
            self.para(vec![words(w.t("no_trends"))]);
        } else {
            let mut lines: Vec<String> = r
                .trend_lines
                .iter()
                .map(|t| format!("{} — {}", t.label, t.text))
                .collect();
            if r.more_trends > 0 {
                lines.push(w.fill("more_trends", &[("n", &r.more_trends)]));
            }
            self.out.push(Block::Bullets(lines));
        }
    }

    /// §4: notes per series and partner, weaknesses, control systems, how long
    /// publication took, reports received, product developers.
    fn vulnerabilities(&mut self) {
        let (r, w) = (self.r, Words { lang: self.r.lang });
        let v = &r.vuln;
        self.heading(2, "s4", w.t("s4"));
        self.para(vec![
            words(format!("{}: ", w.t("vuln_received"))),
            value("vuln-received", v.received, true),
            words(format!(" ({}: ", w.t("control_system_cases"))),
            value("control-system-cases", v.control_system_cases, false),
            words(")"),
        ]);
        self.heading(3, "s4-notes", w.t("notes"));
        self.para(vec![
            words(format!("{}: ", w.t("quarter"))),
            value("notes-published", r.notes_published(), true),
            words(format!(" · {}: ", w.t("total"))),
            value("notes-cumulative", r.notes_cumulative(), true),
        ]);
        self.compare("notes");
        let rows = r
            .series
            .iter()
            .map(|s| {
                vec![
                    Cell::text(s.prefix.clone()),
                    Cell::num(s.published),
                    Cell::num(s.cumulative),
                ]
            })
            .collect();
        self.table(
            "series",
            vec![
                w.t("series").into(),
                w.t("quarter").into(),
                w.t("total").into(),
            ],
            rows,
        );
        self.figure("3-1");
        if !v.per_partner.is_empty() {
            let rows = v
                .per_partner
                .iter()
                .map(|p| {
                    vec![
                        Cell::text(
                            p.partner
                                .clone()
                                .unwrap_or_else(|| w.t("direct").to_string()),
                        ),
                        Cell::text(p.prefix.clone()),
                        Cell::num(p.count),
                    ]
                })
                .collect();
            self.table(
                "per-partner",
                vec![
                    w.t("partner").into(),
                    w.t("series").into(),
                    w.t("quarter").into(),
                ],
                rows,
            );
        }
        self.para(vec![
            words(format!("{}: ", w.t("control_systems"))),
            value("control-systems", v.control_systems, true),
        ]);
        if !v.cwe.is_empty() {
            let rows = v
                .cwe
                .iter()
                .map(|c| {
                    vec![
                        Cell::text(match &c.cwe {
                            Some(id) => format!("{id} {}", r.cwe_name(id)).trim().to_string(),
                            None => w.t("no_cwe").to_string(),
                        }),
                        Cell::num(c.count),
                    ]
                })
                .collect();
            self.table(
                "cwe",
                vec![w.t("weakness").into(), w.t("quarter").into()],
                rows,
            );
        }
        self.heading(3, "s4-time", w.t("time_to_publication"));
        self.para(vec![
            words(format!("{}: ", w.t("median"))),
            value("median-days", r.median_days(), true),
            words(format!(" · {}: ", w.t("p90_days"))),
            value(
                "p90-days",
                v.p90_days_to_publication
                    .map(|d| format!("{d:.0}"))
                    .unwrap_or_else(|| "—".into()),
                false,
            ),
        ]);
        let spans = ["days_45", "days_90", "days_180", "days_more"];
        let rows = spans
            .iter()
            .zip(v.days_to_publication)
            .map(|(key, n)| vec![Cell::text(w.t(key)), Cell::num(n)])
            .collect();
        self.table(
            "days-to-publication",
            vec![w.t("days_span").into(), w.t("count").into()],
            rows,
        );
        self.heading(3, "s4-vendors", w.t("vendors"));
        self.para(vec![
            words(format!("{}: ", w.t("vendors_text"))),
            value("vendors", v.vendors_registered_total, true),
        ]);
        self.figure("3-2");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scanned_port_reads_with_its_service_name() {
        assert_eq!(port_words(80), "80 (http)");
        assert_eq!(port_words(445), "445 (microsoft-ds)");
    }

    #[test]
    fn the_contents_list_the_headings_down_to_the_third_level() {
        let blocks = vec![
            Block::Cover,
            Block::Heading {
                level: 2,
                id: "s1".into(),
                text: "§ 1".into(),
            },
            Block::Heading {
                level: 4,
                id: "x".into(),
                text: "deep".into(),
            },
            Block::Heading {
                level: 3,
                id: "s1-alerts".into(),
                text: "I".into(),
            },
        ];
        let c = contents(&blocks);
        assert_eq!(
            c.iter().map(|e| e.id).collect::<Vec<_>>(),
            ["s1", "s1-alerts"]
        );
    }
}
