//! The emulator's limits and randomness, driven by the real aws-sdk-ssmcontacts client:
//! the bounded journal, seeded chaos mode, and calls held past the client's patience.

mod chaos;
mod held;
mod journal;
mod support;
