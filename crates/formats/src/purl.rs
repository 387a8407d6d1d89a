//! Package URLs (`pkg:type/namespace/name@version?qualifiers#subpath`), checked as
//! the purl specification shapes them: CSAF's mandatory test 6.1.13 refuses a
//! product whose PURL is not one, and the vendor registry keeps only real ones.

/// Why a text is not a package URL; `None` when it is one.
pub fn problem(text: &str) -> Option<&'static str> {
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("a package URL holds no spaces");
    }
    let Some(rest) = text.strip_prefix("pkg:") else {
        return Some("a package URL starts with pkg:");
    };
    let rest = rest.trim_start_matches('/');
    let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
    let rest = rest.split_once('?').map_or(rest, |(r, _)| r);
    let Some((kind, path)) = rest.split_once('/') else {
        return Some("a package URL names a type and a package (pkg:type/name)");
    };
    if kind.is_empty()
        || kind.as_bytes()[0].is_ascii_digit()
        || !kind
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-'))
    {
        return Some("the type is letters, digits, '.', '+' or '-', not starting with a digit");
    }
    // The version follows the last '@' of the last segment.
    let path = path.trim_end_matches('/');
    let (path, version) = match path.rsplit_once('/') {
        Some((ns, last)) => match last.rsplit_once('@') {
            Some((name, v)) => (format!("{ns}/{name}"), Some(v)),
            None => (path.to_string(), None),
        },
        None => match path.rsplit_once('@') {
            Some((name, v)) => (name.to_string(), Some(v)),
            None => (path.to_string(), None),
        },
    };
    if version.is_some_and(str::is_empty) {
        return Some("the version after '@' is empty");
    }
    let mut segments = path.split('/');
    let name = segments.next_back().unwrap_or_default();
    if name.is_empty() {
        return Some("the package has no name");
    }
    if segments.any(str::is_empty) {
        return Some("a namespace segment is empty");
    }
    if !percent_encoding_ok(text) {
        return Some("a '%' is not followed by two hexadecimal digits");
    }
    None
}

pub fn is_valid(text: &str) -> bool {
    problem(text).is_none()
}

fn percent_encoding_ok(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_urls_from_the_specification_are_read_and_broken_ones_named() {
        for ok in [
            "pkg:npm/%40angular/animation@12.3.1",
            "pkg:maven/org.apache.xmlgraphics/batik-anim@1.9.1?packaging=sources",
            "pkg:deb/debian/curl@7.50.3-1?arch=i386&distro=jessie",
            "pkg:github/package-url/purl-spec@244fd47e07d1004f0aed9c#everybody/loves/dogs",
            "pkg:pypi/django@1.11.1",
            "pkg:golang/google.golang.org/genproto#googleapis/api/annotations",
            "pkg:generic/openssl@1.1.10g",
        ] {
            assert_eq!(problem(ok), None, "{ok}");
        }
        for (bad, says) in [
            ("pkg:maven/@1.3.4", "no name"),
            ("npm/widget", "starts with pkg:"),
            ("pkg:/widget", "type"),
            ("pkg:1npm/widget", "type"),
            ("pkg:npm/widget@", "version"),
            ("pkg:npm//widget", "namespace"),
            ("pkg:npm/wid get", "spaces"),
            ("pkg:npm/%4", "'%'"),
        ] {
            assert!(
                problem(bad).is_some_and(|p| p.contains(says)),
                "{bad}: {:?}",
                problem(bad)
            );
        }
    }
}
