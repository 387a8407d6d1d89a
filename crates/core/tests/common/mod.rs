//! A fresh PostgreSQL database for one test, on the server
//! `RENKEI_TEST_POSTGRES_URL` names (one where databases may be created).

use sqlx::Connection as _;

pub struct FreshPostgres {
    pub url: String,
    name: String,
    admin: sqlx::PgConnection,
}

impl FreshPostgres {
    /// None (and a line saying so) when no server is named.
    pub async fn create(prefix: &str) -> Option<FreshPostgres> {
        let Ok(admin_url) = std::env::var("RENKEI_TEST_POSTGRES_URL") else {
            eprintln!("RENKEI_TEST_POSTGRES_URL is not set: the PostgreSQL part is skipped");
            return None;
        };
        let name = format!("{prefix}_{}", std::process::id());
        let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
        for sql in [
            format!("DROP DATABASE IF EXISTS {name}"),
            format!("CREATE DATABASE {name}"),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut admin)
                .await
                .unwrap();
        }
        let base = admin_url.split('?').next().unwrap();
        let url = format!("{}/{name}", &base[..base.rfind('/').unwrap()]);
        Some(FreshPostgres { url, name, admin })
    }

    pub async fn drop(mut self) {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut self.admin)
        .await
        .unwrap();
    }
}
