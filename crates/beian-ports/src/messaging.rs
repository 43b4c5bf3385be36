//! Contract: messaging (filled in by issue 13's seams work).
