//! Attribute matching of C-FIND (PS3.4 C.2.2.2): universal, single value,
//! wildcard (`*`, `?`), range (DA, TM, DT, open on either side) and list of
//! UIDs. Multi-valued attributes match when any of their values does.

/// How a key of a given VR is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// UI: single value or a list of UIDs.
    Uid,
    /// DA, TM, DT: single value or range.
    Temporal,
    /// PN: single value or wildcard, case-insensitive when asked.
    PersonName,
    /// Any other string VR: single value or wildcard, case-sensitive.
    Text,
}

/// Whether `value` (as stored) matches the query `key` (as received).
pub fn matches(kind: Kind, key: &str, value: &str, names_case_insensitive: bool) -> bool {
    let key = key.trim_end_matches(['\0', ' ']).trim_start();
    if key.is_empty() || key == "*" {
        return true;
    }
    match kind {
        Kind::Uid => key.split('\\').any(|k| k.trim() == value),
        Kind::Temporal => temporal(key, value),
        Kind::PersonName if names_case_insensitive => {
            any_value(value, |v| text(&key.to_uppercase(), &v.to_uppercase()))
        }
        Kind::PersonName | Kind::Text => any_value(value, |v| text(key, v)),
    }
}

fn any_value(value: &str, mut f: impl FnMut(&str) -> bool) -> bool {
    value.split('\\').any(|v| f(v.trim()))
}

fn text(key: &str, value: &str) -> bool {
    if key.contains(['*', '?']) {
        wildcard(key.as_bytes(), value.as_bytes())
    } else {
        key == value
    }
}

/// `*` matches any run of characters, `?` any one character.
fn wildcard(pattern: &[u8], value: &[u8]) -> bool {
    let (mut p, mut v) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while v < value.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, v));
                p += 1;
            }
            Some(c) if *c == b'?' || *c == value[v] => {
                p += 1;
                v += 1;
            }
            _ => match star {
                Some((sp, sv)) => {
                    p = sp + 1;
                    v = sv + 1;
                    star = Some((sp, sv + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == b'*')
}

/// Single value or `lo-hi`, `-hi`, `lo-`. Values compare as text with the
/// separators of old formats (`:`, `.` in dates) removed; an upper bound
/// covers every value it is a prefix of (`-1200` includes `120059`).
fn temporal(key: &str, value: &str) -> bool {
    let value = normalise(value);
    if value.is_empty() {
        return false;
    }
    match key.split_once('-') {
        None => normalise(key) == value,
        Some((lo, hi)) => {
            let (lo, hi) = (normalise(lo), normalise(hi));
            let above = lo.is_empty() || value.as_str() >= lo.as_str();
            let below = hi.is_empty() || value.get(..hi.len()).unwrap_or(&value) <= hi.as_str();
            above && below
        }
    }
}

fn normalise(text: &str) -> String {
    text.trim().chars().filter(|c| *c != ':').collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn universal_and_single_value() {
        assert!(matches(Kind::Text, "", "anything", false));
        assert!(matches(Kind::Text, "CT", "CT", false));
        assert!(!matches(Kind::Text, "CT", "MR", false));
        assert!(
            matches(Kind::Text, "CT", "MR\\CT", false),
            "any of several values"
        );
    }

    #[test]
    fn wildcards() {
        assert!(matches(Kind::Text, "LUNG*", "LUNG-1 CHEST", false));
        assert!(matches(Kind::Text, "*-1*", "LUNG-1 CHEST", false));
        assert!(matches(Kind::Text, "L?NG*", "LUNG", false));
        assert!(!matches(Kind::Text, "L?NG", "LUNGS", false));
        assert!(matches(Kind::Text, "a*b*c", "aXXbYYc", false));
        assert!(!matches(Kind::Text, "a*b*c", "aXXbYY", false));
    }

    #[test]
    fn person_names_with_components_and_case() {
        assert!(matches(Kind::PersonName, "Doe^J*", "Doe^John", false));
        assert!(!matches(Kind::PersonName, "doe^j*", "Doe^John", false));
        assert!(matches(Kind::PersonName, "doe^j*", "Doe^John", true));
        assert!(matches(Kind::PersonName, "MÜLLER*", "Müller^Jürgen", true));
    }

    #[test]
    fn uid_lists() {
        assert!(matches(Kind::Uid, "1.2.3\\1.2.4", "1.2.4", false));
        assert!(!matches(Kind::Uid, "1.2.3\\1.2.4", "1.2.5", false));
    }

    #[test]
    fn date_and_time_ranges_open_on_either_side() {
        assert!(matches(
            Kind::Temporal,
            "20200101-20201231",
            "20200615",
            false
        ));
        assert!(!matches(
            Kind::Temporal,
            "20200101-20201231",
            "20210101",
            false
        ));
        assert!(matches(Kind::Temporal, "-20200101", "19991231", false));
        assert!(matches(Kind::Temporal, "20200101-", "20991231", false));
        assert!(
            !matches(Kind::Temporal, "20200101-", "", false),
            "absent date never in a range"
        );
        assert!(matches(Kind::Temporal, "-1200", "120059.5", false));
        assert!(!matches(Kind::Temporal, "-1200", "120100", false));
        assert!(matches(Kind::Temporal, "10:00-12:00", "110000", false));
        assert!(matches(Kind::Temporal, "20200615", "20200615", false));
    }
}
