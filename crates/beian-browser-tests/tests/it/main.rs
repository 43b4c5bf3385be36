//! End-to-end tests of the web pages in headless Chromium.

mod harness;
mod journey;
mod smoke;
mod staff;
mod ux;
