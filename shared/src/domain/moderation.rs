//! Pre-generation moderation: a rule engine over normalised text, with its rules in a policy
//! file (`infra/moderation.json`, embedded at build time, or `MODERATION_POLICY_JSON`).
//!
//! Text and terms go through the same normalisation — invisible characters dropped, Unicode
//! compatibility forms (full-width letters), look-alike letters from other scripts (UTS #39
//! skeletons), diacritics, case, leetspeak, letters split by separators (`s.e.x`, `s e x`) and
//! repeated letters — and terms match whole words only, so `Scunthorpe` and `grape` stay clean.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use icu_properties::CodePointSetData;
use icu_properties::props::DefaultIgnorableCodePoint;
use serde::Deserialize;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;
use unicode_security::skeleton;

use crate::runtime::config::{ConfigError, Source};

pub const DEFAULT_POLICY_JSON: &str = include_str!("../../../infra/moderation.json");
pub const PUBLIC_FIGURE: &str = "public_figure";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[allow(dead_code)]
    version: u32,
    #[serde(default)]
    #[allow(dead_code)]
    notes: String,
    #[serde(default)]
    allowed_phrases: Vec<String>,
    categories: Vec<CategoryFile>,
    public_figures: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CategoryFile {
    name: String,
    #[serde(default)]
    any_of: Vec<String>,
    #[serde(default)]
    all_of: Vec<Vec<String>>,
}

/// A prompt the policy refuses: the category and the (normalised) term that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub category: String,
    pub term: String,
}

/// One category: every group must match (`any_of` is a single group).
struct Rule {
    category: String,
    groups: Vec<usize>,
}

pub struct Policy {
    /// Innocent phrases that contain a term ("naked mole rat"), blanked out before matching.
    allowed: Option<AhoCorasick>,
    matcher: AhoCorasick,
    /// For each pattern: its group and display term.
    patterns: Vec<(usize, String)>,
    rules: Vec<Rule>,
}

fn leet(c: char) -> char {
    match c {
        '0' => 'o',
        '1' | '!' | '|' => 'i',
        '3' => 'e',
        '4' | '@' => 'a',
        '5' | '$' => 's',
        '7' | '+' => 't',
        '8' => 'b',
        _ => c,
    }
}

/// Characters that render as nothing (zero-width spaces and joiners, soft hyphens, word
/// joiners, byte order marks, variation selectors): dropped first, so none can split a word.
fn visible(c: &char) -> bool {
    !CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(*c)
}

/// Letters of other scripts become the ASCII letters they look like (UTS #39 skeletons, so
/// a Cyrillic "а" is an "a"). ASCII is kept as written: its own look-alikes ("rn" for "m")
/// would merge innocent words.
fn unconfused(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut one = [0u8; 4];
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            out.extend(skeleton(c.encode_utf8(&mut one)));
        }
    }
    out
}

/// One letter per letter: visible, compatibility-composed, unconfused, unaccented,
/// lower-case, leet undone. ASCII (most prompts and every default term) is already all of
/// these but the last two, so it skips the Unicode passes: the same result, much sooner.
fn fold(text: &str) -> String {
    if text.is_ascii() {
        let mut out = String::with_capacity(text.len());
        out.extend(
            text.bytes()
                .map(|b| leet(char::from(b.to_ascii_lowercase()))),
        );
        return out;
    }
    fold_unicode(text)
}

fn fold_unicode(text: &str) -> String {
    let visible: String = text.chars().filter(visible).nfkc().collect();
    unconfused(&visible)
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .map(leet)
        .collect()
}

/// The normalised words of a text.
pub fn words(text: &str) -> Vec<String> {
    let folded = fold(text);
    let mut merged = Vec::new();
    // Letters split by separators ("s.e.x", "s e x") are one word again.
    let mut run = Run::default();
    for w in folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        // Runs of one letter count once: "seeeex" and "sex" are the same word.
        let w = squeeze(w);
        let mut chars = w.chars();
        if chars.next().is_some() && chars.next().is_none() {
            run.letters.push_str(&w);
            run.len += 1;
        } else {
            run.flush(&mut merged);
            merged.push(w);
        }
    }
    run.flush(&mut merged);
    merged
}

/// The text with each run of one letter written once.
fn squeeze(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = None;
    for c in text.chars() {
        if last != Some(c) {
            out.push(c);
            last = Some(c);
        }
    }
    out
}

/// One-letter words in a row, to be read as one word.
#[derive(Default)]
struct Run {
    letters: String,
    len: usize,
}

impl Run {
    fn flush(&mut self, merged: &mut Vec<String>) {
        match self.len {
            0 => return,
            1 => merged.push(std::mem::take(&mut self.letters)),
            len => {
                // "a s.e.x scene": a leading "a" or "i" is usually the article or pronoun.
                if len >= 3 && (self.letters.starts_with('a') || self.letters.starts_with('i')) {
                    merged.push(self.letters.remove(0).to_string());
                }
                merged.push(squeeze(&self.letters));
                self.letters.clear();
            }
        }
        self.len = 0;
    }
}

/// A term as a search pattern over ` word word ` text: whole words, or a prefix with `*`.
fn pattern(term: &str) -> Option<(String, String)> {
    let (body, prefix) = match term.strip_suffix('*') {
        Some(b) => (b, true),
        None => (term, false),
    };
    let normal = words(body).join(" ");
    // One letter would match every stray initial ("x-ray"): such terms are refused.
    if normal.chars().count() < 2 {
        return None;
    }
    let mut pat = String::with_capacity(normal.len() + 2);
    pat.push(' ');
    pat.push_str(&normal);
    if !prefix {
        pat.push(' ');
    }
    Some((pat, normal))
}

fn invalid_policy(reason: String) -> ConfigError {
    ConfigError::Invalid {
        name: "MODERATION_POLICY_JSON",
        reason,
    }
}

/// The matcher's patterns, numbered into groups (a rule needs a hit in each of its groups).
#[derive(Default)]
struct Terms {
    patterns: Vec<(usize, String)>,
    texts: Vec<String>,
    groups: usize,
}

impl Terms {
    /// The group's number; a term too short once normalised refuses the whole policy.
    fn add_group(&mut self, terms: &[String]) -> Result<usize, ConfigError> {
        let g = self.groups;
        self.groups += 1;
        for t in terms {
            let (pat, display) = pattern(t).ok_or_else(|| {
                invalid_policy(format!("term '{t}' is too short once normalised"))
            })?;
            self.texts.push(pat);
            self.patterns.push((g, display));
        }
        Ok(g)
    }
}

/// An NFA, not the DFA the builder would pick for a policy this size, and no prefilter: built
/// in a fraction of the time (this is create-task's cold start: 0.41 → 0.12 ms for the default
/// policy, with `aho-corasick` at opt-level 3), and prompts are too short for either to pay.
/// Dense transitions for the start state only: every pattern begins with a space, so deeper
/// dense states (the default is depth 3) cost build time and buy no speed.
fn matcher(texts: &[String]) -> Result<AhoCorasick, ConfigError> {
    AhoCorasick::builder()
        .match_kind(MatchKind::Standard)
        .kind(Some(AhoCorasickKind::ContiguousNFA))
        .dense_depth(1)
        .prefilter(false)
        .build(texts)
        .map_err(|e| invalid_policy(e.to_string()))
}

fn allowed_matcher(phrases: &[String]) -> Result<Option<AhoCorasick>, ConfigError> {
    let texts: Vec<String> = phrases
        .iter()
        .filter_map(|p| pattern(p).map(|(pat, _)| pat))
        .collect();
    if texts.is_empty() {
        return Ok(None);
    }
    matcher(&texts).map(Some)
}

impl Policy {
    pub fn parse(json: &str) -> Result<Self, ConfigError> {
        let file: PolicyFile =
            serde_json::from_str(json).map_err(|e| invalid_policy(e.to_string()))?;
        let mut terms = Terms::default();
        let mut rules = Vec::new();
        for c in &file.categories {
            let mut groups = Vec::new();
            if !c.any_of.is_empty() {
                groups.push(terms.add_group(&c.any_of)?);
            }
            for g in &c.all_of {
                groups.push(terms.add_group(g)?);
            }
            if groups.is_empty() {
                return Err(invalid_policy(format!("category {} has no terms", c.name)));
            }
            rules.push(Rule {
                category: c.name.clone(),
                groups,
            });
        }
        rules.push(Rule {
            category: PUBLIC_FIGURE.into(),
            groups: vec![terms.add_group(&file.public_figures)?],
        });
        Ok(Self {
            allowed: allowed_matcher(&file.allowed_phrases)?,
            matcher: matcher(&terms.texts)?,
            patterns: terms.patterns,
            rules,
        })
    }

    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        Self::parse(
            &src.optional("MODERATION_POLICY_JSON")
                .unwrap_or_else(|| DEFAULT_POLICY_JSON.to_string()),
        )
    }

    /// The first rule (in policy order) the text breaks, if any. Blocked terms are found
    /// first; an allowed phrase exempts only the hits it wholly covers, and only when no other
    /// blocked term reaches into it ("having sex on the beach" is not the cocktail); a rule
    /// that pairs terms (minors with sexual words) is never exempted.
    pub fn check(&self, text: &str) -> Option<Block> {
        let haystack = format!(" {} ", words(text).join(" "));
        let found: Vec<(usize, Span)> = self
            .matcher
            .find_overlapping_iter(&haystack)
            .map(|m| (m.pattern().as_usize(), span(&haystack, m.range())))
            .collect();
        let exempt = self.exempt(&haystack, &found);
        let mut all: Vec<Option<&str>> = vec![None; self.patterns.len()];
        let mut kept = all.clone();
        for ((pattern, _), exempt) in found.iter().zip(exempt) {
            let (group, term) = &self.patterns[*pattern];
            all[*group] = Some(term);
            if !exempt {
                kept[*group] = Some(term);
            }
        }
        self.rules.iter().find_map(|rule| {
            let hits = if rule.groups.len() > 1 { &all } else { &kept };
            let terms: Option<Vec<&str>> = rule.groups.iter().map(|g| hits[*g]).collect();
            terms.map(|t| Block {
                category: rule.category.clone(),
                term: t.join(" + "),
            })
        })
    }

    /// For each hit, whether an allowed phrase exempts it: a phrase that covers it, into which
    /// no other blocked term reaches without being covered too.
    fn exempt(&self, haystack: &str, found: &[(usize, Span)]) -> Vec<bool> {
        let Some(allowed) = &self.allowed else {
            return vec![false; found.len()];
        };
        let phrases: Vec<Span> = allowed
            .find_overlapping_iter(haystack)
            .map(|m| span(haystack, m.range()))
            .filter(|p| {
                found
                    .iter()
                    .all(|(_, hit)| !hit.overlaps(p) || p.covers(hit))
            })
            .collect();
        found
            .iter()
            .map(|(_, hit)| phrases.iter().any(|p| p.covers(hit)))
            .collect()
    }
}

/// Where a match lies in the haystack, without the spaces that bound its words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
}

impl Span {
    fn overlaps(&self, other: &Span) -> bool {
        self.start < other.end && other.start < self.end
    }

    fn covers(&self, other: &Span) -> bool {
        self.start <= other.start && other.end <= self.end
    }
}

fn span(haystack: &str, range: std::ops::Range<usize>) -> Span {
    let text = &haystack[range.clone()];
    let start = range.start + (text.len() - text.trim_start_matches(' ').len());
    let end = range.end - (text.len() - text.trim_end_matches(' ').len());
    Span {
        start,
        end: end.max(start),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_folds_as_the_unicode_passes_would() {
        let every: String = (0u8..128).map(char::from).collect();
        let samples = [
            every.as_str(),
            "S3X t0y$ 4 @dults",
            "Seeeex\tNUDE\r\n",
            "x-ray |",
        ];
        for text in samples {
            assert_eq!(fold(text), fold_unicode(text), "{text:?}");
        }
    }

    #[test]
    fn normalisation_table() {
        let cases = [
            ("S.E.X", "sex"),
            ("s e x", "sex"),
            ("s3x", "sex"),
            ("ｓｅｘ", "sex"),
            ("séx", "sex"),
            ("seeeexxx", "sex"),
            ("p0rn", "porn"),
            ("n@ked", "naked"),
            ("a cat", "a cat"),
            ("Scunthorpe", "scunthorpe"),
            ("s\u{200B}ex", "sex"),
            ("n\u{00AD}ude", "nude"),
            ("p\u{2060}o\u{FEFF}rn", "porn"),
            ("\u{0455}\u{0435}\u{0445}", "sex"),
            ("g\u{03BF}re", "gore"),
            ("pom-pom", "pom pom"),
        ];
        for (input, want) in cases {
            assert_eq!(words(input).join(" "), want, "{input}");
        }
    }

    #[test]
    fn the_shipped_policy_parses() {
        let p = Policy::parse(DEFAULT_POLICY_JSON).unwrap();
        assert_eq!(p.check("a grape harvest at dawn"), None);
        assert_eq!(
            p.check("nude beach").map(|b| b.category).as_deref(),
            Some("sexual")
        );
    }
}
