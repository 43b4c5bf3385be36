//! The injected clock: production reads the system time, tests and the simulator move it.

use chrono::{DateTime, Duration, Utc};
use std::sync::Mutex;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
    /// Move time forward (simulations). False for clocks that cannot.
    fn advance_by(&self, _d: Duration) -> bool {
        false
    }
}

/// The system time plus an offset the operator can push forward: the simulator's clock in a
/// demo, so a 24 h SMS window or 20 working days pass on request.
#[derive(Debug, Default)]
pub struct OffsetClock(Mutex<Duration>);

impl OffsetClock {
    pub fn new() -> OffsetClock {
        OffsetClock(Mutex::new(Duration::zero()))
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn advance_by(&self, d: Duration) -> bool {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) += d;
        true
    }
}

/// The real time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> ManualClock {
        ManualClock(Mutex::new(start))
    }

    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = t;
    }

    pub fn advance(&self, d: Duration) {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *g += d;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn advance_by(&self, d: Duration) -> bool {
        self.advance(d);
        true
    }
}
