//! Page tokens: the position after the last job of a page, bound to the query
//! that made it.
//!
//! A token is `p1.<cursor>.<fingerprint>`: the store's private listing
//! position of the page's last job (submission order, never reused) and a
//! 64-bit FNV-1a hash of the query's filters and order. Listing continues
//! strictly after the cursor, so a job is never shown twice, and a job that
//! existed when the listing began is never skipped: jobs only ever join the
//! end of the order. The page size may change between pages; the filters and
//! order may not.

use crate::error::StoreError;
use crate::records::{JobQuery, ListOrder, PageToken};

const PREFIX: &str = "p1.";

/// The token for a page whose last job sits at `cursor`.
pub(crate) fn encode(query: &JobQuery, cursor: i64) -> PageToken {
    PageToken::new(format!("{PREFIX}{cursor}.{:016x}", fingerprint(query)))
}

/// The cursor in the query's token (`None` for the first page), or why the
/// token is not one this store made for this query.
pub(crate) fn decode(query: &JobQuery) -> Result<Option<i64>, StoreError> {
    let Some(token) = &query.page_token else {
        return Ok(None);
    };
    let invalid = || StoreError::InvalidPageToken {
        token: token.as_str().to_owned(),
    };
    let (cursor, hash) = token
        .as_str()
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.split_once('.'))
        .ok_or_else(invalid)?;
    let cursor: i64 = cursor.parse().map_err(|_| invalid())?;
    let hash = u64::from_str_radix(hash, 16).map_err(|_| invalid())?;
    if cursor < 0 || hash != fingerprint(query) {
        return Err(invalid());
    }
    Ok(Some(cursor))
}

/// A hash of what a page token must not outlive: filters and order.
fn fingerprint(query: &JobQuery) -> u64 {
    let mut canonical = String::new();
    if let Some(filter) = &query.team {
        canonical.push_str("team=");
        canonical.push_str(filter.team.as_str());
        canonical.push_str(if filter.include_sub_teams {
            ";sub"
        } else {
            ";exact"
        });
    }
    canonical.push_str(";states=");
    for state in &query.states {
        canonical.push_str(state.as_str());
        canonical.push(',');
    }
    canonical.push_str(";kind=");
    if let Some(kind) = query.kind {
        canonical.push_str(kind.as_str());
    }
    canonical.push_str(match query.order {
        ListOrder::OldestFirst => ";oldest",
        ListOrder::NewestFirst => ";newest",
    });
    fnv1a(canonical.as_bytes())
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use gantry_core::{JobState, TeamPath};

    use super::*;
    use crate::records::TeamFilter;

    #[test]
    fn tokens_round_trip_and_are_bound_to_their_query() {
        let mut query = JobQuery {
            team: Some(TeamFilter {
                team: TeamPath::parse("org").unwrap(),
                include_sub_teams: true,
            }),
            states: [JobState::Queued].into_iter().collect(),
            ..JobQuery::default()
        };
        let token = encode(&query, 42);
        query.page_token = Some(token.clone());
        assert_eq!(decode(&query).unwrap(), Some(42));
        // A different page size is fine.
        query.page_size = 7;
        assert_eq!(decode(&query).unwrap(), Some(42));

        let mut other_filter = query.clone();
        other_filter.team = None;
        let mut other_order = query.clone();
        other_order.order = ListOrder::NewestFirst;
        let mut other_states = query.clone();
        other_states.states.insert(JobState::Running);
        for refused in [other_filter, other_order, other_states] {
            assert!(matches!(
                decode(&refused),
                Err(StoreError::InvalidPageToken { .. })
            ));
        }
        for garbage in ["", "p1.", "p1.x.0", "p1.-1.0", "p2.1.0", "p1.1", "p1.1.zz"] {
            query.page_token = Some(PageToken::new(garbage));
            assert!(
                matches!(decode(&query), Err(StoreError::InvalidPageToken { .. })),
                "{garbage:?}"
            );
        }
    }
}
