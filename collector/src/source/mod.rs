//! Where frames come from.

pub mod mqtt;
