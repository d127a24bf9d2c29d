//! Alerts: the rule that decides, and the book that keeps every alert and its transitions.

mod book;
mod rule;

pub use book::{Alert, AlertBook, AlertState, Evaluation, Transition};
pub use rule::{Pm25Rule, national_pm2_5_limit};
