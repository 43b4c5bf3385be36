//! End-to-end tests of the web pages in headless Chromium.

mod access;
mod change;
mod desk;
mod harness;
mod journey;
mod signin;
mod smoke;
mod staff;
mod ux;

/// Pictures to upload as ID photos (real PNGs, 240×150, so screenshots show them): the first
/// submission's and a replacement.
pub const ID_PHOTO: &[u8] = include_bytes!("data/id-photo.png");
pub const ID_PHOTO_NEW: &[u8] = include_bytes!("data/id-photo-new.png");
