//! Integration tests of beian-jobs (one test binary per crate).
//!
//! The notification channels are tested against real receivers listening on 127.0.0.1 that
//! each test starts and stops itself (the fake SMTP server and the HTTP serving come from
//! beian-testkit).

mod sms;
mod smtp;
mod webhook;
mod worker;
