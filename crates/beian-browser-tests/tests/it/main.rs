//! End-to-end tests of the web pages in headless Chromium.

mod desk;
mod harness;
mod journey;
mod smoke;
mod staff;
