//! The thin IO layer: the media thread that owns the socket, and the handle to it.

pub mod handle;
mod worker;
