//! gatehouse: register, log in, see protected pages and log out.

pub mod auth;
pub mod cli;
pub mod commands;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod middleware;
pub mod models;
pub mod routes;
pub mod schema;
pub mod session;
pub mod startup;
pub mod state;
pub mod telemetry;
