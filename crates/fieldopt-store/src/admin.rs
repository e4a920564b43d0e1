//! Creating and dropping whole PostgreSQL databases: for test suites that
//! give every test its own database, and for operators scripting set-up.
//! Raw SQL on a connection, for tests that damage a database on purpose.

use diesel::Connection;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;

use crate::{ConnectError, DbConn, StoreResult, on_backend};

/// Runs raw SQL statements, outside any rule of the store: for tests that
/// corrupt a database on purpose, and for repairs by hand. Never called by
/// the server.
pub fn run_sql(conn: &mut DbConn, sql: &str) -> StoreResult<()> {
    on_backend!(conn, c => c.batch_execute(sql))?;
    Ok(())
}

fn quoted(name: &str) -> Result<String, ConnectError> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(ConnectError::new(format!("unsafe database name {name:?}")));
    }
    Ok(format!("\"{name}\""))
}

/// `base_url` with its database replaced by `name`.
pub fn url_with_database(base_url: &str, name: &str) -> String {
    let (without_query, query) = match base_url.split_once('?') {
        Some((url, query)) => (url, Some(query)),
        None => (base_url, None),
    };
    let scheme_end = without_query.find("://").map_or(0, |i| i + 3);
    let host_part = match without_query[scheme_end..].find('/') {
        Some(slash) => &without_query[..scheme_end + slash],
        None => without_query,
    };
    match query {
        Some(query) => format!("{host_part}/{name}?{query}"),
        None => format!("{host_part}/{name}"),
    }
}

/// Creates database `name` on the server of `base_url`; returns its URL.
pub fn create_postgres_database(base_url: &str, name: &str) -> Result<String, ConnectError> {
    let mut conn = PgConnection::establish(base_url)?;
    let sql = format!("CREATE DATABASE {}", quoted(name)?);
    conn.batch_execute(&sql)?;
    Ok(url_with_database(base_url, name))
}

/// Drops database `name`, closing its connections first.
pub fn drop_postgres_database(base_url: &str, name: &str) -> Result<(), ConnectError> {
    let mut conn = PgConnection::establish(base_url)?;
    let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quoted(name)?);
    conn.batch_execute(&sql)?;
    Ok(())
}

/// Runs `sql` (one or more statements, no results) as it is: for
/// operators' scripts and for tests that hold locks or inspect a database.
pub fn execute_sql(conn: &mut DbConn, sql: &str) -> StoreResult<()> {
    conn.batch_execute(sql)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_replaced() {
        assert_eq!(
            url_with_database("postgres://postgres@127.0.0.1:5432/test", "x1"),
            "postgres://postgres@127.0.0.1:5432/x1"
        );
        assert_eq!(
            url_with_database("postgresql://u:p@h/db?sslmode=disable", "x2"),
            "postgresql://u:p@h/x2?sslmode=disable"
        );
        assert_eq!(url_with_database("postgres://h", "x3"), "postgres://h/x3");
        assert!(quoted("bad\"name").is_err());
    }
}
