//! The wire contract between sensor nodes and the servers.
//!
//! A node publishes one [`Frame`] per MQTT message. A frame names the node, its boot counter and a
//! per-boot sequence number, carries the node's clock and one [`Body`] (an air sample, a water sample
//! or a node status), and ends with an 8-byte tag: HMAC-SHA256 with the node's key, truncated, or a
//! CRC-32 for nodes that have no key. `FORMAT.md` beside this crate specifies every byte.
//!
//! The crate is `no_std` and allocation-free so the firmware can use it as is; the `std` feature adds
//! what hosts need (error trait impls, the node registry file).
//!
//! # Layout
//!
//! - `frame`: the frame header, [`Frame::encode`] and [`decode`], in that order of checks.
//! - `body`: the three bodies and their fixed-point fields, with units and physical ranges.
//! - `masked`: the presence-mask encoding that keeps absent sensors absent and frames short.
//! - `quality`: the per-sample quality flags.
//! - `tag`: [`NodeKey`], HMAC and CRC tags.
//! - `topic`: MQTT topic names and their parser.
//! - [`command`]: downlink commands (set interval, calibrate, status, reboot), signed with the
//!   node's key and a counter against replay; the one place that encodes and checks them.
//! - `error`: [`DecodeError`] and [`EncodeError`].
//! - `registry` (feature `std`): the node registry file shared by the collector, IOC API and simulators.
//! - `inbound` (feature `std`): the acceptance rule for an MQTT message, shared by every receiver.
//! - `window` (feature `std`): the replay window that follows it: new, duplicate, reused
//!   sequence number or replay, per (node, boot, seq) and the frame's bytes.
#![cfg_attr(not(any(feature = "std", test)), no_std)]

mod body;
pub mod command;
mod error;
mod frame;
#[cfg(feature = "std")]
pub mod inbound;
mod masked;
mod quality;
#[cfg(feature = "std")]
pub mod registry;
mod tag;
pub mod topic;
#[cfg(feature = "std")]
pub mod window;

pub use body::{AirSample, Body, FirmwareVersion, NodeStatus, StatusKind, WaterSample};
pub use error::{DecodeError, EncodeError};
pub use frame::{FORMAT_VERSION, Frame, MAX_FRAME_LEN, TIME_MS_VALID, decode, peek_node_id};
pub use quality::QualityFlags;
pub use tag::{NodeKey, TAG_LEN, TagKind};
