//! The server's memory allocator: jemalloc, with its background threads giving freed memory
//! back to the system.
//!
//! With glibc's malloc, RSS after 2,000 idle Socket.IO connections had come and gone stayed
//! at about 60 MB (7 MB at start), and grew a little with every such wave: not a leak, since
//! malloc's own count of bytes in use was back to 0.6 MB, and `malloc_trim(0)` brought RSS
//! down to 9.5 MB. glibc keeps freed memory in its per-thread arenas and returns it only from
//! the top of each. jemalloc returns unused pages within seconds. It is declared here, in the
//! library, so that every binary that runs the server uses it: `sfu-server`, and the load
//! generator, which runs the server in a process of its own for the benchmarks.

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
