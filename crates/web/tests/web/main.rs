//! The web server's integration tests: each module is one capability, run against a
//! real server on SQLite (and PostgreSQL when `RENKEI_TEST_POSTGRES_URL` is set).
//! They are one test binary so that the server and its dependencies are linked once,
//! not once per file.

mod common;

mod accounts;
mod activity;
mod alerts;
mod browser;
mod bus;
mod cases_by_role;
mod clocks;
mod conversations;
mod day;
mod errors;
mod feeds;
mod incidents;
mod indicators;
mod lists;
mod nodes;
mod notifications;
mod observation;
mod openapi;
mod operations;
mod orgs;
mod passkeys;
mod routes_by_role;
mod runtime;
mod security;
mod sso;
mod vulnerabilities;
mod warnings;
mod weekly;
mod words;
