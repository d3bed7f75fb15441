//! gatehouse: register, log in, see protected pages and log out.
//!
//! `auth` is the HTTP-free core (accounts, tokens, throttling), called by
//! the server's handlers (`routes`, through the edge in `web`) and by the
//! operator's commands (`commands`) alike.

pub mod auth;
pub mod cli;
pub mod commands;
pub mod config;
pub mod db;
pub mod domain;
pub mod mail;
pub mod models;
pub mod routes;
pub mod schema;
pub mod startup;
pub mod telemetry;
pub mod web;
