//! The server crate: Socket.IO signaling, HTTP, the admin API and the binary `sfu-server`.
