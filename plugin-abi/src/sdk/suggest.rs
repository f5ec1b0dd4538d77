//! "Did you mean" for names written by hand: rules, enum values, keys.

/// The candidate closest to `word`, if one is close enough to be the
/// intended spelling: at most a third of the word's length away, and
/// never a candidate that differs only in more than two edits.
///
/// ```
/// use plugin_abi::sdk::suggest::closest;
/// assert_eq!(closest("emial", ["email", "uuid", "url"]), Some("email"));
/// assert_eq!(closest("zzz", ["email", "uuid"]), None);
/// ```
pub fn closest<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let allowed = (word.chars().count() / 3).clamp(1, 3);
    let word = word.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (distance(&word, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= allowed)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `"; did you mean `x`?"`, or nothing when no candidate is close.
pub fn did_you_mean<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> String {
    closest(word, candidates)
        .map(|c| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}

/// The optimal-string-alignment distance (a swap of two neighbours is one
/// edit, as typing mistakes usually are).
pub fn distance(a: &str, b: &str) -> usize {
    strsim::osa_distance(a, b)
}
