//! Contract: identity (filled in by issue 13's seams work).
