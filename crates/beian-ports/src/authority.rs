//! Contract: authority (filled in by issue 13's seams work).
