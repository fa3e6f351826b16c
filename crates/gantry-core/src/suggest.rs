//! "Did you mean" suggestions: an edit distance and a nearest-candidates search.
//!
//! Invariants:
//! - [`edit_distance`] is the optimal string alignment distance (Levenshtein plus
//!   transposition of two adjacent characters) over `char`s, case-sensitive. It is
//!   symmetric and zero exactly when the strings are equal.
//! - [`nearest`] is deterministic: the same input and candidates (in the same order)
//!   give the same answer. It returns at most [`MAX_SUGGESTIONS`] candidates, best
//!   first, ties broken by candidate order, and never the same candidate text twice.
//! - Nothing here panics, whatever the input.

/// How many suggestions [`nearest`] returns at most.
pub const MAX_SUGGESTIONS: usize = 3;

/// Shortest input or candidate that counts as a prefix match in [`suggestion_distance`].
const MIN_PREFIX_CHARS: usize = 3;

/// The optimal string alignment (restricted Damerau-Levenshtein) distance between
/// `a` and `b`, counted in `char`s and case-sensitive.
///
/// Each insertion, deletion, substitution, or swap of two adjacent characters costs one.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a_chars: Vec<char> = a.chars().collect();
    let b_chars: Vec<char> = b.chars().collect();
    let columns = b_chars.len() + 1;

    // Three rolling rows: the row two back (for transpositions), the previous row
    // and the current row.
    let mut row_two_back: Vec<usize> = vec![0; columns];
    let mut previous_row: Vec<usize> = (0..columns).collect();
    let mut current_row: Vec<usize> = vec![0; columns];

    for (a_index, &a_char) in a_chars.iter().enumerate() {
        if let Some(first) = current_row.first_mut() {
            *first = a_index + 1;
        }
        for (b_index, &b_char) in b_chars.iter().enumerate() {
            let substitution_cost = usize::from(a_char != b_char);
            let deletion = previous_row.get(b_index + 1).copied().unwrap_or(usize::MAX);
            let insertion = current_row.get(b_index).copied().unwrap_or(usize::MAX);
            let substitution = previous_row.get(b_index).copied().unwrap_or(usize::MAX);
            let mut best = deletion
                .saturating_add(1)
                .min(insertion.saturating_add(1))
                .min(substitution.saturating_add(substitution_cost));

            let is_transposition = a_index > 0
                && b_index > 0
                && a_chars.get(a_index - 1) == Some(&b_char)
                && b_chars.get(b_index - 1) == Some(&a_char);
            if is_transposition {
                let two_back = row_two_back.get(b_index - 1).copied().unwrap_or(usize::MAX);
                best = best.min(two_back.saturating_add(1));
            }
            if let Some(cell) = current_row.get_mut(b_index + 1) {
                *cell = best;
            }
        }
        std::mem::swap(&mut row_two_back, &mut previous_row);
        std::mem::swap(&mut previous_row, &mut current_row);
    }
    previous_row.last().copied().unwrap_or(0)
}

/// How far `candidate` is from `input` for suggestion purposes, or `None` when it is
/// too far to be worth suggesting.
///
/// The comparison ignores case. A candidate is close enough when its edit distance is
/// at most `max(1, input_chars / 3)`, or when one of the two (lowercased) is a prefix
/// of the other and that prefix is at least three characters long; in that case the
/// plain edit distance is still returned, so real near-misses rank first.
/// An exact (case-insensitive) match returns `Some(0)`.
pub fn suggestion_distance(input: &str, candidate: &str) -> Option<usize> {
    let input_lower = input.to_lowercase();
    let candidate_lower = candidate.to_lowercase();
    let distance = edit_distance(&input_lower, &candidate_lower);
    let input_chars = input_lower.chars().count();
    let allowed_distance = (input_chars / 3).max(1);
    if distance <= allowed_distance {
        return Some(distance);
    }
    let candidate_chars = candidate_lower.chars().count();
    let is_prefix_match = (input_chars >= MIN_PREFIX_CHARS
        && candidate_lower.starts_with(&input_lower))
        || (candidate_chars >= MIN_PREFIX_CHARS && input_lower.starts_with(&candidate_lower));
    is_prefix_match.then_some(distance)
}

/// Up to [`MAX_SUGGESTIONS`] candidates nearest to `input`, best first.
///
/// Closeness is [`suggestion_distance`] (case-insensitive; candidates too far away
/// are left out). Ties keep the order in which the candidates were given, and a
/// candidate text given twice is returned once. The result is empty when nothing is
/// close.
pub fn nearest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut scored: Vec<(usize, &'a str)> = Vec::new();
    for candidate in candidates {
        if scored.iter().any(|(_, seen)| *seen == candidate) {
            continue;
        }
        if let Some(distance) = suggestion_distance(input, candidate) {
            scored.push((distance, candidate));
        }
    }
    // A stable sort keeps candidate order among equal distances.
    scored.sort_by_key(|(distance, _)| *distance);
    scored
        .into_iter()
        .take(MAX_SUGGESTIONS)
        .map(|(_, candidate)| candidate)
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn edit_distance_table() {
        let cases: &[(&str, &str, usize)] = &[
            ("", "", 0),
            ("", "abc", 3),
            ("abc", "", 3),
            ("abc", "abc", 0),
            ("kitten", "sitting", 3),
            ("flaw", "lawn", 2),
            ("ab", "ba", 1),
            ("ca", "abc", 3), // optimal string alignment, not full Damerau (which gives 2)
            ("H100", "h100", 1),
            ("H10", "H100", 1),
            ("A100", "A10", 1),
            ("abcdef", "abdcef", 1),
            ("héllo", "hello", 1),
            ("日本語", "日本", 1),
        ];
        for (a, b, expected) in cases {
            assert_eq!(
                edit_distance(a, b),
                *expected,
                "edit_distance({a:?}, {b:?})"
            );
        }
    }

    #[test]
    fn nearest_table() {
        let candidates = ["H100", "H200", "A100", "A10", "A10G", "L4", "L40S", "T4"];
        let cases: &[(&str, &[&str])] = &[
            ("H100", &["H100", "H200", "A100"]),
            ("h100", &["H100", "H200", "A100"]),
            ("H10", &["H100", "A10"]),
            ("H1000", &["H100"]),
            ("A100", &["A100", "H100", "A10"]),
            ("L40", &["L4", "L40S"]),
            ("xyz", &[]),
            ("", &[]),
            ("T5", &["T4"]),
            // Two substitutions in four characters is more than a third: not suggested.
            ("H2OO", &[]),
        ];
        for (input, expected) in cases {
            assert_eq!(
                nearest(input, candidates.iter().copied()),
                expected.to_vec(),
                "nearest({input:?})"
            );
        }
    }

    #[test]
    fn nearest_accepts_prefixes_of_three_or_more_characters() {
        let candidates = ["nvidia-tesla-t4", "nvidia-l4"];
        assert_eq!(
            nearest("nvidia-tesla", candidates.iter().copied()),
            vec!["nvidia-tesla-t4", "nvidia-l4"]
        );
        assert_eq!(
            nearest("nv", candidates.iter().copied()),
            Vec::<&str>::new()
        );
        // The candidate is a prefix of the input.
        assert_eq!(
            nearest("training", ["train"].iter().copied()),
            vec!["train"]
        );
    }

    #[test]
    fn nearest_returns_at_most_three_without_duplicates() {
        let candidates = ["ab", "ab", "ac", "ad", "ae"];
        assert_eq!(
            nearest("aa", candidates.iter().copied()),
            vec!["ab", "ac", "ad"]
        );
    }

    #[test]
    fn suggestion_distance_examples() {
        assert_eq!(suggestion_distance("retries", "retries"), Some(0));
        assert_eq!(suggestion_distance("RETRIES", "retries"), Some(0));
        assert_eq!(suggestion_distance("retires", "retries"), Some(1));
        assert_eq!(suggestion_distance("image", "command"), None);
    }

    proptest! {
        #[test]
        fn edit_distance_is_symmetric(a in "\\PC{0,12}", b in "\\PC{0,12}") {
            prop_assert_eq!(edit_distance(&a, &b), edit_distance(&b, &a));
        }

        #[test]
        fn edit_distance_is_zero_exactly_when_equal(a in "[ab]{0,6}", b in "[ab]{0,6}") {
            prop_assert_eq!(edit_distance(&a, &b) == 0, a == b);
        }

        #[test]
        fn edit_distance_is_bounded_by_the_longer_length(a in "\\PC{0,12}", b in "\\PC{0,12}") {
            let longer = a.chars().count().max(b.chars().count());
            let shorter_difference = a.chars().count().abs_diff(b.chars().count());
            let distance = edit_distance(&a, &b);
            prop_assert!(distance <= longer);
            prop_assert!(distance >= shorter_difference);
        }

        #[test]
        fn nearest_never_panics_and_is_bounded(input in "\\PC{0,20}", candidates in proptest::collection::vec("\\PC{0,10}", 0..8)) {
            let found = nearest(&input, candidates.iter().map(String::as_str));
            prop_assert!(found.len() <= MAX_SUGGESTIONS);
            let again = nearest(&input, candidates.iter().map(String::as_str));
            prop_assert_eq!(found, again);
        }
    }
}
