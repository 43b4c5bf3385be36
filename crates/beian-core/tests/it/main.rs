//! Integration tests of beian-core (one test binary per crate).

mod calendar;
mod dict;
mod fuzz;
mod ident;
mod rules;
mod state;
mod tidy;
