//! End-to-end tests: a real kernel on a loopback port, real HTTP, real plugins built from this
//! workspace; SQLite by default, PostgreSQL when `DATABASE_URL` is a `postgres://` URL.

mod aggregate;
mod auth;
mod cli;
mod concurrency;
mod crash;
mod crud;
mod demo;
mod events;
mod fixtures;
mod hostile_input;
mod isolation;
mod isolation_props;
mod kpi;
mod limits;
mod listing;
mod modules;
mod permissions;
mod plugin_admin;
mod plugin_query;
mod related;
mod scaffold;
mod schema;
mod soak;
mod validation;
mod workflow;
