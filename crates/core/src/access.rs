//! Who may do what: the one place where access is decided.
//!
//! Every HTTP route names an [`Access`] requirement; the web layer asks
//! [`Access::check`] before the handler runs. Object-level rules that later pillars
//! add (TLP, case membership) live here too, so that a reviewer reads one file.

use serde::{Deserialize, Serialize};

use crate::CoreError;
use crate::lang::Lang;
use crate::tlp::Tlp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Runs the installation: accounts, configuration, the audit log.
    Admin,
    /// CSIRT staff handling incidents, cases and publications.
    Coordinator,
    /// A member of one product-developer organization.
    Vendor,
    /// A member of one constituent organization.
    Constituent,
    /// A sensor posting observations; API tokens only.
    Sensor,
}

impl TryFrom<String> for Role {
    type Error = CoreError;
    fn try_from(s: String) -> Result<Role, CoreError> {
        Role::parse(&s)
    }
}

crate::text_column!(Role);

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Coordinator,
        Role::Vendor,
        Role::Constituent,
        Role::Sensor,
    ];

    pub fn parse(s: &str) -> Result<Role, CoreError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "admin" => Ok(Role::Admin),
            "coordinator" => Ok(Role::Coordinator),
            "vendor" => Ok(Role::Vendor),
            "constituent" => Ok(Role::Constituent),
            "sensor" => Ok(Role::Sensor),
            other => Err(CoreError::invalid(
                "role",
                format!(
                    "unknown role {other:?}; use admin, coordinator, vendor, constituent or sensor"
                ),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Coordinator => "coordinator",
            Role::Vendor => "vendor",
            Role::Constituent => "constituent",
            Role::Sensor => "sensor",
        }
    }

    /// CSIRT staff see everything the team holds.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Admin | Role::Coordinator)
    }

    /// Vendors and constituents act for exactly one organization.
    pub fn needs_org(self) -> bool {
        matches!(self, Role::Vendor | Role::Constituent)
    }

    /// Sensors are machines: they never log in through the web form.
    pub fn may_use_password(self) -> bool {
        self != Role::Sensor
    }
}

/// A signed-in account as the rest of the system sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserInfo {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub org_id: Option<i64>,
    pub lang: Lang,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    User(UserInfo),
}

impl Principal {
    pub fn user(&self) -> Option<&UserInfo> {
        match self {
            Principal::User(u) => Some(u),
            Principal::Anonymous => None,
        }
    }

    pub fn role(&self) -> Option<Role> {
        self.user().map(|u| u.role)
    }
}

/// What a route requires of the one who calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in account, whatever its role.
    Authenticated,
    /// People, not machines: every role but sensor.
    Person,
    /// Admins and coordinators.
    Staff,
    Admin,
    /// Sensor tokens (and admins, who set sensors up).
    Sensor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// Nobody is signed in: sign in and try again (401).
    Unauthenticated,
    /// Signed in, but this account may not (403).
    Forbidden,
}

impl Access {
    pub fn check(self, principal: &Principal) -> Result<(), Denied> {
        let role = match (self, principal) {
            (Access::Public, _) => return Ok(()),
            (_, Principal::Anonymous) => return Err(Denied::Unauthenticated),
            (_, Principal::User(u)) => u.role,
        };
        let allowed = match self {
            Access::Public | Access::Authenticated => true,
            Access::Person => role != Role::Sensor,
            Access::Staff => role.is_staff(),
            Access::Admin => role == Role::Admin,
            Access::Sensor => matches!(role, Role::Sensor | Role::Admin),
        };
        if allowed {
            Ok(())
        } else {
            Err(Denied::Forbidden)
        }
    }

    pub fn allows(self, principal: &Principal) -> bool {
        self.check(principal).is_ok()
    }
}

/// What an API token may be used for. A session (a person at a browser) may do all
/// its role allows; a token only what its scopes name as well.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Read what the account may read (GET).
    Read,
    /// Change what the account may change (every other method).
    Write,
    /// Upload bulk feeds.
    Feed,
    /// Send sensor batches.
    Sensor,
    /// Scrape `/metrics`.
    Metrics,
    /// Admin routes, and issuing tokens.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 6] = [
        Scope::Read,
        Scope::Write,
        Scope::Feed,
        Scope::Sensor,
        Scope::Metrics,
        Scope::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Feed => "feed",
            Scope::Sensor => "sensor",
            Scope::Metrics => "metrics",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Result<Scope, CoreError> {
        Scope::ALL
            .into_iter()
            .find(|x| x.as_str() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                CoreError::invalid(
                    "scopes",
                    format!(
                        "{s:?} is not a scope; use read, write, feed, sensor, metrics or admin"
                    ),
                )
            })
    }

    /// The scopes a role may hold at all: a token is never wider than its account.
    pub fn allowed_for(role: Role) -> &'static [Scope] {
        match role {
            Role::Admin => &Scope::ALL,
            Role::Coordinator => &[Scope::Read, Scope::Write, Scope::Feed, Scope::Metrics],
            Role::Vendor | Role::Constituent => &[Scope::Read, Scope::Write],
            Role::Sensor => &[Scope::Sensor],
        }
    }

    /// What a route needs of a token: its access says what kind of route it is,
    /// the method whether it reads or writes; a route may name its own (feeds).
    pub fn needed(access: Access, reads: bool, own: Option<Scope>) -> Scope {
        match (own, access) {
            (Some(s), _) => s,
            (None, Access::Sensor) => Scope::Sensor,
            (None, Access::Admin) => Scope::Admin,
            (None, _) if reads => Scope::Read,
            (None, _) => Scope::Write,
        }
    }
}

/// A token's scopes, stored as words separated by spaces (`read write`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(into = "Vec<&'static str>")]
pub struct Scopes(std::collections::BTreeSet<Scope>);

impl From<Scopes> for Vec<&'static str> {
    fn from(s: Scopes) -> Self {
        s.0.iter().map(|x| x.as_str()).collect()
    }
}

impl TryFrom<String> for Scopes {
    type Error = CoreError;
    fn try_from(s: String) -> Result<Scopes, CoreError> {
        Scopes::parse(&s)
    }
}

crate::text_column!(Scopes);

impl Scopes {
    pub fn of(list: &[Scope]) -> Scopes {
        Scopes(list.iter().copied().collect())
    }

    /// Words separated by spaces or commas; at least one.
    pub fn parse(s: &str) -> Result<Scopes, CoreError> {
        let set = s
            .split([' ', ','])
            .filter(|w| !w.trim().is_empty())
            .map(Scope::parse)
            .collect::<Result<std::collections::BTreeSet<_>, _>>()?;
        if set.is_empty() {
            return Err(CoreError::invalid("scopes", "name at least one scope"));
        }
        Ok(Scopes(set))
    }

    /// What a token gets when none are asked for: all its role may hold but admin.
    pub fn default_for(role: Role) -> Scopes {
        Scopes(
            Scope::allowed_for(role)
                .iter()
                .copied()
                .filter(|s| *s != Scope::Admin)
                .collect(),
        )
    }

    pub fn has(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    pub fn is_within(&self, other: &Scopes) -> bool {
        self.0.is_subset(&other.0)
    }

    pub fn as_string(&self) -> String {
        self.0
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// How much of one vulnerability case a caller may see. Unpublished cases are the
/// most confidential data the team holds: coordinators see all of a case, a vendor
/// added to it sees the shared text and its own thread, and everyone else is told
/// the case does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseView {
    Coordinator,
    /// A member of this vendor organization, which is on the case.
    Vendor {
        org_id: i64,
    },
    /// A member of this partner coordinator (a CSIRT), which takes part in the case.
    Partner {
        org_id: i64,
    },
    None,
}

impl CaseView {
    /// `vendor_orgs` are the organizations of the vendors added to the case,
    /// `partner_orgs` those of the partner coordinators taking part in it.
    pub fn of(principal: &Principal, vendor_orgs: &[i64], partner_orgs: &[i64]) -> CaseView {
        match principal.user() {
            Some(u) if u.role.is_staff() => CaseView::Coordinator,
            Some(UserInfo {
                role: Role::Vendor,
                org_id: Some(org),
                ..
            }) if vendor_orgs.contains(org) => CaseView::Vendor { org_id: *org },
            Some(UserInfo {
                role: Role::Constituent,
                org_id: Some(org),
                ..
            }) if partner_orgs.contains(org) => CaseView::Partner { org_id: *org },
            _ => CaseView::None,
        }
    }

    /// The organization a constituent user acts for: a partner coordinator reads
    /// the cases it takes part in.
    pub fn own_partner_org(principal: &Principal) -> Option<i64> {
        match principal.user() {
            Some(UserInfo {
                role: Role::Constituent,
                org_id,
                ..
            }) => *org_id,
            _ => None,
        }
    }

    /// The vendor organization a vendor user acts for, if any: vendor users read
    /// their own organization's registry entry and nothing else.
    pub fn own_vendor_org(principal: &Principal) -> Option<i64> {
        match principal.user() {
            Some(UserInfo {
                role: Role::Vendor,
                org_id,
                ..
            }) => *org_id,
            _ => None,
        }
    }
}

/// Whether a reference to a vulnerability note may be shown to whoever reads an
/// answer. The vulnerability pillar implements it (`renkei_vuln::notes::Disclosure`:
/// only once the note is public); other pillars that hold such references — an
/// observation annotation naming a note or a CVE — take it as a parameter, so that
/// no public answer is built without the question being asked.
pub trait NoteDisclosure: Send + Sync {
    /// A note ID (`JVNVU#…`) may be shown.
    fn note_key(&self, key: &str) -> bool;
    /// A CVE ID may be shown.
    fn cve(&self, cve: &str) -> bool;
    /// An alert's number may be shown: only when the reader may read the alert.
    fn alert(&self, _number: &str) -> bool {
        false
    }
}

/// Staff read their own team's references as written.
pub struct ShowAll;

impl NoteDisclosure for ShowAll {
    fn note_key(&self, _: &str) -> bool {
        true
    }
    fn cve(&self, _: &str) -> bool {
        true
    }
    fn alert(&self, _: &str) -> bool {
        true
    }
}

/// Who reads a piece of dissemination, as far as access is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// Anyone: the public, and accounts that act for no organization.
    Public,
    /// The team's staff.
    Staff,
    /// A person acting for this organization (a vendor or constituent account).
    Org(i64),
}

impl Reader {
    pub fn of(principal: &Principal) -> Reader {
        match principal.user() {
            Some(u) if u.role.is_staff() => Reader::Staff,
            Some(UserInfo {
                role,
                org_id: Some(org),
                ..
            }) if role.needs_org() => Reader::Org(*org),
            _ => Reader::Public,
        }
    }

    /// Whether this reader may see an alert. A published TLP:CLEAR alert is public;
    /// any other TLP makes it early warning, which exists only for the staff and,
    /// once published, for the organizations it was addressed to (`recipients`).
    /// Nobody else learns it exists.
    pub fn may_read_alert(self, tlp: Tlp, published: bool, recipients: &[i64]) -> bool {
        match self {
            Reader::Staff => true,
            _ if !published => false,
            _ if tlp == Tlp::Clear => true,
            Reader::Org(org) => recipients.contains(&org),
            Reader::Public => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn as_role(role: Role) -> Principal {
        Principal::User(UserInfo {
            id: 1,
            email: "x@example.org".into(),
            display_name: "x".into(),
            role,
            org_id: None,
            lang: Lang::En,
        })
    }

    #[test]
    fn only_coordinators_and_vendors_on_the_case_see_it() {
        let vendor = |org| {
            Principal::User(UserInfo {
                org_id: Some(org),
                ..match as_role(Role::Vendor) {
                    Principal::User(u) => u,
                    Principal::Anonymous => unreachable!(),
                }
            })
        };
        assert_eq!(
            CaseView::of(&as_role(Role::Coordinator), &[], &[]),
            CaseView::Coordinator
        );
        assert_eq!(
            CaseView::of(&as_role(Role::Admin), &[], &[]),
            CaseView::Coordinator
        );
        assert_eq!(
            CaseView::of(&vendor(7), &[7, 8], &[]),
            CaseView::Vendor { org_id: 7 }
        );
        assert_eq!(CaseView::of(&vendor(9), &[7, 8], &[]), CaseView::None);
        // A vendor's people are never a partner's, even if the ids were mixed up.
        assert_eq!(CaseView::of(&vendor(9), &[7, 8], &[9]), CaseView::None);
        for role in [Role::Constituent, Role::Sensor] {
            assert_eq!(CaseView::of(&as_role(role), &[1], &[]), CaseView::None);
        }
        assert_eq!(
            CaseView::of(&Principal::Anonymous, &[1], &[1]),
            CaseView::None
        );
    }

    #[test]
    fn a_partner_coordinators_people_see_the_cases_it_takes_part_in() {
        let member = |org| {
            Principal::User(UserInfo {
                org_id: Some(org),
                ..match as_role(Role::Constituent) {
                    Principal::User(u) => u,
                    Principal::Anonymous => unreachable!(),
                }
            })
        };
        assert_eq!(
            CaseView::of(&member(5), &[7], &[5]),
            CaseView::Partner { org_id: 5 }
        );
        assert_eq!(CaseView::of(&member(6), &[7], &[5]), CaseView::None);
        // A constituent whose organization happens to be a vendor on the case is
        // not let in as the vendor.
        assert_eq!(CaseView::of(&member(7), &[7], &[5]), CaseView::None);
    }

    #[test]
    fn anonymous_callers_are_asked_to_sign_in_except_on_public_routes() {
        assert!(Access::Public.allows(&Principal::Anonymous));
        for access in [
            Access::Authenticated,
            Access::Person,
            Access::Staff,
            Access::Admin,
            Access::Sensor,
        ] {
            assert_eq!(
                access.check(&Principal::Anonymous),
                Err(Denied::Unauthenticated)
            );
        }
    }

    #[test]
    fn the_role_matrix_is_what_the_design_says() {
        use Role::*;
        let expect = |access: Access, allowed: &[Role]| {
            for role in Role::ALL {
                assert_eq!(
                    access.allows(&as_role(role)),
                    allowed.contains(&role),
                    "{access:?} for {role:?}"
                );
            }
        };
        expect(Access::Authenticated, &Role::ALL);
        expect(Access::Person, &[Admin, Coordinator, Vendor, Constituent]);
        expect(Access::Staff, &[Admin, Coordinator]);
        expect(Access::Admin, &[Admin]);
        expect(Access::Sensor, &[Admin, Sensor]);
    }

    #[test]
    fn restricted_alerts_reach_only_staff_and_the_organizations_named() {
        let org = |role, org| {
            Principal::User(UserInfo {
                org_id: org,
                ..match as_role(role) {
                    Principal::User(u) => u,
                    Principal::Anonymous => unreachable!(),
                }
            })
        };
        assert_eq!(Reader::of(&as_role(Role::Admin)), Reader::Staff);
        assert_eq!(Reader::of(&org(Role::Constituent, Some(4))), Reader::Org(4));
        assert_eq!(Reader::of(&org(Role::Vendor, Some(5))), Reader::Org(5));
        assert_eq!(Reader::of(&org(Role::Sensor, Some(5))), Reader::Public);
        assert_eq!(Reader::of(&Principal::Anonymous), Reader::Public);
        for tlp in Tlp::ALL {
            for published in [false, true] {
                assert!(Reader::Staff.may_read_alert(tlp, published, &[]));
                let public = published && tlp == Tlp::Clear;
                assert_eq!(Reader::Public.may_read_alert(tlp, published, &[1]), public);
                assert_eq!(Reader::Org(2).may_read_alert(tlp, published, &[1]), public);
                assert_eq!(
                    Reader::Org(1).may_read_alert(tlp, published, &[1]),
                    published,
                    "{tlp}"
                );
            }
        }
    }
}
