//! Pure business rules: no actix, no Diesel.

pub mod role;
