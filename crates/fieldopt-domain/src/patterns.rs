//! The shapes of text values as regular expressions. The domain checks
//! values with them and the API publishes them verbatim in its schema, so a
//! client's validator and the server never disagree.
//!
//! Written in the syntax that Rust's `regex`, ECMA-262 and Python share:
//! anchors, plain classes, `\xHH` and `\uHHHH` escapes.

use std::sync::LazyLock;

use regex::Regex;

/// Control characters (C0, DEL, C1): never in single-line text.
macro_rules! control {
    () => {
        r"\x00-\x1F\x7F-\x9F"
    };
}

/// Characters that show nothing: controls, spaces, format characters,
/// zero-width characters, fillers, variation selectors.
macro_rules! invisible {
    () => {
        concat!(
            r"\x00-\x20\x7F-\xA0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5",
            r"\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u3000\u3164",
            r"\uFE00-\uFE0F\uFEFF\uFFA0\uFFF9-\uFFFB"
        )
    };
}

/// One line of text with at least one visible character: names, customers,
/// addresses, areas, phones.
pub const LINE: &str = concat!(
    "^[^",
    control!(),
    "]*[^",
    invisible!(),
    "][^",
    control!(),
    "]*$"
);

/// Text over several lines (line breaks and tabs allowed), possibly empty:
/// notes and reasons.
pub const TEXT: &str = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$";

/// An e-mail address: a visible first character, then an `@` with
/// something after it.
pub const EMAIL: &str = concat!(
    "^[^@",
    invisible!(),
    "][^",
    control!(),
    "]*@[^",
    control!(),
    "]+$"
);

/// A skill token.
pub const SKILL: &str = r"^[a-z0-9_-]{1,40}$";

/// A time of day, `HH:MM`.
pub const CLOCK: &str = r"^([01][0-9]|2[0-3]):[0-5][0-9]$";

/// A time slot, `HH:MM-HH:MM` (the start must also be before the end).
pub const SLOT: &str = r"^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$";

/// A date, `YYYY-MM-DD`, in 1900..=2999 (the day must also exist).
pub const DATE: &str = r"^(19[0-9]{2}|2[0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$";

/// An `Idempotency-Key`: 1 to 255 visible ASCII characters.
pub const IDEMPOTENCY_KEY: &str = r"^[\x21-\x7E]{1,255}$";

fn compiled(pattern: &'static str) -> Regex {
    Regex::new(pattern).expect("the patterns are valid")
}

pub(crate) static LINE_RE: LazyLock<Regex> = LazyLock::new(|| compiled(LINE));
pub(crate) static TEXT_RE: LazyLock<Regex> = LazyLock::new(|| compiled(TEXT));
pub(crate) static EMAIL_RE: LazyLock<Regex> = LazyLock::new(|| compiled(EMAIL));
pub(crate) static SKILL_RE: LazyLock<Regex> = LazyLock::new(|| compiled(SKILL));

/// Whether `text` matches the published `pattern` (one of this module's).
pub fn matches(pattern: &'static str, text: &str) -> bool {
    static ALL: LazyLock<Vec<(&'static str, Regex)>> = LazyLock::new(|| {
        [LINE, TEXT, EMAIL, SKILL, CLOCK, SLOT, DATE, IDEMPOTENCY_KEY]
            .into_iter()
            .map(|p| (p, compiled(p)))
            .collect()
    });
    ALL.iter()
        .find(|(p, _)| *p == pattern)
        .is_some_and(|(_, re)| re.is_match(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_need_something_visible_and_no_control() {
        for ok in [
            "Ann",
            " Zoë ",
            "Montr\u{e9}al",
            "a\u{200B}",
            "工事",
            "x\u{A0}y",
        ] {
            assert!(LINE_RE.is_match(ok), "{ok:?}");
        }
        for bad in [
            "",
            "   ",
            "\u{200B}\u{FEFF}",
            "\u{3164}",
            "a\nb",
            "a\u{7}",
            "\u{85}x",
        ] {
            assert!(!LINE_RE.is_match(bad), "{bad:?}");
        }
        assert!(TEXT_RE.is_match("one\ntwo\tthree\r\n"));
        assert!(TEXT_RE.is_match(""));
        assert!(!TEXT_RE.is_match("bell\u{7}"));
    }

    #[test]
    fn emails_and_skills() {
        for ok in ["a@b", "ann.smith@example.com", "x@@", "a@b@c"] {
            assert!(EMAIL_RE.is_match(ok), "{ok:?}");
        }
        for bad in ["@b", "ab", "a@", "\u{200B}@b", " @b", "a@\n"] {
            assert!(!EMAIL_RE.is_match(bad), "{bad:?}");
        }
        assert!(SKILL_RE.is_match("fiber_splice-2"));
        assert!(!SKILL_RE.is_match("Fiber"));
        assert!(matches(DATE, "2026-12-01"));
        assert!(!matches(DATE, "+202-01-01"));
        assert!(!matches(SLOT, "8:00-12:00"));
        assert!(matches(IDEMPOTENCY_KEY, "batch-2026-11-28-a"));
    }
}
