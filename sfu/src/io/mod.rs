//! The thin IO layer: the media thread that owns the socket, and the handle to it.

mod batch;
pub mod handle;
mod worker;
