//! Pure domain of beian: the filing model, the state machine, the rules engine,
//! dictionaries and the working-day calendar.
//!
//! Nothing in this crate does IO or reads a clock: `now` is always a parameter.

pub mod bounds;
pub mod calendar;
pub mod dict;
pub mod draft;
pub mod errcode;
pub mod ident;
pub mod model;
pub mod numbering;
pub mod payload;
pub mod plan;
pub mod platform;
pub mod policy;
pub mod rule_table;
pub mod rules;
pub mod state;
pub mod time;
