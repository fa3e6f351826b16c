//! The listing query, built from a [`JobQuery`]: filters, then the page
//! position, in the query's order, one row more than the page so the page
//! knows whether another follows.

use crate::records::{JobQuery, ListOrder};
use crate::sql::{SqlParam, job_columns};

/// The statement and its parameters for one page of `query` after `cursor`.
pub(crate) fn list_statement(
    query: &JobQuery,
    cursor: Option<i64>,
    limit: usize,
) -> (String, Vec<SqlParam>) {
    let mut sql = String::from(concat!("SELECT ", job_columns!(), " FROM jobs"));
    let mut params: Vec<SqlParam> = Vec::new();
    let mut conditions: Vec<String> = Vec::new();
    let bind = |params: &mut Vec<SqlParam>, value: SqlParam| {
        params.push(value);
        format!("${}", params.len())
    };

    if let Some(filter) = &query.team {
        let team = filter.team.as_str().to_owned();
        if filter.include_sub_teams {
            // Sub-teams of `org` are exactly the paths in ['org/', 'org0'):
            // '0' is the byte after '/', and comparison is bytewise (SQLite's
            // BINARY collation; a PostgreSQL backend needs COLLATE "C").
            let exact = bind(&mut params, SqlParam::Text(team.clone()));
            let low = bind(&mut params, SqlParam::Text(format!("{team}/")));
            let high = bind(&mut params, SqlParam::Text(format!("{team}0")));
            conditions.push(format!(
                "(team = {exact} OR (team >= {low} AND team < {high}))"
            ));
        } else {
            let exact = bind(&mut params, SqlParam::Text(team));
            conditions.push(format!("team = {exact}"));
        }
    }
    if !query.states.is_empty() {
        let placeholders: Vec<String> = query
            .states
            .iter()
            .map(|state| bind(&mut params, SqlParam::Text(state.as_str().to_owned())))
            .collect();
        conditions.push(format!("state IN ({})", placeholders.join(", ")));
    }
    if let Some(kind) = query.kind {
        let kind = bind(&mut params, SqlParam::Text(kind.as_str().to_owned()));
        conditions.push(format!("kind = {kind}"));
    }
    if let Some(cursor) = cursor {
        let cursor = bind(&mut params, SqlParam::Int(cursor));
        conditions.push(match query.order {
            ListOrder::OldestFirst => format!("job_seq > {cursor}"),
            ListOrder::NewestFirst => format!("job_seq < {cursor}"),
        });
    }
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    sql.push_str(match query.order {
        ListOrder::OldestFirst => " ORDER BY job_seq ASC",
        ListOrder::NewestFirst => " ORDER BY job_seq DESC",
    });
    let limit = bind(
        &mut params,
        SqlParam::Int(i64::try_from(limit).unwrap_or(i64::MAX)),
    );
    sql.push_str(" LIMIT ");
    sql.push_str(&limit);
    (sql, params)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use gantry_core::{JobKind, JobState, TeamPath};

    use super::*;
    use crate::records::TeamFilter;

    #[test]
    fn builds_filters_in_order_with_numbered_placeholders() {
        let query = JobQuery {
            team: Some(TeamFilter {
                team: TeamPath::parse("org").unwrap(),
                include_sub_teams: true,
            }),
            states: [JobState::Running, JobState::Queued].into_iter().collect(),
            kind: Some(JobKind::Training),
            order: ListOrder::NewestFirst,
            ..JobQuery::default()
        };
        let (sql, params) = list_statement(&query, Some(9), 11);
        assert!(sql.ends_with(
            " FROM jobs WHERE (team = $1 OR (team >= $2 AND team < $3)) AND state IN ($4, $5) AND kind = $6 AND job_seq < $7 ORDER BY job_seq DESC LIMIT $8"
        ), "{sql}");
        assert_eq!(
            params,
            [
                SqlParam::Text("org".into()),
                SqlParam::Text("org/".into()),
                SqlParam::Text("org0".into()),
                SqlParam::Text("Queued".into()),
                SqlParam::Text("Running".into()),
                SqlParam::Text("TrainingJob".into()),
                SqlParam::Int(9),
                SqlParam::Int(11),
            ]
        );
        let (sql, params) = list_statement(&JobQuery::default(), None, 3);
        assert!(
            sql.ends_with(" FROM jobs ORDER BY job_seq ASC LIMIT $1"),
            "{sql}"
        );
        assert_eq!(params, [SqlParam::Int(3)]);
    }
}
